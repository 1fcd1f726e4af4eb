//! Abuse protection over HTTP: rate limits before hashing, per-client and per-identifier
//! counting, the account lock and its unlock link, identical answers for known and unknown
//! identifiers, limits shared through Redis, and password screening.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use pow_actix::limits::{Lockout, RateLimits};
use pow_actix::mailer::MemoryMailer;
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::store::{Limit, MemoryStore, Store};
use pow_actix::test_client::{serve, Client, Response};
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::{PowConfig, PowConfigBuilder};

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
    let db = std::env::temp_dir().join(format!(
        "pow-abuse-{}.db",
        pow_actix::token::generate_uuid()
    ));
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
        pow_actix::testing::create_user(&config, "alice@example.com", PASSWORD).unwrap();
    }
    let served = config.clone();
    let addr = pow_testkit::serve(served.clone());
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

/// The failure counter is keyed on the normalised identifier and on the client's IPv6
/// /64: five failures spread over spellings of one address (case, spaces) and over
/// addresses of one /64 are one client failing on one account, and the sixth is refused
/// before hashing, in either spelling.
fn limits_are_keyed_on_the_normalised_identifier_and_the_ipv6_64() {
    let app = start(MemoryStore::shared(), |b| b);
    let spellings = [
        "alice@example.com",
        "Alice@Example.com",
        " ALICE@EXAMPLE.COM ",
        "alice@EXAMPLE.com",
        "ALICE@example.com",
    ];
    for (n, spelling) in spellings.iter().enumerate() {
        let mut attacker = app.client_from(&format!("2001:db8:7:7:{n:x}::1"));
        let res = sign_in(&mut attacker, spelling, "wrong password");
        assert_eq!(res.status, 200, "{spelling}: {}", res.body);
    }
    let before = app.hashes();
    let mut attacker = app.client_from("2001:db8:7:7:ffff::9");
    let res = sign_in(&mut attacker, "aLiCe@example.com", "wrong password");
    assert_eq!(res.status, 429, "{}", res.body);
    assert_eq!(app.hashes(), before, "refused before hashing");
    // Another /64 is another client.
    let mut neighbour = app.client_from("2001:db8:7:8::1");
    assert_eq!(
        sign_in(&mut neighbour, "alice@example.com", PASSWORD).location(),
        "/"
    );
}

fn sixth_wrong_password_is_refused_before_hashing_on_memory() {
    sixth_wrong_password_is_refused_before_hashing(MemoryStore::shared());
}

fn redis_url() -> Option<String> {
    pow_actix::testing::test_redis_url()
}

fn redis_store(url: &str, prefix: &str) -> Arc<dyn Store> {
    pow_actix::testing::test_redis_store(url, prefix).unwrap()
}

fn sixth_wrong_password_is_refused_before_hashing_on_redis() {
    let Some(url) = redis_url() else { return };
    let prefix = format!("pow-abuse-{}", pow_actix::token::generate_uuid());
    sixth_wrong_password_is_refused_before_hashing(redis_store(&url, &prefix));
}

/// Two app processes sharing one Redis count one client's failures together.
fn two_apps_on_one_redis_share_the_limits() {
    let Some(url) = redis_url() else { return };
    let prefix = format!("pow-abuse-{}", pow_actix::token::generate_uuid());
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

fn poll_mail(mailer: &MemoryMailer, to: &str) -> pow_actix::mailer::Mail {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(mail) = mailer.last_to(to) {
            return mail;
        }
        assert!(Instant::now() < deadline, "no mail to {to}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn link_in(mail: &pow_actix::mailer::Mail) -> String {
    let start = mail.text.find("http://localhost/").expect("a link") + "http://localhost".len();
    let end = mail.text[start..]
        .find(char::is_whitespace)
        .map_or(mail.text.len(), |i| start + i);
    mail.text[start..end].to_owned()
}

/// The lock holds against every client, its owner is mailed a link that unlocks the
/// account once, and the lock is gone afterwards.
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
        .block_on(pow_actix::testing::dumped_strings(&*store, &namespace))
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
    assert_eq!(res.location(), "/session/new", "unlocked, not signed in");
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
    let db = std::env::temp_dir().join(format!(
        "pow-abuse-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let config = PowConfig::builder("a".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .store(store)
        .rate_limits(limits())
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    pow_actix::testing::create_user(&config, "alice@example.com", PASSWORD).unwrap();
    let served = config.clone();
    let addr = serve(move || {
        actix_web::App::new().configure(pow_actix::api::configure(
            served.clone(),
            pow_actix::api::ApiOptions::new(),
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
    assert_eq!(json["errors"][0]["code"], "rate_limited");
    assert_eq!(json["status"], 429);
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
/// Needs the `breach-check` feature (`BreachCheck::http`).
#[test]
fn breached_passwords_are_refused_through_the_range_api() {
    use pow_actix::password::BreachCheck;
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
fn one_client_cannot_fill_the_hashing_pool() {
    use pow_actix::password::HashPoolOptions;
    let app = start(MemoryStore::shared(), |b| {
        b.hash_pool_options(HashPoolOptions::default().threads(1).queue(8))
    });
    // Hold the pool's only thread, so password checks wait in the queue.
    let (release, job) = pow_actix::testing::hold_hash_pool(&app.config).unwrap();

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

/// A flood of ordinary records past the memory store's capacity does not evict the
/// failure counters: a refused client stays refused.
fn a_flood_of_records_leaves_a_refused_client_refused() {
    use pow_actix::store::Key;
    let store = Arc::new(MemoryStore::with_capacity(512 * 1024));
    let app = start(store.clone(), |b| b);
    let mut attacker = app.client_from("198.51.100.31");
    for _ in 0..5 {
        assert_eq!(
            sign_in(&mut attacker, "alice@example.com", "wrong password").status,
            200
        );
    }
    assert_eq!(
        sign_in(&mut attacker, "alice@example.com", "wrong password").status,
        429
    );
    // Other traffic writes longer-lived records, four times the capacity.
    actix_web::rt::System::new().block_on(async {
        for i in 0..2048 {
            store
                .put(
                    "other",
                    vec![(Key::from(["flood", i.to_string().as_str()]), vec![0; 1024])],
                    Some(Duration::from_secs(3600)),
                )
                .await
                .unwrap();
        }
    });
    assert!(store.weighted_size() <= 512 * 1024);
    let before = app.hashes();
    assert_eq!(
        sign_in(&mut attacker, "alice@example.com", "wrong password").status,
        429,
        "the flood made the store forget the client's failures"
    );
    assert_eq!(app.hashes(), before, "no password was checked");
}

/// Posts sudo mode's password confirmation from a signed-in client.
fn confirm(c: &mut Client, password: &str) -> Response {
    let csrf = c.get("/session/confirm").csrf();
    c.post(
        "/session/confirm",
        &[("_csrf_token", &csrf), ("user[password]", password)],
    )
}

/// A copy of a client: the same address, cookies and headers.
fn twin(app: &App, c: &Client) -> Client {
    let mut copy = Client::new(app.addr);
    copy.cookies = c.cookies.clone();
    copy.headers = c.headers.clone();
    copy
}

/// Sudo mode's password confirmation is a password check like a sign-in: a sixth wrong
/// password from one client is refused before hashing, the right one too.
fn password_confirmation_is_limited_like_sign_in() {
    let app = start(MemoryStore::shared(), |b| b);
    let mut thief = app.client_from("198.51.100.40");
    assert_eq!(
        sign_in(&mut thief, "alice@example.com", PASSWORD).status,
        302
    );
    for attempt in 1..=5 {
        let before = app.hashes();
        let res = confirm(&mut thief, "wrong password");
        assert_eq!(res.status, 200, "attempt {attempt} is answered normally");
        assert_eq!(app.hashes(), before + 1, "attempt {attempt} checks");
    }
    let before = app.hashes();
    let res = confirm(&mut thief, "wrong password");
    assert_eq!(res.status, 429, "the sixth confirmation is refused");
    assert_eq!(res.header("retry-after"), Some("300"));
    assert_eq!(
        app.hashes(),
        before,
        "a refused confirmation hashes nothing"
    );
    assert_eq!(confirm(&mut thief, PASSWORD).status, 429);
}

/// Wrong confirmations count toward the account's lock, across clients, as wrong
/// sign-ins do; a right one clears them.
fn password_confirmation_failures_count_toward_the_lock() {
    let app = start(MemoryStore::shared(), |b| {
        b.rate_limits(RateLimits {
            sign_in_failures: None,
            lockout: Some(Lockout {
                max_failures: 3,
                ..Lockout::default()
            }),
            ..limits()
        })
    });
    let mut owner = app.client_from("203.0.113.41");
    assert_eq!(
        sign_in(&mut owner, "alice@example.com", PASSWORD).status,
        302
    );
    // A right confirmation clears earlier failures.
    assert_eq!(confirm(&mut owner, "wrong password").status, 200);
    assert_eq!(confirm(&mut owner, "wrong password").status, 200);
    assert_eq!(confirm(&mut owner, PASSWORD).status, 302);
    let mut thief = app.client_from("198.51.100.41");
    assert_eq!(
        sign_in(&mut thief, "alice@example.com", PASSWORD).status,
        302
    );
    assert_eq!(confirm(&mut thief, "wrong password").status, 200);
    assert_eq!(confirm(&mut thief, "wrong password").status, 200);
    assert_eq!(confirm(&mut thief, "wrong password").status, 200);
    let mut elsewhere = app.client_from("192.0.2.41");
    let res = sign_in(&mut elsewhere, "alice@example.com", PASSWORD);
    assert_eq!(
        res.status, 429,
        "three wrong confirmations lock the account"
    );
    assert_eq!(confirm(&mut thief, PASSWORD).status, 429);
}

/// An app whose hashing pool has one thread and a queue of 8, where `alice@example.com`
/// and `bob@example.com` exist. Checks may wait a minute, so that a slow machine holding
/// the pool does not have them answered `503` for the time they waited.
fn start_small_pool() -> App {
    use pow_actix::password::HashPoolOptions;
    let app = start(MemoryStore::shared(), |b| {
        b.hash_pool_options(
            HashPoolOptions::default()
                .threads(1)
                .queue(8)
                .max_wait(Duration::from_secs(60)),
        )
    });
    pow_actix::testing::create_user(&app.config, "bob@example.com", PASSWORD).unwrap();
    app
}

/// Forty-eight clients on forty-eight addresses, each of which failed once on the account
/// `target(i)` names, with their next wrong sign-in ready to send.
fn attackers_that_failed(app: &App, target: impl Fn(usize) -> String) -> Vec<Request> {
    (0..48)
        .map(|i| {
            let mut c = app.client_from(&format!("198.51.100.{}", 100 + i));
            let email = target(i);
            assert_eq!(sign_in(&mut c, &email, "wrong password").status, 200);
            let form = sign_in_form(&mut c, &email, "wrong password");
            (c, "/session", form)
        })
        .collect()
}

/// A request to send: its client, path and form.
type Request = (Client, &'static str, Vec<(&'static str, String)>);

/// Sends every request at once (each a client and its form), and waits until each one is
/// either answered or waiting in the hashing pool. Returns the threads (each gives its
/// status) and the statuses answered so far.
fn flood(app: &App, requests: Vec<Request>) -> (Vec<std::thread::JoinHandle<u16>>, Vec<u16>) {
    let total = requests.len();
    let (done_tx, done) = std::sync::mpsc::channel();
    let threads: Vec<_> = requests
        .into_iter()
        .map(|(mut c, path, form)| {
            let done_tx = done_tx.clone();
            std::thread::spawn(move || {
                let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let status = c.post(path, &form).status;
                // The flood may have settled and stopped listening.
                let _ = done_tx.send(status);
                status
            })
        })
        .collect();
    let pool = app.config.hash_pool();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut answered = Vec::new();
    // The held job is one of the pool's pending jobs.
    while answered.len() + pool.pending().saturating_sub(1) < total {
        assert!(Instant::now() < deadline, "the flood did not settle");
        if let Ok(status) = done.recv_timeout(Duration::from_millis(20)) {
            answered.push(status);
        }
    }
    (threads, answered)
}

fn sign_in_form(c: &mut Client, email: &str, password: &str) -> Vec<(&'static str, String)> {
    let csrf = c.get("/session/new").csrf();
    vec![
        ("_csrf_token", csrf),
        ("user[email]", email.to_owned()),
        ("user[password]", password.to_owned()),
    ]
}

/// A real sign-in on another account while the flood waits: it must get its turn.
fn bystander_signs_in(
    app: &App,
    release: std::sync::mpsc::Sender<()>,
    job: pow_actix::password::Queued<()>,
) {
    let mut bob = app.client_from("203.0.113.99");
    let form = sign_in_form(&mut bob, "bob@example.com", PASSWORD);
    let baseline = app.config.hash_pool().pending();
    let bystander = std::thread::spawn(move || {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        bob.post("/session", &form).status
    });
    // Bob's check is answered at once (refused) or waits in the pool.
    let pool = app.config.hash_pool();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !bystander.is_finished() && pool.pending() <= baseline {
        assert!(
            Instant::now() < deadline,
            "the sign-in neither waited nor answered"
        );
        std::thread::yield_now();
    }
    release.send(()).unwrap();
    job.wait().unwrap();
    assert_eq!(
        bystander.join().unwrap(),
        302,
        "a sign-in outside the flood gets its turn"
    );
}

/// Forty-eight clients on forty-eight addresses keep flooding one account with wrong
/// passwords while the pool is busy: having failed on it, they take at most two places in
/// the pool (the account's bound), and another account's owner signs in.
fn a_flood_on_one_account_leaves_room_in_the_hashing_pool() {
    let app = start_small_pool();
    let requests = attackers_that_failed(&app, |_| "alice@example.com".to_owned());
    let (release, job) = pow_actix::testing::hold_hash_pool(&app.config).unwrap();
    let (threads, answered) = flood(&app, requests);
    assert_eq!(answered.len(), 46, "{answered:?}");
    assert!(answered.iter().all(|s| *s == 429), "{answered:?}");
    bystander_signs_in(&app, release, job);
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        2,
        "{statuses:?}"
    );
}

/// Forty-eight addresses that already failed on forty-eight accounts flood them again:
/// once the pool is half full their checks are shed, and a sign-in with no failures
/// behind it still gets its turn.
fn a_flood_with_failures_behind_it_is_shed_first() {
    let app = start_small_pool();
    let requests = attackers_that_failed(&app, |i| format!("target{i}@example.com"));
    let (release, job) = pow_actix::testing::hold_hash_pool(&app.config).unwrap();
    let (threads, answered) = flood(&app, requests);
    // Five of them wait (half the pool: one thread and a queue of eight); the rest are
    // shed at once.
    assert_eq!(answered.len(), 43, "{answered:?}");
    assert!(answered.iter().all(|s| *s == 503), "{answered:?}");
    bystander_signs_in(&app, release, job);
    for t in threads {
        t.join().unwrap();
    }
}

/// One signed-in client posting 48 password confirmations at once takes two places in
/// the pool; the rest are refused, and a sign-in elsewhere gets its turn.
fn a_flood_of_confirmations_leaves_room_in_the_hashing_pool() {
    let app = start_small_pool();
    let mut thief = app.client_from("198.51.100.50");
    assert_eq!(
        sign_in(&mut thief, "alice@example.com", PASSWORD).status,
        302
    );
    let csrf = thief.get("/session/confirm").csrf();
    let requests = (0..48)
        .map(|_| {
            let form = vec![
                ("_csrf_token", csrf.clone()),
                ("user[password]", "wrong password".to_owned()),
            ];
            (twin(&app, &thief), "/session/confirm", form)
        })
        .collect();
    let (release, job) = pow_actix::testing::hold_hash_pool(&app.config).unwrap();
    let (threads, answered) = flood(&app, requests);
    assert_eq!(answered.len(), 46, "{answered:?}");
    assert!(answered.iter().all(|s| *s == 429), "{answered:?}");
    bystander_signs_in(&app, release, job);
    for t in threads {
        t.join().unwrap();
    }
}

/// Forty-eight clients, the `i`th on the address `address(i)`, with a wrong sign-in on
/// the account `target(i)` ready to send; none of them failed before.
fn fresh_attackers(
    app: &App,
    address: impl Fn(usize) -> String,
    target: impl Fn(usize) -> String,
) -> Vec<Request> {
    (0..48)
        .map(|i| {
            let mut c = app.client_from(&address(i));
            let form = sign_in_form(&mut c, &target(i), "wrong password");
            (c, "/session", form)
        })
        .collect()
}

/// One wrong sign-in from `address(i)` on `target(i)`, for each of forty-eight `i`.
fn fail_once_each(app: &App, address: impl Fn(usize) -> String, target: impl Fn(usize) -> String) {
    for i in 0..48 {
        let mut c = app.client_from(&address(i));
        assert_eq!(sign_in(&mut c, &target(i), "wrong password").status, 200);
    }
}

/// Waits for the flood's threads and checks what the shed part of it was answered: all
/// `503` at once, and `waiting` of the 48 checks let into the pool.
fn assert_shed(answered: &[u16], waiting: usize, threads: Vec<std::thread::JoinHandle<u16>>) {
    assert_eq!(answered.len(), 48 - waiting, "{answered:?}");
    assert!(answered.iter().all(|s| *s == 503), "{answered:?}");
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        waiting,
        "{statuses:?}"
    );
}

/// A clean sign-in is not queued behind the flood that fills half the pool: attackers
/// with failures behind them wait in the pool's queue, and the owner of another account,
/// arriving after them, is hashed first. Before, the queue was one line in order of
/// arrival, so the reserved half let the sign-in in but not through: behind the waiting
/// half of slowed-down hashes it reached `max_wait` (the black-box round's `503`s, where the
/// attackers' own page requests took the CPU from the hashing threads).
fn a_clean_sign_in_goes_ahead_of_a_flood_with_failures_behind_it() {
    use pow_actix::password::HashPoolOptions;
    let hasher = pbkdf2_costing(Duration::from_millis(60));
    let app = start(MemoryStore::shared(), move |b| {
        b.hasher(hasher).hash_pool_options(
            HashPoolOptions::default()
                .threads(1)
                .queue(8)
                .max_wait(Duration::from_secs(60)),
        )
    });
    pow_actix::testing::create_user(&app.config, "bob@example.com", PASSWORD).unwrap();
    let requests = attackers_that_failed(&app, |i| format!("target{i}@example.com"));
    let (release, job) = pow_actix::testing::hold_hash_pool(&app.config).unwrap();
    let (threads, answered) = flood(&app, requests);
    let waiting = threads.len() - answered.len();
    assert!(waiting >= 3, "the flood waits in the pool: {answered:?}");

    let mut bob = app.client_from("203.0.113.99");
    let form = sign_in_form(&mut bob, "bob@example.com", PASSWORD);
    let pool = app.config.hash_pool();
    let baseline = pool.pending();
    let bystander = std::thread::spawn(move || {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        bob.post("/session", &form).status
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while pool.pending() <= baseline {
        assert!(
            Instant::now() < deadline,
            "the sign-in never reached the pool"
        );
        std::thread::yield_now();
    }
    release.send(()).unwrap();
    job.wait().unwrap();
    assert_eq!(bystander.join().unwrap(), 302);
    let done_before_bob = threads.iter().filter(|t| t.is_finished()).count() - answered.len();
    assert!(
        done_before_bob <= 1,
        "{done_before_bob} of the {waiting} waiting attackers were hashed before the owner"
    );
    for thread in threads {
        assert!(matches!(thread.join().unwrap(), 200 | 503));
    }
}

/// Forty-eight fresh addresses of one network, none of which ever failed, each trying a
/// wrong password on an identifier of its own at once (a first wave, with no failures
/// behind it anywhere): past half the pool the network counts as one client, so it takes
/// the shared half and no more, and another account's owner signs in.
fn a_first_wave_from_one_network_leaves_room_in_the_hashing_pool() {
    let app = start_small_pool();
    let requests = fresh_attackers(
        &app,
        |i| format!("198.51.100.{}", 100 + i),
        |i| format!("nobody{i}@example.com"),
    );
    let (release, job) = pow_actix::testing::hold_hash_pool(&app.config).unwrap();
    let (threads, answered) = flood(&app, requests);
    bystander_signs_in(&app, release, job);
    // Five wait (half the pool: one thread and a queue of eight); the rest are shed.
    assert_shed(&answered, 5, threads);
}

/// Accounts that failed from elsewhere are flooded from forty-eight fresh addresses, each
/// in a network of its own: the accounts' failures count against the new addresses, so
/// past half the pool they are shed, and another account's owner signs in.
fn a_flood_from_fresh_addresses_on_failing_accounts_is_shed_first() {
    let app = start_small_pool();
    fail_once_each(
        &app,
        |i| format!("192.0.2.{}", 100 + i),
        |i| format!("target{i}@example.com"),
    );
    let requests = fresh_attackers(
        &app,
        |i| format!("198.18.{i}.7"),
        |i| format!("target{i}@example.com"),
    );
    let (release, job) = pow_actix::testing::hold_hash_pool(&app.config).unwrap();
    let (threads, answered) = flood(&app, requests);
    bystander_signs_in(&app, release, job);
    assert_shed(&answered, 5, threads);
}

/// Forty-eight IPv6 networks (one /48 each) that failed on some accounts move to a fresh
/// /64 of their network and to identifiers nobody tried before: the network's failures
/// follow them, so past half the pool they are shed, and another account's owner signs in.
fn a_flood_from_fresh_addresses_of_failing_networks_is_shed_first() {
    let app = start_small_pool();
    fail_once_each(
        &app,
        |i| format!("2001:db8:{i:x}:1::7"),
        |i| format!("target{i}@example.com"),
    );
    let requests = fresh_attackers(
        &app,
        |i| format!("2001:db8:{i:x}:2::7"),
        |i| format!("other{i}@example.com"),
    );
    let (release, job) = pow_actix::testing::hold_hash_pool(&app.config).unwrap();
    let (threads, answered) = flood(&app, requests);
    bystander_signs_in(&app, release, job);
    assert_shed(&answered, 5, threads);
}

/// A PBKDF2 hasher whose hashes cost about `cost` of CPU on this machine.
fn pbkdf2_costing(cost: Duration) -> Pbkdf2Hasher {
    use pow_actix::password::PasswordHasher;
    let probe = 20_000;
    let started = Instant::now();
    Pbkdf2Hasher::new(probe).hash(PASSWORD).unwrap();
    let per_iteration = started.elapsed().as_secs_f64() / f64::from(probe);
    let iterations = (cost.as_secs_f64() / per_iteration) as u32;
    Pbkdf2Hasher::new(iterations.clamp(probe, Pbkdf2Hasher::MAX_ITERATIONS))
}

/// Other work of the app's own process group keeping every core busy (a sidecar, a batch
/// job, a build in the same terminal session) slows a sign-in down and never refuses it:
/// a right password signs in, on the pages and on the JSON API. Before, the pool's
/// threads ran at nice 19 and a started hash was cut at `max_wait`: a 50 ms hash got
/// under 1 % of a core beside two busy threads per core and every sign-in answered `503`.
fn a_right_password_signs_in_while_other_work_keeps_every_core_busy() {
    use pow_actix::password::HashPoolOptions;
    let hasher = pbkdf2_costing(Duration::from_millis(50));
    let app = start(MemoryStore::shared(), move |b| {
        b.hasher(hasher).hash_pool_options(
            HashPoolOptions::default()
                .threads(1)
                .queue(8)
                .max_wait(Duration::from_secs(1)),
        )
    });
    let api = pow_testkit::serve_api(app.config.clone(), pow_core::api::ApiOptions::new());
    let mut browser = app.client_from("198.18.0.9");
    let form = sign_in_form(&mut browser, "alice@example.com", PASSWORD);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let load = pow_testkit::CpuLoad::start(2);
    let page = browser.post("/session", &form);
    let body =
        serde_json::json!({ "user": { "email": "alice@example.com", "password": PASSWORD } });
    let json = pow_testkit::__rt::System::new().block_on(pow_testkit::http(
        api,
        "POST",
        "/api/v1/session",
        &[("Content-Type".to_owned(), "application/json".to_owned())],
        body.to_string().as_bytes(),
    ));
    drop(load);

    assert_eq!(page.status, 302, "{}", page.body);
    assert_eq!(browser.get("/me").body, "user:1", "signed in on the page");
    assert_eq!(json.status, 200, "{}", String::from_utf8_lossy(&json.body));
}

/// A real flood still gets `503`s under the same load, and every request is answered:
/// past the pool's threads and queue at once, and past `max_wait` for work no thread took
/// up; none waits without end.
fn a_flood_under_cpu_load_gets_503s_and_never_hangs() {
    use pow_actix::password::HashPoolOptions;
    let hasher = pbkdf2_costing(Duration::from_millis(50));
    let app = start(MemoryStore::shared(), move |b| {
        b.hasher(hasher).hash_pool_options(
            HashPoolOptions::default()
                .threads(1)
                .queue(2)
                .max_wait(Duration::from_millis(500)),
        )
    });
    let clients = 8;
    let forms: Vec<_> = (0..clients)
        .map(|i| {
            let mut c = app.client_from(&format!("198.18.{i}.9"));
            let form = sign_in_form(&mut c, "alice@example.com", PASSWORD);
            (c, form)
        })
        .collect();
    let load = pow_testkit::CpuLoad::start(2);
    let (done_tx, done) = std::sync::mpsc::channel();
    for (mut c, form) in forms {
        let done_tx = done_tx.clone();
        std::thread::spawn(move || {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let _ = done_tx.send(c.post("/session", &form).status);
        });
    }
    // Generous: each answer comes within the time a few slowed-down hashes take.
    let statuses: Vec<u16> = (0..clients)
        .map(|_| {
            done.recv_timeout(Duration::from_secs(60))
                .expect("a sign-in was never answered")
        })
        .collect();
    drop(load);
    assert!(
        statuses.iter().all(|s| matches!(s, 302 | 503)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&503),
        "the flood is refused: {statuses:?}"
    );
    assert!(
        statuses.contains(&302),
        "the pool's own work is done: {statuses:?}"
    );
}

/// Posts an account change with `current` as the current password and a new password.
fn change_password(c: &mut Client, current: &str, new: &str) -> Response {
    let csrf = c.get("/registration/edit").csrf();
    c.post(
        "/registration",
        &[
            ("_csrf_token", csrf.as_str()),
            ("_method", "PATCH"),
            ("user[current_password]", current),
            ("user[password]", new),
            ("user[password_confirmation]", new),
        ],
    )
}

/// The current password of an account change is a password check too: a sixth wrong one
/// from a client is refused before hashing; a change refused for another reason (a new
/// password too short) with the right current password counts no failure.
fn account_changes_check_the_current_password_under_the_limits() {
    let app = start(MemoryStore::shared(), |b| b);
    let mut thief = app.client_from("198.51.100.60");
    assert_eq!(
        sign_in(&mut thief, "alice@example.com", PASSWORD).status,
        302
    );
    for _ in 0..4 {
        let res = change_password(&mut thief, PASSWORD, "short");
        assert_eq!(res.status, 200, "refused for its new password");
    }
    for attempt in 1..=5 {
        let res = change_password(&mut thief, "wrong password", "a brand new passphrase");
        assert_eq!(res.status, 200, "attempt {attempt} is answered normally");
    }
    let before = app.hashes();
    let res = change_password(&mut thief, "wrong password", "a brand new passphrase");
    assert_eq!(
        res.status, 429,
        "the sixth wrong current password is refused"
    );
    assert_eq!(app.hashes(), before, "a refused change hashes nothing");
}

/// The mailed unlock link only lifts the lock: it signs nobody in (a mail is not a
/// factor), it works once, and signing in afterwards takes the password as usual.
fn the_unlock_link_lifts_the_lock_without_signing_in(store: Arc<dyn Store>) {
    let app = start(store, |b| {
        b.rate_limits(RateLimits {
            sign_in_failures: None,
            lockout: Some(Lockout {
                max_failures: 3,
                ..Lockout::default()
            }),
            ..limits()
        })
    });
    let mut attacker = app.client_from("198.51.100.50");
    for _ in 0..3 {
        sign_in(&mut attacker, "alice@example.com", "wrong password");
    }
    let mut owner = app.client_from("203.0.113.50");
    assert_eq!(
        sign_in(&mut owner, "alice@example.com", PASSWORD).status,
        429
    );
    let link = link_in(&poll_mail(&app.mailer, "alice@example.com"));

    let res = owner.get(&link);
    assert_eq!(res.location(), "/session/new", "to the sign-in page");
    let page = owner.get("/session/new");
    assert_eq!(page.status, 200, "not signed in by the link");
    assert!(
        page.body
            .contains("Your account is unlocked. Sign in to continue."),
        "{}",
        page.body
    );
    assert_eq!(
        owner.get("/registration/edit").location(),
        "/session/new?request_path=%2Fregistration%2Fedit",
        "the account page needs a sign-in"
    );
    // Once only.
    let mut other = app.client_from("203.0.113.51");
    other.get(&link);
    assert!(other
        .get("/session/new")
        .body
        .contains("This unlock link is invalid or was already used."));
    // The lock is gone: the password signs in.
    assert_eq!(
        sign_in(&mut owner, "alice@example.com", PASSWORD).location(),
        "/"
    );
    assert_eq!(owner.get("/registration/edit").status, 200);
}

fn the_unlock_link_lifts_the_lock_without_signing_in_on_memory() {
    the_unlock_link_lifts_the_lock_without_signing_in(MemoryStore::shared());
}

fn the_unlock_link_lifts_the_lock_without_signing_in_on_redis() {
    let Some(url) = redis_url() else { return };
    let prefix = format!("pow-abuse-{}", pow_actix::token::generate_uuid());
    the_unlock_link_lifts_the_lock_without_signing_in(redis_store(&url, &prefix));
}

/// The lock notice carries a link: a config that can mail it (a real mailer, the lock on)
/// must say where the app lives, or a client's `Host` header would choose where the
/// owner's unlock link points.
fn a_mailer_with_the_lock_needs_a_base_url() {
    let builder = || {
        PowConfig::builder("a".repeat(64))
            .mailer(MemoryMailer::new())
            .rate_limits(limits())
    };
    let Err(err) = builder().build() else {
        panic!("refused without base_url")
    };
    assert!(
        err.to_string().contains("base_url") && err.to_string().contains("unlock link"),
        "{err}"
    );
    assert!(builder().base_url("https://example.com").build().is_ok());
    // Without the lock nothing core mails carries a link.
    assert!(builder()
        .rate_limits(RateLimits {
            lockout: None,
            ..limits()
        })
        .build()
        .is_ok());
}

pow_testkit::on_both!(
    sixth_wrong_password_is_refused_before_hashing_on_memory,
    limits_are_keyed_on_the_normalised_identifier_and_the_ipv6_64,
    sixth_wrong_password_is_refused_before_hashing_on_redis,
    two_apps_on_one_redis_share_the_limits,
    known_and_unknown_identifiers_get_identical_answers,
    one_client_spraying_many_accounts_is_slowed_down,
    a_locked_account_is_unlocked_by_the_mailed_link,
    unknown_identifiers_lock_too_without_mail,
    common_passwords_are_refused_in_the_visitors_language,
    one_client_cannot_fill_the_hashing_pool,
    a_flood_of_records_leaves_a_refused_client_refused,
    password_confirmation_is_limited_like_sign_in,
    password_confirmation_failures_count_toward_the_lock,
    a_flood_on_one_account_leaves_room_in_the_hashing_pool,
    a_flood_with_failures_behind_it_is_shed_first,
    a_flood_of_confirmations_leaves_room_in_the_hashing_pool,
    a_first_wave_from_one_network_leaves_room_in_the_hashing_pool,
    a_flood_from_fresh_addresses_on_failing_accounts_is_shed_first,
    a_flood_from_fresh_addresses_of_failing_networks_is_shed_first,
    a_clean_sign_in_goes_ahead_of_a_flood_with_failures_behind_it,
    a_right_password_signs_in_while_other_work_keeps_every_core_busy,
    a_flood_under_cpu_load_gets_503s_and_never_hangs,
    account_changes_check_the_current_password_under_the_limits,
    the_unlock_link_lifts_the_lock_without_signing_in_on_memory,
    the_unlock_link_lifts_the_lock_without_signing_in_on_redis,
    a_mailer_with_the_lock_needs_a_base_url,
);
