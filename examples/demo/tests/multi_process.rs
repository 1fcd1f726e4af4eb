//! Two demo processes behind one cache store, as behind a load balancer: a session made on
//! one process is signed in on the other, and signing out on either ends it on both, for
//! every store two processes can share: Redis (one SQLite users database), the SQL store in
//! PostgreSQL (users and store in one database, nothing else), and the SQL store in one
//! SQLite file.
//!
//! Set `POW_TEST_REDIS_URL` (e.g. `redis://127.0.0.1:6379/`) and `POW_TEST_DATABASE_URL`
//! (e.g. `postgres://postgres@127.0.0.1:5432/test`) to run the Redis and PostgreSQL cases.
//! Without them those print a notice and pass, except under `CI`, where a missing variable
//! fails the run. Each run writes under a Redis key prefix (`REDIS_PREFIX`) or a PostgreSQL
//! schema of its own, so parallel runs never see each other's sessions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pow_actix::session::CredentialsCache;
use pow_actix::store::{KeyPattern, RedisStore, SqlStore, Store};
use pow_actix::test_client::{Client, Response};
use pow_actix::token::generate_uuid;
use pow_actix::users::diesel::Database;

/// How long a process may take from spawn to answering `GET /` (it migrates the database
/// and connects to Redis first).
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);
/// How long the confirmation mail may take to appear in the mail folder.
const MAIL_DEADLINE: Duration = Duration::from_secs(10);
/// Interval between readiness and mail polls.
const POLL: Duration = Duration::from_millis(20);
/// Spawn attempts when the free port picked for a process is taken before it binds it.
const SPAWN_ATTEMPTS: usize = 3;

/// The Redis URL under test, or `None` (with a notice) when the test should be skipped.
fn redis_url() -> Option<String> {
    match std::env::var("POW_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("POW_TEST_REDIS_URL must be set when CI is set (e.g. redis://127.0.0.1:6379/)")
        }
        _ => {
            pow_actix::testing::skipped(
                "POW_TEST_REDIS_URL is not set: the multi-process Redis test did not run",
            );
            None
        }
    }
}

/// The PostgreSQL URL under test, or `None` (with a notice) when the test should be skipped.
fn postgres_url() -> Option<String> {
    match std::env::var("POW_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!(
            "POW_TEST_DATABASE_URL must be set when CI is set (e.g. \
             postgres://postgres@127.0.0.1:5432/test)"
        ),
        _ => {
            pow_actix::testing::skipped(
                "POW_TEST_DATABASE_URL is not set: the multi-process SQL store test did not run",
            );
            None
        }
    }
}

/// A PostgreSQL schema of the test's own, dropped on drop; its URL selects it.
struct PgSchema {
    base: String,
    name: String,
}

impl PgSchema {
    fn new(base: &str) -> Self {
        let name = format!("pow_demo_multi_{}", generate_uuid().replace('-', "_"));
        Database::connect(base)
            .unwrap()
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .unwrap();
        Self {
            base: base.to_owned(),
            name,
        }
    }

    fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-csearch_path%3D{}", self.base, self.name)
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Ok(db) = Database::connect(&self.base) {
            let _ = db.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name));
        }
    }
}

/// A scratch directory removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("pow-demo-multi-{}", generate_uuid()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One running demo process, killed on drop (also when the test panics).
struct DemoProcess {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl DemoProcess {
    /// Starts the demo binary with `env` on a free loopback port and waits until it serves
    /// `GET /`.
    fn start(name: &'static str, dir: &Path, env: &[(&str, String)]) -> Self {
        for attempt in 1..=SPAWN_ATTEMPTS {
            let mut process = Self::spawn(name, dir, env, free_port());
            match process.wait_ready() {
                Ok(()) => return process,
                Err(why) if attempt < SPAWN_ATTEMPTS && why.contains("Address already in use") => {
                    eprintln!("{name}: port taken before the bind, trying another one");
                }
                Err(why) => panic!("demo process {name} did not start: {why}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    fn spawn(name: &'static str, dir: &Path, env: &[(&str, String)], port: u16) -> Self {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = dir.join(format!("{name}.log"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_example-demo"));
        // Only the settings given here: nothing leaks in from the environment of the run.
        for key in [
            "DATABASE_URL",
            "BIND",
            "SECRET_KEY_BASE",
            "POW_MAIL_DIR",
            "BASE_URL",
            "ADMIN_EMAILS",
            "POW_CACHE",
            "POW_STORE",
            "POW_LOCAL_CACHE",
            "REDIS_URL",
            "REDIS_PREFIX",
            "POW_CACHE_DIR",
        ] {
            command.env_remove(key);
        }
        command
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("BIND", addr.to_string())
            .env("POW_MAIL_DIR", dir.join(format!("mail-{name}")))
            .env("RUST_LOG", "warn")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(File::create(&log).unwrap())
            .stderr(File::create(dir.join(format!("{name}.err"))).unwrap());
        let child = command.spawn().unwrap();
        Self {
            name,
            child,
            addr,
            log,
        }
    }

    /// Polls the port until `GET /` answers 200; `Err` with the process output if the
    /// process exits or the deadline passes first.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("exited with {status}\n{}", self.output()));
            }
            match probe(self.addr) {
                Ok(answer)
                    if answer.starts_with("HTTP/1.1 200") && answer.contains("pow-rs demo") =>
                {
                    return Ok(());
                }
                Ok(answer) => {
                    let status = answer.lines().next().unwrap_or_default().to_owned();
                    return Err(format!("GET / answered {status}\n{}", self.output()));
                }
                // Not listening yet, or the connection ended before an answer (a process
                // that lost its port to another one ends so): the exit check above tells
                // on the next turn, the deadline below if it never serves.
                Err(_) => {}
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "not serving after {STARTUP_DEADLINE:?}\n{}",
                    self.output()
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// What the process wrote to stdout and stderr.
    fn output(&self) -> String {
        let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
        format!(
            "--- {} stdout ---\n{}--- {} stderr ---\n{}",
            self.name,
            read(&self.log),
            self.name,
            read(&self.log.with_extension("err"))
        )
    }

    fn client(&self, cookies: &BTreeMap<String, String>) -> Client {
        let mut client = Client::new(self.addr);
        client.cookies = cookies.clone();
        client
    }
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn register(c: &mut Client, email: &str, password: &str) -> Response {
    let csrf = c.get("/registration/new").csrf();
    c.post(
        "/registration",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", email),
            ("user[name]", "Alice"),
            ("user[password]", password),
            ("user[password_confirmation]", password),
        ],
    )
}

fn sign_in(c: &mut Client, email: &str, password: &str) -> Response {
    let csrf = c.get("/session/new").csrf();
    c.post(
        "/session",
        &[
            ("_csrf_token", &csrf),
            ("user[email]", email),
            ("user[password]", password),
        ],
    )
}

fn sign_out(c: &mut Client) -> Response {
    let csrf = c.get("/").csrf();
    c.post("/session", &[("_csrf_token", &csrf), ("_method", "DELETE")])
}

/// The text part of the first mail written into `dir`, waiting for it with a deadline.
fn first_mail_text(dir: &Path) -> String {
    let deadline = Instant::now() + MAIL_DEADLINE;
    let path = loop {
        let mails: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .map(|entry| entry.unwrap().path())
                    .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(first) = mails.into_iter().min() {
            break first;
        }
        assert!(
            Instant::now() < deadline,
            "no mail in {} after {MAIL_DEADLINE:?}",
            dir.display()
        );
        std::thread::sleep(POLL);
    };
    let eml = std::fs::read_to_string(&path).unwrap();
    pow_testkit::eml::text_part(&eml).unwrap_or_else(|| panic!("no text/plain part in\n{eml}"))
}

/// The path of the first link into `base_url` in `text`.
fn link_path(text: &str, base_url: &str) -> String {
    let start = text
        .find(base_url)
        .unwrap_or_else(|| panic!("no link to {base_url} in\n{text}"))
        + base_url.len();
    let end = text[start..]
        .find(char::is_whitespace)
        .map_or(text.len(), |i| i + start);
    text[start..end].to_owned()
}

/// Every session in `store`, per user id, read as the demo processes write them (namespace
/// `credentials`, pow-core's default setup).
fn sessions_in(
    runtime: &actix_web::rt::Runtime,
    store: &Arc<dyn Store>,
) -> BTreeMap<i64, Vec<String>> {
    runtime.block_on(async {
        let store = Arc::clone(store);
        // Across users, from the namespace index: which users have session index entries.
        let across_users = [
            KeyPattern::exact("user"),
            KeyPattern::Any,
            KeyPattern::exact("session"),
            KeyPattern::Any,
        ];
        let mut user_ids: Vec<i64> = store
            .all("credentials", &across_users)
            .await
            .unwrap()
            .into_iter()
            .map(|(key, _)| key.segments()[1].parse().unwrap())
            .collect();
        user_ids.sort_unstable();
        user_ids.dedup();
        // Per user, from the user's own index.
        let cache = CredentialsCache::with_store(store, "credentials", Duration::from_secs(60));
        let mut sessions = BTreeMap::new();
        for id in user_ids {
            let mut list = cache.sessions(id).await.unwrap();
            list.sort();
            sessions.insert(id, list);
        }
        sessions
    })
}

/// The store two demo processes share in one case.
enum Shared {
    Redis { url: String, prefix: String },
    Postgres(PgSchema),
    SqliteFile,
}

/// Whether the processes keep a local read cache in front of the store.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LocalCache {
    Off,
    On,
}

/// How long a process with a local read cache may go on accepting a session another
/// process ended: until the store's message reaches it (milliseconds on one machine).
const LOCAL_CACHE_BOUND: Duration = Duration::from_secs(1);

fn redis_case() -> Option<Shared> {
    let url = redis_url()?;
    let prefix = format!("pow-demo-test-{}", generate_uuid());
    Some(Shared::Redis { url, prefix })
}

#[test]
fn a_session_is_shared_by_two_processes_on_redis_and_ends_on_both() {
    let Some(shared) = redis_case() else { return };
    two_processes(shared, LocalCache::Off);
}

#[test]
fn a_session_is_shared_by_two_processes_on_redis_with_local_caches_and_ends_on_both() {
    let Some(shared) = redis_case() else { return };
    two_processes(shared, LocalCache::On);
}

#[test]
fn a_session_is_shared_by_two_processes_on_the_postgres_sql_store_and_ends_on_both() {
    let Some(url) = postgres_url() else { return };
    two_processes(Shared::Postgres(PgSchema::new(&url)), LocalCache::Off);
}

#[test]
fn a_session_is_shared_by_two_processes_on_the_postgres_sql_store_with_local_caches() {
    let Some(url) = postgres_url() else { return };
    two_processes(Shared::Postgres(PgSchema::new(&url)), LocalCache::On);
}

#[test]
fn a_session_is_shared_by_two_processes_on_the_sqlite_sql_store_and_ends_on_both() {
    two_processes(Shared::SqliteFile, LocalCache::Off);
}

fn two_processes(shared: Shared, local_cache: LocalCache) {
    let started = Instant::now();
    let runtime = actix_web::rt::Runtime::new().unwrap();
    let dir = ScratchDir::new();
    let sqlite_url = format!("sqlite://{}", dir.path().join("users.db").display());
    let mut env = vec![
        (
            "SECRET_KEY_BASE",
            format!("{}{}", generate_uuid(), generate_uuid()),
        ),
        ("WORKERS", "1".to_owned()),
    ];
    if local_cache == LocalCache::On {
        env.push(("POW_LOCAL_CACHE", "10000".to_owned()));
    }
    let (store, other): (Arc<dyn Store>, Option<Arc<dyn Store>>) = match &shared {
        Shared::Redis { url, prefix } => {
            env.extend([
                ("DATABASE_URL", sqlite_url.clone()),
                ("POW_CACHE", "redis".to_owned()),
                ("REDIS_URL", url.clone()),
                ("REDIS_PREFIX", prefix.clone()),
            ]);
            runtime.block_on(async {
                let store = RedisStore::connect(url, prefix).await.unwrap();
                let other = RedisStore::connect(url, &format!("{prefix}-other"))
                    .await
                    .unwrap();
                (
                    Arc::new(store) as Arc<dyn Store>,
                    Some(Arc::new(other) as Arc<dyn Store>),
                )
            })
        }
        Shared::Postgres(schema) => {
            env.extend([
                ("DATABASE_URL", schema.url()),
                ("POW_STORE", "sql".to_owned()),
            ]);
            let store = SqlStore::connect(&schema.url()).unwrap();
            store.migrate().unwrap();
            (Arc::new(store), None)
        }
        Shared::SqliteFile => {
            env.extend([
                ("DATABASE_URL", sqlite_url.clone()),
                ("POW_STORE", "sql".to_owned()),
            ]);
            let store = SqlStore::connect(&sqlite_url).unwrap();
            store.migrate().unwrap();
            (Arc::new(store), None)
        }
    };
    // One after the other: both migrate the same database file at start.
    let a = DemoProcess::start("a", dir.path(), &env);
    let b = DemoProcess::start("b", dir.path(), &env);
    let ready = started.elapsed();

    // Register on A and confirm the address through the mailed link (A's mail folder).
    let mut on_a = a.client(&BTreeMap::new());
    let res = register(&mut on_a, "alice@example.com", "correct horse");
    assert_eq!(res.status, 302, "{}", res.body);
    let mail = first_mail_text(&dir.path().join("mail-a"));
    let link = link_path(&mail, &format!("http://{}", a.addr));
    assert!(link.starts_with("/confirm-email/"), "{link}");
    assert_eq!(on_a.get(&link).location(), "/session/new");

    // Sign in on A.
    let res = sign_in(&mut on_a, "alice@example.com", "correct horse");
    assert_eq!(res.status, 302, "{}", res.body);
    assert_eq!(on_a.get("/protected").status, 200);
    let sessions = sessions_in(&runtime, &store);
    assert_eq!(sessions.len(), 1, "one user with sessions: {sessions:?}");
    let (user_id, ids) = sessions.iter().next().unwrap();
    assert_eq!(ids.len(), 1, "one session of user {user_id}: {ids:?}");
    // Another prefix sees none of it.
    if let Some(other) = &other {
        assert!(sessions_in(&runtime, other).is_empty());
    }

    // The very same cookies are signed in on B.
    let jar_from_a = on_a.cookies.clone();
    let mut on_b = b.client(&jar_from_a);
    let res = on_b.get("/protected");
    assert_eq!(res.status, 200, "B: {} {}", res.location(), res.body);
    assert!(res.body.contains("alice@example.com"), "{}", res.body);
    assert!(on_b
        .get("/")
        .body
        .contains("Signed in as Alice (alice@example.com)"));

    // A live connection held open on A (the demo's event stream).
    let mut live_on_a = a.client(&jar_from_a).open_stream("/live/events");
    assert!(
        live_on_a
            .wait_for("event: open", Duration::from_secs(5))
            .is_some(),
        "{}",
        live_on_a.received
    );

    // Sign out on B: the very next request on A is refused.
    let jar_on_b = on_b.cookies.clone();
    let res = sign_out(&mut on_b);
    let signed_out = Instant::now();
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), "/session/new");
    // Without a local cache, the very next request on A is refused; with one, A's copy
    // goes when the store's message arrives.
    let mut accepted = 0;
    loop {
        let res = a.client(&jar_from_a).get("/protected");
        if res.status == 302 {
            break;
        }
        assert_eq!(res.status, 200, "{}", res.body);
        accepted += 1;
        assert!(
            local_cache == LocalCache::On && signed_out.elapsed() < LOCAL_CACHE_BOUND,
            "A still accepts the session {:?} after the sign-out on B ({accepted} requests)",
            signed_out.elapsed()
        );
    }
    eprintln!(
        "A refused the session {:?} after the sign-out on B ({accepted} requests accepted)",
        signed_out.elapsed()
    );
    // A hears it through the store's broadcast (Redis pub/sub, PostgreSQL notifications)
    // and ends the live connection within a second. An SQLite file has no broadcast: A
    // finds out at its next check of the store (the demo checks every 5 seconds).
    let bound = match shared {
        Shared::SqliteFile => Duration::from_secs(6),
        _ => Duration::from_secs(1),
    };
    let took = live_on_a
        .wait_for("event: ended", bound)
        .unwrap_or_else(|| panic!("A's live connection still open: {}", live_on_a.received));
    assert!(live_on_a.closes_within(Duration::from_secs(1)));
    eprintln!("live connection on A ended {took:?} after the sign-out on B");
    assert_eq!(
        sessions_in(&runtime, &store),
        BTreeMap::new(),
        "the session is gone from the store"
    );

    // Neither the cookies A set nor the ones B last saw sign anybody in, on A or on B.
    for (jar_name, jar) in [("A's cookies", &jar_from_a), ("B's cookies", &jar_on_b)] {
        for process in [&a, &b] {
            let mut c = process.client(jar);
            let res = c.get("/protected");
            assert_eq!(
                (res.status, res.location()),
                (302, "/session/new?request_path=%2Fprotected"),
                "{jar_name} on {}",
                process.name
            );
            assert!(
                c.get("/").body.contains("You are not signed in."),
                "{jar_name} on {}",
                process.name
            );
        }
    }

    eprintln!(
        "multi-process test: both processes serving after {ready:?}, total {:?}",
        started.elapsed()
    );
}

/// One `GET /` on a connection of its own: the whole answer, or the connection's error.
fn probe(addr: SocketAddr) -> std::io::Result<String> {
    use std::io::{Read as _, Write as _};
    let mut stream = TcpStream::connect_timeout(&addr, POLL)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    Ok(String::from_utf8_lossy(&raw).into_owned())
}
