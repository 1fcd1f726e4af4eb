//! What several of the provider's test files do alike.

use pow_actix::test_client::Client;

/// The query parameter `name` of a redirect's `location`.
pub fn param(location: &str, name: &str) -> Option<String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .find(|(have, _)| have == name)
        .map(|(_, value)| value.into_owned())
}

/// The location the authorization request `path` ends at (allowing on the consent page).
pub fn authorize(browser: &mut Client, path: &str) -> String {
    let page = browser.get(path);
    if page.status == 302 {
        return page.location().to_owned();
    }
    assert_eq!(page.status, 200, "{}", page.body);
    let marker = "name=\"user[request]\" value=\"";
    let start = page.body.find(marker).unwrap() + marker.len();
    let pending = page.body[start..start + page.body[start..].find('"').unwrap()].to_owned();
    let res = browser.post(
        "/oauth/authorize",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[request]", &pending),
            ("user[decision]", "allow"),
        ],
    );
    res.location().to_owned()
}
