//! SAML 2.0 connections through a real identity provider (samlify, an independent
//! implementation: `conformance/saml-idp`, installed by `.ci/run` with `npm ci`), over HTTP
//! on actix-web and axum from one source, on SQLite and PostgreSQL: an admin imports the
//! provider's metadata, tests the connection and turns it on; a first sign-in creates the
//! account and membership, the next finds it by its subject; and each trap is refused: a
//! replayed assertion, an answer for another request or another audience, a SHA-1
//! signature, a signature by a key the metadata does not pin, wrapped and altered
//! assertions, transient subjects, huge and deeply nested documents, unsolicited answers
//! where not allowed, an answer finished in another browser, metadata naming no
//! certificate or at a private address, and a connection that is off at every entry point.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use pow_actix::test_client::{Client, Response};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::PowConfig;
use pow_core::audit::{AuditEvent, AuditQuery, AuditSink, Auditor};
use pow_ext_sso::Sso;
use pow_testkit::Tool;
use serde_json::{json, Value};

mod common;

use common::{block_on, user, OWNER};

/// The identity provider, stopped when dropped.
struct Idp {
    node: Option<Tool>,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Drop for Idp {
    fn drop(&mut self) {
        // Stopped before its folder goes.
        drop(self.node.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Idp {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The person (and signing) the next answers assert.
    fn config(&self, config: Value) {
        let mut idp = Client::new(self.addr);
        let res = idp.request("POST", "/config", Some(config.to_string()));
        assert_eq!(res.status, 204, "{}", res.body);
    }

    /// Registers the app's service provider (its metadata, as the app serves it).
    fn register(&self, app: &mut Client, org: &str) {
        let metadata = app.get(&format!("/sso/saml/{org}/metadata"));
        assert_eq!(metadata.status, 200, "{}", metadata.body);
        assert!(metadata.body.contains("AssertionConsumerService"));
        let mut idp = Client::new(self.addr);
        let res = idp.request("POST", "/sp", Some(metadata.body));
        assert_eq!(res.status, 204, "{}", res.body);
    }

    /// The provider's answer page to the app's redirect: the POST form's fields.
    fn answer(&self, redirect: &str) -> Posted {
        let url = url::Url::parse(redirect).unwrap();
        assert_eq!(
            url.socket_addrs(|| None).unwrap()[0],
            self.addr,
            "off to the provider: {redirect}"
        );
        let mut idp = Client::new(self.addr);
        let page = idp.get(&format!("{}?{}", url.path(), url.query().unwrap_or("")));
        assert_eq!(page.status, 200, "{}", page.body);
        Posted::of(&page.body)
    }

    /// A JSON document the provider serves at `path`.
    fn get(&self, path: &str) -> Value {
        let res = Client::new(self.addr).get(path);
        assert_eq!(res.status, 200, "{}", res.body);
        serde_json::from_str(&res.body).unwrap()
    }

    /// An IdP-initiated logout request for the app: its URL.
    fn logout(&self, request: Value) -> String {
        let res = Client::new(self.addr).request("POST", "/logout", Some(request.to_string()));
        assert_eq!(res.status, 200, "{}", res.body);
        let said: Value = serde_json::from_str(&res.body).unwrap();
        said["url"].as_str().unwrap().to_owned()
    }

    /// An IdP-initiated answer.
    fn unsolicited(&self) -> Posted {
        let mut idp = Client::new(self.addr);
        let page = idp.request("POST", "/unsolicited", Some("{}".into()));
        assert_eq!(page.status, 200, "{}", page.body);
        Posted::of(&page.body)
    }
}

/// An HTTP-POST binding form: where it goes and what it carries.
#[derive(Clone, Debug)]
struct Posted {
    action: String,
    response: String,
    relay_state: Option<String>,
}

impl Posted {
    fn of(page: &str) -> Self {
        let action = attribute_after(page, "<form", "action").expect("a form");
        Self {
            action: url::Url::parse(&action).unwrap().path().to_owned(),
            response: hidden(page, "SAMLResponse").expect("a SAMLResponse"),
            relay_state: hidden(page, "RelayState"),
        }
    }

    /// The response's XML.
    fn xml(&self) -> String {
        String::from_utf8(STANDARD.decode(&self.response).unwrap()).unwrap()
    }

    /// The same form carrying `xml` instead.
    fn with_xml(&self, xml: &str) -> Self {
        Self {
            response: STANDARD.encode(xml),
            ..self.clone()
        }
    }

    /// Posts it to the app from `browser`: the app's answer (a `303` to its callback).
    fn post(&self, browser: &mut Client) -> Response {
        let mut form = vec![("SAMLResponse", self.response.as_str())];
        if let Some(relay) = &self.relay_state {
            form.push(("RelayState", relay.as_str()));
        }
        browser.post(&self.action, &form)
    }
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x2F;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn attribute_after(page: &str, tag: &str, name: &str) -> Option<String> {
    let from = page.find(tag)?;
    let rest = &page[from..];
    let end = rest.find('>')?;
    let tag = &rest[..end];
    let at = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let value = &tag[at..];
    Some(unescape(&value[..value.find('"')?]))
}

fn hidden(page: &str, name: &str) -> Option<String> {
    let at = page.find(&format!("name=\"{name}\""))?;
    let start = page[..at].rfind('<')?;
    attribute_after(&page[start..], "<input", "value")
}

/// The provider's folder, or `None` (with a notice) when its packages are not installed
/// outside CI; under CI a missing install fails the test.
fn idp_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../conformance/saml-idp");
    if dir.join("node_modules/samlify").is_dir() {
        return Some(dir);
    }
    let hint = "run `npm ci` in conformance/saml-idp";
    assert!(
        std::env::var("CI").is_err(),
        "the SAML identity provider is not installed: {hint}"
    );
    eprintln!("skipped: the SAML identity provider is not installed ({hint})");
    None
}

fn idp() -> Option<Idp> {
    let dir = idp_dir()?;
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let keys = std::env::temp_dir().join(format!(
        "pow-saml-idp-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&keys).unwrap();
    let mut node = Tool::start(
        "the SAML identity provider",
        Command::new("node")
            .arg(dir.join("idp.js"))
            .arg(&keys)
            .current_dir(&dir),
    );
    let said: Value = serde_json::from_str(&node.line("its port")).unwrap();
    let port = said["port"].as_u64().unwrap();
    Some(Idp {
        node: Some(node),
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
        dir: keys,
    })
}

/// The audit events, kept to be read.
#[derive(Clone, Default)]
struct Kept(Arc<std::sync::Mutex<Vec<AuditEvent>>>);

impl AuditSink for Kept {
    fn write(&self, events: &[AuditEvent]) -> Result<(), pow_core::PowError> {
        self.0.lock().unwrap().extend_from_slice(events);
        Ok(())
    }

    fn query(&self, _: &AuditQuery) -> Result<Vec<AuditEvent>, pow_core::PowError> {
        Ok(self.0.lock().unwrap().clone())
    }
}

struct App {
    config: PowConfig,
    addr: SocketAddr,
    idp: Idp,
    org_id: String,
}

fn start(users: DieselUsersContext) -> Option<App> {
    start_with(users, false)
}

/// The app, with its own service provider key when `keyed` (signed requests, encrypted
/// assertions).
fn start_with(users: DieselUsersContext, keyed: bool) -> Option<App> {
    let idp = idp()?;
    let mut sso = Sso::new().allow_loopback_fetches(true);
    if keyed {
        let read = |name: &str| std::fs::read_to_string(idp.dir.join(name)).unwrap();
        sso = sso.saml_key(read("sp.key"), read("sp.crt"));
    }
    let (config, addr, _, org) = common::serve(users, sso, |builder| {
        builder.audit(Auditor::new(Kept::default()))
    });
    Some(App {
        config,
        addr,
        idp,
        org_id: org.id,
    })
}

fn browser(app: &App, email: &str) -> Client {
    common::browser(app.addr, email)
}

/// The address of the user `client` is signed in as (the app's `/me` names the id).
fn signed_in_as(app: &App, client: &mut Client) -> Option<String> {
    let me = client.get("/me").body;
    let id: i64 = me.strip_prefix("user:")?.trim().parse().ok()?;
    let user = block_on(pow_core::flows::stored_user(&app.config, id)).unwrap()?;
    user.email().map(str::to_owned)
}

fn admin_post(admin: &mut Client, path: &str, form: &[(&str, &str)]) -> Response {
    let csrf = admin.get("/organizations/acme/sso").csrf();
    let mut fields = vec![("_csrf_token", csrf.as_str())];
    fields.extend_from_slice(form);
    admin.post(path, &fields)
}

/// The owner imports the provider's metadata from `metadata` (a path at the provider).
fn import(app: &App, admin: &mut Client, metadata: &str, idp_initiated: bool) -> Response {
    let url = app.idp.url(metadata);
    let mut form = vec![
        ("user[protocol]", "saml"),
        ("user[metadata_url]", url.as_str()),
        ("user[default_role]", "member"),
    ];
    if idp_initiated {
        form.push(("user[idp_initiated]", "true"));
    }
    admin_post(admin, "/organizations/acme/sso", &form)
}

/// The flash the manage page shows after a change.
fn flash(admin: &mut Client) -> String {
    admin.get("/organizations/acme/sso").body
}

/// Sets the connection up, tests it (the provider asserting the owner) and turns it on.
fn set_up(app: &App, admin: &mut Client, idp_initiated: bool) {
    let res = import(app, admin, "/metadata", idp_initiated);
    assert_eq!(res.status, 302, "{}", res.body);
    let page = flash(admin);
    assert!(page.contains("SAML"), "{page}");
    app.idp.register(admin, &app.org_id);
    app.idp.config(
        json!({ "email": OWNER, "name": "Olga", "nameId": "olga-1", "nameIdFormat": "persistent" }),
    );
    let res = admin_post(admin, "/organizations/acme/sso/test", &[]);
    assert_eq!(res.status, 302, "{}", res.body);
    let answer = app.idp.answer(res.location());
    let back = answer.post(admin);
    assert_eq!(back.status, 303, "{}", back.body);
    let tested = admin.get(back.location());
    if tested.status != 200 {
        let page = admin.get(tested.location());
        panic!(
            "{} -> {}: {:?} {}",
            tested.status,
            tested.location(),
            refusals(app),
            page.body
        );
    }
    assert!(tested.body.contains("sub: olga-1"), "{}", tested.body);
    let res = admin_post(admin, "/organizations/acme/sso/enable", &[]);
    assert_eq!(res.status, 302, "{}", res.body);
}

/// `browser` begins a sign-in for `identifier`: the provider's URL it is sent to.
fn begin(browser: &mut Client, identifier: &str) -> String {
    let csrf = browser.get("/sso").csrf();
    let res = browser.post(
        "/sso",
        &[("_csrf_token", &csrf), ("user[identifier]", identifier)],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    res.location().to_owned()
}

/// Posts `answer` from `browser` and follows the app to its callback: the callback's answer.
fn deliver(browser: &mut Client, answer: &Posted) -> Response {
    let back = answer.post(browser);
    assert_eq!(back.status, 303, "{}", back.body);
    assert!(
        back.location().starts_with("/sso/callback?saml="),
        "{}",
        back.location()
    );
    browser.get(back.location())
}

/// The reasons of the refused answers recorded so far.
fn refusals(app: &App) -> Vec<String> {
    block_on(app.config.audit().query(AuditQuery::default()))
        .unwrap()
        .iter()
        .filter(|event| event.name == "sso.answer_refused")
        .map(|event| {
            event.detail["reason"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn user_id(app: &App, email: &str) -> Option<i64> {
    block_on(
        app.config
            .users()
            .unwrap()
            .get_by("email", pow_core::users::Value::Text(email.to_owned())),
    )
    .unwrap()
    .map(|user| user.id)
}

/// Set up, tested, on; a first sign-in at a verified domain creates the account and its
/// membership; the next one finds it by its subject.
fn saml_signs_in_and_provisions(users: DieselUsersContext) {
    let Some(app) = start(users) else {
        return;
    };
    let mut admin = browser(&app, OWNER);
    set_up(&app, &mut admin, false);

    app.idp.config(json!({ "email": "ada@acme.example", "name": "Ada Lovelace", "nameId": "ada-7", "nameIdFormat": "persistent" }));
    let mut ada = Client::new(app.addr);
    let to_idp = begin(&mut ada, "ada@acme.example");
    let answer = app.idp.answer(&to_idp);
    let done = deliver(&mut ada, &answer);
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(
        signed_in_as(&app, &mut ada).as_deref(),
        Some("ada@acme.example")
    );
    let first = user_id(&app, "ada@acme.example").expect("created");
    let role = block_on(pow_ext_organizations::flows::membership(
        &app.config,
        &block_on(pow_core::flows::stored_user(&app.config, first))
            .unwrap()
            .unwrap(),
        "acme",
    ))
    .unwrap()
    .map(|membership| membership.role);
    assert_eq!(role.as_deref(), Some("member"));

    // Returning: the same subject, even with another address asserted, is the same user.
    app.idp.config(json!({ "email": "ada.l@acme.example", "name": "Ada", "nameId": "ada-7", "nameIdFormat": "persistent" }));
    let mut again = Client::new(app.addr);
    let to_idp = begin(&mut again, "acme");
    let done = deliver(&mut again, &app.idp.answer(&to_idp));
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(
        signed_in_as(&app, &mut again).as_deref(),
        Some("ada@acme.example")
    );
    assert_eq!(user_id(&app, "ada.l@acme.example"), None);
    assert!(refusals(&app).is_empty(), "{:?}", refusals(&app));
}

/// Every trap, refused at the assertion consumer service, nobody signed in.
fn saml_traps_are_refused(users: DieselUsersContext) {
    let Some(app) = start(users) else {
        return;
    };
    let mut admin = browser(&app, OWNER);
    set_up(&app, &mut admin, false);
    let ada = json!({ "email": "ada@acme.example", "name": "Ada", "nameId": "ada-7", "nameIdFormat": "persistent" });
    app.idp.config(ada.clone());

    // A good answer, used once; posted again (with its relay state) it names no attempt.
    let mut first = Client::new(app.addr);
    let good = app.idp.answer(&begin(&mut first, "ada@acme.example"));
    assert_eq!(deliver(&mut first, &good).status, 302);
    let mut replayer = Client::new(app.addr);
    let res = deliver(&mut replayer, &good);
    assert_eq!(res.status, 302);
    assert!(res.location().starts_with("/sso"), "{}", res.location());
    assert_eq!(signed_in_as(&app, &mut replayer), None);

    // The old answer under a fresh attempt: another request's answer (InResponseTo).
    let mut late = Client::new(app.addr);
    let fresh = app.idp.answer(&begin(&mut late, "ada@acme.example"));
    let swapped = Posted {
        relay_state: fresh.relay_state.clone(),
        ..good.clone()
    };
    deliver(&mut late, &swapped);
    assert_eq!(signed_in_as(&app, &mut late), None);
    let reasons = refusals(&app);
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert_eq!(reasons[0], "pow_sso_invalid_state");
    assert!(reasons[1].contains("InResponseTo"), "{reasons:?}");

    let refused = |name: &str, answer: Posted| {
        let mut browser = Client::new(app.addr);
        let to_idp = begin(&mut browser, "ada@acme.example");
        let fresh = app.idp.answer(&to_idp);
        let answer = Posted {
            relay_state: fresh.relay_state.clone(),
            ..answer
        };
        let before = refusals(&app).len();
        let res = deliver(&mut browser, &answer);
        assert_eq!(res.status, 302, "{name}: {}", res.body);
        assert_eq!(
            signed_in_as(&app, &mut browser),
            None,
            "{name} signed someone in"
        );
        let reasons = refusals(&app);
        assert_eq!(reasons.len(), before + 1, "{name}: {reasons:?}");
        reasons.last().cloned().unwrap_or_default()
    };
    // Each answer below is made for a fresh request, so only its own flaw refuses it.
    let made = |config: Value| {
        app.idp.config(config);
        let mut browser = Client::new(app.addr);
        let to_idp = begin(&mut browser, "ada@acme.example");
        (browser, app.idp.answer(&to_idp))
    };

    // SHA-1 signatures.
    let (mut browser, sha1) = made(
        json!({ "email": "ada@acme.example", "nameId": "ada-7", "nameIdFormat": "persistent", "algorithm": "sha1" }),
    );
    assert!(sha1.xml().contains("rsa-sha1"));
    deliver(&mut browser, &sha1);
    assert_eq!(signed_in_as(&app, &mut browser), None, "SHA-1 accepted");
    // A signature by a key the metadata does not pin (its certificate in KeyInfo).
    let (mut browser, forged) = made(
        json!({ "email": "ada@acme.example", "nameId": "ada-7", "nameIdFormat": "persistent", "attackerKey": true }),
    );
    deliver(&mut browser, &forged);
    assert_eq!(
        signed_in_as(&app, &mut browser),
        None,
        "another key accepted"
    );
    // Unsigned.
    let (mut browser, unsigned) = made(
        json!({ "email": "ada@acme.example", "nameId": "ada-7", "nameIdFormat": "persistent", "signAssertion": false, "signResponse": false }),
    );
    assert!(!unsigned.xml().contains("SignatureValue"));
    deliver(&mut browser, &unsigned);
    assert_eq!(signed_in_as(&app, &mut browser), None, "unsigned accepted");
    // A transient subject names nobody twice.
    let (mut browser, transient) =
        made(json!({ "email": "ada@acme.example", "nameIdFormat": "transient" }));
    deliver(&mut browser, &transient);
    assert_eq!(signed_in_as(&app, &mut browser), None, "transient accepted");
    let reasons = refusals(&app);
    assert_eq!(reasons.len(), 6, "{reasons:?}");
    assert!(reasons[2].contains("rsa-sha1"), "{reasons:?}");
    assert!(reasons[3].contains("no candidate cert"), "{reasons:?}");
    assert!(reasons[4].contains("signature missing"), "{reasons:?}");
    assert!(reasons[5].contains("transient"), "{reasons:?}");

    // Altered and wrapped assertions, from one signed answer.
    app.idp.config(json!({ "email": "ada@acme.example", "nameId": "ada-7", "nameIdFormat": "persistent", "signResponse": false }));
    let mut source = Client::new(app.addr);
    let signed = app.idp.answer(&begin(&mut source, "ada@acme.example"));
    let xml = signed.xml();
    assert!(xml.contains("ada-7"), "{xml}");
    // The subject changed inside the signed assertion, posted for the very request it
    // answers: only the signature can tell.
    let altered = signed.with_xml(&xml.replace("ada-7", "olga-1"));
    deliver(&mut source, &altered);
    assert_eq!(
        signed_in_as(&app, &mut source),
        None,
        "an altered assertion signed in"
    );
    let reason = refusals(&app).last().cloned().unwrap_or_default();
    assert!(
        reason.contains("signature") || reason.contains("digest"),
        "{reason}"
    );
    // A second, unsigned assertion for someone else beside the signed one.
    let assertion = between(&xml, "<saml:Assertion", "</saml:Assertion>");
    let forged = without_signature(&assertion)
        .replace("ada-7", "olga-1")
        .replacen(" ID=\"", " ID=\"x", 1);
    let reason = refused(
        "a second assertion",
        signed.with_xml(&xml.replace(&assertion, &format!("{forged}{assertion}"))),
    );
    assert!(reason.contains("multiple assertions"), "{reason}");
    // The signed assertion moved into an extension, an unsigned one in its place.
    let reason = refused(
        "wrapped",
        signed.with_xml(&xml.replace(
            &assertion,
            &format!("<samlp:Extensions>{assertion}</samlp:Extensions>{forged}"),
        )),
    );
    assert!(
        reason.contains("schema") || reason.contains("XSW"),
        "{reason}"
    );
    // A document too deep, and one too large for the endpoint.
    let deep = format!("{}{}", "<a>".repeat(5_000), "</a>".repeat(5_000));
    let reason = refused("deep", signed.with_xml(&deep));
    assert!(reason.contains("depth"), "{reason}");
    let entities = format!(
        "<!DOCTYPE r [<!ENTITY a \"{}\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]><r>&b;</r>",
        "a".repeat(1000)
    );
    let reason = refused("entities", signed.with_xml(&entities));
    assert!(
        reason.to_lowercase().contains("dtd") || reason.contains("DOCTYPE"),
        "{reason}"
    );
    let mut huge = Client::new(app.addr);
    let res = huge.post(&signed.action, &[("SAMLResponse", &"A".repeat(200 * 1024))]);
    assert_eq!(res.status, 413, "{}", res.body);

    // An answer made for another service provider (another organization's connection to
    // the same provider): the audience and destination are not this one's.
    let globex_owner = user(&app.config, "gus@globex.example");
    let globex = block_on(pow_ext_organizations::flows::create(
        &app.config,
        &globex_owner,
        "Globex",
        "globex",
    ))
    .unwrap()
    .unwrap();
    let mut other = Client::new(app.addr);
    app.idp.register(&mut other, &globex.id);
    app.idp.config(ada);
    let for_globex = app.idp.unsolicited();
    assert!(for_globex.action.contains(&globex.id));
    app.idp.register(&mut other, &app.org_id);
    let reason = refused(
        "another audience",
        Posted {
            action: signed.action.clone(),
            ..for_globex
        },
    );
    assert!(reason.contains("Destination"), "{reason}");
}

fn between(text: &str, start: &str, end: &str) -> String {
    let from = text.find(start).expect(start);
    let to = text[from..].find(end).expect(end) + from + end.len();
    text[from..to].to_owned()
}

fn without_signature(assertion: &str) -> String {
    match (
        assertion.find("<ds:Signature"),
        assertion.find("</ds:Signature>"),
    ) {
        (Some(from), Some(to)) => {
            format!(
                "{}{}",
                &assertion[..from],
                &assertion[to + "</ds:Signature>".len()..]
            )
        }
        _ => assertion.to_owned(),
    }
}

/// A connection that is off refuses at every entry point; IdP-initiated answers are taken
/// only where allowed, and a sign-in begun in one browser cannot be finished in another.
fn saml_entry_points_hold(users: DieselUsersContext) {
    let Some(app) = start(users) else {
        return;
    };
    let mut admin = browser(&app, OWNER);
    set_up(&app, &mut admin, false);
    app.idp.config(json!({ "email": "ada@acme.example", "name": "Ada", "nameId": "ada-7", "nameIdFormat": "persistent" }));

    // Unsolicited, not allowed.
    let mut browser = Client::new(app.addr);
    deliver(&mut browser, &app.idp.unsolicited());
    assert_eq!(
        signed_in_as(&app, &mut browser),
        None,
        "IdP-initiated taken while off"
    );

    // Begun here, finished in another browser (login CSRF): refused.
    let mut victim = Client::new(app.addr);
    let mut attacker = Client::new(app.addr);
    let answer = app.idp.answer(&begin(&mut attacker, "ada@acme.example"));
    let back = answer.post(&mut victim);
    assert_eq!(back.status, 303);
    victim.get(back.location());
    assert_eq!(
        signed_in_as(&app, &mut victim),
        None,
        "finished in another browser"
    );

    // Allowed: an unsolicited answer signs in, once.
    let res = import(&app, &mut admin, "/metadata", true);
    assert_eq!(res.status, 302, "{}", res.body);
    let mut browser = Client::new(app.addr);
    let unsolicited = app.idp.unsolicited();
    let done = deliver(&mut browser, &unsolicited);
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(
        signed_in_as(&app, &mut browser).as_deref(),
        Some("ada@acme.example")
    );
    let mut again = Client::new(app.addr);
    deliver(&mut again, &unsolicited);
    assert_eq!(
        signed_in_as(&app, &mut again),
        None,
        "a replayed assertion signed in"
    );
    assert!(
        refusals(&app)
            .iter()
            .any(|reason| reason.to_lowercase().contains("replay")),
        "{:?}",
        refusals(&app)
    );

    // Answers made while on, delivered after it is turned off; and every entry point off.
    let mut pending = Client::new(app.addr);
    let solicited = app.idp.answer(&begin(&mut pending, "ada@acme.example"));
    let mut handed = Client::new(app.addr);
    let handed_answer = app.idp.answer(&begin(&mut handed, "ada@acme.example"));
    let handed_back = handed_answer.post(&mut handed);
    assert_eq!(handed_back.status, 303);
    let unsolicited = app.idp.unsolicited();
    let res = admin_post(&mut admin, "/organizations/acme/sso/disable", &[]);
    assert_eq!(res.status, 302, "{}", res.body);
    // Start: routing finds nothing.
    let mut browser = Client::new(app.addr);
    let csrf = browser.get("/sso").csrf();
    let res = browser.post(
        "/sso",
        &[
            ("_csrf_token", &csrf),
            ("user[identifier]", "ada@acme.example"),
        ],
    );
    assert_eq!(res.status, 422, "{}", res.body);
    // The assertion consumer service, solicited and unsolicited.
    deliver(&mut pending, &solicited);
    assert_eq!(
        signed_in_as(&app, &mut pending),
        None,
        "ACS took an answer while off"
    );
    let mut browser = Client::new(app.addr);
    deliver(&mut browser, &unsolicited);
    assert_eq!(
        signed_in_as(&app, &mut browser),
        None,
        "IdP-initiated taken while off"
    );
    // The callback, for an answer checked before it was turned off.
    handed.get(handed_back.location());
    assert_eq!(
        signed_in_as(&app, &mut handed),
        None,
        "callback finished while off"
    );
}

/// Metadata naming no certificate, at a private address, or unreadable is refused.
fn saml_metadata_imports_are_checked(users: DieselUsersContext) {
    let Some(app) = start(users) else {
        return;
    };
    let mut admin = browser(&app, OWNER);
    let res = import(&app, &mut admin, "/metadata?unsigned=1", false);
    assert_eq!(res.status, 302, "{}", res.body);
    assert!(flash(&mut admin).contains("names no signing certificate"));
    let csrf = admin.get("/organizations/acme/sso").csrf();
    for url in [
        "https://10.0.0.1/metadata",
        "https://169.254.169.254/metadata",
    ] {
        let res = admin.post(
            "/organizations/acme/sso",
            &[
                ("_csrf_token", csrf.as_str()),
                ("user[protocol]", "saml"),
                ("user[metadata_url]", url),
            ],
        );
        assert_eq!(res.status, 302, "{}", res.body);
        assert!(flash(&mut admin).contains("could not be fetched"), "{url}");
    }
    let res = admin.post(
        "/organizations/acme/sso",
        &[
            ("_csrf_token", csrf.as_str()),
            ("user[protocol]", "saml"),
            ("user[metadata_xml]", "<md:EntityDescriptor"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    assert!(flash(&mut admin).contains("not readable"));
    assert!(block_on(
        pow_ext_sso::Connections::new(&app.config)
            .unwrap()
            .of_organization(&app.org_id)
    )
    .unwrap()
    .is_none());
}

/// With the app's key: requests are signed (the provider verifies them against the
/// certificate in the metadata), the metadata offers the certificate for encryption, and
/// encrypted assertions are taken only with strong algorithms: RSA-OAEP with SHA-1 (all
/// samlify can send) and AES-CBC are refused.
fn saml_with_a_service_provider_key(users: DieselUsersContext) {
    let Some(app) = start_with(users, true) else {
        return;
    };
    let mut admin = browser(&app, OWNER);
    let metadata = admin
        .get(&format!("/sso/saml/{}/metadata", app.org_id))
        .body;
    assert!(metadata.contains("use=\"encryption\""), "{metadata}");
    assert!(
        metadata.contains("AuthnRequestsSigned=\"true\""),
        "{metadata}"
    );
    set_up(&app, &mut admin, false);
    app.idp.config(json!({ "email": "ada@acme.example", "name": "Ada", "nameId": "ada-7", "nameIdFormat": "persistent", "requireSignedRequests": true }));
    let mut ada = Client::new(app.addr);
    let to_idp = begin(&mut ada, "ada@acme.example");
    assert!(
        to_idp.contains("Signature=") && to_idp.contains("SigAlg="),
        "{to_idp}"
    );
    let done = deliver(&mut ada, &app.idp.answer(&to_idp));
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(
        signed_in_as(&app, &mut ada).as_deref(),
        Some("ada@acme.example"),
        "{:?}",
        refusals(&app)
    );
    // A request whose signature was tampered with is refused by the provider.
    let mut tampered = Client::new(app.addr);
    let to_idp = begin(&mut tampered, "ada@acme.example").replace("Signature=", "Signature=AAAA");
    let url = url::Url::parse(&to_idp).unwrap();
    let page = Client::new(app.idp.addr).get(&format!("{}?{}", url.path(), url.query().unwrap()));
    assert_eq!(page.status, 400, "{}", page.body);

    for (cipher, refused) in [("gcm", "rsa-oaep-mgf1p"), ("cbc", "aes256-cbc")] {
        app.idp.config(json!({ "email": "ada@acme.example", "nameId": "ada-7", "nameIdFormat": "persistent", "encrypt": true, "cipher": cipher }));
        let mut browser = Client::new(app.addr);
        let answer = app.idp.answer(&begin(&mut browser, "ada@acme.example"));
        assert!(answer.xml().contains("EncryptedAssertion"));
        assert!(
            !answer.xml().contains("ada-7"),
            "the subject travels encrypted"
        );
        deliver(&mut browser, &answer);
        assert_eq!(signed_in_as(&app, &mut browser), None, "{cipher}");
        let reason = refusals(&app).last().cloned().unwrap_or_default();
        assert!(reason.contains(refused), "{cipher}: {reason}");
    }
}

/// Single logout both ways: signing out here goes on to the provider (a signed request
/// naming the subject and the provider's session), whose answer comes back signed; the
/// provider's own logout request ends the subject's single sign-on sessions here. Forged
/// requests, and any while the connection is off, end nothing.
fn saml_single_logout_both_ways(users: DieselUsersContext) {
    let Some(app) = start_with(users, true) else {
        return;
    };
    let mut admin = browser(&app, OWNER);
    set_up(&app, &mut admin, false);
    let ada = json!({ "email": "ada@acme.example", "name": "Ada", "nameId": "ada-7", "nameIdFormat": "persistent", "requireSignedLogout": true });
    app.idp.config(ada.clone());
    let sign_in = || {
        let mut browser = Client::new(app.addr);
        let to_idp = begin(&mut browser, "ada@acme.example");
        let done = deliver(&mut browser, &app.idp.answer(&to_idp));
        assert_eq!(done.status, 302, "{}", done.body);
        assert!(signed_in_as(&app, &mut browser).is_some());
        browser
    };

    // Here first: the sign-out goes on to the provider and comes back.
    let mut first = sign_in();
    let session_index = app.idp.get("/last-login")["sessionIndex"]
        .as_str()
        .unwrap()
        .to_owned();
    let csrf = first.get("/sso").csrf();
    let out = first.post("/session", &[("_csrf_token", &csrf), ("_method", "DELETE")]);
    assert_eq!(out.status, 302, "{}", out.body);
    assert!(
        out.location().starts_with(&app.idp.url("/slo?")),
        "{}",
        out.location()
    );
    assert!(out.location().contains("Signature="), "{}", out.location());
    assert_eq!(signed_in_as(&app, &mut first), None);
    let url = url::Url::parse(out.location()).unwrap();
    let at_idp = Client::new(app.idp.addr).get(&format!("{}?{}", url.path(), url.query().unwrap()));
    assert_eq!(at_idp.status, 302, "{}", at_idp.body);
    let told = app.idp.get("/last-logout");
    assert_eq!(told["nameId"], "ada-7");
    assert_eq!(told["sessionIndex"], session_index.as_str());
    let back = url::Url::parse(at_idp.location()).unwrap();
    assert_eq!(back.path(), format!("/sso/saml/{}/slo", app.org_id));
    let answer = format!("{}?{}", back.path(), back.query().unwrap());
    let done = first.get(&answer);
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(done.location(), "/sso");
    assert!(refusals(&app).is_empty(), "{:?}", refusals(&app));
    // The same answer again: its request is used up.
    first.get(&answer);
    assert_eq!(refusals(&app).len(), 1, "{:?}", refusals(&app));

    // At the provider first: its request ends Ada's sessions here.
    let mut laptop = sign_in();
    let mut phone = sign_in();
    let request = app
        .idp
        .logout(json!({ "nameId": "ada-7", "nameIdFormat": "persistent" }));
    let url = url::Url::parse(&request).unwrap();
    assert_eq!(url.path(), format!("/sso/saml/{}/slo", app.org_id));
    let forged = format!(
        "{}?{}",
        url.path(),
        url.query().unwrap().replace("Signature=", "Signature=AAAA")
    );
    let mut idp_browser = Client::new(app.addr);
    assert_eq!(idp_browser.get(&forged).status, 400);
    assert!(
        signed_in_as(&app, &mut laptop).is_some(),
        "a forged request ended a session"
    );
    let answered = idp_browser.get(&format!("{}?{}", url.path(), url.query().unwrap()));
    assert_eq!(answered.status, 302, "{}", answered.body);
    assert!(
        answered.location().starts_with(&app.idp.url("/slo?")),
        "{}",
        answered.location()
    );
    assert!(answered.location().contains("SAMLResponse="));
    assert_eq!(signed_in_as(&app, &mut laptop), None);
    assert_eq!(signed_in_as(&app, &mut phone), None);

    // Signed by a key the metadata does not pin: refused.
    let mut tablet = sign_in();
    let mut attacker = ada.clone();
    attacker["attackerKey"] = json!(true);
    app.idp.config(attacker);
    let request = app
        .idp
        .logout(json!({ "nameId": "ada-7", "nameIdFormat": "persistent" }));
    let url = url::Url::parse(&request).unwrap();
    assert_eq!(
        Client::new(app.addr)
            .get(&format!("{}?{}", url.path(), url.query().unwrap()))
            .status,
        400
    );
    assert!(signed_in_as(&app, &mut tablet).is_some());
    // While the connection is off: nothing ends.
    app.idp.config(ada);
    let request = app
        .idp
        .logout(json!({ "nameId": "ada-7", "nameIdFormat": "persistent" }));
    let res = admin_post(&mut admin, "/organizations/acme/sso/disable", &[]);
    assert_eq!(res.status, 302, "{}", res.body);
    let url = url::Url::parse(&request).unwrap();
    assert_eq!(
        Client::new(app.addr)
            .get(&format!("{}?{}", url.path(), url.query().unwrap()))
            .status,
        400
    );
    assert!(signed_in_as(&app, &mut tablet).is_some());
}

fn on_sqlite(test: fn(DieselUsersContext)) {
    test(pow_testkit::sqlite("sso_saml"));
}

fn signs_in_and_provisions() {
    on_sqlite(saml_signs_in_and_provisions);
}
fn signs_in_and_provisions_on_postgres() {
    if let Some(users) = pow_testkit::postgres("sso_saml") {
        saml_signs_in_and_provisions(users);
    }
}
fn traps() {
    on_sqlite(saml_traps_are_refused);
}
fn entry_points() {
    on_sqlite(saml_entry_points_hold);
}
fn metadata_imports() {
    on_sqlite(saml_metadata_imports_are_checked);
}
fn keyed() {
    on_sqlite(saml_with_a_service_provider_key);
}
fn single_logout() {
    on_sqlite(saml_single_logout_both_ways);
}

pow_testkit::on_both!(
    signs_in_and_provisions,
    signs_in_and_provisions_on_postgres,
    traps,
    entry_points,
    metadata_imports,
    keyed,
    single_logout,
);
