//! Abuse protection over HTTP: rate limits before hashing, per-client and per-identifier
//! counting, the account lock and its unlock link, identical answers for known and unknown
//! identifiers, limits shared through Redis, and password screening.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use pow_core::limits::{Lockout, RateLimits};
use pow_core::mailer::MemoryMailer;
use pow_core::password::Pbkdf2Hasher;
use pow_core::store::{Limit, MemoryStore, Store};
use pow_core::test_client::{serve, Client, Response};
use pow_core::users::diesel::DieselUsersContext;
use pow_core::{PowConfig, PowConfigBuilder};

const PASSWORD: &str = "correct horse battery";

struct App {
    addr: std::net::SocketAddr,
    config: PowConfig,
    mailer: MemoryMailer,
}

impl App {
    /// A browser whose requests come through the trusted proxy from `ip`.
    fn client_from(&self, ip: &str) -> Client {
        let mut client = Client::new(self.addr);
        client
            .headers
            .push(("X-Forwarded-For".to_owned(), ip.to_owned()));
        client
    }

    fn hashes(&self) -> u64 {
        self.config.hash_pool().accepted()
    }
}

fn limits() -> RateLimits {
    RateLimits {
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        ..RateLimits::default()
    }
}

/// An app on a fresh SQLite file where `alice@example.com` exists.
fn start(store: Arc<dyn Store>, tweak: impl FnOnce(PowConfigBuilder) -> PowConfigBuilder) -> App {
    start_seeded(store, tweak, true)
}

fn start_seeded(
    store: Arc<dyn Store>,
    tweak: impl FnOnce(PowConfigBuilder) -> PowConfigBuilder,
    with_alice: bool,
) -> App {
    let db =
        std::env::temp_dir().join(format!("pow-abuse-{}.db", pow_core::token::generate_uuid()));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let mailer = MemoryMailer::new();
    let builder = PowConfig::builder("a".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .mailer(mailer.clone())
        .base_url("http://localhost")
        .store(store)
        .rate_limits(limits());
    let config = tweak(builder).build().unwrap();
    users.migrate(&config).unwrap();
    if with_alice {
        pow_core::testing::create_user(&config, "alice@example.com", PASSWORD).unwrap();
    }
    let served = config.clone();
    let addr = serve(move || pow_core::testing::app(&served));
    App {
        addr,
        config,
        mailer,
    }
}

fn sign_in(c: &mut Client, email: &str, password: &str) -> Response {
    c.sign_in(email, password)
}

/// What a client can tell apart in an answer: status, headers (but the date and the
/// session cookie, which differ on every answer) and the body with the typed identifier
/// and the per-page CSRF token taken out.
fn observable(res: &Response, identifier: &str) -> (u16, Vec<(String, String)>, String) {
    let mut headers: Vec<(String, String)> = res
        .headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("date") && !k.eq_ignore_ascii_case("set-cookie"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .filter(|(k, _)| k != "content-length")
        .collect();
    headers.sort();
    let body = res.body.replace(identifier, "<id>");
    let body = match body.find("name=\"_csrf_token\" value=\"") {
        Some(at) => {
            let start = at + "name=\"_csrf_token\" value=\"".len();
            let end = body[start..].find('"').map_or(body.len(), |i| start + i);
            format!("{}{}", &body[..start], &body[end..])
        }
        None => body,
    };
    (res.status, headers, body)
}

fn sixth_wrong_password_is_refused_before_hashing(store: Arc<dyn Store>) {
    let app = start(store, |b| b);
    let mut attacker = app.client_from("198.51.100.1");
    for attempt in 1..=5 {
        let before = app.hashes();
        let res = sign_in(&mut attacker, "alice@example.com", "wrong password");
        assert_eq!(res.status, 200, "attempt {attempt} is answered normally");
        assert_eq!(
            app.hashes(),
            before + 1,
            "attempt {attempt} checks the password"
        );
    }
    let before = app.hashes();
    let res = sign_in(&mut attacker, "alice@example.com", "wrong password");
    assert_eq!(res.status, 429);
    assert_eq!(res.header("retry-after"), Some("300"));
    assert!(res.body.contains("Too many attempts"), "{}", res.body);
    assert_eq!(app.hashes(), before, "a refused attempt hashes nothing");
    // Even the right password waits from that client...
    assert_eq!(
        sign_in(&mut attacker, "alice@example.com", PASSWORD).status,
        429
    );

    // ...but the owner, from elsewhere, signs in.
    let mut owner = app.client_from("203.0.113.5");
    assert_eq!(
        sign_in(&mut owner, "alice@example.com", PASSWORD).location(),
        "/"
    );
}

#[test]
fn sixth_wrong_password_is_refused_before_hashing_on_memory() {
    sixth_wrong_password_is_refused_before_hashing(MemoryStore::shared());
}

fn redis_url() -> Option<String> {
    pow_core::testing::test_redis_url()
}

fn redis_store(url: &str, prefix: &str) -> Arc<dyn Store> {
    pow_core::testing::test_redis_store(url, prefix).unwrap()
}

#[test]
fn sixth_wrong_password_is_refused_before_hashing_on_redis() {
    let Some(url) = redis_url() else { return };
    let prefix = format!("pow-abuse-{}", pow_core::token::generate_uuid());
    sixth_wrong_password_is_refused_before_hashing(redis_store(&url, &prefix));
}

/// Two app processes sharing one Redis count one client's failures together.
#[test]
fn two_apps_on_one_redis_share_the_limits() {
    let Some(url) = redis_url() else { return };
    let prefix = format!("pow-abuse-{}", pow_core::token::generate_uuid());
    let first = start(redis_store(&url, &prefix), |b| b);
    // The second app has a users table of its own with the same account, as a second
    // process on a shared database would see it.
    let second = start(redis_store(&url, &prefix), |b| b);
    let mut on_first = first.client_from("198.51.100.7");
    let mut on_second = second.client_from("198.51.100.7");
    for _ in 0..3 {
        assert_eq!(
            sign_in(&mut on_first, "alice@example.com", "nope nope").status,
            200
        );
    }
    for _ in 0..2 {
        assert_eq!(
            sign_in(&mut on_second, "alice@example.com", "nope nope").status,
            200
        );
    }
    assert_eq!(
        sign_in(&mut on_first, "alice@example.com", "nope nope").status,
        429
    );
    assert_eq!(
        sign_in(&mut on_second, "alice@example.com", "nope nope").status,
        429
    );
}

/// Known and unknown identifiers: the same answers while counting, and the same refusal.
#[test]
fn known_and_unknown_identifiers_get_identical_answers() {
    let app = start(MemoryStore::shared(), |b| b);
    let mut known = app.client_from("198.51.100.10");
    let mut unknown = app.client_from("198.51.100.11");
    for _ in 0..6 {
        let a = sign_in(&mut known, "alice@example.com", "wrong password");
        let b = sign_in(&mut unknown, "nobody@example.com", "wrong password");
        assert_eq!(
            observable(&a, "alice@example.com"),
            observable(&b, "nobody@example.com")
        );
    }
    assert_eq!(sign_in(&mut unknown, "nobody@example.com", "x").status, 429);
}

/// Every sign-in from one client counts against its own limit, whatever the identifiers.
#[test]
fn one_client_spraying_many_accounts_is_slowed_down() {
    let app = start(MemoryStore::shared(), |b| {
        b.rate_limits(RateLimits {
            sign_in_per_ip: Some(Limit::new(4, Duration::from_secs(60))),
            ..limits()
        })
    });
    let mut sprayer = app.client_from("198.51.100.20");
    for i in 0..4 {
        assert_eq!(
            sign_in(&mut sprayer, &format!("user{i}@example.com"), "pw pw pw pw").status,
            200
        );
    }
    let before = app.hashes();
    assert_eq!(
        sign_in(&mut sprayer, "user9@example.com", "pw pw pw pw").status,
        429
    );
    assert_eq!(app.hashes(), before);
}

fn poll_mail(mailer: &MemoryMailer, to: &str) -> pow_core::mailer::Mail {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(mail) = mailer.last_to(to) {
            return mail;
        }
        assert!(Instant::now() < deadline, "no mail to {to}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn link_in(mail: &pow_core::mailer::Mail) -> String {
    let start = mail.text.find("http://localhost/").expect("a link") + "http://localhost".len();
    let end = mail.text[start..]
        .find(char::is_whitespace)
        .map_or(mail.text.len(), |i| start + i);
    mail.text[start..end].to_owned()
}

/// The lock holds against every client, its owner is mailed a link that unlocks the
/// account and signs them in once, and the lock is gone afterwards.
#[test]
fn a_locked_account_is_unlocked_by_the_mailed_link() {
    let store = MemoryStore::shared();
    let app = start(Arc::clone(&store), |b| {
        b.rate_limits(RateLimits {
            sign_in_failures: None,
            lockout: Some(Lockout {
                max_failures: 3,
                ..Lockout::default()
            }),
            ..limits()
        })
    });
    let mut attacker = app.client_from("198.51.100.30");
    for _ in 0..3 {
        assert_eq!(
            sign_in(&mut attacker, "alice@example.com", "wrong password").status,
            200
        );
    }
    let mut owner = app.client_from("203.0.113.30");
    let res = sign_in(&mut owner, "alice@example.com", PASSWORD);
    assert_eq!(res.status, 429, "locked for everybody");
    assert_eq!(res.header("retry-after"), Some("3600"));
    assert!(res.body.contains("unlock"), "{}", res.body);

    let mail = poll_mail(&app.mailer, "alice@example.com");
    assert_eq!(
        mail.subject,
        "Your account was locked after failed sign-ins"
    );
    let link = link_in(&mail);
    assert!(link.starts_with("/session/unlock/"), "{link}");

    // The store holds no usable unlock link: every string of the lockout namespace, put in
    // place of the link's nonce and signed, unlocks nothing.
    let salt = "pow account unlock";
    let verifier = app.config.verifier();
    let claim: serde_json::Value = serde_json::from_slice(
        &verifier
            .verify(salt, link.trim_start_matches("/session/unlock/"))
            .unwrap(),
    )
    .unwrap();
    let namespace = app.config.namespaced("lockout");
    let dumped = actix_web::rt::Runtime::new()
        .unwrap()
        .block_on(pow_core::testing::dumped_strings(&*store, &namespace))
        .unwrap();
    assert!(!dumped.is_empty());
    for value in &dumped {
        let forged = serde_json::json!({ "u": claim["u"], "n": value });
        let token = verifier.sign(salt, forged.to_string().as_bytes());
        let mut thief = app.client_from("198.51.100.31");
        assert_eq!(
            thief.get(&format!("/session/unlock/{token}")).location(),
            "/session/new",
            "{value}"
        );
    }

    let res = owner.get(&link);
    assert_eq!(res.location(), "/");
    assert_eq!(
        owner.get("/registration/edit").status,
        200,
        "signed in by the link"
    );
    // Once only.
    let mut other = app.client_from("203.0.113.31");
    assert_eq!(other.get(&link).location(), "/session/new");
    // The lock is gone: the password works again.
    assert_eq!(
        sign_in(&mut other, "alice@example.com", PASSWORD).location(),
        "/"
    );
    // A forged link does nothing.
    assert_eq!(
        other.get("/session/unlock/SFMyNTY.e30.forged").location(),
        "/session/new"
    );
}

/// An unknown identifier locks the same way, and nobody is mailed.
#[test]
fn unknown_identifiers_lock_too_without_mail() {
    let app = start(MemoryStore::shared(), |b| {
        b.rate_limits(RateLimits {
            sign_in_failures: None,
            lockout: Some(Lockout {
                max_failures: 2,
                ..Lockout::default()
            }),
            ..limits()
        })
    });
    let mut c = app.client_from("198.51.100.40");
    for _ in 0..2 {
        assert_eq!(
            sign_in(&mut c, "ghost@example.com", "wrong password").status,
            200
        );
    }
    assert_eq!(
        sign_in(&mut c, "ghost@example.com", "wrong password").status,
        429
    );
    assert!(app.mailer.deliveries().is_empty());
}

/// The JSON API answers a limit with `429`, `Retry-After` and a stable code.
#[test]
fn the_api_answers_limits_with_a_coded_error() {
    let store = MemoryStore::shared();
    let db =
        std::env::temp_dir().join(format!("pow-abuse-{}.db", pow_core::token::generate_uuid()));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let config = PowConfig::builder("a".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .store(store)
        .rate_limits(limits())
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    pow_core::testing::create_user(&config, "alice@example.com", PASSWORD).unwrap();
    let served = config.clone();
    let addr = serve(move || {
        actix_web::App::new().configure(pow_core::api::configure(
            served.clone(),
            pow_core::api::ApiOptions::new(),
        ))
    });
    let mut c = Client::new(addr);
    c.headers
        .push(("X-Forwarded-For".to_owned(), "198.51.100.50".to_owned()));
    let body = r#"{"user": {"email": "alice@example.com", "password": "wrong password"}}"#;
    let mut last = None;
    for _ in 0..6 {
        last = Some(json_post(&mut c, "/api/v1/session", body));
    }
    let res = last.unwrap();
    assert_eq!(res.status, 429, "{}", res.body);
    assert_eq!(res.header("retry-after"), Some("300"));
    let json: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(json["error"]["code"], "rate_limited");
    assert_eq!(json["error"]["status"], 429);
}

fn json_post(c: &mut Client, path: &str, body: &str) -> Response {
    c.headers
        .retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
    // The test client sends forms; the API reads JSON whatever the content type says.
    c.request("POST", path, Some(body.to_owned()))
}

fn register(c: &mut Client, email: &str, password: &str) -> Response {
    let csrf = c.get("/registration/new").csrf();
    c.post(
        "/registration",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", email),
            ("user[password]", password),
            ("user[password_confirmation]", password),
        ],
    )
}

/// Common passwords and passwords containing the address are refused at sign-up, with a
/// translated message.
#[test]
fn common_passwords_are_refused_in_the_visitors_language() {
    let app = start(MemoryStore::shared(), |b| b);
    let mut c = app.client_from("198.51.100.60");
    let res = register(&mut c, "bob@example.com", "Password123");
    assert_eq!(res.status, 200);
    assert!(
        res.body.contains("is one of the most common passwords"),
        "{}",
        res.body
    );
    let res = register(&mut c, "robert@example.com", "robert@example.com rocks");
    assert!(
        res.body.contains("must not contain your email"),
        "{}",
        res.body
    );
    c.accept_language = Some("de".to_owned());
    let res = register(&mut c, "bob@example.com", "qwertyuiop");
    assert!(
        res.body.contains("gehört zu den häufigsten Passwörtern"),
        "{}",
        res.body
    );
    c.accept_language = None;
    assert_eq!(
        register(&mut c, "bob@example.com", "a fine long passphrase").status,
        302
    );
}

/// SHA-1 of `breached but long passphrase`.
const BREACHED_SHA1: &str = "3878B45D903BCCD7C3B4612335A493688ABCB199";

/// A fake range API: answers every range with padding, and the breached suffix in its
/// range. Records the prefixes it was asked for.
fn fake_range_server(asked: Arc<std::sync::Mutex<Vec<String>>>) -> std::net::SocketAddr {
    serve(move || {
        let asked = Arc::clone(&asked);
        actix_web::App::new().route(
            "/range/{prefix}",
            actix_web::web::get().to(
                move |prefix: actix_web::web::Path<String>, req: actix_web::HttpRequest| {
                    let asked = Arc::clone(&asked);
                    async move {
                        asked.lock().unwrap().push(prefix.clone());
                        assert_eq!(req.headers().get("add-padding").unwrap(), "true");
                        let mut body = String::from("0000000000000000000000000000000000A:0\r\n");
                        if *prefix == BREACHED_SHA1[..5] {
                            body.push_str(&format!("{}:42\r\n", &BREACHED_SHA1[5..]));
                        }
                        body.push_str("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF:3\r\n");
                        actix_web::HttpResponse::Ok().body(body)
                    }
                },
            ),
        )
    })
}

/// A breached password is refused through the range API, which only ever sees a 5-digit
/// prefix; an unreachable API lets passwords through unless the check fails closed.
#[test]
fn breached_passwords_are_refused_through_the_range_api() {
    use pow_core::password::BreachCheck;
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let range = fake_range_server(Arc::clone(&asked));
    let check = BreachCheck::http(format!("http://{range}/range/"), Duration::from_secs(2));
    let app = start(MemoryStore::shared(), |b| b.breach_check(check));
    let mut c = app.client_from("198.51.100.70");
    let res = register(&mut c, "bob@example.com", "breached but long passphrase");
    assert_eq!(res.status, 200);
    assert!(
        res.body.contains("has appeared in a data breach"),
        "{}",
        res.body
    );
    assert_eq!(
        register(&mut c, "bob@example.com", "unbreached long passphrase").status,
        302
    );
    let asked = asked.lock().unwrap().clone();
    // Alice's sign-up in `start`, then the two above.
    assert_eq!(asked.len(), 3, "{asked:?}");
    assert!(asked.iter().all(|prefix| prefix.len() == 5), "{asked:?}");
    assert_eq!(asked[1], BREACHED_SHA1[..5]);

    // Nobody listens on this port once the listener is dropped.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let open = BreachCheck::http(format!("http://{dead}/range/"), Duration::from_millis(500));
    let app = start(MemoryStore::shared(), |b| b.breach_check(open.clone()));
    let mut c = app.client_from("198.51.100.71");
    assert_eq!(
        register(&mut c, "bob@example.com", "unbreached long passphrase").status,
        302
    );
    let app = start_seeded(
        MemoryStore::shared(),
        |b| b.breach_check(open.fail_closed()),
        false,
    );
    let mut c = app.client_from("198.51.100.72");
    let res = register(&mut c, "bob@example.com", "unbreached long passphrase");
    assert!(
        res.body.contains("has appeared in a data breach"),
        "fail-closed refuses: {}",
        res.body
    );
}

/// One client cannot fill the hashing pool: past two password checks under way, its next
/// one is refused at once, while another client still gets its turn.
#[test]
fn one_client_cannot_fill_the_hashing_pool() {
    use pow_core::password::HashPoolOptions;
    let app = start(MemoryStore::shared(), |b| {
        b.hash_pool_options(HashPoolOptions::default().threads(1).queue(8))
    });
    // Hold the pool's only thread, so password checks wait in the queue.
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (started_tx, started) = std::sync::mpsc::channel();
    let job = app
        .config
        .hash_pool()
        .submit(move || {
            started_tx.send(()).unwrap();
            let _ = held.recv();
        })
        .unwrap();
    started.recv().unwrap();

    let (done_tx, done) = std::sync::mpsc::channel();
    let flood: Vec<_> = (0..3)
        .map(|_| {
            let (mut c, done_tx) = (app.client_from("198.51.100.80"), done_tx.clone());
            let csrf = c.get("/session/new").csrf();
            std::thread::spawn(move || {
                let res = c.post(
                    "/session",
                    &[
                        ("_csrf_token", &csrf),
                        ("user[email]", "alice@example.com"),
                        ("user[password]", "wrong password"),
                    ],
                );
                done_tx.send(res.status).unwrap();
                res.status
            })
        })
        .collect();
    // The third check of the flooding client is refused without waiting for the pool.
    assert_eq!(done.recv_timeout(Duration::from_secs(10)).unwrap(), 429);
    let mut other = app.client_from("203.0.113.80");
    let csrf = other.get("/session/new").csrf();
    let patient = std::thread::spawn(move || {
        other
            .post(
                "/session",
                &[
                    ("_csrf_token", &csrf),
                    ("user[email]", "alice@example.com"),
                    ("user[password]", PASSWORD),
                ],
            )
            .status
    });
    release.send(()).unwrap();
    job.wait().unwrap();
    let statuses: Vec<u16> = flood.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(patient.join().unwrap(), 302, "the other client signs in");
}
