//! The core's pages, served by both frameworks from one source: every journey here runs
//! against an actix-web app and an axum app of the same setup, over a real socket, and the
//! two must answer alike, step by step (status, redirect, headers, cookie attributes and
//! the page itself, CSRF tokens aside).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pow_actix::test_client::{Client, Response};
use pow_core::mailer::MemoryMailer;
use pow_core::password::Pbkdf2Hasher;
use pow_core::users::diesel::DieselUsersContext;
use pow_core::PowConfig;
use pow_testkit::{serve_on, Framework};

const PASSWORD: &str = "correct horse battery";

const FRAMEWORKS: [Framework; 2] = [Framework::Actix, Framework::Axum];

/// A setup on a fresh SQLite database with one user, `ada@example.com`.
fn setup() -> PowConfig {
    setup_at("")
}

/// [`setup`], its routes mounted at `mount`.
fn setup_at(mount: &str) -> PowConfig {
    let db = std::env::temp_dir().join(format!(
        "pow-axum-pages-{}.db",
        pow_core::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let config = PowConfig::builder("p".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .mailer(MemoryMailer::new())
        .base_url("http://localhost")
        .mount_path(mount)
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    pow_core::testing::create_user(&config, "ada@example.com", PASSWORD).unwrap();
    config
}

/// What must be alike of one answer on both frameworks.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: u16,
    headers: Vec<(String, String)>,
    cookies: Vec<String>,
    body: String,
}

/// The headers compared (the others, `date` or `content-length`, say, are the server's).
const COMPARED: [&str; 10] = [
    "location",
    "allow",
    "referrer-policy",
    "content-type",
    "cache-control",
    "x-frame-options",
    "content-security-policy",
    "x-content-type-options",
    "retry-after",
    "www-authenticate",
];

fn seen(res: &Response) -> Seen {
    let mut headers: Vec<(String, String)> = res
        .headers
        .iter()
        .filter(|(k, _)| COMPARED.contains(&k.to_ascii_lowercase().as_str()))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    headers.sort();
    // A cookie's name and attributes (its value is a secret of its own on each run).
    let mut cookies: Vec<String> = res
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| {
            let mut parts: Vec<String> = v.split(';').map(|p| p.trim().to_owned()).collect();
            let name = parts[0].split('=').next().unwrap_or_default().to_owned();
            // An `Expires` date is the moment of the answer: the two runs may fall on
            // either side of a second.
            let mut attributes: Vec<String> = parts
                .drain(1..)
                .map(|a| a.to_ascii_lowercase())
                .map(|a| match a.split_once('=') {
                    Some(("expires", _)) => "expires=TIME".to_owned(),
                    _ => a,
                })
                .collect();
            attributes.sort();
            format!("{name}; {}", attributes.join("; "))
        })
        .collect();
    cookies.sort();
    Seen {
        status: res.status,
        headers,
        cookies,
        body: without_tokens(&res.body),
    }
}

/// `body` with every CSRF token's value blanked (each page masks its token afresh).
fn without_tokens(body: &str) -> String {
    let mut text = body.to_owned();
    for marker in [
        "name=\"_csrf_token\" value=\"",
        "name=\"csrf-token\" content=\"",
        // A session's handle in a form is a keyed hash of its id.
        "name=\"user[session]\" value=\"",
    ] {
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(at) = rest.find(marker) {
            let start = at + marker.len();
            out.push_str(&rest[..start]);
            out.push_str("TOKEN");
            let end = rest[start..].find('"').map_or(rest.len(), |e| start + e);
            rest = &rest[end..];
        }
        out.push_str(rest);
        text = out;
    }
    without_times(&text)
}

/// `text` with every `YYYY-MM-DD HH:MM UTC` time read as `TIME` (the two runs may fall on
/// either side of a minute).
fn without_times(text: &str) -> String {
    let shape = b"dddd-dd-dd dd:dd UTC";
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let fits = bytes.len() - at >= shape.len()
            && shape
                .iter()
                .zip(&bytes[at..])
                .all(|(want, got)| match want {
                    b'd' => got.is_ascii_digit(),
                    other => other == got,
                });
        if fits {
            out.extend_from_slice(b"TIME");
            at += shape.len();
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// One step of a journey: what it asked, and what it saw.
type Journal = Vec<(String, Seen)>;

/// Runs `journey` on both frameworks (a fresh setup each) and asserts that every step was
/// answered alike; returns the journal (what both saw).
fn on_both(journey: impl Fn(&mut Client, &mut Journal)) -> Journal {
    on_both_at("", journey)
}

/// [`on_both`] with the routes mounted at `mount`.
fn on_both_at(mount: &str, journey: impl Fn(&mut Client, &mut Journal)) -> Journal {
    let mut journals = Vec::new();
    for framework in FRAMEWORKS {
        let addr = serve_on(framework, setup_at(mount));
        let mut client = Client::new(addr);
        let mut journal = Journal::new();
        journey(&mut client, &mut journal);
        journals.push((framework, journal));
    }
    let (_, actix) = &journals[0];
    let (_, axum) = &journals[1];
    assert_eq!(actix.len(), axum.len(), "both journeys took the same steps");
    for ((step, on_actix), (_, on_axum)) in actix.iter().zip(axum) {
        assert_eq!(
            on_actix, on_axum,
            "step `{step}` is answered alike on actix-web and axum"
        );
    }
    journals.swap_remove(0).1
}

/// Sends `method path` with `form`, notes it in the journal, and hands the answer back.
fn step(
    client: &mut Client,
    journal: &mut Journal,
    method: &str,
    path: &str,
    form: &[(&str, &str)],
) -> Response {
    let res = match method {
        "GET" => client.get(path),
        _ => client.post(path, form),
    };
    journal.push((format!("{method} {path}"), seen(&res)));
    res
}

fn status(journal: &Journal, at: usize) -> u16 {
    journal[at].1.status
}

fn location(journal: &Journal, at: usize) -> &str {
    journal[at]
        .1
        .headers
        .iter()
        .find(|(k, _)| k == "location")
        .map_or("", |(_, v)| v.as_str())
}

#[test]
fn signing_up_editing_and_deleting_an_account_is_alike_on_both() {
    let journal = on_both(|client, journal| {
        let page = step(client, journal, "GET", "/registration/new", &[]);
        let csrf = page.csrf();
        // No CSRF token: refused.
        step(
            client,
            journal,
            "POST",
            "/registration",
            &[("user[email]", "bo@example.com")],
        );
        // The passwords differ: the page again, with the errors.
        step(
            client,
            journal,
            "POST",
            "/registration",
            &[
                ("_csrf_token", &csrf),
                ("user[email]", "bo@example.com"),
                ("user[password]", PASSWORD),
                ("user[password_confirmation]", "something else"),
            ],
        );
        let csrf = step(client, journal, "GET", "/registration/new", &[]).csrf();
        step(
            client,
            journal,
            "POST",
            "/registration",
            &[
                ("_csrf_token", &csrf),
                ("user[email]", "bo@example.com"),
                ("user[password]", PASSWORD),
                ("user[password_confirmation]", PASSWORD),
            ],
        );
        // Signed up and in, with a fresh session: the account page.
        let edit = step(client, journal, "GET", "/registration/edit", &[]);
        let csrf = edit.csrf();
        // A wrong current password: the page again.
        step(
            client,
            journal,
            "POST",
            "/registration",
            &[
                ("_csrf_token", &csrf),
                ("_method", "PATCH"),
                ("user[current_password]", "wrong password"),
                ("user[email]", "bo2@example.com"),
            ],
        );
        let csrf = step(client, journal, "GET", "/registration/edit", &[]).csrf();
        step(
            client,
            journal,
            "POST",
            "/registration",
            &[
                ("_csrf_token", &csrf),
                ("_method", "PATCH"),
                ("user[current_password]", PASSWORD),
                ("user[email]", "bo2@example.com"),
            ],
        );
        let csrf = step(client, journal, "GET", "/registration/edit", &[]).csrf();
        step(
            client,
            journal,
            "POST",
            "/registration",
            &[("_csrf_token", &csrf), ("_method", "DELETE")],
        );
        // The account is gone: its password signs nobody in.
        let csrf = step(client, journal, "GET", "/session/new", &[]).csrf();
        step(
            client,
            journal,
            "POST",
            "/session",
            &[
                ("_csrf_token", &csrf),
                ("user[email]", "bo2@example.com"),
                ("user[password]", PASSWORD),
            ],
        );
    });
    let statuses: Vec<u16> = (0..journal.len()).map(|at| status(&journal, at)).collect();
    assert_eq!(
        statuses,
        [200, 403, 200, 200, 302, 200, 200, 200, 302, 200, 302, 200, 200],
        "{journal:#?}"
    );
    assert!(
        journal[2].1.body.contains("aria-invalid"),
        "the errors are shown"
    );
    assert!(
        journal[12].1.body.contains("_csrf_token"),
        "the sign-in page again"
    );
}

#[test]
fn signing_in_and_out_and_sudo_mode_are_alike_on_both() {
    let journal = on_both(|client, journal| {
        // Not signed in: the account page sends to the sign-in page, and back after it.
        step(client, journal, "GET", "/registration/edit", &[]);
        let csrf = step(
            client,
            journal,
            "GET",
            "/session/new?request_path=%2Fregistration%2Fedit",
            &[],
        )
        .csrf();
        step(
            client,
            journal,
            "POST",
            "/session?request_path=%2Fregistration%2Fedit",
            &[
                ("_csrf_token", &csrf),
                ("user[email]", "ada@example.com"),
                ("user[password]", "wrong password"),
            ],
        );
        step(
            client,
            journal,
            "POST",
            "/session?request_path=%2Fregistration%2Fedit",
            &[
                ("_csrf_token", &csrf),
                ("user[email]", "ada@example.com"),
                ("user[password]", PASSWORD),
            ],
        );
        // Signed in: the sign-in page is not for them.
        step(client, journal, "GET", "/session/new", &[]);
        // The password confirmation page, a wrong then a right password.
        let csrf = step(
            client,
            journal,
            "GET",
            "/session/confirm?request_path=%2Fregistration%2Fedit",
            &[],
        )
        .csrf();
        step(
            client,
            journal,
            "POST",
            "/session/confirm?request_path=%2Fregistration%2Fedit",
            &[("_csrf_token", &csrf), ("user[password]", "wrong password")],
        );
        step(
            client,
            journal,
            "POST",
            "/session/confirm?request_path=%2Fregistration%2Fedit",
            &[("_csrf_token", &csrf), ("user[password]", PASSWORD)],
        );
        step(client, journal, "GET", "/registration/edit", &[]);
        // The sessions page; ending the others; the activity page.
        let csrf = step(client, journal, "GET", "/registration/sessions", &[]).csrf();
        step(
            client,
            journal,
            "POST",
            "/registration/sessions",
            &[("_csrf_token", &csrf), ("user[scope]", "others")],
        );
        step(client, journal, "GET", "/registration/activity", &[]);
        let csrf = step(client, journal, "GET", "/registration/sessions", &[]).csrf();
        // Sign out; the old page's token no longer serves (the secret was rotated).
        step(
            client,
            journal,
            "POST",
            "/session",
            &[("_csrf_token", &csrf), ("_method", "DELETE")],
        );
        step(client, journal, "GET", "/registration/edit", &[]);
        // A form without its token.
        step(
            client,
            journal,
            "POST",
            "/session",
            &[("user[email]", "ada@example.com")],
        );
        // An unlock link that is no link: back to the sign-in page, which says so.
        step(client, journal, "GET", "/session/unlock/not-a-token", &[]);
        step(client, journal, "GET", "/session/new", &[]);
    });
    let statuses: Vec<u16> = (0..journal.len()).map(|at| status(&journal, at)).collect();
    assert_eq!(
        statuses,
        [
            302, 200, 200, 302, 302, 200, 200, 302, 200, 200, 302, 200, 200, 302, 302, 403, 302,
            200
        ],
        "{journal:#?}"
    );
    assert!(location(&journal, 0).starts_with("/session/new?request_path="));
    assert_eq!(location(&journal, 3), "/registration/edit");
    assert_eq!(location(&journal, 7), "/registration/edit");
    assert!(
        journal[9].1.body.contains("TIME"),
        "the sessions page lists this one"
    );
    assert_eq!(location(&journal, 10), "/registration/sessions");
    assert_eq!(location(&journal, 16), "/session/new");
    assert!(
        journal[17].1.body.contains("This unlock link is invalid"),
        "the sign-in page says the link failed"
    );
}

#[test]
fn every_page_route_of_the_table_is_served_alike_on_both() {
    let table = pow_core::pages::routes::page_routes(&setup());
    let journal = on_both(|client, journal| {
        for route in &table {
            let path = route.path.replace("{token}", "x");
            let method = route.verb.as_str();
            let res = client.request(method, &path, (method != "GET").then(String::new));
            journal.push((format!("{method} {path}"), seen(&res)));
        }
        // A method the path does not take: `405` with what it takes.
        for (method, path) in [
            ("PUT", "/session/new"),
            ("PUT", "/registration/sessions"),
            // `HEAD` where the `GET` only shows a page, and where it does more.
            ("HEAD", "/session/new"),
            ("HEAD", "/registration/sessions"),
        ] {
            let body = (method != "HEAD").then(String::new);
            let res = client.request(method, path, body);
            journal.push((format!("{method} {path}"), seen(&res)));
        }
    });
    assert_eq!(journal.len(), table.len() + 4);
    let probes: Vec<(u16, Option<&str>)> = journal[table.len()..]
        .iter()
        .map(|(_, seen)| {
            let allow = seen.headers.iter().find(|(k, _)| k == "allow");
            (seen.status, allow.map(|(_, v)| v.as_str()))
        })
        .collect();
    assert_eq!(
        probes,
        [
            (405, Some("GET,HEAD")),
            (405, Some("GET,POST")),
            (200, None),
            (405, Some("GET,POST")),
        ]
    );
    for (asked, seen) in &journal[..table.len()] {
        assert!(
            ![404, 405].contains(&seen.status),
            "`{asked}` is served: {seen:?}"
        );
    }
}

#[test]
fn under_a_mount_path_both_serve_and_link_inside_it() {
    let journal = on_both_at("/auth", |client, journal| {
        let csrf = step(client, journal, "GET", "/auth/session/new", &[]).csrf();
        step(
            client,
            journal,
            "POST",
            "/auth/session",
            &[
                ("_csrf_token", &csrf),
                ("user[email]", "ada@example.com"),
                ("user[password]", PASSWORD),
            ],
        );
        step(client, journal, "GET", "/auth/registration/edit", &[]);
        step(client, journal, "GET", "/session/new", &[]);
    });
    let statuses: Vec<u16> = (0..journal.len()).map(|at| status(&journal, at)).collect();
    assert_eq!(statuses, [200, 302, 200, 404], "{journal:#?}");
    assert!(
        journal[0].1.body.contains("action=\"/auth/session\""),
        "the form posts inside the mount path"
    );
}

#[test]
fn the_mailbox_preview_is_alike_on_both_and_only_for_this_machine() {
    let mut journals = Vec::new();
    for framework in FRAMEWORKS {
        let outbox = pow_core::mailer::MemoryMailer::new();
        let addr = match framework {
            Framework::Actix => {
                let outbox = outbox.clone();
                pow_actix::test_client::serve(move || {
                    actix_web::App::new().configure(pow_actix::web::mailbox_preview(outbox.clone()))
                })
            }
            Framework::Axum => {
                pow_testkit::serve_axum(pow_axum::web::mailbox_preview(outbox.clone()))
            }
        };
        let mail = pow_core::mailer::Mail {
            to: "ada@example.com".into(),
            subject: "Hello <Ada>".into(),
            text: "Plain words.".into(),
            html: "<p>Rich words.</p>".into(),
        };
        use pow_core::mailer::Mailer as _;
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(outbox.deliver(mail)).unwrap();
        let mut client = Client::new(addr);
        let mut journal = Journal::new();
        for path in [
            "/dev/mailbox",
            "/dev/mailbox/0",
            "/dev/mailbox/0/text",
            "/dev/mailbox/7",
        ] {
            let res = client.get(path);
            journal.push((path.to_owned(), seen(&res)));
        }
        client
            .headers
            .push(("X-Forwarded-For".into(), "203.0.113.9".into()));
        let res = client.get("/dev/mailbox");
        journal.push(("/dev/mailbox (forwarded)".into(), seen(&res)));
        journals.push(journal);
    }
    assert_eq!(journals[0], journals[1], "the mailbox is answered alike");
    let statuses: Vec<u16> = journals[0].iter().map(|(_, seen)| seen.status).collect();
    assert_eq!(statuses, [200, 200, 200, 404, 404]);
    assert!(journals[0][0].1.body.contains("Hello &lt;Ada&gt;"));
}
