//! The audit log: every authentication event, recorded off the request path.
//!
//! pow-rs emits an [`AuditEvent`] for each sign-in (succeeded or failed, with the reason),
//! sign-out, registration, account change, password reset, confirmation, invitation,
//! remember-me use, lock, and so on; the extensions emit theirs through the same API
//! ([`record`]). An event carries the time, the user id when known, the identifier typed as
//! a keyed hash (for failures on unknown accounts), the client's IP, a user-agent summary,
//! a keyed hash of the session id and a small JSON detail: never a password, token or
//! secret.
//!
//! Events go to an [`AuditSink`] through a bounded buffer drained by a thread of its own
//! ([`Auditor`]): the request never waits for the sink, and when the buffer is full the
//! event is counted as dropped ([`Auditor::dropped`]) and a warning logged, the request
//! succeeding all the same. Sinks: [`TracingSink`] (the default), [`DieselAuditSink`] (the
//! `pow_audit_events` table on SQLite or PostgreSQL, queried by [`AuditQuery`], pruned by
//! age) and [`FanOut`] to several.
//!
//! ```
//! use pow_core::audit::{Auditor, FanOut, TracingSink};
//!
//! let auditor = Auditor::new(FanOut::new(vec![Box::new(TracingSink)])).buffer(10_000);
//! let config = pow_core::PowConfig::builder("a".repeat(64)).audit(auditor).build()?;
//! assert_eq!(config.audit().dropped(), 0);
//! # Ok::<_, pow_core::PowError>(())
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::PowError;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod diesel;
mod names;
mod record;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use self::diesel::DieselAuditSink;
pub use names::*;
pub use record::{erased_subject, record};
pub(crate) use record::{keyed_hash, record_with};

/// Most events handed to a sink in one write.
const BATCH: usize = 256;

/// The stable name of an event kind, such as `"sign_in.failed"`. Extensions define their
/// own the same way (`EventName::new("my_ext.thing_done")`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventName(&'static str);

impl EventName {
    /// A name: lowercase, `area.what_happened`.
    pub const fn new(name: &'static str) -> Self {
        Self(name)
    }

    /// The name as stored.
    pub fn as_str(&self) -> &'static str {
        self.0
    }

    /// The message key of the event's label on the activity page:
    /// `audit-<name with dots and underscores as dashes>` (`audit-sign-in-failed`).
    pub fn label_key(&self) -> String {
        label_key(self.0)
    }
}

/// The message key of the label of the event named `name` (see [`EventName::label_key`]).
pub fn label_key(name: &str) -> String {
    format!("audit-{}", name.replace(['.', '_'], "-"))
}

impl std::fmt::Display for EventName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// One recorded event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// The event's name (see [`EventName`]).
    pub name: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The user, when known.
    pub user_id: Option<i64>,
    /// The identifier typed (email, username), as a keyed hash.
    pub identifier_hash: Option<String>,
    /// The client's address.
    pub ip: Option<String>,
    /// The start of the client's `User-Agent`.
    pub user_agent: Option<String>,
    /// The session, as a keyed hash of its id.
    pub session_hash: Option<String>,
    /// A small detail, such as `{"reason": "wrong_password"}`.
    pub detail: serde_json::Value,
}

impl AuditEvent {
    /// An event named `name`, now, with nothing else known yet.
    pub fn new(name: EventName) -> Self {
        Self {
            name: name.as_str().to_owned(),
            at: Utc::now(),
            user_id: None,
            identifier_hash: None,
            ip: None,
            user_agent: None,
            session_hash: None,
            detail: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// Sets the user.
    pub fn user(mut self, user_id: i64) -> Self {
        self.user_id = Some(user_id);
        self
    }

    /// Adds `key: value` to the detail.
    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        if let serde_json::Value::Object(map) = &mut self.detail {
            map.insert(key.to_owned(), value.into());
        }
        self
    }
}

/// Where events go. Called on the audit thread with a batch at a time; may block.
pub trait AuditSink: Send + Sync + 'static {
    /// Writes `events`.
    ///
    /// # Errors
    /// The sink's failure; the batch is logged as lost.
    fn write(&self, events: &[AuditEvent]) -> Result<(), PowError>;

    /// The events matching `query`, newest first. Sinks that cannot be read answer
    /// [`PowError::Config`].
    ///
    /// # Errors
    /// The sink's failure.
    fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, PowError> {
        let _ = query;
        Err(PowError::Config(
            "this audit sink cannot be queried; use DieselAuditSink".into(),
        ))
    }

    /// Removes what identifies user `user_id` from the events kept about them (an erased
    /// account): the user id gives way to `subject` (a keyed hash, in the identifier
    /// hash's place), the client's address, user agent and session hash go, and the
    /// detail keeps only its numbers and flags (text, such as a reason, goes). Returns how
    /// many events changed. A sink that cannot change what it wrote (a log) answers
    /// `Ok(0)`: its retention is the erasure.
    ///
    /// # Errors
    /// The sink's failure.
    fn anonymise_user(&self, user_id: i64, subject: &str) -> Result<usize, PowError> {
        let _ = (user_id, subject);
        Ok(0)
    }
}

/// What an erased user's event keeps of its detail: numbers and flags, never text.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn anonymised_detail(detail: &serde_json::Value) -> serde_json::Value {
    match detail {
        serde_json::Value::Object(map) => map
            .iter()
            .filter(|(_, value)| value.is_number() || value.is_boolean())
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        _ => serde_json::Value::Object(serde_json::Map::new()),
    }
}

/// A filter over recorded events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this user's events.
    pub user_id: Option<i64>,
    /// Only events with one of these names (all when empty).
    pub names: Vec<EventName>,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time.
    pub until: Option<DateTime<Utc>>,
    /// At most this many (newest first). Default 100 when 0.
    pub limit: usize,
}

/// Logs each event with `tracing` (target `pow::audit`, level info).
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingSink;

impl AuditSink for TracingSink {
    fn write(&self, events: &[AuditEvent]) -> Result<(), PowError> {
        for event in events {
            tracing::info!(
                target: "pow::audit",
                event = %event.name,
                user_id = event.user_id,
                identifier = event.identifier_hash.as_deref(),
                ip = event.ip.as_deref(),
                session = event.session_hash.as_deref(),
                detail = %event.detail,
                "audit event"
            );
        }
        Ok(())
    }
}

/// Writes to every sink in turn; queries the first that can answer.
pub struct FanOut(Vec<Box<dyn AuditSink>>);

impl FanOut {
    /// Fans out to `sinks`.
    pub fn new(sinks: Vec<Box<dyn AuditSink>>) -> Self {
        Self(sinks)
    }
}

impl AuditSink for FanOut {
    fn write(&self, events: &[AuditEvent]) -> Result<(), PowError> {
        let mut first_error = None;
        for sink in &self.0 {
            if let Err(err) = sink.write(events) {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn anonymise_user(&self, user_id: i64, subject: &str) -> Result<usize, PowError> {
        let mut changed = 0;
        for sink in &self.0 {
            changed += sink.anonymise_user(user_id, subject)?;
        }
        Ok(changed)
    }

    fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, PowError> {
        let mut last = None;
        for sink in &self.0 {
            match sink.query(query) {
                Ok(events) => return Ok(events),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| PowError::Config("no audit sink".into())))
    }
}

type Complete = Box<dyn FnOnce(&mut AuditEvent) + Send>;

/// An event on its way to the sink.
struct Pending {
    event: AuditEvent,
    complete: Option<Complete>,
}

/// What the audit thread does, in the order it was asked.
enum Work {
    Event(Pending),
    /// [`AuditSink::anonymise_user`], after every event queued before it is written.
    Anonymise {
        user_id: i64,
        subject: String,
        done: SyncSender<Result<usize, PowError>>,
    },
    /// Answers once every event queued before it is written.
    Flush(SyncSender<()>),
}

/// Buffers events and hands them to the sink from a thread of its own.
pub struct Auditor {
    sink: Arc<dyn AuditSink>,
    capacity: usize,
    queue: OnceLock<SyncSender<Work>>,
    dropped: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
    /// Serialises the thread's start.
    start: Mutex<()>,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor")
            .field("capacity", &self.capacity)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl Default for Auditor {
    /// Events to the log ([`TracingSink`]).
    fn default() -> Self {
        Self::new(TracingSink)
    }
}

impl Auditor {
    /// Events to `sink`, through a buffer of 10 000.
    pub fn new(sink: impl AuditSink) -> Self {
        Self {
            sink: Arc::new(sink),
            capacity: 10_000,
            queue: OnceLock::new(),
            dropped: Arc::default(),
            written: Arc::default(),
            start: Mutex::new(()),
        }
    }

    /// Most events waiting for the sink (at least 1).
    pub fn buffer(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Events dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Events the sink has accepted.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// The sink (to query it).
    pub fn sink(&self) -> &dyn AuditSink {
        &*self.sink
    }

    /// Runs `query` against the sink on the blocking pool, once the events queued before
    /// this call reached the sink: a page that lists the account's activity right after
    /// an action shows that action.
    ///
    /// # Errors
    /// When the sink fails.
    pub async fn query(&self, query: AuditQuery) -> Result<Vec<AuditEvent>, PowError> {
        if self.queue.get().is_some() {
            self.flush().await?;
        }
        let sink = Arc::clone(&self.sink);
        crate::users::run_blocking(move || sink.query(&query)).await
    }

    /// Waits until every event queued before this call reached the sink (for a job that
    /// reads the log right after writing to it, or before the process exits).
    ///
    /// # Errors
    /// [`PowError::Blocking`] when the audit thread is gone.
    pub async fn flush(&self) -> Result<(), PowError> {
        self.ask(Work::Flush).await
    }

    /// Queues the work `ask(reply)` makes behind the events queued so far and waits, off
    /// the async executor, for the audit thread's reply.
    async fn ask<T: Send + 'static>(
        &self,
        ask: impl FnOnce(SyncSender<T>) -> Work + Send + 'static,
    ) -> Result<T, PowError> {
        let gone = || PowError::Blocking("the audit thread is not running".into());
        let queue = self.queue().ok_or_else(gone)?.clone();
        crate::users::run_blocking(move || {
            let (done, wait) = mpsc::sync_channel(1);
            queue.send(ask(done)).map_err(|_| gone())?;
            wait.recv().map_err(|_| gone())
        })
        .await
    }

    /// Queues `event`; never blocks.
    pub fn record(&self, event: AuditEvent) {
        self.send(Pending {
            event,
            complete: None,
        });
    }

    fn send(&self, pending: Pending) {
        let Some(queue) = self.queue() else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        match queue.try_send(Work::Event(pending)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                // One warning per power of two: a flood does not flood the log as well.
                if dropped.is_power_of_two() {
                    tracing::warn!(dropped, "audit buffer full: events dropped");
                }
            }
        }
    }

    fn queue(&self) -> Option<&SyncSender<Work>> {
        if let Some(queue) = self.queue.get() {
            return Some(queue);
        }
        let _start = self.start.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(queue) = self.queue.get() {
            return Some(queue);
        }
        let (tx, rx) = mpsc::sync_channel(self.capacity);
        let (sink, written) = (Arc::clone(&self.sink), Arc::clone(&self.written));
        let spawned = std::thread::Builder::new()
            .name("pow-audit".to_owned())
            .spawn(move || drain(&rx, &*sink, &written));
        if let Err(err) = spawned {
            tracing::error!(error = %err, "could not start the audit thread");
            return None;
        }
        self.queue.set(tx).ok()?;
        self.queue.get()
    }
}

/// The audit thread: completes and writes events in batches until every sender is gone.
fn drain(rx: &Receiver<Work>, sink: &dyn AuditSink, written: &AtomicU64) {
    let mut next = None;
    loop {
        let work = match next.take() {
            Some(work) => work,
            None => match rx.recv() {
                Ok(work) => work,
                Err(_) => return,
            },
        };
        let first = match work {
            Work::Event(pending) => pending,
            Work::Anonymise {
                user_id,
                subject,
                done,
            } => {
                // The caller may have given up waiting: nothing to tell then.
                let _ = done.send(sink.anonymise_user(user_id, &subject));
                continue;
            }
            Work::Flush(done) => {
                let _ = done.send(());
                continue;
            }
        };
        let mut batch = Vec::with_capacity(16);
        batch.push(complete(first));
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(Work::Event(pending)) => batch.push(complete(pending)),
                // Written after this batch, in the order it was asked.
                Ok(other) => {
                    next = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        match sink.write(&batch) {
            Ok(()) => {
                written.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            Err(err) => {
                tracing::error!(error = %err, events = batch.len(), "audit sink failed: events lost");
            }
        }
    }
}

fn complete(pending: Pending) -> AuditEvent {
    let Pending {
        mut event,
        complete,
    } = pending;
    if let Some(complete) = complete {
        complete(&mut event);
    }
    event
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    /// Keeps its events in memory; each write waits for the gate.
    struct GatedSink {
        events: Arc<Mutex<Vec<AuditEvent>>>,
        gate: Mutex<mpsc::Receiver<()>>,
        entered: mpsc::SyncSender<()>,
    }

    impl AuditSink for GatedSink {
        fn write(&self, events: &[AuditEvent]) -> Result<(), PowError> {
            let _ = self.entered.send(());
            let gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = gate.recv();
            let mut stored = self.events.lock().unwrap_or_else(PoisonError::into_inner);
            stored.extend(events.iter().cloned());
            Ok(())
        }

        fn query(&self, _query: &AuditQuery) -> Result<Vec<AuditEvent>, PowError> {
            Ok(self
                .events
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone())
        }
    }

    #[test]
    fn a_query_sees_the_events_recorded_before_it() {
        let (open, gate) = mpsc::channel();
        let (entered, write_started) = mpsc::sync_channel(1);
        let auditor = Arc::new(Auditor::new(GatedSink {
            events: Arc::default(),
            gate: Mutex::new(gate),
            entered,
        }));
        auditor.record(AuditEvent::new(crate::audit::SIGN_IN_SUCCEEDED).user(7));
        // The audit thread holds the event in a write that waits for the gate.
        write_started.recv().unwrap();

        let (answer, answered) = mpsc::channel();
        let querying = Arc::clone(&auditor);
        let reader = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let _ = answer.send(runtime.block_on(querying.query(AuditQuery::default())));
        });
        // While the write waits, the query must wait too: an answer now would be one
        // without the event. (The bound only ends the observation; the assertion below
        // holds however long the write takes.)
        assert!(
            answered.recv_timeout(Duration::from_millis(300)).is_err(),
            "the query answered before the event queued ahead of it was written"
        );
        open.send(()).unwrap();
        let events = answered.recv().unwrap().unwrap();
        reader.join().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].user_id, Some(7));
    }
}
