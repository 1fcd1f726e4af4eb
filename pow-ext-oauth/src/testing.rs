//! A local OpenID Connect provider for tests (feature `test-util`), so an app can test its
//! sign-in with a provider without the internet: discovery, authorization (the provider's
//! "user" consents at once, or declines, as the test says), token (single-use codes, PKCE
//! checked, client authenticated), JWKS, userinfo, and GitHub-shaped `/user` and
//! `/user/emails` for a plain OAuth 2.0 provider. Its Ed25519 key is generated when it
//! starts; ID tokens are signed with `openidconnect`'s own signer. It is served by a
//! small HTTP/1.1 server of its own on a thread (one request per connection), so it needs
//! no web framework: an app's tests use it whichever framework serves the app.
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
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

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
    /// Starts a provider on a free loopback port (a thread of its own, serving until the
    /// process ends).
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
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &state));
            }
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

/// One request, as the provider reads it.
struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// Reads one request from `stream`: `None` when the client closed it first.
    fn read(stream: &TcpStream) -> Option<Self> {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let mut parts = line.split_whitespace();
        let method = parts.next()?.to_owned();
        let target = parts.next()?;
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let (path, query) = (path.to_owned(), query.to_owned());
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).ok()?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let length = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .map_or(0, |(_, value)| value.parse().unwrap());
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        Some(Self {
            method,
            path,
            query,
            headers,
            body,
        })
    }

    /// The value of header `name` (lowercase).
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }
}

/// One answer: a status, a `Location` for a redirect, a JSON body.
struct Reply {
    status: u16,
    location: Option<String>,
    json: Option<serde_json::Value>,
}

impl Reply {
    fn json(status: u16, body: impl serde::Serialize) -> Self {
        Self {
            status,
            location: None,
            json: Some(serde_json::to_value(body).unwrap()),
        }
    }

    fn ok(body: impl serde::Serialize) -> Self {
        Self::json(200, body)
    }

    fn found(location: String) -> Self {
        Self {
            status: 302,
            location: Some(location),
            json: None,
        }
    }

    fn status(status: u16) -> Self {
        Self {
            status,
            location: None,
            json: None,
        }
    }
}

/// Answers the one request of `stream` (the answer closes the connection).
fn serve(mut stream: TcpStream, state: &Mutex<State>) {
    let Some(req) = Request::read(&stream) else {
        return;
    };
    let reply = match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/.well-known/openid-configuration") => discovery(state),
        ("GET", "/jwks") => jwks(state),
        ("GET", "/authorize") => authorize(&req, state),
        ("POST", "/token") => token(&req, state),
        ("GET", "/userinfo") => userinfo(&req, state),
        ("GET", "/user") => github_user(&req, state),
        ("GET", "/user/emails") => github_emails(&req, state),
        _ => Reply::status(404),
    };
    let body = reply
        .json
        .map(|json| json.to_string().into_bytes())
        .unwrap_or_default();
    let mut head = format!(
        "HTTP/1.1 {} Fake\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        body.len()
    );
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    if let Some(location) = reply.location {
        head.push_str(&format!("Location: {location}\r\n"));
    }
    head.push_str("\r\n");
    // A client that went away is not the provider's concern.
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

fn discovery(state: &Mutex<State>) -> Reply {
    let issuer = state.lock().unwrap().issuer.clone();
    Reply::ok(serde_json::json!({
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

fn jwks(state: &Mutex<State>) -> Reply {
    let pem = state.lock().unwrap().key_pem.clone();
    let set = CoreJsonWebKeySet::new(vec![signing_key(&pem).as_verification_key()]);
    Reply::ok(set)
}

fn query(req: &Request) -> HashMap<String, String> {
    serde_urlencoded::from_str(&req.query).unwrap()
}

/// The consent page: answers at once with a code, or with `access_denied`.
fn authorize(req: &Request, state: &Mutex<State>) -> Reply {
    let q = query(req);
    let mut s = state.lock().unwrap();
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge_method"], "S256", "PKCE is used");
    let redirect_uri = q["redirect_uri"].clone();
    let app_state = q["state"].clone();
    let location = if s.tweak == Tweak::Deny {
        format!("{redirect_uri}?error=access_denied&state={app_state}")
    } else {
        let code = pow_core::token::generate_uuid();
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
    Reply::found(location)
}

fn client_authenticated(req: &Request) -> bool {
    let expected =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    req.header("authorization") == Some(format!("Basic {expected}").as_str())
}

fn refuse(s: &mut State, error: &str) -> Reply {
    s.refused += 1;
    Reply::json(400, serde_json::json!({ "error": error }))
}

fn token(req: &Request, state: &Mutex<State>) -> Reply {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&req.body).unwrap();
    let mut s = state.lock().unwrap();
    if !client_authenticated(req) {
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
    Reply::ok(serde_json::json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token.to_string(),
    }))
}

fn bearer(req: &Request, s: &State) -> Option<Login> {
    granted(req, s).map(|(login, _)| login)
}

/// The login and tweak the request's access token was issued with.
fn granted(req: &Request, s: &State) -> Option<(Login, Tweak)> {
    let header = req.header("authorization")?;
    s.tokens.get(header.strip_prefix("Bearer ")?).cloned()
}

fn userinfo(req: &Request, state: &Mutex<State>) -> Reply {
    let s = state.lock().unwrap();
    let Some((login, tweak)) = granted(req, &s) else {
        return Reply::status(401);
    };
    let sub = match tweak {
        Tweak::UserinfoOtherSubject => format!("{}-other", login.sub),
        _ => login.sub.clone(),
    };
    let verified = match tweak {
        Tweak::UserinfoVerifiedAsText => serde_json::json!(login.verified.to_string()),
        _ => serde_json::json!(login.verified),
    };
    Reply::ok(serde_json::json!({
        "sub": sub,
        "email": login.email,
        "email_verified": verified,
        "name": login.name,
    }))
}

fn github_user(req: &Request, state: &Mutex<State>) -> Reply {
    let s = state.lock().unwrap();
    let Some(login) = bearer(req, &s) else {
        return Reply::status(401);
    };
    let id: u64 = login.sub.bytes().map(u64::from).sum::<u64>() + 1000;
    Reply::ok(serde_json::json!({
        "id": id,
        "login": login.sub,
        "name": login.name,
        "email": null,
    }))
}

fn github_emails(req: &Request, state: &Mutex<State>) -> Reply {
    let s = state.lock().unwrap();
    let Some(login) = bearer(req, &s) else {
        return Reply::status(401);
    };
    Reply::ok(serde_json::json!([
        { "email": "old@example.com", "primary": false, "verified": true },
        { "email": login.email, "primary": true, "verified": login.verified },
    ]))
}
