//! Drives `rp.mjs` (openid-client) against a provider served at `addr`, playing the user
//! in between: signing in, consenting, confirming the sign-out, entering a device's code.
//! Included by the provider's conformance tests (`#[path = ...] mod driver;`), so the
//! extension's suite (both frameworks) and the example app's run the same relying party.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use pow_actix::test_client::Client;
use pow_testkit::Tool;
use serde_json::Value;

/// The relying party's folder, or `None` (with a notice) when its packages are not
/// installed outside CI; under CI a missing install fails the test.
pub fn relying_party(from: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(from).join("conformance/openid-client");
    if dir.join("node_modules/openid-client").is_dir() {
        return Some(dir);
    }
    let hint = "run `npm ci` in conformance/openid-client";
    assert!(
        std::env::var("CI").is_err(),
        "openid-client is not installed: {hint}"
    );
    eprintln!("skipped: openid-client is not installed ({hint})");
    None
}

/// A provider and the user who signs in to it.
pub struct Party<'a> {
    /// The folder of `rp.mjs`.
    pub dir: &'a Path,
    /// The issuer (`http://127.0.0.1:port`).
    pub issuer: &'a str,
    /// Where the provider is served.
    pub addr: SocketAddr,
    /// The public client `rp.mjs` is, with `redirect` and `<redirect's origin>/signed-out`
    /// registered.
    pub client: &'a str,
    /// Its redirect URI.
    pub redirect: &'a str,
    /// The user.
    pub email: &'a str,
    /// Their password.
    pub password: &'a str,
    /// Their id.
    pub user_id: i64,
}

/// The value of the page's hidden field `name`.
fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"user[{name}]\" value=\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        + marker.len();
    body[start..start + body[start..].find('"').unwrap()].to_owned()
}

/// The next line `node` prints, read as JSON.
fn next(node: &mut Tool) -> Value {
    let line = node.line("its next step");
    serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
}

/// The path and query of `url`, on `issuer`.
fn local(issuer: &str, url: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    assert_eq!(url.origin().ascii_serialization(), issuer);
    format!("{}?{}", url.path(), url.query().unwrap_or_default())
}

impl Party<'_> {
    fn node(&self, mode: &str) -> Tool {
        Tool::start(
            "openid-client",
            Command::new("node").arg(self.dir.join("rp.mjs")).args([
                self.issuer,
                self.client,
                mode,
            ]),
        )
    }

    /// The code flow with PKCE, userinfo, refresh and its reuse, then RP-initiated logout:
    /// what openid-client checked is asserted here. The user's browser, signed out again.
    pub fn code_flow_and_logout(&self) -> Client {
        let mut rp = self.node(self.redirect);
        let asked = next(&mut rp);
        let path = local(
            self.issuer,
            asked["authorize"]
                .as_str()
                .unwrap_or_else(|| panic!("{asked}")),
        );

        // The user: signs in, sees the consent page, allows.
        let mut browser = Client::new(self.addr);
        assert_eq!(browser.sign_in(self.email, self.password).status, 302);
        let page = browser.get(&path);
        assert_eq!(page.status, 200, "{}", page.body);
        let back = browser.post(
            "/oauth/authorize",
            &[
                ("_csrf_token", &page.csrf()),
                ("user[request]", &hidden(&page.body, "request")),
                ("user[decision]", "allow"),
            ],
        );
        assert_eq!(back.status, 302);
        assert!(
            back.location().starts_with(self.redirect),
            "{}",
            back.location()
        );
        writeln!(rp.stdin(), "{}", back.location()).unwrap();

        let result = next(&mut rp);
        assert_eq!(result["ok"], true, "{result}");
        assert_eq!(result["sub"], self.user_id.to_string());
        assert_eq!(result["aud"], serde_json::json!([self.client]));
        assert_eq!(result["iss"], self.issuer);
        assert_eq!(result["email"], self.email);
        assert_eq!(result["id_token_alg"], "EdDSA");
        assert_eq!(result["refreshed"], true);
        assert_eq!(result["reuse"], "invalid_grant", "{result}");
        assert_eq!(result["after_reuse"], "401", "{result}");

        // RP-initiated logout: the user confirms, the browser goes back with the state.
        let asked = next(&mut rp);
        let path = local(
            self.issuer,
            asked["logout"]
                .as_str()
                .unwrap_or_else(|| panic!("{asked}")),
        );
        let page = browser.get(&path);
        assert_eq!(page.status, 200, "{}", page.body);
        let mut form = vec![("_csrf_token".to_owned(), page.csrf())];
        for field in [
            "id_token_hint",
            "client_id",
            "post_logout_redirect_uri",
            "state",
        ] {
            if page.body.contains(&format!("name=\"user[{field}]\"")) {
                form.push((format!("user[{field}]"), hidden(&page.body, field)));
            }
        }
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let back = browser.post("/oauth/logout", &form);
        assert_eq!(back.status, 302, "{}", back.body);
        writeln!(rp.stdin(), "{}", back.location()).unwrap();
        let result = next(&mut rp);
        assert_eq!(result["logged_out"], true, "{result}");
        assert!(rp.finish().success());
        assert_eq!(browser.get("/oauth/grants").status, 302, "signed out");
        browser
    }

    /// The device grant: openid-client asks for codes and polls; the user (signing in with
    /// `browser`) enters the code and allows.
    pub fn device_flow(&self, browser: &mut Client) {
        let mut device = self.node("device");
        let codes = next(&mut device);
        assert_eq!(
            codes["verification_uri"],
            format!("{}/oauth/device", self.issuer),
            "{codes}"
        );
        assert_eq!(codes["interval"], 1);
        let user_code = codes["user_code"].as_str().unwrap();
        assert_eq!(browser.sign_in(self.email, self.password).status, 302);
        let page = browser.get("/oauth/device");
        let confirm = browser.post(
            "/oauth/device",
            &[
                ("_csrf_token", &page.csrf()),
                ("user[user_code]", user_code),
            ],
        );
        assert_eq!(confirm.status, 200, "{}", confirm.body);
        let allowed = browser.post(
            "/oauth/device/confirm",
            &[
                ("_csrf_token", &confirm.csrf()),
                ("user[request]", &hidden(&confirm.body, "request")),
                ("user[decision]", "allow"),
            ],
        );
        assert_eq!(allowed.status, 302, "{}", allowed.body);
        let polled = next(&mut device);
        assert_eq!(polled["ok"], true, "{polled}");
        assert_eq!(polled["sub"], self.user_id.to_string());
        assert_eq!(polled["email"], self.email);
        assert!(device.finish().success());
    }
}
