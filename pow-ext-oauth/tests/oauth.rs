//! The OAuth extension over HTTP against a local fake OpenID Connect provider
//! (`pow_ext_oauth::testing`) (and a
//! GitHub-shaped OAuth 2.0 one on the same server): sign-up, sign-out, sign-in again,
//! linking a second provider account after signing in, no silent link to an account
//! with the same address, refused forged state, replayed code, wrong audience, wrong
//! nonce, expired and foreign-signed ID tokens, denied consent, an unreachable
//! provider, unlinking (never the last way in), unverified addresses, and the table on
//! SQLite and PostgreSQL. The pages and the JSON endpoints are routes of the engine: the
//! tests run on actix-web and on axum (`on_both!` at the end).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::{web, HttpResponse};
use pow_actix::mailer::MemoryMailer;
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::session::MaybeUser;
use pow_actix::store::MemoryStore;
use pow_actix::test_client::{serve, Client, Response};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::users::{FieldDef, FieldKind, UsersContext as _, Value};
use pow_actix::PowConfig;
use pow_ext_email_confirmation::EmailConfirmation;
use pow_ext_oauth::testing::{FakeProvider, Login, Tweak, CLIENT_ID, CLIENT_SECRET};
use pow_ext_oauth::{OAuth, Provider};
use pow_ext_passwordless::Passwordless;

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery";
/// The redirect URI of a native app using the JSON endpoints.
const APP_REDIRECT: &str = "com.example.app:/oauth";

struct Harness {
    config: PowConfig,
    users: DieselUsersContext,
    addr: SocketAddr,
    provider: FakeProvider,
    mailer: MemoryMailer,
}

async fn me(user: MaybeUser) -> HttpResponse {
    HttpResponse::Ok().body(match user.0 {
        Some(user) => format!("user:{}", user.email().unwrap_or_default()),
        None => "anonymous".to_owned(),
    })
}

/// `/me` on axum, as [`me`] answers it on actix-web.
async fn axum_me(pow: pow_axum::Pow) -> String {
    match &pow.current {
        Some(current) => format!("user:{}", current.user.email().unwrap_or_default()),
        None => "anonymous".to_owned(),
    }
}

fn oauth(provider: &FakeProvider) -> OAuth {
    let issuer = provider.issuer();
    OAuth::new()
        .provider(Provider::openid_connect(
            "corp",
            "Corp",
            &issuer,
            CLIENT_ID,
            CLIENT_SECRET,
        ))
        .unwrap()
        .provider(
            Provider::oauth2(
                "hub",
                "Hub",
                &format!("{issuer}/authorize"),
                &format!("{issuer}/token"),
                &format!("{issuer}/user"),
                CLIENT_ID,
                CLIENT_SECRET,
            )
            .emails_url(&format!("{issuer}/user/emails")),
        )
        .unwrap()
        .api_redirect_uri(APP_REDIRECT)
        .provider(Provider::openid_connect(
            "down",
            "Down",
            "http://127.0.0.1:9",
            CLIENT_ID,
            CLIENT_SECRET,
        ))
        .unwrap()
}

fn start_with(
    users: DieselUsersContext,
    configure: impl FnOnce(pow_actix::PowConfigBuilder, &FakeProvider) -> pow_actix::PowConfigBuilder,
) -> Harness {
    let provider = FakeProvider::start();
    let mailer = MemoryMailer::new();
    let builder = PowConfig::builder("o".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .store(Arc::new(MemoryStore::new()))
        .mailer(Arc::new(mailer.clone()))
        .base_url("http://localhost")
        .user_field(FieldDef::new("name", FieldKind::Text).castable());
    let config = configure(builder, &provider).build().unwrap();
    users.migrate(&config).unwrap();
    users
        .database()
        .batch_execute(&match users.schema() {
            Some(schema) => format!("ALTER TABLE \"{schema}\".users ADD COLUMN name VARCHAR NULL;"),
            None => "ALTER TABLE users ADD COLUMN name VARCHAR NULL;".to_owned(),
        })
        .unwrap();
    let user = pow_actix::testing::create_user(&config, EMAIL, PASSWORD).unwrap();
    if config.extensions().contains("pow_email_confirmation") {
        pow_ext_email_confirmation::confirm_user(&config, &user).unwrap();
    }
    let served = config.clone();
    let addr = match pow_testkit::framework() {
        pow_testkit::Framework::Actix => serve(move || {
            pow_actix::testing::app(&served)
                .configure(pow_actix::api::configure(
                    served.clone(),
                    pow_actix::api::ApiOptions::new(),
                ))
                .route("/me", web::get().to(me))
        }),
        // The engine's page routes and `/me` on axum, and the JSON API.
        pow_testkit::Framework::Axum => pow_testkit::serve_axum(
            pow_axum::web::router(&served)
                .route("/me", axum::routing::get(axum_me))
                .layer(pow_axum::PowLayer::new(served.clone()))
                .merge(pow_axum::api::router(
                    &served,
                    pow_axum::api::ApiOptions::new(),
                )),
        ),
    };
    Harness {
        config,
        users,
        addr,
        provider,
        mailer,
    }
}

fn sqlite() -> DieselUsersContext {
    pow_testkit::sqlite("oauth")
}

fn start() -> Harness {
    start_with(sqlite(), |b, p| {
        b.extension(EmailConfirmation::new()).extension(oauth(p))
    })
}

/// The path and query of an absolute URL.
fn local(url: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// Where the provider's consent page sends the browser back to (path and query on the
/// app), for a sign-in begun at `begin` (a `GET`, or a posted form when `csrf` is given).
fn consent(h: &Harness, browser: &mut Client, begin: &str, csrf: Option<&str>) -> String {
    let res = match csrf {
        Some(csrf) => browser.post(begin, &[("_csrf_token", csrf)]),
        None => browser.get(begin),
    };
    assert_eq!(res.status, 302, "{}", res.body);
    let to_provider = res.location().to_owned();
    assert!(
        to_provider.starts_with(&h.provider.issuer()),
        "off to the provider: {to_provider}"
    );
    assert!(to_provider.contains("code_challenge="), "{to_provider}");
    let mut at_provider = Client::new(h.provider.addr);
    let back = at_provider.get(&local(&to_provider));
    assert_eq!(back.status, 302);
    let back = back.location().to_owned();
    assert!(back.starts_with("http://localhost/auth/"), "{back}");
    local(&back)
}

/// A whole sign-in through provider `id`: the callback's response.
fn sign_in_with(h: &Harness, browser: &mut Client, id: &str) -> Response {
    let back = consent(h, browser, &format!("/auth/{id}/new"), None);
    browser.get(&back)
}

fn whoami(c: &mut Client) -> String {
    c.get("/me").body
}

/// The page a redirect leads to (where the flash shows).
fn follow(c: &mut Client, res: &Response) -> String {
    assert_eq!(res.status, 302, "{}", res.body);
    c.get(res.location()).body
}

fn sign_out(c: &mut Client) {
    let csrf = c.get("/auth/identities").csrf();
    let res = c.post("/session", &[("_csrf_token", &csrf), ("_method", "DELETE")]);
    assert_eq!(res.status, 302);
    assert_eq!(whoami(c), "anonymous");
}

fn get_user(
    config: &PowConfig,
    email: &str,
) -> Result<Option<pow_actix::users::User>, pow_actix::PowError> {
    let users = Arc::clone(config.users_context()?);
    users.get_by(
        config.user_schema(),
        "email",
        &Value::Text(email.to_owned()),
    )
}

fn user_count(h: &Harness) -> usize {
    let users = Arc::clone(h.config.users_context().unwrap());
    users
        .list_by(
            h.config.user_schema(),
            "name",
            &Value::Text("Grace Hopper".into()),
        )
        .unwrap()
        .len()
}

fn identity_count(h: &Harness, email: &str) -> usize {
    let user = get_user(&h.config, email).unwrap();
    match user {
        Some(user) => actix_web::rt::System::new()
            .block_on(oauth(&h.provider).identities(&h.config, user.id))
            .unwrap()
            .len(),
        None => 0,
    }
}

fn sign_up_sign_out_and_sign_in_again() {
    let h = start();
    let mut browser = Client::new(h.addr);
    let page = browser.get("/session/new").body;
    assert!(page.contains("href=\"/auth/corp/new\""), "{page}");
    assert!(page.contains("Continue with Corp"), "{page}");

    // Sign-up: a verified address makes a confirmed user without a password.
    let res = sign_in_with(&h, &mut browser, "corp");
    assert_eq!(res.location(), "/", "{}", res.body);
    assert_eq!(whoami(&mut browser), "user:grace@example.com");
    let user = get_user(&h.config, "grace@example.com").unwrap().unwrap();
    assert!(user.password_hash.is_none());
    assert!(user.get_timestamp("email_confirmed_at").is_some());
    assert_eq!(
        user.get_str("name"),
        Some("Grace Hopper"),
        "prefilled from the profile"
    );
    assert_eq!(identity_count(&h, "grace@example.com"), 1);

    // Sign-out, sign-in again: the same user, no new one.
    sign_out(&mut browser);
    let res = sign_in_with(&h, &mut browser, "corp");
    assert_eq!(res.location(), "/");
    assert_eq!(whoami(&mut browser), "user:grace@example.com");
    assert_eq!(user_count(&h), 1);
    assert_eq!(identity_count(&h, "grace@example.com"), 1);

    // The account page links the providers page; the only way in cannot be unlinked.
    assert!(browser
        .get("/registration/edit")
        .body
        .contains("href=\"/auth/identities\""));
    let page = browser.get("/auth/identities");
    assert!(page.body.contains("Unlink Corp"), "{}", page.body);
    let csrf = page.csrf();
    let res = browser.post(
        "/auth/corp/unlink",
        &[("_csrf_token", &csrf), ("user[uid]", "sub-1")],
    );
    assert!(follow(&mut browser, &res).contains("This is your only way to sign in"));
    assert_eq!(identity_count(&h, "grace@example.com"), 1);

    // A second provider account links, then the first one may go.
    let csrf = browser.get("/auth/identities").csrf();
    let back = consent(&h, &mut browser, "/auth/hub/link", Some(&csrf));
    let res = browser.get(&back);
    assert!(follow(&mut browser, &res).contains("Your Hub account is linked"));
    assert_eq!(identity_count(&h, "grace@example.com"), 2);
    let csrf = browser.get("/auth/identities").csrf();
    let res = browser.post(
        "/auth/corp/unlink",
        &[("_csrf_token", &csrf), ("user[uid]", "sub-1")],
    );
    assert!(follow(&mut browser, &res).contains("Your Corp account is unlinked"));
    assert_eq!(identity_count(&h, "grace@example.com"), 1);
    let notices = h.mailer.count_to("grace@example.com");
    assert!(
        notices >= 2,
        "a notice for the link and the unlink: {notices}"
    );
}

fn linking_a_second_provider_after_a_password_sign_in() {
    let h = start();
    let mut browser = Client::new(h.addr);
    browser.sign_in(EMAIL, PASSWORD);
    assert_eq!(whoami(&mut browser), format!("user:{EMAIL}"));

    // Another browser cannot use this one's link attempt.
    let csrf = browser.get("/auth/identities").csrf();
    h.provider
        .login_as(Login::new("ada-corp", "ada.work@example.org"));
    let back = consent(&h, &mut browser, "/auth/corp/link", Some(&csrf));
    let mut thief = Client::new(h.addr);
    thief.sign_in(EMAIL, PASSWORD);
    let res = thief.get(&back);
    assert!(follow(&mut thief, &res).contains("was not started in this browser"));
    assert_eq!(identity_count(&h, EMAIL), 0);

    let csrf = browser.get("/auth/identities").csrf();
    let back = consent(&h, &mut browser, "/auth/corp/link", Some(&csrf));
    let res = browser.get(&back);
    assert!(follow(&mut browser, &res).contains("Your Corp account is linked"));
    assert_eq!(identity_count(&h, EMAIL), 1);
    assert!(h
        .mailer
        .last_to(EMAIL)
        .unwrap()
        .text
        .contains("A Corp account was linked to your account"));

    // The linked account signs this user in, though its address differs.
    sign_out(&mut browser);
    let res = sign_in_with(&h, &mut browser, "corp");
    assert_eq!(res.location(), "/");
    assert_eq!(whoami(&mut browser), format!("user:{EMAIL}"));

    // The same provider account cannot be linked to a second user.
    let other = pow_actix::testing::create_user(&h.config, "bob@example.com", PASSWORD).unwrap();
    pow_ext_email_confirmation::confirm_user(&h.config, &other).unwrap();
    let mut bob = Client::new(h.addr);
    bob.sign_in("bob@example.com", PASSWORD);
    let csrf = bob.get("/auth/identities").csrf();
    let back = consent(&h, &mut bob, "/auth/corp/link", Some(&csrf));
    let res = bob.get(&back);
    assert!(follow(&mut bob, &res).contains("belongs to another user"));
    assert_eq!(identity_count(&h, "bob@example.com"), 0);
}

fn a_second_factor_still_applies_to_a_provider_sign_in() {
    let h = start_with(sqlite(), |b, p| {
        b.extension(EmailConfirmation::new())
            .extension(pow_ext_two_factor::TwoFactor::new())
            .extension(oauth(p))
    });
    let mut browser = Client::new(h.addr);
    assert_eq!(sign_in_with(&h, &mut browser, "corp").location(), "/");
    sign_out(&mut browser);
    // The user turns on a second factor (as the enrolment page would leave the row).
    let user = get_user(&h.config, "grace@example.com").unwrap().unwrap();
    let mut changes = pow_actix::users::Changes::new();
    changes.insert(
        "totp_secret".to_owned(),
        Value::Text("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".into()),
    );
    changes.insert(
        "totp_enabled_at".to_owned(),
        Value::Timestamp(chrono::Utc::now()),
    );
    actix_web::rt::System::new()
        .block_on(pow_actix::admin::update_user(&h.config, &user, changes))
        .unwrap();
    let res = sign_in_with(&h, &mut browser, "corp");
    assert_eq!(res.location(), "/two-factor/verify", "{}", res.body);
    assert_eq!(
        whoami(&mut browser),
        "anonymous",
        "not before the second step"
    );
}

fn an_address_with_an_account_is_never_linked_silently() {
    let h = start();
    h.provider.login_as(Login::new("mallory", EMAIL));
    let mut browser = Client::new(h.addr);
    let res = sign_in_with(&h, &mut browser, "corp");
    let page = follow(&mut browser, &res);
    assert!(
        page.contains("An account with the email address of your Corp account exists already"),
        "{page}"
    );
    assert_eq!(whoami(&mut browser), "anonymous");
    assert_eq!(identity_count(&h, EMAIL), 0);
    // The GitHub-shaped provider alike (its verified primary address).
    let res = sign_in_with(&h, &mut browser, "hub");
    assert!(follow(&mut browser, &res).contains("exists already"));
    assert_eq!(whoami(&mut browser), "anonymous");
    assert_eq!(identity_count(&h, EMAIL), 0);
}

fn forged_state_and_replayed_code_are_refused() {
    let h = start();
    let mut browser = Client::new(h.addr);
    let back = consent(&h, &mut browser, "/auth/corp/new", None);
    let (path, query) = back.split_once('?').unwrap();
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    let code = &params.iter().find(|(k, _)| k == "code").unwrap().1;

    // A forged state: refused before the code is exchanged.
    let forged = format!("{path}?code={code}&state=forged");
    let res = browser.get(&forged);
    let page = follow(&mut browser, &res);
    assert!(page.contains("was not started in this browser"), "{page}");
    assert_eq!(whoami(&mut browser), "anonymous");
    assert_eq!(h.provider.refused(), 0, "no code was exchanged");
    // The forgery spent nothing: the real answer still signs in, once.
    assert_eq!(browser.get(&back).location(), "/");
    assert_eq!(whoami(&mut browser), "user:grace@example.com");
    sign_out(&mut browser);
    let res = browser.get(&back);
    assert!(follow(&mut browser, &res).contains("was not started in this browser"));
    assert_eq!(whoami(&mut browser), "anonymous");

    // Two sign-ins begun in two tabs: both can finish, each once.
    let first = consent(&h, &mut browser, "/auth/corp/new", None);
    let second = consent(&h, &mut browser, "/auth/corp/new", None);
    assert_eq!(browser.get(&second).location(), "/");
    sign_out(&mut browser);
    assert_eq!(browser.get(&first).location(), "/");
    sign_out(&mut browser);
    let res = browser.get(&first);
    assert!(follow(&mut browser, &res).contains("was not started in this browser"));

    // The used code under a fresh state: the provider refuses it, nobody signs in.
    let (_, used) = back.split_once('?').unwrap();
    let used: Vec<(String, String)> = serde_urlencoded::from_str(used).unwrap();
    let used_code = used.iter().find(|(k, _)| k == "code").unwrap().1.clone();
    let fresh = consent(&h, &mut browser, "/auth/corp/new", None);
    let (path, query) = fresh.split_once('?').unwrap();
    let fresh: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    let state = &fresh.iter().find(|(k, _)| k == "state").unwrap().1;
    let replay = format!(
        "{path}?{}",
        serde_urlencoded::to_string([("code", used_code.as_str()), ("state", state)]).unwrap()
    );
    let res = browser.get(&replay);
    assert!(follow(&mut browser, &res).contains("did not accept the sign-in"));
    assert_eq!(whoami(&mut browser), "anonymous");
    assert_eq!(
        h.provider.refused(),
        1,
        "the token endpoint refused the replayed code"
    );
}

fn bad_id_tokens_are_refused() {
    let h = start();
    for (i, tweak) in [
        Tweak::WrongAudience,
        Tweak::WrongNonce,
        Tweak::Expired,
        Tweak::ForeignKey,
    ]
    .into_iter()
    .enumerate()
    {
        h.provider.tweak(tweak);
        h.provider.login_as(Login::new(
            &format!("eve-{i}"),
            &format!("eve{i}@example.com"),
        ));
        let mut browser = Client::new(h.addr);
        let res = sign_in_with(&h, &mut browser, "corp");
        let page = follow(&mut browser, &res);
        assert!(page.contains("could not be verified"), "{tweak:?}: {page}");
        assert_eq!(whoami(&mut browser), "anonymous", "{tweak:?}");
        assert!(
            get_user(&h.config, &format!("eve{i}@example.com"))
                .unwrap()
                .is_none(),
            "{tweak:?}: nothing created"
        );
    }
    // The same provider, answering properly, works.
    h.provider.tweak(Tweak::None);
    let mut browser = Client::new(h.addr);
    assert_eq!(sign_in_with(&h, &mut browser, "corp").location(), "/");
}

/// Outside claims are read strictly: an `email_verified` that is the text `"true"` vouches
/// for nothing, and a userinfo answer for another `sub` than the ID token's is refused;
/// neither signs anyone in, makes an account or links one. The same login, answered
/// properly, signs in.
fn outside_claims_are_read_strictly() {
    let h = start();
    for (i, tweak) in [Tweak::UserinfoVerifiedAsText, Tweak::UserinfoOtherSubject]
        .into_iter()
        .enumerate()
    {
        h.provider.tweak(tweak);
        let email = format!("strict{i}@example.com");
        h.provider
            .login_as(Login::new(&format!("strict-{i}"), &email));
        let mut browser = Client::new(h.addr);
        let res = sign_in_with(&h, &mut browser, "corp");
        follow(&mut browser, &res);
        assert_eq!(whoami(&mut browser), "anonymous", "{tweak:?}");
        assert!(
            get_user(&h.config, &email).unwrap().is_none(),
            "{tweak:?}: nothing created"
        );
        assert_eq!(identity_count(&h, &email), 0, "{tweak:?}");
    }
    h.provider.tweak(Tweak::None);
    let mut browser = Client::new(h.addr);
    assert_eq!(sign_in_with(&h, &mut browser, "corp").location(), "/");
}

/// An account with no password (signed up through a provider) asked for sudo mode is sent
/// to prove itself again, never let through: the sensitive action (deleting the account)
/// is not done.
fn an_account_without_a_password_is_never_let_past_sudo_mode() {
    let h = start_with(sqlite(), |b, p| {
        b.extension(EmailConfirmation::new())
            .extension(oauth(p))
            .sudo_window(std::time::Duration::ZERO)
    });
    let mut browser = Client::new(h.addr);
    assert_eq!(sign_in_with(&h, &mut browser, "corp").location(), "/");
    let user = get_user(&h.config, "grace@example.com").unwrap().unwrap();
    assert!(user.password_hash.is_none());
    let csrf = browser.get("/auth/identities").csrf();
    let res = browser.post(
        "/registration",
        &[("_csrf_token", &csrf), ("_method", "DELETE")],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    assert!(
        res.location().starts_with("/session/confirm"),
        "{}",
        res.location()
    );
    let page = browser.get(res.location());
    assert_eq!(page.status, 200, "a way to prove it: {}", page.body);
    assert!(get_user(&h.config, "grace@example.com").unwrap().is_some());
    assert_eq!(whoami(&mut browser), "user:grace@example.com");
}

fn denied_consent_and_an_unreachable_provider_create_nothing() {
    let h = start();
    h.provider.tweak(Tweak::Deny);
    let mut browser = Client::new(h.addr);
    let res = sign_in_with(&h, &mut browser, "corp");
    assert!(follow(&mut browser, &res).contains("The sign-in with Corp was cancelled"));
    assert_eq!(whoami(&mut browser), "anonymous");
    assert!(get_user(&h.config, "grace@example.com").unwrap().is_none());

    let res = browser.get("/auth/down/new");
    assert_eq!(res.location(), "/session/new");
    assert!(browser
        .get("/session/new")
        .body
        .contains("Down could not be reached"));
    assert_eq!(browser.get("/auth/nobody/new").status, 404);
}

fn an_unverified_address_goes_through_email_confirmation() {
    let h = start();
    let mut login = Login::new("unverified", "nell@example.com");
    login.verified = false;
    h.provider.login_as(login);
    let mut browser = Client::new(h.addr);
    let res = sign_in_with(&h, &mut browser, "corp");
    assert_eq!(res.status, 302);
    assert_eq!(
        whoami(&mut browser),
        "anonymous",
        "not until the address is confirmed"
    );
    let user = get_user(&h.config, "nell@example.com").unwrap().unwrap();
    assert!(user.get_timestamp("email_confirmed_at").is_none());
    assert_eq!(
        h.mailer.count_to("nell@example.com"),
        1,
        "the confirmation mail"
    );
}

fn an_unverified_address_is_refused_without_a_way_to_prove_it() {
    let h = start_with(sqlite(), |b, p| b.extension(oauth(p)));
    let mut login = Login::new("unverified", "nell@example.com");
    login.verified = false;
    h.provider.login_as(login);
    let mut browser = Client::new(h.addr);
    let res = sign_in_with(&h, &mut browser, "corp");
    assert!(follow(&mut browser, &res).contains("has not verified your email address"));
    assert!(get_user(&h.config, "nell@example.com").unwrap().is_none());
    // An address with an account gets the same answer.
    let mut login = Login::new("unverified-known", EMAIL);
    login.verified = false;
    h.provider.login_as(login);
    let known = sign_in_with(&h, &mut browser, "corp");
    assert_eq!(known.location(), res.location());
    let page = follow(&mut browser, &known);
    assert!(
        page.contains("has not verified your email address"),
        "{page}"
    );
    assert_eq!(identity_count(&h, EMAIL), 0);
}

fn an_unverified_address_can_take_the_staged_sign_up() {
    let passwordless = Passwordless::new();
    let h = start_with(sqlite(), |b, p| {
        b.extension(EmailConfirmation::new())
            .extension(passwordless.clone())
            .extension(oauth(p).staged_sign_up(true))
    });
    let mut login = Login::new("staged", "nell@example.com");
    login.verified = false;
    h.provider.login_as(login);
    let mut browser = Client::new(h.addr);
    let res = sign_in_with(&h, &mut browser, "corp");
    assert!(follow(&mut browser, &res).contains("We have sent a link"));
    let mail = h
        .mailer
        .last_to("nell@example.com")
        .expect("the staged sign-up link");
    let start = mail.text.find("http://localhost/").unwrap() + "http://localhost".len();
    let end = mail.text[start..]
        .find(char::is_whitespace)
        .map_or(mail.text.len(), |i| i + start);
    let link = &mail.text[start..end];
    let form = browser.get(link);
    assert!(
        form.body.contains("value=\"Grace Hopper\""),
        "prefilled from the profile: {}",
        form.body
    );
    let res = browser.post(
        link,
        &[("_csrf_token", &form.csrf()), ("user[name]", "Nell")],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(whoami(&mut browser), "user:nell@example.com");
    assert_eq!(
        identity_count(&h, "nell@example.com"),
        1,
        "linked on completion"
    );
    sign_out(&mut browser);
    assert_eq!(sign_in_with(&h, &mut browser, "corp").location(), "/");
    assert_eq!(whoami(&mut browser), "user:nell@example.com");
}

fn identities_live_beside_the_users_table_on_postgres() {
    let url = match std::env::var("POW_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "POW_TEST_DATABASE_URL is not set but CI is"
            );
            pow_core::testing::skipped(
                "POW_TEST_DATABASE_URL is not set: the PostgreSQL OAuth test did not run",
            );
            return;
        }
    };
    let schema = format!(
        "pow_oauth_{}",
        pow_actix::token::generate_uuid().replace('-', "")
    );
    let users = DieselUsersContext::connect(&url)
        .unwrap()
        .with_schema(&schema)
        .unwrap();
    let h = start_with(users, |b, p| {
        b.extension(EmailConfirmation::new()).extension(oauth(p))
    });
    let mut browser = Client::new(h.addr);
    assert_eq!(sign_in_with(&h, &mut browser, "corp").location(), "/");
    assert_eq!(whoami(&mut browser), "user:grace@example.com");
    assert_eq!(identity_count(&h, "grace@example.com"), 1);
    // A second link of the same account is refused by the unique index.
    h.provider.login_as(Login::new("sub-1", EMAIL));
    let mut other = Client::new(h.addr);
    other.sign_in(EMAIL, PASSWORD);
    let csrf = other.get("/auth/identities").csrf();
    let back = consent(&h, &mut other, "/auth/corp/link", Some(&csrf));
    let res = other.get(&back);
    assert!(follow(&mut other, &res).contains("belongs to another user"));
    h.users
        .database()
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .unwrap();
}

fn json(res: &Response) -> serde_json::Value {
    serde_json::from_str(&res.body).unwrap_or_else(|_| panic!("JSON: {}", res.body))
}

/// The code and state the provider hands the client for a JSON sign-in begun with `body`.
fn app_consent(h: &Harness, api: &mut Client, provider: &str) -> (String, String) {
    let res = api.request(
        "POST",
        &format!("/api/v1/auth/{provider}/authorize"),
        Some(String::new()),
    );
    assert_eq!(res.status, 200, "{}", res.body);
    let data = json(&res)["data"].clone();
    let url = data["url"].as_str().unwrap();
    assert!(url.contains("redirect_uri=com.example.app"), "{url}");
    let back = Client::new(h.provider.addr).get(&local(url));
    let back = url::Url::parse(back.location()).unwrap();
    assert_eq!(back.scheme(), "com.example.app");
    let param = |name: &str| {
        back.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    assert_eq!(param("state"), data["state"].as_str().unwrap());
    (param("code"), param("state"))
}

fn app_callback(api: &mut Client, provider: &str, code: &str, state: &str) -> Response {
    let body = serde_json::json!({ "code": code, "state": state }).to_string();
    api.request(
        "POST",
        &format!("/api/v1/auth/{provider}/callback"),
        Some(body),
    )
}

fn json_clients_sign_up_and_sign_in_with_a_provider() {
    let h = start();
    let mut api = Client::new(h.addr);

    // The JSON side is in the API's OpenAPI document.
    let context =
        pow_actix::api::ApiContext::new(h.config.clone(), pow_actix::api::ApiOptions::new());
    let _app = actix_web::App::new().configure(|cfg| pow_actix::api::register(cfg, &context));
    assert_eq!(context.undocumented_routes().unwrap(), Vec::<String>::new());
    let doc = context.openapi().unwrap();
    assert!(doc["paths"]["/auth/{provider}/callback"]["post"].is_object());

    // `GET /config` names the providers a client may offer.
    let res = api.request("GET", "/api/v1/config", None);
    assert_eq!(res.status, 200, "{}", res.body);
    let providers = json(&res)["data"]["extension_details"]["pow_oauth"]["providers"].clone();
    let ids: Vec<&str> = providers
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert!(ids.contains(&"corp"), "{providers}");
    assert!(providers.to_string().contains("\"name\""), "{providers}");
    assert!(
        !providers.to_string().contains("secret"),
        "no secret: {providers}"
    );

    // Sign-up, then the state is used up.
    let (code, state) = app_consent(&h, &mut api, "corp");
    let res = app_callback(&mut api, "corp", &code, &state);
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(json(&res)["data"]["access_token"].is_string());
    assert_eq!(identity_count(&h, "grace@example.com"), 1);
    let replay = app_callback(&mut api, "corp", &code, &state);
    assert_eq!(replay.status, 401, "{}", replay.body);
    assert_eq!(json(&replay)["errors"][0]["code"], "invalid_state");

    // Sign-in again: a pair for the same user.
    let (code, state) = app_consent(&h, &mut api, "corp");
    let res = app_callback(&mut api, "corp", &code, &state);
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(user_count(&h), 1);

    // A browser's state does not work here.
    let mut browser = Client::new(h.addr);
    let back = consent(&h, &mut browser, "/auth/corp/new", None);
    let (_, query) = back.split_once('?').unwrap();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).unwrap().1.clone();
    let res = app_callback(&mut api, "corp", &get("code"), &get("state"));
    assert_eq!(res.status, 401, "{}", res.body);

    // An address with an account, an unknown redirect URI, a bad ID token.
    h.provider.login_as(Login::new("mallory", EMAIL));
    let (code, state) = app_consent(&h, &mut api, "corp");
    let res = app_callback(&mut api, "corp", &code, &state);
    assert_eq!(res.status, 409, "{}", res.body);
    assert_eq!(json(&res)["errors"][0]["code"], "email_taken");
    assert_eq!(identity_count(&h, EMAIL), 0);
    let body = serde_json::json!({ "redirect_uri": "https://evil.example/steal" }).to_string();
    let res = api.request("POST", "/api/v1/auth/corp/authorize", Some(body));
    assert_eq!(res.status, 400, "{}", res.body);
    h.provider.tweak(Tweak::WrongAudience);
    h.provider.login_as(Login::new("eve", "eve@example.com"));
    let (code, state) = app_consent(&h, &mut api, "corp");
    let res = app_callback(&mut api, "corp", &code, &state);
    assert_eq!(res.status, 401, "{}", res.body);
    assert_eq!(json(&res)["errors"][0]["code"], "invalid_id_token");
    assert!(get_user(&h.config, "eve@example.com").unwrap().is_none());
}

/// The path of the confirmation link in the last mail to `to`.
fn confirmation_link(h: &Harness, to: &str) -> String {
    let mail = h.mailer.last_to(to).expect("a confirmation mail");
    let start = mail
        .text
        .find("http://localhost/confirm-email/")
        .unwrap_or_else(|| panic!("no confirmation link in {}", mail.text))
        + "http://localhost".len();
    let end = mail.text[start..]
        .find(char::is_whitespace)
        .map_or(mail.text.len(), |i| i + start);
    mail.text[start..end].to_owned()
}

/// Pre-account hijack: an attacker signs up through a provider that does not vouch for
/// the address, with the victim's address. The victim confirms the address from the mail
/// that sign-up sent and sets a password (as a reset would); the attacker's provider
/// account must not sign in to the victim's account.
fn an_unverified_provider_account_never_takes_over_the_owners_account() {
    let h = start();
    let victim_email = "victim@example.com";
    let mut login = Login::new("mallory", victim_email);
    login.verified = false;
    h.provider.login_as(login);
    let mut attacker = Client::new(h.addr);
    let res = sign_in_with(&h, &mut attacker, "corp");
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(whoami(&mut attacker), "anonymous");

    // The victim opens the confirmation link in their own browser...
    let link = confirmation_link(&h, victim_email);
    let mut victim = Client::new(h.addr);
    let res = victim.get(&link);
    assert_eq!(res.status, 302);
    let victim_row = get_user(&h.config, victim_email).unwrap().unwrap();
    assert!(pow_ext_email_confirmation::is_confirmed(&victim_row));
    // ...and sets a password (the reset extension writes the hash the same way).
    let hash = h.config.hasher().hash("the victim's password").unwrap();
    let mut changes = pow_actix::users::Changes::new();
    changes.insert("password_hash".to_owned(), Value::Text(hash));
    h.users
        .update_fields(h.config.user_schema(), &victim_row, &changes)
        .unwrap();
    let res = victim.sign_in(victim_email, "the victim's password");
    assert_eq!(res.location(), "/", "{}", res.body);
    assert_eq!(whoami(&mut victim), format!("user:{victim_email}"));

    // The attacker's provider account signs in nowhere.
    let mut attacker = Client::new(h.addr);
    sign_in_with(&h, &mut attacker, "corp");
    assert_eq!(
        whoami(&mut attacker),
        "anonymous",
        "the attacker's provider account must not reach the victim's account"
    );
    assert_eq!(identity_count(&h, victim_email), 0, "nothing linked");
}

/// A provider that does not vouch for the address signs up a user whose provider account
/// is linked only once the address is confirmed in the browser that signed up.
fn an_unverified_provider_account_is_linked_once_confirmed_in_the_same_browser() {
    let h = start();
    let mut login = Login::new("nell-at-corp", "nell@example.com");
    login.verified = false;
    h.provider.login_as(login);
    let mut browser = Client::new(h.addr);
    sign_in_with(&h, &mut browser, "corp");
    assert_eq!(whoami(&mut browser), "anonymous");
    assert_eq!(
        identity_count(&h, "nell@example.com"),
        0,
        "not before the proof"
    );
    let link = confirmation_link(&h, "nell@example.com");
    let res = browser.get(&link);
    assert_eq!(res.status, 302);
    assert_eq!(
        identity_count(&h, "nell@example.com"),
        1,
        "linked on confirmation"
    );
    assert_eq!(sign_in_with(&h, &mut browser, "corp").location(), "/");
    assert_eq!(whoami(&mut browser), "user:nell@example.com");
}

/// Signing up through a provider that does not vouch for the address answers alike
/// whether or not the address has an account.
fn an_unverified_sign_up_answers_alike_for_known_and_unknown_addresses() {
    let observe = |h: &Harness, email: &str| {
        let mut login = Login::new(&format!("sub-{email}"), email);
        login.verified = false;
        h.provider.login_as(login);
        let mut browser = Client::new(h.addr);
        let res = sign_in_with(h, &mut browser, "corp");
        // The page it leads to, then the sign-in page (where a flash left over shows),
        // but for their fresh CSRF tokens.
        let mut shown = |path: &str| {
            let page = browser.get(path);
            match page.body.contains("name=\"_csrf_token\"") {
                true => page.body.replace(&page.csrf(), ""),
                false => page.body,
            }
        };
        let (there, sign_in_page) = (shown(res.location()), shown("/session/new"));
        let who = whoami(&mut browser);
        (
            res.status,
            res.location().to_owned(),
            there,
            sign_in_page,
            who,
        )
    };
    // With email confirmation.
    let h = start();
    let unknown = observe(&h, "nobody@example.com");
    let known = observe(&h, EMAIL);
    assert_eq!(unknown, known, "email confirmation: the same answer");
    assert!(
        known.3.contains("need to confirm your e-mail"),
        "{}",
        known.3
    );
    // Over JSON, both are refused alike.
    let mut api = Client::new(h.addr);
    let mut json_answer = |email: &str| {
        let mut login = Login::new(&format!("app-{email}"), email);
        login.verified = false;
        h.provider.login_as(login);
        let (code, state) = app_consent(&h, &mut api, "corp");
        let res = app_callback(&mut api, "corp", &code, &state);
        (res.status, res.body)
    };
    let unknown = json_answer("someone@example.com");
    let known = json_answer(EMAIL);
    assert_eq!(unknown, known, "JSON: the same answer");
    assert_eq!(known.0, 403, "{}", known.1);
    assert!(get_user(&h.config, "someone@example.com")
        .unwrap()
        .is_none());
    // With the staged sign-up.
    let passwordless = Passwordless::new();
    let h = start_with(sqlite(), |b, p| {
        b.extension(EmailConfirmation::new())
            .extension(passwordless.clone())
            .extension(oauth(p).staged_sign_up(true))
    });
    let unknown = observe(&h, "nobody@example.com");
    let known = observe(&h, EMAIL);
    assert_eq!(unknown, known, "staged sign-up: the same answer");
    assert!(known.2.contains("We have sent a link"), "{}", known.2);
    assert_eq!(identity_count(&h, EMAIL), 0);
}

/// A provider account linked to an account before its address was ever proven (a row
/// written before links waited for the proof) is dropped when the owner confirms the
/// address: the stranger who linked it keeps no way in.
fn provider_accounts_linked_before_the_address_was_proven_are_dropped() {
    let h = start();
    let victim_email = "victim@example.com";
    let mut stranger = Client::new(h.addr);
    let csrf = stranger.get("/registration/new").csrf();
    let res = stranger.post(
        "/registration",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", victim_email),
            ("user[password]", PASSWORD),
            ("user[password_confirmation]", PASSWORD),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let victim_row = get_user(&h.config, victim_email).unwrap().unwrap();
    assert!(!pow_ext_email_confirmation::is_confirmed(&victim_row));
    h.users
        .database()
        .batch_execute(&format!(
            "INSERT INTO user_identities (user_id, provider, uid, email, inserted_at, updated_at) \
             VALUES ({}, 'corp', 'mallory', '{victim_email}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);",
            victim_row.id
        ))
        .unwrap();
    assert_eq!(identity_count(&h, victim_email), 1);

    let link = confirmation_link(&h, victim_email);
    let mut victim = Client::new(h.addr);
    assert_eq!(victim.get(&link).status, 302);
    assert!(pow_ext_email_confirmation::is_confirmed(
        &get_user(&h.config, victim_email).unwrap().unwrap()
    ));
    assert_eq!(
        identity_count(&h, victim_email),
        0,
        "linked before the proof: dropped"
    );
    h.provider
        .login_as(Login::new("mallory", "mallory@example.com"));
    let mut stranger = Client::new(h.addr);
    sign_in_with(&h, &mut stranger, "corp");
    assert_ne!(whoami(&mut stranger), format!("user:{victim_email}"));
}

/// Soft mode lets a user with an unconfirmed address in; such a user cannot link a
/// provider account until the address is confirmed (the one who signed up with someone
/// else's address would keep a way in).
fn an_unconfirmed_user_cannot_link_a_provider_account() {
    let h = start_with(sqlite(), |b, p| {
        b.extension(EmailConfirmation::new().soft(true))
            .extension(oauth(p))
    });
    let mut browser = Client::new(h.addr);
    let csrf = browser.get("/registration/new").csrf();
    let res = browser.post(
        "/registration",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", "soft@example.com"),
            ("user[password]", PASSWORD),
            ("user[password_confirmation]", PASSWORD),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(whoami(&mut browser), "user:soft@example.com");
    h.provider
        .login_as(Login::new("soft-corp", "soft.work@example.org"));
    let csrf = browser.get("/auth/identities").csrf();
    let back = consent(&h, &mut browser, "/auth/corp/link", Some(&csrf));
    let res = browser.get(&back);
    let page = follow(&mut browser, &res);
    assert!(page.contains("confirm your email address"), "{page}");
    assert_eq!(
        identity_count(&h, "soft@example.com"),
        0,
        "not while unproven"
    );

    // Confirmed, the same user links.
    let link = confirmation_link(&h, "soft@example.com");
    browser.get(&link);
    let csrf = browser.get("/auth/identities").csrf();
    let back = consent(&h, &mut browser, "/auth/corp/link", Some(&csrf));
    let res = browser.get(&back);
    assert!(follow(&mut browser, &res).contains("Your Corp account is linked"));
    assert_eq!(identity_count(&h, "soft@example.com"), 1);
}

fn a_data_export_lists_linked_accounts_and_erasure_unlinks_them() {
    let h = start();
    let mut browser = Client::new(h.addr);
    sign_in_with(&h, &mut browser, "corp");
    let user = get_user(&h.config, "grace@example.com").unwrap().unwrap();
    assert_eq!(identity_count(&h, "grace@example.com"), 1);

    let rt = actix_web::rt::System::new();
    let export = rt
        .block_on(pow_actix::admin::export_user(&h.config, &user))
        .unwrap();
    let linked = &export["extensions"]["pow_oauth"]["identities"];
    assert_eq!(linked.as_array().map(Vec::len), Some(1), "{export}");
    assert_eq!(linked[0]["provider"], "corp", "{export}");
    assert_eq!(linked[0]["email"], "grace@example.com", "{export}");

    rt.block_on(pow_actix::admin::erase_extension_data(&h.config, &user))
        .unwrap();
    assert_eq!(identity_count(&h, "grace@example.com"), 0);
}

/// An extension's sign-in policy holds on a social sign-in, on the pages and over JSON:
/// closed for a linked user, their provider account signs nobody in (a `403` page with the
/// policy's text; `403` `sign_in_refused`), another linked user still signs in, and once
/// the gate opens the first one does again.
fn a_sign_in_policy_holds_on_a_social_sign_in() {
    let gate = pow_testkit::Gate::new("grace@example.com");
    let h = {
        let gate = gate.clone();
        start_with(sqlite(), move |b, p| {
            b.extension(EmailConfirmation::new())
                .extension(oauth(p))
                .extension(gate)
        })
    };
    // Two users sign up through the provider (grace is its default account).
    let mut browser = Client::new(h.addr);
    assert_eq!(sign_in_with(&h, &mut browser, "corp").location(), "/");
    assert_eq!(whoami(&mut browser), "user:grace@example.com");
    sign_out(&mut browser);
    h.provider
        .login_as(Login::new("sub-2", "linus@example.com"));
    assert_eq!(sign_in_with(&h, &mut browser, "corp").location(), "/");
    assert_eq!(whoami(&mut browser), "user:linus@example.com");
    sign_out(&mut browser);
    assert_eq!(identity_count(&h, "grace@example.com"), 1);
    assert_eq!(identity_count(&h, "linus@example.com"), 1);

    gate.close();
    h.provider
        .login_as(Login::new("sub-1", "grace@example.com"));
    // The pages: refused with the policy's text, nobody signed in.
    let res = sign_in_with(&h, &mut browser, "corp");
    assert_eq!(res.status, 403, "{}", res.body);
    assert!(
        res.body.contains(pow_testkit::GATE_REFUSED_TEXT),
        "{}",
        res.body
    );
    assert_eq!(whoami(&mut browser), "anonymous");
    // JSON: refused, no token pair.
    let mut api = Client::new(h.addr);
    let (code, state) = app_consent(&h, &mut api, "corp");
    let res = app_callback(&mut api, "corp", &code, &state);
    assert_eq!(res.status, 403, "{}", res.body);
    assert_eq!(json(&res)["errors"][0]["code"], "sign_in_refused");
    assert!(!res.body.contains("access_token"), "{}", res.body);
    // Nothing else changed: still one linked account, no new user.
    assert_eq!(identity_count(&h, "grace@example.com"), 1);
    assert_eq!(user_count(&h), 2);

    // The other linked user signs in as before, on the pages and over JSON.
    h.provider
        .login_as(Login::new("sub-2", "linus@example.com"));
    assert_eq!(sign_in_with(&h, &mut browser, "corp").location(), "/");
    assert_eq!(whoami(&mut browser), "user:linus@example.com");
    sign_out(&mut browser);
    let (code, state) = app_consent(&h, &mut api, "corp");
    let res = app_callback(&mut api, "corp", &code, &state);
    assert_eq!(res.status, 200, "{}", res.body);

    // Open again: the first one signs in on both.
    gate.open();
    h.provider
        .login_as(Login::new("sub-1", "grace@example.com"));
    assert_eq!(sign_in_with(&h, &mut browser, "corp").location(), "/");
    assert_eq!(whoami(&mut browser), "user:grace@example.com");
    let (code, state) = app_consent(&h, &mut api, "corp");
    let res = app_callback(&mut api, "corp", &code, &state);
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(json(&res)["data"]["access_token"].is_string());
}

pow_testkit::on_both!(
    a_sign_in_policy_holds_on_a_social_sign_in,
    sign_up_sign_out_and_sign_in_again,
    linking_a_second_provider_after_a_password_sign_in,
    a_second_factor_still_applies_to_a_provider_sign_in,
    an_address_with_an_account_is_never_linked_silently,
    forged_state_and_replayed_code_are_refused,
    bad_id_tokens_are_refused,
    outside_claims_are_read_strictly,
    an_account_without_a_password_is_never_let_past_sudo_mode,
    denied_consent_and_an_unreachable_provider_create_nothing,
    an_unverified_address_goes_through_email_confirmation,
    an_unverified_address_is_refused_without_a_way_to_prove_it,
    an_unverified_address_can_take_the_staged_sign_up,
    identities_live_beside_the_users_table_on_postgres,
    an_unverified_provider_account_never_takes_over_the_owners_account,
    an_unverified_provider_account_is_linked_once_confirmed_in_the_same_browser,
    provider_accounts_linked_before_the_address_was_proven_are_dropped,
    an_unconfirmed_user_cannot_link_a_provider_account,
    a_data_export_lists_linked_accounts_and_erasure_unlinks_them,
    json_clients_sign_up_and_sign_in_with_a_provider,
    an_unverified_sign_up_answers_alike_for_known_and_unknown_addresses,
);
