//! Test helpers of the engine (feature `test-util`): test database and Redis URLs from the
//! environment, users made in test setup, a store dump, a held hashing pool, a CAPTCHA that
//! accepts a known answer, a users context racing a password change, one with slow inserts, and readers of JSON
//! answers and OpenAPI documents. pow-actix's `testing` adds the HTTP helpers and
//! re-exports these.
//!
//! - [`create_user`] signs a user up in test setup.
//! - [`hold_hash_pool`] keeps the hashing pool's thread busy, so password checks wait in
//!   its queue (tests of what happens when it is full).
//! - [`field_errors`] reads the messages of one field out of a JSON error answer.

use crate::config::PowConfig;
use crate::error::PowError;
use crate::users::User;

/// Signs a user up with `email` and `password` through the configured users context (on
/// the calling thread: call it from test setup, not from inside a handler).
///
/// # Errors
/// The users context's error; [`PowError::Other`] naming the failed fields when the
/// sign-up does not validate.
pub fn create_user(config: &PowConfig, email: &str, password: &str) -> Result<User, PowError> {
    let params = crate::users::sign_up_params(config.user_schema(), email, password);
    config
        .users_context()?
        .create(config.user_schema(), &params)?
        // The errors only: the changeset's params hold the password.
        .map_err(|changeset| PowError::Other(format!("sign-up refused: {:?}", changeset.errors)))
}

/// Says that the running test skipped its work, where the reader of `cargo test`'s output
/// sees it: straight to the process's standard error, past the harness's capture of
/// `eprintln!` (which shows only for failed tests, so a skip would read as a pass). The
/// line names the test (the harness names each test's thread after it).
pub fn skipped(why: &str) {
    use std::io::Write as _;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {why}");
}

/// The PostgreSQL URL for tests, from `POW_TEST_DATABASE_URL`: `None` (with a notice)
/// when unset, a panic when unset under `CI` (CI never skips PostgreSQL silently).
pub fn test_database_url() -> Option<String> {
    match std::env::var("POW_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "POW_TEST_DATABASE_URL must be set when CI is set \
                 (e.g. postgres://postgres@127.0.0.1:5432/test)"
            );
            skipped("POW_TEST_DATABASE_URL is not set: a PostgreSQL test did not run");
            None
        }
    }
}

/// The Redis URL for tests, from `POW_TEST_REDIS_URL`: `None` (with a notice) when unset,
/// a panic when unset under `CI` (CI never skips Redis silently).
#[cfg(feature = "redis")]
pub fn test_redis_url() -> Option<String> {
    match std::env::var("POW_TEST_REDIS_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "POW_TEST_REDIS_URL must be set when CI is set (e.g. redis://127.0.0.1:6379/)"
            );
            skipped("POW_TEST_REDIS_URL is not set: a Redis test did not run");
            None
        }
    }
}

/// A [`RedisStore`](crate::store::RedisStore) for a test that serves apps on servers of
/// their own: its connection is driven by a runtime that lives as long as the test
/// process. Each call gets a store under `prefix`.
///
/// # Errors
/// The store's connection error.
#[cfg(feature = "redis")]
pub fn test_redis_store(
    url: &str,
    prefix: &str,
) -> Result<std::sync::Arc<dyn crate::store::Store>, crate::store::StoreError> {
    static RUNTIME: std::sync::OnceLock<Option<tokio::runtime::Runtime>> =
        std::sync::OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .ok()
    });
    let Some(runtime) = runtime else {
        return Err(crate::store::StoreError::Backend("no test runtime".into()));
    };
    let store = runtime.block_on(crate::store::RedisStore::connect(url, prefix))?;
    Ok(std::sync::Arc::new(store))
}

/// Every string a copy of `namespace` in `store` holds: each key segment, and each JSON
/// string in each value, or for a value that is not JSON (a binary record) each run of six
/// or more printable characters (keys of up to six segments). For tests that read a dump
/// back and try each string as a token.
///
/// # Errors
/// The store's error.
pub async fn dumped_strings(
    store: &dyn crate::store::Store,
    namespace: &str,
) -> Result<Vec<String>, crate::store::StoreError> {
    fn strings(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
            serde_json::Value::Object(map) => map.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for len in 1..=6 {
        let pattern = vec![crate::store::KeyPattern::Any; len];
        for (key, value) in store.all(namespace, &pattern).await? {
            out.extend(key.segments().iter().cloned());
            match serde_json::from_slice::<serde_json::Value>(&value) {
                Ok(json) => strings(&json, &mut out),
                Err(_) => out.extend(
                    value
                        .split(|byte| !byte.is_ascii_graphic())
                        .filter(|run| run.len() >= 6)
                        .map(|run| String::from_utf8_lossy(run).into_owned()),
                ),
            }
        }
    }
    Ok(out)
}

/// Keeps one thread of `config`'s hashing pool busy until the returned sender is used (or
/// dropped): with a pool of one thread, password checks then wait in its queue. The held
/// job is returned too, to wait for once released. Checks still wait at most the pool's
/// [`max_wait`](crate::password::HashPoolOptions::max_wait) (then `503`), and past half of
/// it a waiting check runs on its own caller: a test that holds the pool for long sets a
/// longer `max_wait`.
///
/// # Errors
/// [`PowError::Busy`] when the pool is full, [`PowError::Other`] when the job did not
/// start.
pub fn hold_hash_pool(
    config: &PowConfig,
) -> Result<(std::sync::mpsc::Sender<()>, crate::password::Queued<()>), PowError> {
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (started_tx, started) = std::sync::mpsc::channel();
    let job = config.hash_pool().submit(move || {
        let _ = started_tx.send(());
        let _ = held.recv();
    })?;
    started
        .recv()
        .map_err(|_| PowError::Other("the held hashing job did not start".into()))?;
    Ok((release, job))
}

/// A CAPTCHA verifier for tests, asking no service: the answer `"pass"` is valid, any
/// other is refused. Its widget has the class `test-captcha` and posts in the field
/// `test-captcha-response`.
///
/// ```
/// use pow_core::captcha::Captcha;
/// use pow_core::testing::TestCaptcha;
///
/// let config = pow_core::PowConfig::builder("s".repeat(64))
///     .captcha(Captcha::new(TestCaptcha))
///     .build()?;
/// assert_eq!(config.captcha().unwrap().widget().field, "test-captcha-response");
/// # Ok::<_, pow_core::PowError>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct TestCaptcha;

#[async_trait::async_trait]
impl crate::captcha::CaptchaVerifier for TestCaptcha {
    fn widget(&self) -> crate::captcha::CaptchaWidget {
        crate::captcha::CaptchaWidget {
            script_src: "/test-captcha.js".into(),
            class: "test-captcha",
            site_key: "test-site-key".into(),
            field: "test-captcha-response",
        }
    }

    async fn verify(
        &self,
        answer: &str,
        _client_ip: Option<std::net::IpAddr>,
        _timeout: std::time::Duration,
    ) -> Result<bool, crate::captcha::CaptchaError> {
        Ok(answer == "pass")
    }
}

/// The [`UsersContext`](crate::users::UsersContext) methods a test wrapper passes to its
/// `inner` context unchanged: the reads.
macro_rules! delegate_reads_to_inner {
    () => {
        #[cfg(any(feature = "sqlite", feature = "postgres"))]
        fn diesel(&self) -> Option<&crate::users::diesel::DieselUsersContext> {
            self.inner.diesel()
        }

        fn get_by(
            &self,
            schema: &crate::users::UserSchema,
            field: &str,
            value: &crate::users::Value,
        ) -> Result<Option<User>, PowError> {
            self.inner.get_by(schema, field, value)
        }
    };
}

/// The writes a test wrapper passes to its `inner` context unchanged: updates, deletes,
/// listings.
macro_rules! delegate_writes_to_inner {
    () => {
        fn update_fields(
            &self,
            schema: &crate::users::UserSchema,
            user: &User,
            changes: &crate::users::Changes,
        ) -> Result<User, crate::users::WriteError> {
            self.inner.update_fields(schema, user, changes)
        }

        fn delete(&self, schema: &crate::users::UserSchema, user: &User) -> Result<(), PowError> {
            self.inner.delete(schema, user)
        }

        fn list_by(
            &self,
            schema: &crate::users::UserSchema,
            field: &str,
            value: &crate::users::Value,
        ) -> Result<Vec<User>, PowError> {
            self.inner.list_by(schema, field, value)
        }
    };
}

/// A users context whose written inserts take at least `delay` (as a commit to a slow
/// disk would), while an insert refused as taken comes back at once: the asymmetry an
/// equal-time refusal has to hide, made large enough to see over HTTP.
#[derive(Clone)]
pub struct SlowInserts {
    inner: std::sync::Arc<dyn crate::users::UsersContext>,
    delay: std::time::Duration,
}

impl SlowInserts {
    /// Wraps `inner`: its written inserts take `delay` longer.
    pub fn new(inner: impl crate::users::UsersContext, delay: std::time::Duration) -> Self {
        Self {
            inner: std::sync::Arc::new(inner),
            delay,
        }
    }
}

impl crate::users::UsersContext for SlowInserts {
    delegate_reads_to_inner!();

    fn insert(
        &self,
        schema: &crate::users::UserSchema,
        changes: &crate::users::Changes,
    ) -> Result<User, crate::users::WriteError> {
        let inserted = self.inner.insert(schema, changes)?;
        std::thread::sleep(self.delay);
        Ok(inserted)
    }

    delegate_writes_to_inner!();
}

/// A users context that, once [armed](Self::arm), changes the password of the next user
/// whose password it checks (to `"a-new-password"`) and revokes their credentials, as the
/// account page does, right after the check: a password change racing a sign-in.
#[derive(Clone)]
pub struct RacingPasswordChange {
    inner: std::sync::Arc<dyn crate::users::UsersContext>,
    /// The setup to revoke under, while armed.
    armed: std::sync::Arc<std::sync::Mutex<Option<PowConfig>>>,
}

impl RacingPasswordChange {
    /// The password the race sets.
    pub const NEW_PASSWORD: &'static str = "a-new-password";

    /// Wraps `inner`, not armed.
    pub fn new(inner: impl crate::users::UsersContext) -> Self {
        Self {
            inner: std::sync::Arc::new(inner),
            armed: std::sync::Arc::default(),
        }
    }

    /// Races the next password check (once).
    pub fn arm(&self, config: &PowConfig) {
        if let Ok(mut armed) = self.armed.lock() {
            *armed = Some(config.clone());
        }
    }
}

impl crate::users::UsersContext for RacingPasswordChange {
    delegate_reads_to_inner!();

    fn insert(
        &self,
        schema: &crate::users::UserSchema,
        changes: &crate::users::Changes,
    ) -> Result<User, crate::users::WriteError> {
        self.inner.insert(schema, changes)
    }

    delegate_writes_to_inner!();

    fn authenticate(
        &self,
        schema: &crate::users::UserSchema,
        params: &crate::users::Params,
    ) -> Result<Option<User>, PowError> {
        let user = self.inner.authenticate(schema, params)?;
        let Some(user) = &user else {
            return Ok(None);
        };
        let armed = self.armed.lock().ok().and_then(|mut armed| armed.take());
        if let Some(config) = armed {
            let mut changes = crate::users::Changes::new();
            let hash = schema.hasher().hash(Self::NEW_PASSWORD)?;
            changes.insert("password_hash".into(), crate::users::Value::Text(hash));
            let updated = self
                .inner
                .update_fields(schema, user, &changes)
                .map_err(|err| PowError::Other(err.to_string()))?;
            // Revoke from another thread with its own runtime: this runs on the blocking
            // pool, inside the sign-in being raced.
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .build()
                    .map_err(|err| PowError::Other(err.to_string()))?
                    .block_on(crate::session::revoke_user(&config, &updated))
            })
            .join()
            .map_err(|_| PowError::Other("the racing revocation panicked".into()))??;
        }
        Ok(Some(user.clone()))
    }
}

/// The messages of the field errors on `field` in a JSON error answer of the API (the
/// `errors` entries whose `param` is `field`), as a JSON array, in order.
///
/// ```
/// use pow_core::testing::field_errors;
/// use serde_json::json;
///
/// let answer = json!({"status": 422, "errors": [
///     {"code": "user_not_created", "message": "Couldn't create user"},
///     {"code": "blank", "param": "email", "message": "can't be blank"},
/// ]});
/// assert_eq!(field_errors(&answer, "email"), json!(["can't be blank"]));
/// assert_eq!(field_errors(&answer, "password"), json!([]));
/// ```
pub fn field_errors(answer: &serde_json::Value, field: &str) -> serde_json::Value {
    let messages = answer["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["param"] == field)
        .map(|entry| entry["message"].clone())
        .collect();
    serde_json::Value::Array(messages)
}

/// `value` with a local `$ref` into the OpenAPI document `doc` followed (again, while it is
/// one); `None` for a reference that is not in the document.
fn openapi_resolved<'a>(
    doc: &'a serde_json::Value,
    mut value: &'a serde_json::Value,
) -> Option<&'a serde_json::Value> {
    while let Some(reference) = value.get("$ref").and_then(serde_json::Value::as_str) {
        value = doc.pointer(reference.trim_start_matches('#'))?;
    }
    Some(value)
}

/// Whether `schema` says what its value holds: more than a bare `{"type": "object"}` (a
/// generated client types such a value as an empty object, and cannot read it).
fn describes_its_value(doc: &serde_json::Value, schema: &serde_json::Value) -> bool {
    let Some(schema) = openapi_resolved(doc, schema) else {
        return false;
    };
    let Some(map) = schema.as_object() else {
        return schema == &serde_json::Value::Bool(false);
    };
    let structural = [
        "properties",
        "items",
        "oneOf",
        "anyOf",
        "allOf",
        "const",
        "enum",
    ];
    if structural.iter().any(|key| map.contains_key(*key)) {
        return true;
    }
    if map
        .get("additionalProperties")
        .is_some_and(|extra| extra != &serde_json::Value::Bool(true))
    {
        return true;
    }
    let types: Vec<&str> = match map.get("type") {
        Some(serde_json::Value::String(t)) => vec![t.as_str()],
        Some(serde_json::Value::Array(ts)) => ts.iter().filter_map(|t| t.as_str()).collect(),
        _ => Vec::new(),
    };
    types.iter().any(|t| !matches!(*t, "object" | "null"))
}

/// The success answers (`2xx` but `204`) of the OpenAPI document `doc` whose schema says
/// nothing of what they hold (the envelope's `data`, or the whole answer for one outside
/// the envelope), as `"<method> <path> <status>: <schema>"`: what a client generated from
/// the document could not read. Empty for a document that describes every answer.
///
/// ```
/// let bare = serde_json::json!({ "paths": { "/x": { "get": { "responses": { "200": {
///     "description": "x",
///     "content": { "application/json": { "schema": { "type": "object" } } }
/// } } } } } });
/// assert_eq!(pow_core::testing::undescribed_successes(&bare).len(), 1);
/// ```
pub fn undescribed_successes(doc: &serde_json::Value) -> Vec<String> {
    let mut undescribed = Vec::new();
    let Some(paths) = doc.get("paths").and_then(serde_json::Value::as_object) else {
        return undescribed;
    };
    for (path, item) in paths {
        let Some(operations) = item.as_object() else {
            continue;
        };
        for (method, operation) in operations {
            let Some(responses) = operation
                .get("responses")
                .and_then(serde_json::Value::as_object)
            else {
                continue;
            };
            for (status, answer) in responses.iter().filter(|(s, _)| s.starts_with('2')) {
                let schema = openapi_resolved(doc, answer)
                    .and_then(|answer| answer.pointer("/content/application~1json/schema"));
                let Some(schema) = schema.and_then(|s| openapi_resolved(doc, s)) else {
                    if status != "204" {
                        undescribed.push(format!("{method} {path} {status}: no JSON schema"));
                    }
                    continue;
                };
                let value = schema.pointer("/properties/data").unwrap_or(schema);
                if !describes_its_value(doc, value) {
                    undescribed.push(format!("{method} {path} {status}: {value}"));
                }
            }
        }
    }
    undescribed
}

/// Every object schema of `value` (an OpenAPI document or a JSON Schema, at any depth)
/// that says nothing of its members: `"type": "object"` with neither `properties`,
/// `additionalProperties`, `patternProperties` nor a composition. A client generator types
/// one as an object that holds nothing (`Record<string, never>` in TypeScript), so no value
/// can be sent or read through it; a free-form object says `"additionalProperties": true`.
/// Returns the JSON pointers of those found.
///
/// ```
/// let doc = serde_json::json!({ "a": { "type": "object" }, "b": {
///     "type": "object", "additionalProperties": true } });
/// assert_eq!(pow_core::testing::untyped_objects(&doc), ["/a"]);
/// ```
pub fn untyped_objects(value: &serde_json::Value) -> Vec<String> {
    const SAID: [&str; 7] = [
        "properties",
        "additionalProperties",
        "patternProperties",
        "$ref",
        "allOf",
        "oneOf",
        "anyOf",
    ];
    let mut found = Vec::new();
    visit_json(value, "", &mut |at, value| {
        let Some(map) = value.as_object() else {
            return;
        };
        let object = match map.get("type") {
            Some(serde_json::Value::String(kind)) => kind == "object",
            Some(serde_json::Value::Array(kinds)) => kinds.iter().any(|kind| kind == "object"),
            _ => false,
        };
        if object && !SAID.iter().any(|key| map.contains_key(*key)) {
            found.push(at.to_owned());
        }
    });
    found
}

/// Every `description` or `summary` of `value` (an OpenAPI document, at any depth) with
/// two spaces in a row (a Rust string continued over lines without `\`), as
/// `"<JSON pointer>: <text>"`.
pub fn doubled_spaces(value: &serde_json::Value) -> Vec<String> {
    let mut found = Vec::new();
    visit_json(value, "", &mut |at, value| {
        for key in ["description", "summary"] {
            if let Some(text) = value.get(key).and_then(serde_json::Value::as_str) {
                if text.contains("  ") {
                    found.push(format!("{at}/{key}: {text:?}"));
                }
            }
        }
    });
    found
}

/// Calls `visit` with every value of `value` (itself first) and its JSON pointer under
/// `at`, depth first.
fn visit_json(
    value: &serde_json::Value,
    at: &str,
    visit: &mut dyn FnMut(&str, &serde_json::Value),
) {
    visit(at, value);
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                let key = key.replace('~', "~0").replace('/', "~1");
                visit_json(inner, &format!("{at}/{key}"), visit);
            }
        }
        serde_json::Value::Array(items) => {
            for (index, inner) in items.iter().enumerate() {
                visit_json(inner, &format!("{at}/{index}"), visit);
            }
        }
        _ => {}
    }
}

/// A memory store that counts its reads and can be switched off, as a store that went
/// down: every call then fails with [`StoreError::Unavailable`](crate::store::StoreError).
///
/// ```
/// use pow_core::store::{Key, Store};
/// use pow_core::testing::ProbeStore;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = ProbeStore::new();
/// let key = Key::from(["k".to_owned()]);
/// assert!(store.get("ns", &key).await.unwrap().is_none());
/// store.set_down(true);
/// assert!(store.get("ns", &key).await.is_err());
/// assert_eq!(store.reads(), 2);
/// # });
/// ```
pub struct ProbeStore {
    inner: std::sync::Arc<dyn crate::store::Store>,
    gets: std::sync::atomic::AtomicUsize,
    reads: std::sync::atomic::AtomicUsize,
    down: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for ProbeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeStore")
            .field("reads", &self.reads())
            .finish_non_exhaustive()
    }
}

impl ProbeStore {
    /// A probe over a new memory store, switched on.
    pub fn new() -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            inner: crate::store::MemoryStore::shared(),
            gets: std::sync::atomic::AtomicUsize::new(0),
            reads: std::sync::atomic::AtomicUsize::new(0),
            down: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Switches the store off (`true`: every call fails) or on again.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    /// How many `get` and `get_many` calls were made, failed ones included.
    pub fn gets(&self) -> usize {
        self.gets.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many calls read (`get`, `get_many`, `take`): the store's round trips.
    pub fn reads(&self) -> usize {
        self.reads.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn count_read(&self, get: bool) {
        if get {
            self.gets.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), crate::store::StoreError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(crate::store::StoreError::Unavailable(
                "probe store switched off".into(),
            ));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::store::Store for ProbeStore {
    async fn put(
        &self,
        ns: &str,
        records: Vec<crate::store::Record>,
        ttl: Option<std::time::Duration>,
    ) -> Result<(), crate::store::StoreError> {
        self.check()?;
        self.inner.put(ns, records, ttl).await
    }

    async fn get(
        &self,
        ns: &str,
        key: &crate::store::Key,
    ) -> Result<Option<Vec<u8>>, crate::store::StoreError> {
        self.count_read(true);
        self.check()?;
        self.inner.get(ns, key).await
    }

    async fn get_many(
        &self,
        ns: &str,
        keys: &[crate::store::Key],
    ) -> Result<Vec<Option<Vec<u8>>>, crate::store::StoreError> {
        self.count_read(true);
        self.check()?;
        self.inner.get_many(ns, keys).await
    }

    async fn delete(
        &self,
        ns: &str,
        key: &crate::store::Key,
    ) -> Result<(), crate::store::StoreError> {
        self.check()?;
        self.inner.delete(ns, key).await
    }

    async fn all(
        &self,
        ns: &str,
        patterns: &[crate::store::KeyPattern],
    ) -> Result<Vec<crate::store::Record>, crate::store::StoreError> {
        self.check()?;
        self.inner.all(ns, patterns).await
    }

    async fn take(
        &self,
        ns: &str,
        key: &crate::store::Key,
    ) -> Result<Option<Vec<u8>>, crate::store::StoreError> {
        self.count_read(false);
        self.check()?;
        self.inner.take(ns, key).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    /// A test that skips, run by [`a_skip_is_seen_past_the_capture`] in a child process
    /// (it does nothing in the suite itself).
    #[test]
    fn skipping_probe() {
        if std::env::var_os("POW_SKIPPING_PROBE").is_some() {
            super::skipped("the probe skipped");
        }
    }

    #[test]
    fn a_skip_is_seen_past_the_capture() {
        // A passing test's `eprintln!` is captured and dropped; the skip line is not.
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "testing::tests::skipping_probe"])
            .env("POW_SKIPPING_PROBE", "1")
            .output()
            .unwrap();
        assert!(out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("SKIPPED testing::tests::skipping_probe: the probe skipped"),
            "{stderr}"
        );
    }
}
