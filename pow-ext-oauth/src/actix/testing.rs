//! A local OpenID Connect provider for tests (feature `test-util`), so an app can test its
//! sign-in with a provider without the internet: discovery, authorization (the provider's
//! "user" consents at once, or declines, as the test says), token (single-use codes, PKCE
//! checked, client authenticated), JWKS, userinfo, and GitHub-shaped `/user` and
//! `/user/emails` for a plain OAuth 2.0 provider. Its Ed25519 key is generated when it
//! starts; ID tokens are signed with `openidconnect`'s own signer.
//!
//! ```no_run
//! use pow_ext_oauth::testing::{FakeProvider, Login, CLIENT_ID, CLIENT_SECRET};
//! use pow_ext_oauth::{OAuth, Provider};
//!
//! let provider = FakeProvider::start();
//! provider.login_as(Login::new("user-1", "ada@example.com"));
//! let oauth = OAuth::new().provider(Provider::openid_connect(
//!     "fake", "Fake", &provider.issuer(), CLIENT_ID, CLIENT_SECRET,
//! ))?;
//! # Ok::<_, pow_ext_oauth::OAuthError>(())
//! ```
//!
//! Test code: it panics on requests a real provider would refuse differently.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;
use chrono::{Duration, Utc};
use openidconnect::core::{
    CoreEdDsaPrivateSigningKey, CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm,
};
use openidconnect::{
    Audience, EndUserEmail, EndUserName, IssuerUrl, JsonWebKeyId, LocalizedClaim, Nonce,
    PrivateSigningKey as _, StandardClaims, SubjectIdentifier,
};
use sha2::{Digest as _, Sha256};

/// The account the provider's user is signed in to.
#[derive(Clone, Debug)]
pub struct Login {
    /// The account's id (`sub`).
    pub sub: String,
    /// Its address.
    pub email: Option<String>,
    /// Whether the provider vouches for the address.
    pub verified: bool,
    /// Its name.
    pub name: Option<String>,
}

impl Login {
    /// An account with a verified address, named "Grace Hopper".
    pub fn new(sub: &str, email: &str) -> Self {
        Self {
            sub: sub.to_owned(),
            email: Some(email.to_owned()),
            verified: true,
            name: Some("Grace Hopper".to_owned()),
        }
    }
}

/// How the next answers go wrong.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tweak {
    /// Answers as a provider should.
    #[default]
    None,
    /// The user says no on the consent page.
    Deny,
    /// The ID token names another client as its audience.
    WrongAudience,
    /// The ID token carries another nonce.
    WrongNonce,
    /// The ID token expired a minute ago.
    Expired,
    /// The ID token is signed by a key the provider does not publish.
    ForeignKey,
    /// The ID token carries no address; userinfo gives it with `email_verified` as the
    /// text `"true"`, not the JSON boolean.
    UserinfoVerifiedAsText,
    /// The ID token carries no address; userinfo gives it for another `sub`.
    UserinfoOtherSubject,
}

impl Tweak {
    /// Whether the ID token leaves the address to userinfo.
    fn address_in_userinfo(self) -> bool {
        matches!(
            self,
            Self::UserinfoVerifiedAsText | Self::UserinfoOtherSubject
        )
    }
}

struct Grant {
    nonce: Option<String>,
    challenge: String,
    redirect_uri: String,
    login: Login,
    used: bool,
}

struct State {
    issuer: String,
    key_pem: String,
    foreign_pem: String,
    login: Login,
    tweak: Tweak,
    codes: HashMap<String, Grant>,
    tokens: HashMap<String, (Login, Tweak)>,
    /// Codes the token endpoint refused.
    refused: usize,
}

/// A running fake provider.
#[derive(Clone)]
pub struct FakeProvider {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

/// The client id the provider accepts.
pub const CLIENT_ID: &str = "pow-app";
/// The client secret the provider accepts.
pub const CLIENT_SECRET: &str = "pow-app-secret";

fn ed25519_pem() -> String {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
        .unwrap()
        .serialize_pem()
}

impl FakeProvider {
    /// Starts a provider on a free loopback port (its own thread and actix system).
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State {
            issuer: String::new(),
            key_pem: ed25519_pem(),
            foreign_pem: ed25519_pem(),
            login: Login::new("sub-1", "grace@example.com"),
            tweak: Tweak::None,
            codes: HashMap::new(),
            tokens: HashMap::new(),
            refused: 0,
        }));
        let shared = Arc::clone(&state);
        let addr = pow_actix::test_client::serve(move || {
            actix_web::App::new()
                .app_data(web::Data::from(Arc::clone(&shared)))
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(discovery),
                )
                .route("/jwks", web::get().to(jwks))
                .route("/authorize", web::get().to(authorize))
                .route("/token", web::post().to(token))
                .route("/userinfo", web::get().to(userinfo))
                .route("/user", web::get().to(github_user))
                .route("/user/emails", web::get().to(github_emails))
        });
        state.lock().unwrap().issuer = format!("http://{addr}");
        Self { addr, state }
    }

    /// Its issuer URL (`http://127.0.0.1:<port>`).
    pub fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The account the next consent signs in.
    pub fn login_as(&self, login: Login) {
        self.state.lock().unwrap().login = login;
    }

    /// Makes the next answers go wrong in one way.
    pub fn tweak(&self, tweak: Tweak) {
        self.state.lock().unwrap().tweak = tweak;
    }

    /// How many codes the token endpoint refused so far.
    pub fn refused(&self) -> usize {
        self.state.lock().unwrap().refused
    }
}

type Shared = web::Data<Mutex<State>>;

async fn discovery(state: Shared) -> HttpResponse {
    let issuer = state.lock().unwrap().issuer.clone();
    HttpResponse::Ok().json(serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
    }))
}

fn signing_key(pem: &str) -> CoreEdDsaPrivateSigningKey {
    CoreEdDsaPrivateSigningKey::from_ed25519_pem(pem, Some(JsonWebKeyId::new("k1".into()))).unwrap()
}

async fn jwks(state: Shared) -> HttpResponse {
    let pem = state.lock().unwrap().key_pem.clone();
    let set = CoreJsonWebKeySet::new(vec![signing_key(&pem).as_verification_key()]);
    HttpResponse::Ok().json(set)
}

fn query(req: &HttpRequest) -> HashMap<String, String> {
    serde_urlencoded::from_str(req.query_string()).unwrap()
}

/// The consent page: answers at once with a code, or with `access_denied`.
async fn authorize(req: HttpRequest, state: Shared) -> HttpResponse {
    let q = query(&req);
    let mut s = state.lock().unwrap();
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge_method"], "S256", "PKCE is used");
    let redirect_uri = q["redirect_uri"].clone();
    let app_state = q["state"].clone();
    let location = if s.tweak == Tweak::Deny {
        format!("{redirect_uri}?error=access_denied&state={app_state}")
    } else {
        let code = pow_actix::token::generate_uuid();
        let grant = Grant {
            nonce: q.get("nonce").cloned(),
            challenge: q["code_challenge"].clone(),
            redirect_uri: redirect_uri.clone(),
            login: s.login.clone(),
            used: false,
        };
        s.codes.insert(code.clone(), grant);
        format!("{redirect_uri}?code={code}&state={app_state}")
    };
    HttpResponse::Found()
        .insert_header(("Location", location))
        .finish()
}

fn client_authenticated(req: &HttpRequest) -> bool {
    let expected =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    req.headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        == Some(format!("Basic {expected}").as_str())
}

fn refuse(s: &mut State, error: &str) -> HttpResponse {
    s.refused += 1;
    HttpResponse::BadRequest().json(serde_json::json!({ "error": error }))
}

async fn token(req: HttpRequest, body: web::Bytes, state: Shared) -> HttpResponse {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap();
    let mut s = state.lock().unwrap();
    if !client_authenticated(&req) {
        return refuse(&mut s, "invalid_client");
    }
    let code = form.get("code").cloned().unwrap_or_default();
    let issuer = s.issuer.clone();
    let tweak = s.tweak;
    let (key_pem, foreign_pem) = (s.key_pem.clone(), s.foreign_pem.clone());
    let Some(grant) = s.codes.get_mut(&code) else {
        return refuse(&mut s, "invalid_grant");
    };
    if grant.used {
        return refuse(&mut s, "invalid_grant");
    }
    grant.used = true;
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    if challenge != grant.challenge || form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return refuse(&mut s, "invalid_grant");
    }
    let login = grant.login.clone();
    let nonce = grant.nonce.clone();
    let now = Utc::now();
    let (issued, expires) = if tweak == Tweak::Expired {
        (now - Duration::minutes(10), now - Duration::minutes(1))
    } else {
        (now, now + Duration::minutes(5))
    };
    let audience = if tweak == Tweak::WrongAudience {
        "another-app"
    } else {
        CLIENT_ID
    };
    let mut standard = StandardClaims::new(SubjectIdentifier::new(login.sub.clone()));
    if let Some(email) = login
        .email
        .as_ref()
        .filter(|_| !tweak.address_in_userinfo())
    {
        standard = standard
            .set_email(Some(EndUserEmail::new(email.clone())))
            .set_email_verified(Some(login.verified));
    }
    if let Some(name) = &login.name {
        let mut names = LocalizedClaim::new();
        names.insert(None, EndUserName::new(name.clone()));
        standard = standard.set_name(Some(names));
    }
    let nonce = match (tweak, nonce) {
        (Tweak::WrongNonce, _) => Some(Nonce::new("another-nonce".into())),
        (_, nonce) => nonce.map(Nonce::new),
    };
    let claims = CoreIdTokenClaims::new(
        IssuerUrl::new(issuer).unwrap(),
        vec![Audience::new(audience.into())],
        expires,
        issued,
        standard,
        Default::default(),
    )
    .set_nonce(nonce);
    let key = if tweak == Tweak::ForeignKey {
        signing_key(&foreign_pem)
    } else {
        signing_key(&key_pem)
    };
    let id_token =
        CoreIdToken::new(claims, &key, CoreJwsSigningAlgorithm::EdDsa, None, None).unwrap();
    let access_token = format!("at-{code}");
    s.tokens.insert(access_token.clone(), (login, tweak));
    HttpResponse::Ok().json(serde_json::json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token.to_string(),
    }))
}

fn bearer(req: &HttpRequest, s: &State) -> Option<Login> {
    granted(req, s).map(|(login, _)| login)
}

/// The login and tweak the request's access token was issued with.
fn granted(req: &HttpRequest, s: &State) -> Option<(Login, Tweak)> {
    let header = req.headers().get("Authorization")?.to_str().ok()?;
    s.tokens.get(header.strip_prefix("Bearer ")?).cloned()
}

async fn userinfo(req: HttpRequest, state: Shared) -> HttpResponse {
    let s = state.lock().unwrap();
    let Some((login, tweak)) = granted(&req, &s) else {
        return HttpResponse::Unauthorized().finish();
    };
    let sub = match tweak {
        Tweak::UserinfoOtherSubject => format!("{}-other", login.sub),
        _ => login.sub.clone(),
    };
    let verified = match tweak {
        Tweak::UserinfoVerifiedAsText => serde_json::json!(login.verified.to_string()),
        _ => serde_json::json!(login.verified),
    };
    HttpResponse::Ok().json(serde_json::json!({
        "sub": sub,
        "email": login.email,
        "email_verified": verified,
        "name": login.name,
    }))
}

async fn github_user(req: HttpRequest, state: Shared) -> HttpResponse {
    let s = state.lock().unwrap();
    let Some(login) = bearer(&req, &s) else {
        return HttpResponse::Unauthorized().finish();
    };
    let id: u64 = login.sub.bytes().map(u64::from).sum::<u64>() + 1000;
    HttpResponse::Ok().json(serde_json::json!({
        "id": id,
        "login": login.sub,
        "name": login.name,
        "email": null,
    }))
}

async fn github_emails(req: HttpRequest, state: Shared) -> HttpResponse {
    let s = state.lock().unwrap();
    let Some(login) = bearer(&req, &s) else {
        return HttpResponse::Unauthorized().finish();
    };
    HttpResponse::Ok().json(serde_json::json!([
        { "email": "old@example.com", "primary": false, "verified": true },
        { "email": login.email, "primary": true, "verified": login.verified },
    ]))
}
