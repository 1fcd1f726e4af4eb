//! Passkeys over HTTP with an in-process software authenticator (the `passkey` crates: a
//! WebAuthn client and a CTAP2 authenticator with user verification, discoverable
//! credentials and counters): enrolment, sign-in with and without an address (JSON and
//! the pages), user verification, replayed, expired and foreign ceremonies, counters,
//! concurrent assertions, the last passkey of an account without a password, the second
//! factor, and stored rows of every storage format. Every suite, pages and JSON, runs on
//! actix-web and on axum ([`pow_testkit::on_both!`]).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, HttpResponse};
use diesel::RunQueryDsl;
use passkey::authenticator::{
    Authenticator, CredentialStore, DiscoverabilitySupport, StoreInfo, UiHint, UserCheck,
    UserValidationMethod,
};
use passkey::client::{Client as WebClient, DefaultClientData};
use passkey::crypto::rust_crypto::RustCryptoBackend;
use passkey::types::ctap2::make_credential::{
    Options, PublicKeyCredentialRpEntity, PublicKeyCredentialUserEntity,
};
use passkey::types::ctap2::{Aaguid, Ctap2Error, StatusCode};
use passkey::types::webauthn::{
    CredentialCreationOptions, CredentialRequestOptions, PublicKeyCredentialDescriptor,
};
use passkey::types::Passkey;
use pow_actix::mailer::MemoryMailer;
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::session::MaybeUser;
use pow_actix::store::MemoryStore;
use pow_actix::test_client::{Client, Response};
use pow_actix::users::diesel::{checkout, Database, DieselUsersContext};
use pow_actix::PowConfig;
use pow_ext_passkeys::Passkeys;
use pow_ext_passwordless::Passwordless;
use pow_ext_two_factor::TwoFactor;
use serde_json::{json, Value};
use url::Url;

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";
const ORIGIN: &str = "https://example.com";
const API: &str = "/api/v1";

// ---------------------------------------------------------------------------------------
// A software authenticator

/// The authenticator's credentials, shared by its clones (a copied device).
#[derive(Clone, Default)]
struct Keys(Arc<Mutex<Vec<Passkey>>>);

impl Keys {
    /// An independent copy of the credentials as they are now.
    fn copy(&self) -> Self {
        Self(Arc::new(Mutex::new(self.0.lock().unwrap().clone())))
    }
}

#[async_trait::async_trait]
impl CredentialStore for Keys {
    type PasskeyItem = Passkey;

    async fn find_credentials(
        &self,
        ids: Option<&[PublicKeyCredentialDescriptor]>,
        rp_id: &str,
        _user_handle: Option<&[u8]>,
    ) -> Result<Vec<Passkey>, StatusCode> {
        let keys = self.0.lock().unwrap();
        let found: Vec<Passkey> = keys
            .iter()
            .filter(|key| match ids {
                Some(ids) if !ids.is_empty() => ids.iter().any(|d| d.id == key.credential_id),
                _ => key.rp_id == rp_id,
            })
            .cloned()
            .collect();
        if found.is_empty() {
            Err(Ctap2Error::NoCredentials.into())
        } else {
            Ok(found)
        }
    }

    async fn save_credential(
        &mut self,
        cred: Passkey,
        _user: PublicKeyCredentialUserEntity,
        _rp: PublicKeyCredentialRpEntity,
        _options: Options,
    ) -> Result<(), StatusCode> {
        self.0.lock().unwrap().push(cred);
        Ok(())
    }

    async fn update_credential(&mut self, cred: &Passkey) -> Result<(), StatusCode> {
        let mut keys = self.0.lock().unwrap();
        for key in keys.iter_mut() {
            if key.credential_id == cred.credential_id {
                *key = cred.clone();
            }
        }
        Ok(())
    }

    async fn get_info(&self) -> StoreInfo {
        StoreInfo {
            discoverability: DiscoverabilitySupport::ForcedDiscoverable,
        }
    }
}

/// The person at the authenticator: present, and verified (PIN, biometrics) if `verify`.
struct Person {
    verify: bool,
}

#[async_trait::async_trait]
impl UserValidationMethod for Person {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Passkey>,
        presence: bool,
        verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck {
            presence,
            verification: verification && self.verify,
        })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(self.verify)
    }
}

/// A device with an authenticator: its credentials, whether it verifies the user, whether
/// it keeps a signature counter.
#[derive(Clone)]
struct Device {
    keys: Keys,
    verify: bool,
    counter: bool,
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

impl Device {
    fn new(counter: bool) -> Self {
        Self {
            keys: Keys::default(),
            verify: true,
            counter,
        }
    }

    /// This device's credentials with a person who is not verified.
    fn without_verification(&self) -> Self {
        Self {
            verify: false,
            ..self.clone()
        }
    }

    /// Another device holding a copy of this one's credentials (a clone).
    fn copy(&self) -> Self {
        Self {
            keys: self.keys.copy(),
            ..self.clone()
        }
    }

    fn authenticator(&self) -> Authenticator<Keys, Person, RustCryptoBackend> {
        let mut authenticator = Authenticator::new(
            Aaguid::new_empty(),
            self.keys.clone(),
            Person {
                verify: self.verify,
            },
            RustCryptoBackend,
        );
        authenticator.set_make_credentials_with_signature_counter(self.counter);
        authenticator
    }

    /// `navigator.credentials.create(options)` at `origin`, as the browser's JSON.
    fn create(&self, origin: &str, options: &Value) -> Value {
        let options: CredentialCreationOptions = serde_json::from_value(options.clone()).unwrap();
        let origin = Url::parse(origin).unwrap();
        // A browser asks for user verification when it is preferred and the device has it.
        let mut client =
            WebClient::new(self.authenticator()).user_verification_when_preferred(self.verify);
        let created = block_on(client.register(&origin, options, DefaultClientData)).unwrap();
        serde_json::to_value(created).unwrap()
    }

    /// `navigator.credentials.get(options)` at `origin`, as the browser's JSON.
    fn get(&self, origin: &str, options: &Value) -> Value {
        let options: CredentialRequestOptions = serde_json::from_value(options.clone()).unwrap();
        let origin = Url::parse(origin).unwrap();
        let mut client =
            WebClient::new(self.authenticator()).user_verification_when_preferred(self.verify);
        let asserted = block_on(client.authenticate(&origin, options, DefaultClientData)).unwrap();
        serde_json::to_value(asserted).unwrap()
    }
}

// ---------------------------------------------------------------------------------------
// The app

async fn me(user: MaybeUser) -> HttpResponse {
    HttpResponse::Ok().body(match user.0 {
        Some(user) => format!("user:{}", user.id),
        None => "anonymous".to_owned(),
    })
}

/// The same page on axum.
async fn axum_me(pow_axum::MaybeUser(user): pow_axum::MaybeUser) -> String {
    match user {
        Some(user) => format!("user:{}", user.id),
        None => "anonymous".to_owned(),
    }
}

struct Harness {
    config: PowConfig,
    users: DieselUsersContext,
    addr: SocketAddr,
    mailer: MemoryMailer,
    user_id: i64,
}

fn sqlite() -> DieselUsersContext {
    pow_testkit::sqlite("passkeys")
}

/// A PostgreSQL users context in a schema of its own, or `None` (with a notice) when
/// `POW_TEST_DATABASE_URL` is unset outside CI.
fn postgres() -> Option<DieselUsersContext> {
    pow_testkit::postgres("passkeys")
}

fn start(users: DieselUsersContext, passkeys: Passkeys) -> Harness {
    start_with(users, passkeys, |builder| builder)
}

/// [`start`] with the setup's builder `extend`ed.
fn start_with(
    users: DieselUsersContext,
    passkeys: Passkeys,
    extend: impl FnOnce(pow_actix::PowConfigBuilder) -> pow_actix::PowConfigBuilder,
) -> Harness {
    let mailer = MemoryMailer::new();
    let builder = PowConfig::builder("p".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .mailer(Arc::new(mailer.clone()))
        .base_url("http://localhost")
        .store(Arc::new(MemoryStore::new()))
        // Clients name their address in `X-Forwarded-For` (the limits count per client).
        .rate_limits(pow_actix::limits::RateLimits {
            trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
            ..pow_actix::limits::RateLimits::default()
        })
        .extension(TwoFactor::new())
        .extension(Passwordless::new())
        .extension(passkeys);
    let config = extend(builder).build().unwrap();
    users.migrate(&config).unwrap();
    let user = pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    let addr = serve(config.clone());
    Harness {
        config,
        users,
        addr,
        mailer,
        user_id: user.id,
    }
}

/// Serves the setup on the framework the test runs on ([`pow_testkit::framework`]): the
/// pages, `/me`, the pages' script and the JSON endpoints under `/api/v1`.
fn serve(config: PowConfig) -> SocketAddr {
    match pow_testkit::framework() {
        pow_testkit::Framework::Actix => pow_actix::test_client::serve(move || {
            pow_actix::testing::app(&config)
                .configure(pow_actix::api::configure(
                    config.clone(),
                    pow_actix::api::ApiOptions::new(),
                ))
                .route("/me", web::get().to(me))
        }),
        pow_testkit::Framework::Axum => {
            use axum::routing::get;
            pow_testkit::serve_axum(
                pow_axum::web::router(&config)
                    .route("/me", get(axum_me))
                    .layer(pow_axum::PowLayer::new(config.clone()))
                    .merge(pow_axum::api::router(
                        &config,
                        pow_axum::api::ApiOptions::new(),
                    )),
            )
        }
    }
}

/// The harness user's passkeys as stored.
fn stored_passkeys(h: &Harness) -> Vec<pow_ext_passkeys::StoredPasskey> {
    let user = h
        .config
        .users_context()
        .unwrap()
        .get(h.config.user_schema(), h.user_id)
        .unwrap()
        .unwrap();
    block_on(passkeys().list(&h.config, &user)).unwrap()
}

fn passkeys() -> Passkeys {
    Passkeys::new("example.com", ORIGIN).unwrap()
}

fn table(users: &DieselUsersContext, name: &str) -> String {
    match users.schema() {
        Some(schema) => format!("\"{schema}\".{name}"),
        None => name.to_owned(),
    }
}

fn execute(users: &DieselUsersContext, sql: &str) {
    match users.database() {
        Database::Sqlite(pool) => {
            diesel::sql_query(sql)
                .execute(&mut *checkout(pool).unwrap())
                .unwrap();
        }
        Database::Postgres(pool) => {
            diesel::sql_query(sql)
                .execute(&mut *checkout(pool).unwrap())
                .unwrap();
        }
        _ => unreachable!(),
    }
}

fn json(res: &Response) -> Value {
    serde_json::from_str(&res.body).unwrap_or_else(|_| panic!("not JSON: {}", res.body))
}

/// The `data` of a JSON answer.
fn data(res: &Response) -> Value {
    json(res)["data"].clone()
}

/// `POST <api>/session` with `email` and the password.
fn password_sign_in(c: &mut Client, email: &str) -> Response {
    let body = json!({ "user": { "email": email, "password": PASSWORD } }).to_string();
    c.request("POST", &format!("{API}/session"), Some(body))
}

/// An app client signed in with the password (fresh: sudo mode).
fn app_client(h: &Harness) -> Client {
    let mut app = Client::new(h.addr);
    let res = password_sign_in(&mut app, EMAIL);
    assert_eq!(res.status, 200, "{}", res.body);
    bearer(&mut app, &json(&res));
    app
}

fn bearer(app: &mut Client, answer: &Value) {
    let token = answer["data"]["access_token"].as_str().unwrap();
    app.headers.retain(|(name, _)| name != "Authorization");
    app.headers
        .push(("Authorization".into(), format!("Bearer {token}")));
}

fn post(c: &mut Client, path: &str, body: Value) -> Response {
    c.request("POST", &format!("{API}{path}"), Some(body.to_string()))
}

/// Enrols a passkey of `device` named `name` through the JSON endpoints.
fn enrol(app: &mut Client, device: &Device, name: &str) -> Value {
    let res = post(app, "/passkeys/registration/options", json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
    let started = data(&res);
    let credential = device.create(ORIGIN, &started["options"]);
    let res = post(
        app,
        "/passkeys/registration",
        json!({ "ceremony": started["ceremony"], "name": name, "credential": credential }),
    );
    assert_eq!(res.status, 201, "{}", res.body);
    data(&res)["passkey"].clone()
}

/// Starts a JSON sign-in (with `email`, or discoverable).
fn sign_in_options(c: &mut Client, email: Option<&str>) -> Value {
    let body = match email {
        Some(email) => json!({ "email": email }),
        None => json!({}),
    };
    let res = post(c, "/passkeys/authentication/options", body);
    assert_eq!(res.status, 200, "{}", res.body);
    data(&res)
}

fn finish_sign_in(c: &mut Client, started: &Value, credential: &Value) -> Response {
    post(
        c,
        "/passkeys/authentication",
        json!({ "ceremony": started["ceremony"], "credential": credential }),
    )
}

/// An app client signed in with a passkey of `device`.
fn passkey_client(h: &Harness, device: &Device) -> Client {
    let res = sign_in(h, device, None);
    assert_eq!(res.status, 200, "{}", res.body);
    let mut c = Client::new(h.addr);
    bearer(&mut c, &json(&res));
    c
}

/// A whole JSON sign-in with `device` at `origin`.
fn sign_in(h: &Harness, device: &Device, email: Option<&str>) -> Response {
    let mut c = Client::new(h.addr);
    let started = sign_in_options(&mut c, email);
    let credential = device.get(ORIGIN, &started["options"]);
    finish_sign_in(&mut c, &started, &credential)
}

fn code(res: &Response) -> String {
    json(res)["errors"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The value of the hidden field `user[name]` of an HTML page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"user[{name}]\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no {name}")) + marker.len();
    let end = start + page[start..].find('"').unwrap();
    page[start..end]
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

// ---------------------------------------------------------------------------------------
// Tests

/// Signs in on the passkey sign-in page with `device`: the answer to the form's post.
fn page_sign_in(browser: &mut Client, device: &Device) -> Response {
    let page = browser.get("/passkeys/sign-in");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("/passkeys/passkeys.js"));
    let options: Value = serde_json::from_str(&hidden(&page.body, "webauthn_options")).unwrap();
    let credential = device.get(ORIGIN, &options);
    browser.post(
        "/passkeys/sign-in",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[ceremony]", &hidden(&page.body, "ceremony")),
            ("user[credential]", &credential.to_string()),
        ],
    )
}

/// Whether `device` signs in: over JSON (with `email`), and on the passkey sign-in page
/// (without an address), which must agree.
fn signs_in(h: &Harness, device: &Device, email: Option<&str>) -> bool {
    let over_json = sign_in(h, device, email).status == 200;
    let mut browser = Client::new(h.addr);
    let res = page_sign_in(&mut browser, device);
    assert_eq!(res.status, 302, "{}", res.body);
    let on_the_page = browser.get("/me").body != "anonymous";
    assert_eq!(over_json, on_the_page, "JSON and the page agree");
    over_json
}

/// The pages: the sign-in page carries a ceremony; the form signs in with `device` (a
/// passkey named "Laptop" of the harness user), and the passkeys page lists it.
fn signs_in_on_the_pages(h: &Harness, device: &Device) {
    let mut browser = Client::new(h.addr);
    let res = page_sign_in(&mut browser, device);
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(browser.get("/me").body, format!("user:{}", h.user_id));

    // The passkeys page (fresh from the passkey sign-in) lists it with its last use.
    let page = browser.get("/passkeys");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Laptop"), "{}", page.body);
    assert!(!page.body.contains("last used never"));

    // The script the pages load.
    let script = browser.get("/passkeys/passkeys.js");
    assert_eq!(script.status, 200);
    assert_eq!(script.body, pow_ext_passkeys::SCRIPT);
    assert!(script
        .header("content-type")
        .is_some_and(|value| value.starts_with("text/javascript")));
    assert_eq!(script.header("cache-control"), Some("public, max-age=3600"));
    assert_eq!(script.header("x-content-type-options"), Some("nosniff"));
}

/// The passkeys page enrols a passkey; the pages sign in with it.
fn enrols_on_the_page_and_signs_in_on_the_pages(h: &Harness) {
    let device = Device::new(true);
    let mut browser = Client::new(h.addr);
    assert_eq!(browser.sign_in(EMAIL, PASSWORD).status, 302);
    let res = enrol_on_page(&mut browser, "/passkeys", &device, "Laptop");
    assert_eq!(res.location(), "/passkeys", "{}", res.body);
    let notice = h.mailer.last_to(EMAIL).expect("the notice");
    assert_eq!(notice.subject, "A passkey was added to your account");
    signs_in_on_the_pages(h, &device);
}

fn enrols_and_signs_in(h: &Harness) {
    let device = Device::new(true);
    let mut app = app_client(h);
    let passkey = enrol(&mut app, &device, "Laptop");
    assert_eq!(passkey["name"], "Laptop");
    assert!(passkey.get("credential").is_none() && passkey.get("user_handle").is_none());
    let notice = h.mailer.last_to(EMAIL).expect("the notice");
    assert_eq!(notice.subject, "A passkey was added to your account");

    let list = data(&app.get(&format!("{API}/passkeys")));
    assert_eq!(list["passkeys"].as_array().unwrap().len(), 1);

    // With the address typed: the options list the user's passkey.
    let mut c = Client::new(h.addr);
    let started = sign_in_options(&mut c, Some(EMAIL));
    let allowed = &started["options"]["publicKey"]["allowCredentials"];
    assert_eq!(
        allowed.as_array().unwrap().len(),
        pow_ext_passkeys::LISTED_CREDENTIALS
    );
    assert!(
        allowed
            .as_array()
            .unwrap()
            .iter()
            .any(|entry| entry["id"] == passkey["credential_id"]),
        "{allowed}"
    );
    let credential = device.get(ORIGIN, &started["options"]);
    let res = finish_sign_in(&mut c, &started, &credential);
    assert_eq!(res.status, 200, "{}", res.body);
    let mut signed_in = Client::new(h.addr);
    bearer(&mut signed_in, &json(&res));
    let session = json(&signed_in.get(&format!("{API}/session")));
    assert_eq!(session["data"]["user"]["id"], h.user_id);
    // The session records how it signed in, and is fresh (sudo mode).
    assert_eq!(
        session["data"]["session"]["methods"][0]["method"],
        "passkey"
    );
    assert_eq!(session["data"]["session"]["sudo"]["fresh"], true);

    // The same ceremony and answer again: refused.
    let res = finish_sign_in(&mut c, &started, &credential);
    assert_eq!((res.status, code(&res)), (401, "unknown_ceremony".into()));

    // Without an address: the browser offers what it holds.
    let started = sign_in_options(&mut c, None);
    assert!(started["options"]["publicKey"]["allowCredentials"]
        .as_array()
        .is_none_or(Vec::is_empty));
    let credential = device.get(ORIGIN, &started["options"]);
    let res = finish_sign_in(&mut c, &started, &credential);
    assert_eq!(res.status, 200, "{}", res.body);

    // The pages: the sign-in page carries a ceremony; the form signs in.
    signs_in_on_the_pages(h, &device);

    // An unknown address gets options shaped like a known one's, the same each time.
    let unknown = sign_in_options(&mut c, Some("nobody@example.com"));
    let again = sign_in_options(&mut c, Some("nobody@example.com"));
    let ids = |v: &Value| v["options"]["publicKey"]["allowCredentials"].clone();
    assert_eq!(shape(&ids(&unknown)), shape(allowed));
    assert_eq!(ids(&unknown), ids(&again));
    assert!(!ids(&unknown)
        .as_array()
        .unwrap()
        .iter()
        .any(|entry| entry["id"] == passkey["credential_id"]));
    // The known address's list is the same each time too (its decoys are stable).
    assert_eq!(ids(&sign_in_options(&mut c, Some(EMAIL))), *allowed);
}

/// What the listed credentials of a sign-in's options show besides their ids: how many,
/// each entry's members, and which id lengths occur (all among common authenticators').
fn shape(allowed: &Value) -> (usize, Vec<Vec<String>>, bool) {
    use base64::Engine as _;
    let entries = allowed.as_array().unwrap();
    let members = entries
        .iter()
        .map(|entry| entry.as_object().unwrap().keys().cloned().collect())
        .collect();
    let lengths_plausible = entries.iter().all(|entry| {
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(entry["id"].as_str().unwrap())
            .unwrap();
        (16..=64).contains(&id.len())
    });
    (entries.len(), members, lengths_plausible)
}

/// The options of a sign-in naming an address have one shape whatever the address: one
/// with two passkeys, one without, an unknown one (count, members, plausible id lengths).
fn sign_in_options_have_one_shape_for_every_address() {
    let h = start(sqlite(), passkeys());
    let mut app = app_client(&h);
    let laptop = Device::new(true);
    enrol(&mut app, &laptop, "Laptop");
    // A second passkey, after proving the first (a factor change).
    let mut stepped = passkey_client(&h, &laptop);
    enrol(&mut stepped, &Device::new(true), "Phone");
    pow_actix::testing::create_user(&h.config, "plain@example.com", PASSWORD).unwrap();
    let mut c = Client::new(h.addr);
    let ids = |c: &mut Client, email| {
        sign_in_options(c, Some(email))["options"]["publicKey"]["allowCredentials"].clone()
    };
    let holder = ids(&mut c, EMAIL);
    let plain = ids(&mut c, "plain@example.com");
    let unknown = ids(&mut c, "nobody@example.com");
    assert_eq!(shape(&holder), shape(&plain));
    assert_eq!(shape(&holder), shape(&unknown));
    assert!(shape(&holder).2, "{holder}");
}

fn enrols_and_signs_in_with_and_without_an_address_sqlite() {
    enrols_and_signs_in(&start(sqlite(), passkeys()));
}

fn enrols_and_signs_in_with_and_without_an_address_postgres() {
    let Some(users) = postgres() else {
        return;
    };
    enrols_and_signs_in(&start(users, passkeys()));
}

fn a_passkey_enrolled_on_its_page_signs_in_on_the_pages_sqlite() {
    enrols_on_the_page_and_signs_in_on_the_pages(&start(sqlite(), passkeys()));
}

fn a_passkey_enrolled_on_its_page_signs_in_on_the_pages_postgres() {
    let Some(users) = postgres() else {
        return;
    };
    enrols_on_the_page_and_signs_in_on_the_pages(&start(users, passkeys()));
}

fn ceremonies_that_do_not_verify_are_refused() {
    let login = "https://login.example.com";
    let h = start(sqlite(), passkeys().allow_origin(login).unwrap());
    let device = Device::new(true);
    let mut app = app_client(&h);
    enrol(&mut app, &device, "Phone");
    let mut c = Client::new(h.addr);

    // No user verification: the options ask for it; a client that skips it is refused.
    let mut started = sign_in_options(&mut c, None);
    started["options"]["publicKey"]["userVerification"] = json!("discouraged");
    let credential = device
        .without_verification()
        .get(ORIGIN, &started["options"]);
    let res = finish_sign_in(&mut c, &started, &credential);
    assert_eq!(
        (res.status, code(&res)),
        (401, "user_verification_required".into())
    );

    // An origin the site does not use.
    let started = sign_in_options(&mut c, None);
    let credential = device.get("https://evil.example.com", &started["options"]);
    let res = finish_sign_in(&mut c, &started, &credential);
    assert_eq!((res.status, code(&res)), (401, "origin_mismatch".into()));

    // An allowed origin, but the assertion is for another relying party id.
    let mut started = sign_in_options(&mut c, Some(EMAIL));
    started["options"]["publicKey"]["rpId"] = json!("login.example.com");
    let credential = device.get(login, &started["options"]);
    let res = finish_sign_in(&mut c, &started, &credential);
    assert_eq!((res.status, code(&res)), (401, "rp_id_mismatch".into()));

    // A ceremony id nobody started.
    let started = sign_in_options(&mut c, None);
    let credential = device.get(ORIGIN, &started["options"]);
    let forged = json!({ "ceremony": "not-a-ceremony" });
    let res = finish_sign_in(&mut c, &forged, &credential);
    assert_eq!((res.status, code(&res)), (401, "unknown_ceremony".into()));

    // An enrolment ceremony is bound to the session that started it.
    let mut first = passkey_client(&h, &device);
    let started = data(&post(
        &mut first,
        "/passkeys/registration/options",
        json!({}),
    ));
    let other = Device::new(true);
    let credential = other.create(ORIGIN, &started["options"]);
    let mut second = passkey_client(&h, &device);
    let res = post(
        &mut second,
        "/passkeys/registration",
        json!({ "ceremony": started["ceremony"], "name": "Other", "credential": credential }),
    );
    assert_eq!((res.status, code(&res)), (400, "wrong_session".into()));

    let list = data(&app.get(&format!("{API}/passkeys")));
    assert_eq!(list["passkeys"].as_array().unwrap().len(), 1);
}

fn an_expired_ceremony_is_refused() {
    let h = start(sqlite(), passkeys().ceremony_ttl(Duration::ZERO));
    let mut app = app_client(&h);
    let started = data(&post(&mut app, "/passkeys/registration/options", json!({})));
    let credential = Device::new(true).create(ORIGIN, &started["options"]);
    let res = post(
        &mut app,
        "/passkeys/registration",
        json!({ "ceremony": started["ceremony"], "name": "Late", "credential": credential }),
    );
    assert_eq!((res.status, code(&res)), (400, "ceremony_expired".into()));
}

fn a_credential_of_another_account_is_refused() {
    let h = start(sqlite(), passkeys());
    let mut app = app_client(&h);
    let device = Device::new(true);
    let first = enrol(&mut app, &device, "First");

    let other_email = "grace@example.com";
    pow_actix::testing::create_user(&h.config, other_email, PASSWORD).unwrap();
    let mut other = Client::new(h.addr);
    let res = password_sign_in(&mut other, other_email);
    bearer(&mut other, &json(&res));
    let started = data(&post(
        &mut other,
        "/passkeys/registration/options",
        json!({}),
    ));
    let credential = Device::new(true).create(ORIGIN, &started["options"]);
    // The first account's row takes the new credential's id before the second finishes.
    execute(
        &h.users,
        &format!(
            "UPDATE {} SET credential_id = '{}' WHERE id = {}",
            table(&h.users, "passkeys"),
            credential["id"].as_str().unwrap(),
            first["id"]
        ),
    );
    let res = post(
        &mut other,
        "/passkeys/registration",
        json!({ "ceremony": started["ceremony"], "name": "Mine", "credential": credential }),
    );
    assert_eq!((res.status, code(&res)), (409, "credential_taken".into()));
}

fn counters_refuse_a_clone_and_let_one_of_two_concurrent_sign_ins_win() {
    let h = start(sqlite(), passkeys());
    let mut app = app_client(&h);
    let device = Device::new(true);
    enrol(&mut app, &device, "Key");
    let synced = Device::new(false);
    enrol(&mut passkey_client(&h, &device), &synced, "Synced");
    assert_eq!(sign_in(&h, &device, Some(EMAIL)).status, 200);

    // A copy of the device as it is now, then the device signs in again: the copy's
    // counter is behind.
    let clone = device.copy();
    assert_eq!(sign_in(&h, &device, None).status, 200);
    h.mailer.clear();
    let res = sign_in(&h, &clone, None);
    assert_eq!((res.status, code(&res)), (401, "counter_regression".into()));
    let notice = h.mailer.last_to(EMAIL).expect("the notice");
    assert_eq!(notice.subject, "A passkey of your account was refused");
    // A counter of 0 after a non-zero one is refused too: a copy that keeps none.
    let reset = device.copy();
    reset.keys.0.lock().unwrap()[0].counter = None;
    let res = sign_in(&h, &reset, None);
    assert_eq!((res.status, code(&res)), (401, "counter_regression".into()));

    // Two copies with the same counter sign in at once: one wins.
    let (a, b) = (device.copy(), device.copy());
    let mut ca = Client::new(h.addr);
    let mut cb = Client::new(h.addr);
    let sa = sign_in_options(&mut ca, None);
    let sb = sign_in_options(&mut cb, None);
    let ka = a.get(ORIGIN, &sa["options"]);
    let kb = b.get(ORIGIN, &sb["options"]);
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let run =
        |mut c: Client, started: Value, credential: Value, barrier: Arc<std::sync::Barrier>| {
            std::thread::spawn(move || {
                barrier.wait();
                finish_sign_in(&mut c, &started, &credential).status
            })
        };
    let ta = run(ca, sa, ka, Arc::clone(&barrier));
    let tb = run(cb, sb, kb, barrier);
    let mut statuses = [ta.join().unwrap(), tb.join().unwrap()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401]);

    // A device without counters (synced passkeys): 0, then 0 again, passes.
    assert_eq!(sign_in(&h, &synced, None).status, 200);
    assert_eq!(sign_in(&h, &synced, None).status, 200);
}

fn the_last_passkey_of_an_account_without_a_password_stays() {
    let h = start(sqlite(), passkeys());
    let mut app = app_client(&h);
    let device = Device::new(true);
    let first = enrol(&mut app, &device, "First");
    let second = enrol(&mut passkey_client(&h, &device), &device, "Second");
    execute(
        &h.users,
        &format!(
            "UPDATE {} SET password_hash = NULL",
            table(&h.users, "users")
        ),
    );
    // A passkey sign-in is fresh: sudo mode holds.
    let res = sign_in(&h, &device, None);
    assert_eq!(res.status, 200, "{}", res.body);
    let mut c = Client::new(h.addr);
    bearer(&mut c, &json(&res));

    let rename = |c: &mut Client, id: &Value, name: &str| {
        c.request(
            "PATCH",
            &format!("{API}/passkeys/{id}"),
            Some(json!({ "name": name }).to_string()),
        )
    };
    assert_eq!(rename(&mut c, &first["id"], "Work laptop").status, 204);
    let res = rename(&mut c, &first["id"], "");
    assert_eq!((res.status, code(&res)), (422, "invalid_name".into()));

    let delete =
        |c: &mut Client, id: &Value| c.request("DELETE", &format!("{API}/passkeys/{id}"), None);
    assert_eq!(delete(&mut c, &first["id"]).status, 204);
    let res = delete(&mut c, &second["id"]);
    assert_eq!((res.status, code(&res)), (409, "last_credential".into()));
    let res = delete(&mut c, &first["id"]);
    assert_eq!((res.status, code(&res)), (404, "not_found".into()));
    let list = data(&c.get(&format!("{API}/passkeys")));
    assert_eq!(list["passkeys"][0]["name"], "Second");
}

fn a_passkey_needs_no_second_factor_and_the_password_still_does() {
    let h = start(sqlite(), passkeys());
    let mut app = app_client(&h);
    let device = Device::new(true);
    enrol(&mut app, &device, "Laptop");
    execute(
        &h.users,
        &format!(
            "UPDATE {} SET totp_secret = 'JBSWY3DPEHPK3PXP', totp_enabled_at = '2026-01-01 00:00:00'",
            table(&h.users, "users")
        ),
    );
    let mut c = Client::new(h.addr);
    let res = password_sign_in(&mut c, EMAIL);
    assert_eq!(
        (res.status, code(&res)),
        (401, "second_factor_required".into())
    );
    let res = sign_in(&h, &device, Some(EMAIL));
    assert_eq!(res.status, 200, "{}", res.body);
}

// ---------------------------------------------------------------------------------------
// Stored formats

/// A stored passkey and the authenticator's half of it, as one JSON document: the row as
/// the table holds it, and the private key (a COSE key, CBOR, base64url).
fn fixture_of(h: &Harness, device: &Device) -> Value {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use passkey::crypto::coset::CborSerializable as _;

    let user = h
        .config
        .users_context()
        .unwrap()
        .get(h.config.user_schema(), h.user_id)
        .unwrap()
        .unwrap();
    let stored = block_on(passkeys().list(&h.config, &user)).unwrap();
    let row = &stored[0];
    let key = device.keys.0.lock().unwrap()[0].clone();
    json!({
        "row": {
            "credential_id": row.credential_id,
            "user_handle": row.user_handle,
            "name": row.name,
            "kind": row.kind,
            "rp_id": row.rp_id,
            "format": row.format,
            "credential": row.credential,
            "sign_count": row.sign_count,
            "user_verified": row.user_verified,
            "backup_eligible": row.backup_eligible,
            "backup_state": row.backup_state,
        },
        "authenticator": {
            "key": URL_SAFE_NO_PAD.encode(key.key.clone().to_vec().unwrap()),
            "credential_id": URL_SAFE_NO_PAD.encode(&*key.credential_id),
            "rp_id": key.rp_id,
            "user_handle": key.user_handle.as_ref().map(|h| URL_SAFE_NO_PAD.encode(&**h)),
            "counter": key.counter,
        },
    })
}

/// Stores `fixture`'s row for the harness user and answers a device holding its key.
fn restore(h: &Harness, fixture: &Value) -> Device {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use passkey::crypto::coset::{CborSerializable as _, CoseKey};

    let row = &fixture["row"];
    let text = |v: &Value| format!("'{}'", v.as_str().unwrap().replace('\'', "''"));
    execute(
        &h.users,
        &format!(
            "INSERT INTO {} (user_id, credential_id, user_handle, name, kind, rp_id, format, \
             credential, sign_count, user_verified, backup_eligible, backup_state, inserted_at) \
             VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, '2026-12-01 00:00:00')",
            table(&h.users, "passkeys"),
            h.user_id,
            text(&row["credential_id"]),
            text(&row["user_handle"]),
            text(&row["name"]),
            text(&row["kind"]),
            text(&row["rp_id"]),
            row["format"],
            text(&row["credential"]),
            row["sign_count"],
            row["user_verified"],
            row["backup_eligible"],
            row["backup_state"],
        ),
    );
    let key = &fixture["authenticator"];
    let bytes = |v: &Value| URL_SAFE_NO_PAD.decode(v.as_str().unwrap()).unwrap();
    let passkey = Passkey {
        key: CoseKey::from_slice(&bytes(&key["key"])).unwrap(),
        credential_id: bytes(&key["credential_id"]).into(),
        rp_id: key["rp_id"].as_str().unwrap().to_owned(),
        user_handle: key["user_handle"]
            .as_str()
            .map(|_| bytes(&key["user_handle"]).into()),
        username: None,
        user_display_name: None,
        counter: key["counter"].as_u64().map(|c| u32::try_from(c).unwrap()),
        extensions: Default::default(),
    };
    Device {
        keys: Keys(Arc::new(Mutex::new(vec![passkey]))),
        verify: true,
        counter: key["counter"].is_number(),
    }
}

/// Every storage format a release wrote stays readable: a row of each (in
/// `tests/fixtures`, written by the release that introduced the format) signs in with and
/// without an address, and so does a row written now. An upgrade of the WebAuthn crate
/// that cannot read an old row fails here.
fn rows_of_every_stored_format_sign_in() {
    let fresh = {
        let h = start(sqlite(), passkeys());
        let device = Device::new(true);
        enrol(&mut app_client(&h), &device, "Now");
        fixture_of(&h, &device)
    };
    assert_eq!(fresh["row"]["format"], pow_ext_passkeys::store::FORMAT);
    let mut fixtures = vec![("now".to_owned(), fresh)];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        fixtures.push((
            path.display().to_string(),
            serde_json::from_str(&text).unwrap(),
        ));
    }
    let formats: Vec<i64> = fixtures
        .iter()
        .filter_map(|(_, f)| f["row"]["format"].as_i64())
        .collect();
    assert!(
        (1..=i64::from(pow_ext_passkeys::store::FORMAT)).all(|f| formats.contains(&f)),
        "a fixture for every format: {formats:?}"
    );
    for (name, fixture) in fixtures {
        let h = start(sqlite(), passkeys());
        let device = restore(&h, &fixture);
        let res = sign_in(&h, &device, Some(EMAIL));
        assert_eq!(res.status, 200, "{name}: {}", res.body);
        let res = sign_in(&h, &device, None);
        assert_eq!(res.status, 200, "{name}: {}", res.body);
    }
}

fn a_password_alone_cannot_add_a_passkey_to_an_account_with_a_second_factor() {
    let h = start(sqlite(), passkeys());
    let mut app = app_client(&h);
    let device = Device::new(true);
    enrol(&mut app, &device, "First");
    // The session that enrolled the first passkey proved the password only: the passkey
    // does not count for it, and a second one needs a second factor.
    let res = post(&mut app, "/passkeys/registration/options", json!({}));
    assert_eq!((res.status, code(&res)), (401, "step_up_required".into()));
    assert_eq!(
        json(&res)["data"]["pending"][0]["methods"],
        json!(["passkey", "security_key"])
    );
    // It proves the passkey for the step-up rule, then may enrol another.
    let stepped = &mut app;
    let started = data(&post(stepped, "/passkeys/step-up/options", json!({})));
    let credential = device.get(ORIGIN, &started["options"]);
    let res = post(
        stepped,
        "/passkeys/step-up",
        json!({ "ceremony": started["ceremony"], "credential": credential }),
    );
    assert_eq!(res.status, 204, "{}", res.body);
    enrol(stepped, &Device::new(true), "Stepped up");
    // With the two-factor extension on, the password alone no longer signs in: the
    // passkey is asked as the second step.
    let mut c = Client::new(h.addr);
    let res = password_sign_in(&mut c, EMAIL);
    assert_eq!(
        (res.status, code(&res)),
        (401, "second_factor_required".into())
    );
    // Signed in with the passkey, the session has proved one.
    let res = sign_in(&h, &device, None);
    let mut c = Client::new(h.addr);
    bearer(&mut c, &json(&res));
    enrol(&mut c, &Device::new(true), "Second");
    // The session list says how each session signed in.
    let sessions = json(&c.get(&format!("{API}/sessions")));
    let methods: Vec<Value> = sessions["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["methods"].clone())
        .collect();
    assert!(methods.contains(&json!(["passkey"])), "{methods:?}");
    assert!(methods.contains(&json!(["password"])), "{methods:?}");
}

fn a_security_key_is_a_second_factor_and_never_signs_in_alone() {
    a_security_key_is_a_second_factor(true);
}

fn a_security_key_enrolled_on_its_page_is_a_second_factor() {
    a_security_key_is_a_second_factor(false);
}

/// A security key enrolled over JSON (`over_json`, where it is also shown to sign nobody
/// in alone and to be the second step of a JSON sign-in) or on its page is offered as the
/// second step on the pages.
fn a_security_key_is_a_second_factor(over_json: bool) {
    let h = start(sqlite(), passkeys());
    // A key without a PIN: no user verification.
    let key = Device::new(true).without_verification();
    if over_json {
        security_key_over_json(&h, &key);
    } else {
        // The security key's page enrols it.
        let mut browser = Client::new(h.addr);
        assert_eq!(browser.sign_in(EMAIL, PASSWORD).status, 302);
        let res = enrol_on_page(&mut browser, "/passkeys/security-key", &key, "YubiKey");
        assert_eq!(res.location(), "/passkeys", "{}", res.body);
        let stored = stored_passkeys(&h);
        assert_eq!(stored[0].kind, pow_ext_passkeys::Kind::SecurityKey);
    }

    // The pages: the second step offers the key beside the code.
    let mut browser = Client::new(h.addr);
    let res = browser.sign_in(EMAIL, PASSWORD);
    assert_eq!(res.location(), "/two-factor/verify");
    let page = browser.get("/two-factor/verify");
    assert!(page.body.contains("/passkeys/passkeys.js"), "{}", page.body);
    let options: Value = serde_json::from_str(&hidden(&page.body, "webauthn_options")).unwrap();
    let credential = key.get(ORIGIN, &options);
    let res = browser.post(
        "/two-factor/verify",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[factor]", "security_key"),
            ("user[persistent_session]", "false"),
            ("user[ceremony]", &hidden(&page.body, "ceremony")),
            ("user[webauthn_options]", ""),
            ("user[webauthn_mode]", "get"),
            ("user[credential]", &credential.to_string()),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(browser.get("/me").body, format!("user:{}", h.user_id));
}

/// The security key `key` enrolled over JSON: it signs nobody in alone, and is the second
/// step of a JSON password sign-in.
fn security_key_over_json(h: &Harness, key: &Device) {
    let mut app = app_client(h);
    let res = post(
        &mut app,
        "/passkeys/registration/options",
        json!({ "kind": "security_key" }),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    let started = data(&res);
    let credential = key.create(ORIGIN, &started["options"]);
    let res = post(
        &mut app,
        "/passkeys/registration",
        json!({ "ceremony": started["ceremony"], "name": "YubiKey", "credential": credential }),
    );
    assert_eq!(res.status, 201, "{}", res.body);
    let stored = data(&res)["passkey"].clone();
    assert_eq!(stored["kind"], "security_key");

    // Alone, it signs nobody in: not offered for the address, refused without one.
    let mut c = Client::new(h.addr);
    let started = sign_in_options(&mut c, Some(EMAIL));
    let offered = started["options"]["publicKey"]["allowCredentials"].to_string();
    assert!(!offered.contains(stored["credential_id"].as_str().unwrap()));
    let mut started = sign_in_options(&mut c, None);
    started["options"]["publicKey"]["userVerification"] = json!("discouraged");
    let credential = key.get(ORIGIN, &started["options"]);
    let res = finish_sign_in(&mut c, &started, &credential);
    assert_eq!((res.status, code(&res)), (401, "unknown_credential".into()));

    // After the password it is the second step, without user verification (JSON).
    let mut c = Client::new(h.addr);
    let res = password_sign_in(&mut c, EMAIL);
    assert_eq!(
        (res.status, code(&res)),
        (401, "second_factor_required".into())
    );
    let step = json(&res)["data"]["pending"][0].clone();
    assert_eq!(step["step"], "second_factor");
    assert_eq!(step["methods"], json!(["security_key"]));
    let token = step["token"].clone();
    let res = c.request(
        "POST",
        &format!("{API}/two-factor/challenge"),
        Some(json!({ "second_factor_token": token, "method": "security_key" }).to_string()),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    let challenge = json(&res)["data"].clone();
    let credential = key.get(ORIGIN, &challenge["webauthn_options"]);
    let verify = |c: &mut Client, credential: &Value| {
        c.request(
            "POST",
            &format!("{API}/two-factor/verify"),
            Some(
                json!({
                    "second_factor_token": token,
                    "method": "security_key",
                    "ceremony": challenge["ceremony"],
                    "credential": credential,
                })
                .to_string(),
            ),
        )
    };
    let res = verify(&mut c, &credential);
    assert_eq!(res.status, 200, "{}", res.body);
    let mut signed_in = Client::new(h.addr);
    bearer(&mut signed_in, &json(&res));
    let session = json(&signed_in.get(&format!("{API}/session")));
    let methods: Vec<&str> = session["data"]["session"]["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["password", "security_key"]);
}

// ---------------------------------------------------------------------------------------
// Passkey-only accounts

/// The path of the link to this server in the last mail to `to`.
fn mailed_path(h: &Harness, to: &str) -> String {
    let mail = h.mailer.last_to(to).expect("a mail");
    let start = mail.text.find("http://localhost/").expect("a link") + "http://localhost".len();
    let end = mail.text[start..]
        .find(char::is_whitespace)
        .map_or(mail.text.len(), |i| i + start);
    mail.text[start..end].to_owned()
}

/// Asks `path` (a passwordless form) for a mail to `email`.
fn ask(c: &mut Client, path: &str, email: &str) {
    let page = c.get(path);
    let res = c.post(
        path,
        &[("_csrf_token", &page.csrf()), ("user[email]", email)],
    );
    assert_eq!(res.status, 302, "{}", res.body);
}

/// Enrols a passkey of `device` through the page at `path` (the passkeys page, or the
/// recovery page): the answer to the form's post.
fn enrol_on_page(browser: &mut Client, path: &str, device: &Device, name: &str) -> Response {
    let page = browser.get(path);
    assert_eq!(page.status, 200, "{}", page.body);
    let options: Value = serde_json::from_str(&hidden(&page.body, "webauthn_options")).unwrap();
    let credential = device.create(ORIGIN, &options);
    browser.post(
        path,
        &[
            ("_csrf_token", &page.csrf()),
            ("user[name]", name),
            ("user[ceremony]", &hidden(&page.body, "ceremony")),
            ("user[credential]", &credential.to_string()),
        ],
    )
}

/// Staged sign-up of `email` without a password: the new user is sent to enrol a passkey
/// and does. The browser (signed in) and the device.
fn passkey_only_sign_up(h: &Harness, email: &str) -> (Client, Device) {
    let mut browser = Client::new(h.addr);
    ask(&mut browser, "/passwordless/sign-up", email);
    let link = mailed_path(h, email);
    assert!(link.starts_with("/passwordless/sign-up/"), "{link}");
    let page = browser.get(&link);
    let res = browser.post(&link, &[("_csrf_token", &page.csrf())]);
    assert_eq!(res.location(), "/passkeys", "{}", res.body);
    let device = Device::new(true);
    let res = enrol_on_page(&mut browser, "/passkeys", &device, "Phone");
    assert_eq!(res.location(), "/passkeys", "{}", res.body);
    (browser, device)
}

/// An emailed sign-in link to `email`, used in a new browser: the answer.
fn emailed_sign_in(h: &Harness, email: &str) -> (Client, Response) {
    let mut browser = Client::new(h.addr);
    ask(&mut browser, "/passwordless", email);
    let link = mailed_path(h, email);
    let page = browser.get(&link);
    let res = browser.post(&link, &[("_csrf_token", &page.csrf())]);
    (browser, res)
}

fn a_passkey_only_account_signs_up_and_recovers() {
    let h = start(sqlite(), passkeys());
    let email = "new@example.com";
    let (mut browser, device) = passkey_only_sign_up(&h, email);
    let user_id = browser.get("/me").body;

    // It signs in with the passkey alone.
    assert!(signs_in(&h, &device, Some(email)));

    // The passkey is lost. An emailed link signs nobody in: it leads to a recovery that
    // may only enrol a new passkey.
    let (mut lost, res) = emailed_sign_in(&h, email);
    assert_eq!(res.location(), "/passkeys/recovery");
    assert_eq!(lost.get("/me").body, "anonymous");
    assert_eq!(lost.get("/passkeys").status, 302, "not signed in");
    // A copy of the browser's cookies, holding the grant: its holder opens the recovery
    // page before the owner finishes.
    let mut thief = Client::new(h.addr);
    thief.cookies = lost.cookies.clone();
    let page = thief.get("/passkeys/recovery");
    assert_eq!(page.status, 200, "{}", page.body);
    let replacement = Device::new(true);
    let res = enrol_on_page(&mut lost, "/passkeys/recovery", &replacement, "New phone");
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(lost.get("/me").body, user_id);
    assert!(signs_in(&h, &replacement, None));
    // The recovery was used: its page is gone.
    assert_ne!(lost.get("/passkeys/recovery").status, 200);
    // The grant is single use: the copy's page is gone, and its ceremony, started before
    // the owner finished, enrols nothing and signs nobody in.
    let stolen = Device::new(true);
    let options: Value = serde_json::from_str(&hidden(&page.body, "webauthn_options")).unwrap();
    let credential = stolen.create(ORIGIN, &options);
    let res = thief.post(
        "/passkeys/recovery",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[name]", "Thief"),
            ("user[ceremony]", &hidden(&page.body, "ceremony")),
            ("user[credential]", &credential.to_string()),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(thief.get("/me").body, "anonymous");
    assert_ne!(thief.get("/passkeys/recovery").status, 200);
    assert!(!signs_in(&h, &stolen, None));

    // The same over JSON: the link's pair is refused with a recovery token.
    let mut app = Client::new(h.addr);
    let res = post(&mut app, "/passwordless/link", json!({ "email": email }));
    assert_eq!(res.status, 202, "{}", res.body);
    let token = mailed_path(&h, email)
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let res = post(&mut app, &format!("/passwordless/link/{token}"), json!({}));
    assert_eq!(
        (res.status, code(&res)),
        (401, "passkey_recovery_required".into())
    );
    let recovery_token = json(&res)["data"]["pending"][0]["token"].clone();
    let started = data(&post(
        &mut app,
        "/passkeys/recovery/options",
        json!({ "recovery_token": recovery_token }),
    ));
    let third = Device::new(true);
    let credential = third.create(ORIGIN, &started["options"]);
    let res = post(
        &mut app,
        "/passkeys/recovery",
        json!({
            "recovery_token": recovery_token,
            "ceremony": started["ceremony"],
            "name": "Tablet",
            "credential": credential,
        }),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(json(&res)["data"]["access_token"].is_string());
    // The token is single use: after the owner finished, it starts and finishes nothing.
    let res = post(
        &mut app,
        "/passkeys/recovery/options",
        json!({ "recovery_token": recovery_token }),
    );
    assert_eq!((res.status, code(&res)), (401, "invalid_token".into()));
}

/// After a move to another domain the old passkeys stay, listed as the other site's: they
/// are not offered, sign nobody in, and are no second factor the password must wait for.
fn passkeys_of_another_site_sign_nobody_in() {
    let h = start(sqlite(), passkeys());
    let mut fixture: Value = serde_json::from_str(include_str!("fixtures/format-1.json")).unwrap();
    fixture["row"]["rp_id"] = json!("old.example");
    let device = restore(&h, &fixture);
    let mut c = Client::new(h.addr);
    let started = sign_in_options(&mut c, Some(EMAIL));
    let offered = started["options"]["publicKey"]["allowCredentials"].to_string();
    assert!(!offered.contains(fixture["row"]["credential_id"].as_str().unwrap()));
    let mut started = sign_in_options(&mut c, None);
    // The old authenticator answers for the old site's id; this site refuses it.
    started["options"]["publicKey"]["rpId"] = json!("example.com");
    let credential = device.get(ORIGIN, &started["options"]);
    let res = finish_sign_in(&mut c, &started, &credential);
    assert_eq!((res.status, code(&res)), (401, "rp_id_mismatch".into()));
    // The password signs in without a second step (there is none usable here) ...
    let mut app = app_client(&h);
    assert!(app.headers.iter().any(|(name, _)| name == "Authorization"));
    // ... and the list says whose the passkey is.
    let list = data(&app.get(&format!("{API}/passkeys")));
    assert_eq!(list["passkeys"][0]["rp_id"], "old.example");
}

/// With an authenticator app turned on, the emailed link is the first step of an ordinary
/// sign-in: the code (or a recovery code) comes next, and the session is then a full one.
fn a_passkey_only_account_with_totp_is_asked_for_its_code_after_the_link() {
    let h = start(sqlite(), passkeys());
    let email = "new@example.com";
    passkey_only_sign_up(&h, email);
    execute(
        &h.users,
        &format!(
            "UPDATE {} SET totp_secret = 'JBSWY3DPEHPK3PXP', \
             totp_enabled_at = '2026-01-01 00:00:00' WHERE email = '{email}'",
            table(&h.users, "users")
        ),
    );
    let (_, res) = emailed_sign_in(&h, email);
    assert_eq!(res.location(), "/two-factor/verify");
}

/// Anonymous sign-in ceremonies are counted per client: past the limit the page and the
/// JSON options answer `429` with `Retry-After`, and another client still starts one.
fn anonymous_ceremony_starts_are_limited_per_client() {
    use pow_actix::store::Limit;
    let limited =
        passkeys().sign_in_starts(Some(Limit::new(3, std::time::Duration::from_secs(60))));
    let h = start(sqlite(), limited);
    let client = |ip: &str| {
        let mut c = Client::new(h.addr);
        c.headers.push(("X-Forwarded-For".into(), ip.into()));
        c
    };
    let mut flood = client("198.51.100.9");
    for _ in 0..2 {
        assert_eq!(flood.get("/passkeys/sign-in").status, 200);
    }
    let res = post(&mut flood, "/passkeys/authentication/options", json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
    let page = flood.get("/passkeys/sign-in");
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(page.header("retry-after").is_some());
    let res = post(
        &mut flood,
        "/passkeys/authentication/options",
        json!({ "email": EMAIL }),
    );
    assert_eq!((res.status, code(&res)), (429, "rate_limited".into()));
    // Another client is not held back.
    let mut other = client("203.0.113.9");
    assert_eq!(other.get("/passkeys/sign-in").status, 200);
    let res = post(&mut other, "/passkeys/authentication/options", json!({}));
    assert_eq!(res.status, 200, "{}", res.body);
}

/// Routes as `(method, path)`.
type Routes = Vec<(&'static str, String)>;

/// Every route that removes (or adds) a second factor, HTML and JSON, of every factor this
/// setup enables: TOTP and recovery codes, passkeys and security keys. Each runs through
/// the engine's one rule (`Action::changes_factor`).
fn factor_change_routes(passkey_id: i64) -> (Routes, Routes) {
    let html = vec![
        ("POST", "/two-factor/disable".to_owned()),
        ("POST", "/two-factor/recovery-codes".to_owned()),
        ("POST", "/two-factor".to_owned()),
        ("POST", format!("/passkeys/{passkey_id}/delete")),
        ("POST", "/passkeys".to_owned()),
    ];
    let json = vec![
        ("DELETE", "/two-factor".to_owned()),
        ("POST", "/two-factor/recovery-codes".to_owned()),
        ("POST", "/two-factor".to_owned()),
        ("DELETE", format!("/passkeys/{passkey_id}")),
        ("POST", "/passkeys/registration/options".to_owned()),
        ("POST", "/passkeys/registration".to_owned()),
    ];
    (html, json)
}

/// A well-formed body for a JSON factor route (the rule answers before it is read).
fn factor_change_body(method: &str, path: &str) -> Option<String> {
    let body = match (method, path) {
        ("POST", "/two-factor") => json!({ "code": "000000" }),
        ("POST", "/passkeys/registration") => {
            json!({ "ceremony": "x", "name": "x", "credential": {} })
        }
        _ => json!({}),
    };
    Some(body.to_string())
}

/// A session that proved the password alone (a stolen remember-me cookie plus the
/// password, say) removes no factor and adds none, whatever the factor and the route:
/// each asks for a recent second factor of the account's, and passes once one is proved.
fn every_factor_change_asks_for_a_recent_second_factor() {
    let h = start(sqlite(), passkeys());
    // Both sessions proved the password only, while the account had no second factor.
    let mut browser = Client::new(h.addr);
    assert_eq!(browser.sign_in(EMAIL, PASSWORD).status, 302);
    let mut app = app_client(&h);
    let passkey = enrol(&mut app, &Device::new(true), "Laptop");
    let passkey_id = passkey["id"].as_i64().unwrap();
    execute(
        &h.users,
        &format!(
            "UPDATE {} SET totp_secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', \
             totp_enabled_at = '2026-01-01 00:00:00'",
            table(&h.users, "users")
        ),
    );
    let totp_on = || {
        let user = h
            .config
            .users_context()
            .unwrap()
            .get(h.config.user_schema(), h.user_id);
        user.unwrap()
            .unwrap()
            .get("totp_enabled_at")
            .is_some_and(|v| !v.is_null())
    };
    let passkeys_left = |app: &mut Client| {
        data(&app.get(&format!("{API}/passkeys")))["passkeys"]
            .as_array()
            .unwrap()
            .len()
    };
    let (html, json_routes) = factor_change_routes(passkey_id);
    for (method, path) in &html {
        let csrf = browser.get("/registration/edit").csrf();
        let res = browser.request(
            method,
            path,
            Some(format!("_csrf_token={csrf}&user[name]=x")),
        );
        assert_eq!(res.status, 302, "{method} {path}: {}", res.body);
        assert!(
            res.location().contains("/step-up"),
            "{method} {path} sends to a step-up page: {}",
            res.location()
        );
    }
    for (method, path) in &json_routes {
        let res = app.request(
            method,
            &format!("{API}{path}"),
            factor_change_body(method, path),
        );
        assert_eq!(
            (res.status, code(&res)),
            (401, "step_up_required".into()),
            "{method} {path}: {}",
            res.body
        );
        let methods = &json(&res)["data"]["pending"][0]["methods"];
        assert_eq!(
            *methods,
            json!(["totp", "recovery_code", "passkey", "security_key"]),
            "{method} {path}"
        );
    }
    assert!(totp_on());
    assert_eq!(passkeys_left(&mut app), 1);

    // Once the session proves a code, the passkey goes.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let code_now =
        pow_ext_two_factor::totp::code_at("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", now).unwrap();
    let res = post(&mut app, "/two-factor/step-up", json!({ "code": code_now }));
    assert!(res.status < 300, "{}", res.body);
    let res = app.request("DELETE", &format!("{API}/passkeys/{passkey_id}"), None);
    assert!(res.status < 300, "{}", res.body);
    assert_eq!(passkeys_left(&mut app), 0);
}

/// [`every_factor_change_asks_for_a_recent_second_factor`] on the pages alone: a browser,
/// signed in with the password, enrols the passkey on its page (which proves the new
/// passkey, not the person); once the account has TOTP too, every factor change sends it
/// to a step-up page, and after the passkey is proved on its step-up page the passkey goes.
fn every_factor_change_on_the_pages_asks_for_a_recent_second_factor() {
    let h = &start(sqlite(), passkeys());
    let mut browser = Client::new(h.addr);
    assert_eq!(browser.sign_in(EMAIL, PASSWORD).status, 302);
    let device = Device::new(true);
    let res = enrol_on_page(&mut browser, "/passkeys", &device, "Laptop");
    assert_eq!(res.location(), "/passkeys", "{}", res.body);
    let passkey_id = stored_passkeys(h)[0].id;
    execute(
        &h.users,
        &format!(
            "UPDATE {} SET totp_secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', \
             totp_enabled_at = '2026-01-01 00:00:00'",
            table(&h.users, "users")
        ),
    );
    let (html, _) = factor_change_routes(passkey_id);
    for (method, path) in &html {
        let csrf = browser.get("/registration/edit").csrf();
        let res = browser.request(
            method,
            path,
            Some(format!("_csrf_token={csrf}&user[name]=x")),
        );
        assert_eq!(res.status, 302, "{method} {path}: {}", res.body);
        assert!(
            res.location().contains("/step-up"),
            "{method} {path} sends to a step-up page: {}",
            res.location()
        );
    }
    assert_eq!(stored_passkeys(h).len(), 1);

    // Once the session proves a second factor, the passkey goes.
    let page = browser.get("/passkeys/step-up");
    assert_eq!(page.status, 200, "{}", page.body);
    let options: Value = serde_json::from_str(&hidden(&page.body, "webauthn_options")).unwrap();
    let credential = device.get(ORIGIN, &options);
    let res = browser.post(
        "/passkeys/step-up",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[ceremony]", &hidden(&page.body, "ceremony")),
            ("user[credential]", &credential.to_string()),
        ],
    );
    assert_eq!(res.location(), "/passkeys", "{}", res.body);
    let csrf = browser.get("/registration/edit").csrf();
    let res = browser.post(
        &format!("/passkeys/{passkey_id}/delete"),
        &[("_csrf_token", &csrf)],
    );
    assert_eq!(res.location(), "/passkeys", "{}", res.body);
    assert!(stored_passkeys(h).is_empty());
}

/// The passkeys page on its own: a second passkey after proving the first on the step-up
/// page, renaming, deleting, and the security key's page.
fn passkeys_are_managed_on_the_pages() {
    let h = start(sqlite(), passkeys());
    let mut browser = Client::new(h.addr);
    assert_eq!(browser.sign_in(EMAIL, PASSWORD).status, 302);
    let page = browser.get("/passkeys");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("You have no passkeys yet"),
        "{}",
        page.body
    );
    let laptop = Device::new(true);
    let res = enrol_on_page(&mut browser, "/passkeys", &laptop, "Laptop");
    assert_eq!(res.location(), "/passkeys", "{}", res.body);

    // The session proved the password only: another passkey needs the first one proved.
    let res = browser.get("/passkeys");
    assert_eq!(
        res.location(),
        "/passkeys/step-up?request_path=%2Fpasskeys",
        "{}",
        res.body
    );
    let step_up = res.location().to_owned();
    let page = browser.get(&step_up);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("/passkeys/passkeys.js"));
    let options: Value = serde_json::from_str(&hidden(&page.body, "webauthn_options")).unwrap();
    let credential = laptop.get(ORIGIN, &options);
    let res = browser.post(
        &step_up,
        &[
            ("_csrf_token", &page.csrf()),
            ("user[ceremony]", &hidden(&page.body, "ceremony")),
            ("user[credential]", &credential.to_string()),
        ],
    );
    assert_eq!(res.location(), "/passkeys", "{}", res.body);
    let page = browser.get("/passkeys");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Laptop"), "{}", page.body);

    // A refused answer: back to the step-up page with the refusal.
    let page = browser.get(&step_up);
    let res = browser.post(
        &step_up,
        &[
            ("_csrf_token", &page.csrf()),
            ("user[ceremony]", "not-a-ceremony"),
            ("user[credential]", "{}"),
        ],
    );
    assert_eq!(res.location(), step_up, "{}", res.body);

    // Renamed.
    let id = stored_passkeys(&h)[0].id;
    let page = browser.get("/passkeys");
    let field = format!("user[name_{id}]");
    let res = browser.post(
        &format!("/passkeys/{id}/rename"),
        &[("_csrf_token", &page.csrf()), (&field, "Work laptop")],
    );
    assert_eq!(res.location(), "/passkeys", "{}", res.body);
    let page = browser.get("/passkeys");
    assert!(page.body.contains("Work laptop"), "{}", page.body);

    // A second one, then the first goes.
    let res = enrol_on_page(&mut browser, "/passkeys", &Device::new(true), "Phone");
    assert_eq!(res.location(), "/passkeys", "{}", res.body);
    let page = browser.get("/passkeys");
    let res = browser.post(
        &format!("/passkeys/{id}/delete"),
        &[("_csrf_token", &page.csrf())],
    );
    assert_eq!(res.location(), "/passkeys", "{}", res.body);
    let names: Vec<String> = stored_passkeys(&h).into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["Phone"]);

    // The security key's page carries its ceremony and the script.
    let page = browser.get("/passkeys/security-key");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("/passkeys/passkeys.js"));
    assert_eq!(hidden(&page.body, "webauthn_mode"), "create");
}

/// The pages' script is answered for shared caches (`public`): it is served without reading
/// the session, so a session due for renewal is not renewed there and no cookie rides on an
/// answer a cache may keep and hand to another client.
fn the_script_carries_no_cookie_for_a_session_due_for_renewal() {
    let h = start_with(sqlite(), passkeys(), |builder| {
        builder.session_ttl_renewal(Some(Duration::ZERO))
    });
    let mut browser = Client::new(h.addr);
    assert_eq!(browser.sign_in(EMAIL, PASSWORD).status, 302);
    // Due on every request: a page renews the session (a new cookie).
    let page = browser.get("/passkeys");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.header("set-cookie").is_some(),
        "the page renews the session"
    );

    let script = browser.get("/passkeys/passkeys.js");
    assert_eq!(script.status, 200);
    assert_eq!(script.header("cache-control"), Some("public, max-age=3600"));
    assert_eq!(
        script.header("set-cookie"),
        None,
        "no cookie on a cacheable answer"
    );
    assert_eq!(browser.get("/me").body, format!("user:{}", h.user_id));
}

/// An extension's sign-in policy holds on a passkey sign-in, over JSON (with an address
/// and without) and on the pages: closed for the harness user, their passkey signs nobody
/// in (`403` `sign_in_refused`; the page shows the policy's text), another user's passkey
/// still signs in, and once the gate opens the harness user's does again.
fn a_sign_in_policy_holds_on_a_passkey_sign_in() {
    let gate = pow_testkit::Gate::new(EMAIL);
    let h = {
        let gate = gate.clone();
        start_with(sqlite(), passkeys(), move |builder| builder.extension(gate))
    };
    let device = Device::new(true);
    enrol(&mut app_client(&h), &device, "Laptop");
    let other_email = "grace@example.com";
    let other = pow_actix::testing::create_user(&h.config, other_email, PASSWORD).unwrap();
    let other_device = Device::new(true);
    let mut app = Client::new(h.addr);
    let res = password_sign_in(&mut app, other_email);
    assert_eq!(res.status, 200, "{}", res.body);
    bearer(&mut app, &json(&res));
    enrol(&mut app, &other_device, "Phone");
    // Both sign in while the gate is open.
    assert!(signs_in(&h, &device, Some(EMAIL)));
    assert!(signs_in(&h, &other_device, None));

    gate.close();
    // JSON, with the address and without: refused, no token pair.
    for email in [Some(EMAIL), None] {
        let res = sign_in(&h, &device, email);
        assert_eq!((res.status, code(&res)), (403, "sign_in_refused".into()));
        assert!(!res.body.contains("access_token"), "{}", res.body);
    }
    // The page: the policy's text, nobody signed in.
    let mut browser = Client::new(h.addr);
    let res = page_sign_in(&mut browser, &device);
    assert_eq!(res.status, 403, "{}", res.body);
    assert!(
        res.body.contains(pow_testkit::GATE_REFUSED_TEXT),
        "{}",
        res.body
    );
    assert_eq!(browser.get("/me").body, "anonymous");
    // Another user's passkey signs in as before, over JSON and on the page.
    let res = sign_in(&h, &other_device, None);
    assert_eq!(res.status, 200, "{}", res.body);
    let mut browser = Client::new(h.addr);
    let res = page_sign_in(&mut browser, &other_device);
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(browser.get("/me").body, format!("user:{}", other.id));

    // Open again: the harness user's passkey signs in on both.
    gate.open();
    assert!(signs_in(&h, &device, Some(EMAIL)));
    let mut browser = Client::new(h.addr);
    assert_eq!(page_sign_in(&mut browser, &device).status, 302);
    assert_eq!(browser.get("/me").body, format!("user:{}", h.user_id));
}

pow_testkit::on_both!(
    a_sign_in_policy_holds_on_a_passkey_sign_in,
    the_script_carries_no_cookie_for_a_session_due_for_renewal,
    enrols_and_signs_in_with_and_without_an_address_sqlite,
    enrols_and_signs_in_with_and_without_an_address_postgres,
    a_passkey_enrolled_on_its_page_signs_in_on_the_pages_sqlite,
    a_passkey_enrolled_on_its_page_signs_in_on_the_pages_postgres,
    a_security_key_is_a_second_factor_and_never_signs_in_alone,
    a_security_key_enrolled_on_its_page_is_a_second_factor,
    a_passkey_only_account_signs_up_and_recovers,
    a_passkey_only_account_with_totp_is_asked_for_its_code_after_the_link,
    anonymous_ceremony_starts_are_limited_per_client,
    every_factor_change_asks_for_a_recent_second_factor,
    every_factor_change_on_the_pages_asks_for_a_recent_second_factor,
    passkeys_are_managed_on_the_pages,
    sign_in_options_have_one_shape_for_every_address,
    ceremonies_that_do_not_verify_are_refused,
    an_expired_ceremony_is_refused,
    a_credential_of_another_account_is_refused,
    counters_refuse_a_clone_and_let_one_of_two_concurrent_sign_ins_win,
    the_last_passkey_of_an_account_without_a_password_stays,
    a_passkey_needs_no_second_factor_and_the_password_still_does,
    rows_of_every_stored_format_sign_in,
    a_password_alone_cannot_add_a_passkey_to_an_account_with_a_second_factor,
    passkeys_of_another_site_sign_nobody_in,
);
