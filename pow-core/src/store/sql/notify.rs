//! [`Broadcast`] over PostgreSQL's `LISTEN`/`NOTIFY`: messages reach every process
//! connected to the database.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ::diesel::connection::SimpleConnection;
use ::diesel::pg::PgConnection;
use ::diesel::r2d2::{ConnectionManager, Pool};
use ::diesel::sql_types::Text;
use ::diesel::RunQueryDsl;
use async_trait::async_trait;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::store::{Broadcast, Deliver, StoreError};
use crate::users::diesel::Database;

/// How often the listening connection looks for notifications it has received: the most a
/// message waits on a listening server (reading them costs no round trip).
pub(crate) const POLL: Duration = Duration::from_millis(5);
/// How often the listening connection checks that the server is still there.
const PING: Duration = Duration::from_secs(2);
/// First and longest pause before the listener reconnects.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);
/// The start of the `application_name` of a listening connection while it listens:
/// `pow-store-listener:<schema>`.
pub const APPLICATION_NAME: &str = "pow-store-listener";
/// Longest payload PostgreSQL takes (8000 bytes), as base64 of the message.
const MAX_PAYLOAD: usize = 7_999;

/// Publishes with a pooled connection; each subscription keeps one pooled connection
/// listening on a thread of its own.
pub(crate) struct PgBroadcast {
    pool: Pool<ConnectionManager<PgConnection>>,
    /// The schema the store's table is in, read once: see [`pg_channel`].
    schema: Arc<OnceLock<String>>,
}

impl PgBroadcast {
    /// The broadcast of `database`, when it is PostgreSQL.
    pub(crate) fn of(database: &Database) -> Option<Self> {
        #[allow(irrefutable_let_patterns)]
        if let Database::Postgres(pool) = database {
            return Some(Self {
                pool: pool.clone(),
                schema: Arc::default(),
            });
        }
        None
    }
}

/// The PostgreSQL channel of `channel` for stores whose table is in `schema`: channels are
/// shared by the whole database, and stores in two schemas share no records, so they hear
/// none of each other's messages either. A digest, so that any name fits PostgreSQL's
/// 63-byte identifiers and needs no quoting.
fn pg_channel(schema: &str, channel: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(schema.as_bytes());
    hasher.update([0]);
    hasher.update(channel.as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("pow_{hex}")
}

#[derive(::diesel::QueryableByName)]
struct Schema {
    #[diesel(sql_type = Text)]
    schema: String,
}

/// The channel of `channel` for this connection's schema (read on the first call).
fn scoped_channel(
    conn: &mut PgConnection,
    schema: &OnceLock<String>,
    channel: &str,
) -> Result<String, StoreError> {
    if let Some(schema) = schema.get() {
        return Ok(pg_channel(schema, channel));
    }
    let row: Schema = ::diesel::sql_query("SELECT current_schema() AS schema")
        .get_result(conn)
        .map_err(unavailable)?;
    Ok(pg_channel(schema.get_or_init(|| row.schema), channel))
}

fn unavailable(err: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("PostgreSQL notifications: {err}"))
}

#[async_trait]
impl Broadcast for PgBroadcast {
    async fn publish(&self, channel: &str, message: &[u8]) -> Result<(), StoreError> {
        let payload = base64::engine::general_purpose::STANDARD.encode(message);
        if payload.len() > MAX_PAYLOAD {
            return Err(StoreError::Backend(format!(
                "a message of {} bytes is too long for PostgreSQL notifications",
                message.len()
            )));
        }
        let channel = channel.to_owned();
        let (pool, schema) = (self.pool.clone(), Arc::clone(&self.schema));
        tokio::task::spawn_blocking(move || notify(&pool, &schema, &channel, payload))
            .await
            .map_err(|err| StoreError::Backend(format!("notification task failed: {err}")))?
    }

    async fn subscribe(&self, channel: &str, deliver: Deliver) -> Result<(), StoreError> {
        let (first, first_result) = tokio::sync::oneshot::channel();
        let first = std::sync::Mutex::new(Some(first));
        let hear = move |heard: Heard<'_>| match heard {
            Heard::Listening => {
                let first = first.lock().ok().and_then(|mut first| first.take());
                match first {
                    Some(first) => {
                        let _ = first.send(Ok(()));
                    }
                    // Messages may have been missed while the connection was down.
                    None => deliver(&[]),
                }
            }
            Heard::Lost(err) => {
                if let Some(first) = first.lock().ok().and_then(|mut first| first.take()) {
                    let _ = first.send(Err(err));
                }
            }
            Heard::Message(payload) => {
                match base64::engine::general_purpose::STANDARD.decode(payload) {
                    Ok(message) if !message.is_empty() => deliver(&message),
                    _ => tracing::warn!("ignoring a notification that is not a message"),
                }
            }
        };
        self.listen(Channel::Scoped(channel.to_owned()), Box::new(hear))?;
        first_result.await.unwrap_or_else(|_| {
            Err(StoreError::Backend(
                "the PostgreSQL listener stopped".to_owned(),
            ))
        })
    }
}

/// What a listener hears.
pub(crate) enum Heard<'a> {
    /// It listens (first, or again after a loss: messages may have been missed meanwhile).
    Listening,
    /// Its connection failed; it listens again after a pause.
    Lost(StoreError),
    /// A notification's payload.
    Message(&'a str),
}

/// A channel to listen on.
pub(crate) enum Channel {
    /// A [`Broadcast`] channel of this schema (see [`pg_channel`]).
    Scoped(String),
    /// The channel `pow_store`'s trigger tells the changes of this schema's records on.
    Changes,
}

impl Channel {
    /// The PostgreSQL name of the channel, for `conn`'s schema.
    fn resolve(
        &self,
        conn: &mut PgConnection,
        schema: &OnceLock<String>,
    ) -> Result<String, StoreError> {
        match self {
            Self::Scoped(channel) => scoped_channel(conn, schema, channel),
            Self::Changes => {
                // The name the trigger computes (its migration), asked of the server.
                let row: Schema = ::diesel::sql_query(
                    "SELECT 'pow_' || md5(current_schema() || ':near-cache') AS schema",
                )
                .get_result(conn)
                .map_err(unavailable)?;
                Ok(row.schema)
            }
        }
    }
}

/// Where a listener's news go (called on the listener's thread).
pub(crate) type Hear = Box<dyn Fn(Heard<'_>) + Send + Sync>;

impl PgBroadcast {
    /// Listens on `channel` on a thread of its own, for good, telling `hear` what happens.
    pub(crate) fn listen(&self, channel: Channel, hear: Hear) -> Result<(), StoreError> {
        let (pool, schema) = (self.pool.clone(), Arc::clone(&self.schema));
        std::thread::Builder::new()
            .name("pow-pg-listener".to_owned())
            .spawn(move || listen_forever(&pool, &schema, &channel, &*hear))
            .map(drop)
            .map_err(|err| StoreError::Backend(format!("cannot start a thread: {err}")))
    }
}

/// Runs `pg_notify` for `channel` with `payload` on a pooled connection.
fn notify(
    pool: &Pool<ConnectionManager<PgConnection>>,
    schema: &OnceLock<String>,
    channel: &str,
    payload: String,
) -> Result<(), StoreError> {
    let mut conn = pool.get().map_err(unavailable)?;
    let channel = scoped_channel(&mut conn, schema, channel)?;
    ::diesel::sql_query("SELECT pg_notify($1, $2)")
        .bind::<Text, _>(channel)
        .bind::<Text, _>(payload)
        .execute(&mut *conn)
        .map(drop)
        .map_err(unavailable)
}

/// Listens, tells `hear`, and listens again with a growing pause after every failure.
fn listen_forever(
    pool: &Pool<ConnectionManager<PgConnection>>,
    schema: &OnceLock<String>,
    channel: &Channel,
    hear: &(dyn Fn(Heard<'_>) + Send + Sync),
) {
    let mut pause = RETRY_MIN;
    loop {
        let err = listen(pool, schema, channel, hear, &mut pause);
        tracing::warn!(error = %err, "PostgreSQL notifications stopped, listening again");
        hear(Heard::Lost(err));
        std::thread::sleep(pause);
        pause = (pause * 2).min(RETRY_MAX);
    }
}

/// Listens on one connection until it fails; returns why.
fn listen(
    pool: &Pool<ConnectionManager<PgConnection>>,
    schema: &OnceLock<String>,
    channel: &Channel,
    hear: &(dyn Fn(Heard<'_>) + Send + Sync),
    pause: &mut Duration,
) -> StoreError {
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(err) => return unavailable(err),
    };
    let channel = match channel.resolve(&mut conn, schema) {
        Ok(channel) => channel,
        Err(err) => return err,
    };
    // The channel is `pow_` and hex digits: nothing to quote. The connection is named,
    // so that it can be told apart in `pg_stat_activity`.
    if let Err(err) = conn.batch_execute(&format!(
        "SELECT set_config('application_name', \
         left('{APPLICATION_NAME}:' || current_schema(), 63), false); LISTEN {channel}"
    )) {
        return unavailable(err);
    }
    *pause = RETRY_MIN;
    hear(Heard::Listening);
    let mut pinged = Instant::now();
    let failure = loop {
        std::thread::sleep(POLL);
        let mut failed = None;
        for notification in conn.notifications_iter() {
            match notification {
                Ok(notification) => hear(Heard::Message(&notification.payload)),
                Err(err) => {
                    failed = Some(unavailable(err));
                    break;
                }
            }
        }
        if let Some(err) = failed {
            break err;
        }
        if pinged.elapsed() >= PING {
            if let Err(err) = conn.batch_execute("SELECT 1") {
                break unavailable(err);
            }
            pinged = Instant::now();
        }
    };
    // The connection goes back to the pool (or is dropped when broken): stop listening.
    let _ = conn.batch_execute("UNLISTEN *; RESET application_name");
    failure
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_short_plain_identifiers() {
        let long = "live:".repeat(40);
        let channel = pg_channel("public", &long);
        assert!(channel.len() <= 63);
        assert!(channel
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        assert_ne!(
            pg_channel("public", "live:a"),
            pg_channel("public", "live:b")
        );
        assert_ne!(pg_channel("one", "live:a"), pg_channel("two", "live:a"));
    }
}
