//! [`DieselAuditSink`]: events in the `pow_audit_events` table.

use ::diesel::sql_types::{BigInt, Nullable, Text};
use ::diesel::{Connection, QueryableByName, RunQueryDsl};
use chrono::{DateTime, Utc};

use super::{AuditEvent, AuditQuery, AuditSink};
use crate::error::PowError;
use crate::users::diesel::{checkout, query_error, Database};

/// Default number of events a query returns.
const DEFAULT_LIMIT: usize = 100;

/// Writes events to the `pow_audit_events` table (created by the core migrations, on
/// SQLite and PostgreSQL, indexed by user and time) and reads them back.
///
/// ```
/// use pow_core::audit::{AuditEvent, AuditQuery, AuditSink, DieselAuditSink, SIGN_IN_SUCCEEDED};
/// use pow_core::users::diesel::DieselUsersContext;
///
/// let users = DieselUsersContext::connect(":memory:")?;
/// let config = pow_core::PowConfig::builder("a".repeat(64)).users(users.clone()).build()?;
/// users.migrate(&config)?;
/// let sink = DieselAuditSink::new(users.database().clone());
/// sink.write(&[AuditEvent::new(SIGN_IN_SUCCEEDED).user(7)])?;
/// let events = sink.query(&AuditQuery { user_id: Some(7), ..AuditQuery::default() })?;
/// assert_eq!(events[0].name, "sign_in.succeeded");
/// # Ok::<_, pow_core::PowError>(())
/// ```
#[derive(Clone, Debug)]
pub struct DieselAuditSink {
    db: Database,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    at_ms: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    user_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    identifier_hash: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    ip: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    user_agent: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    session_hash: Option<String>,
    #[diesel(sql_type = Text)]
    detail: String,
}

impl From<Row> for AuditEvent {
    fn from(row: Row) -> Self {
        Self {
            name: row.name,
            at: DateTime::from_timestamp_millis(row.at_ms).unwrap_or_default(),
            user_id: row.user_id,
            identifier_hash: row.identifier_hash,
            ip: row.ip,
            user_agent: row.user_agent,
            session_hash: row.session_hash,
            detail: serde_json::from_str(&row.detail).unwrap_or_default(),
        }
    }
}

/// A statement's placeholders: `?` on SQLite, `$n` on PostgreSQL.
fn placeholder(postgres: bool, n: usize) -> String {
    if postgres {
        format!("${n}")
    } else {
        "?".to_owned()
    }
}

/// One bound value of a query.
enum Bind {
    Int(i64),
    Text(String),
}

/// The `SELECT` for `query` and its binds.
fn select(query: &AuditQuery, postgres: bool) -> (String, Vec<Bind>) {
    let mut clauses = Vec::new();
    let mut binds = Vec::new();
    let next = |binds: &mut Vec<Bind>, bind: Bind| {
        binds.push(bind);
        placeholder(postgres, binds.len())
    };
    if let Some(user_id) = query.user_id {
        clauses.push(format!(
            "user_id = {}",
            next(&mut binds, Bind::Int(user_id))
        ));
    }
    if let Some(since) = query.since {
        let at = next(&mut binds, Bind::Int(since.timestamp_millis()));
        clauses.push(format!("at_ms >= {at}"));
    }
    if let Some(until) = query.until {
        let at = next(&mut binds, Bind::Int(until.timestamp_millis()));
        clauses.push(format!("at_ms < {at}"));
    }
    if !query.names.is_empty() {
        let names: Vec<String> = query
            .names
            .iter()
            .map(|name| next(&mut binds, Bind::Text(name.as_str().to_owned())))
            .collect();
        clauses.push(format!("name IN ({})", names.join(", ")));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let limit = if query.limit == 0 {
        DEFAULT_LIMIT
    } else {
        query.limit
    };
    let sql = format!(
        "SELECT at_ms, name, user_id, identifier_hash, ip, user_agent, session_hash, detail \
         FROM pow_audit_events {filter} ORDER BY at_ms DESC, id DESC LIMIT {limit}"
    );
    (sql, binds)
}

/// Runs `$body` with `$conn` checked out of the pool and `$pg` telling the backend.
macro_rules! with_conn {
    ($db:expr, |$conn:ident, $pg:ident| $body:expr) => {
        match $db {
            #[cfg(feature = "sqlite")]
            Database::Sqlite(pool) => {
                let mut $conn = checkout(pool)?;
                let $pg = false;
                $body
            }
            #[cfg(feature = "postgres")]
            Database::Postgres(pool) => {
                let mut $conn = checkout(pool)?;
                let $pg = true;
                $body
            }
        }
    };
}

impl DieselAuditSink {
    /// A sink on `db` (the users' database: [`DieselUsersContext::database`](crate::users::diesel::DieselUsersContext::database)).
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Deletes the events older than `before`; returns how many (for a retention job).
    ///
    /// # Errors
    /// [`PowError::Database`] when the statement fails.
    pub fn prune(&self, before: DateTime<Utc>) -> Result<usize, PowError> {
        let cutoff = before.timestamp_millis();
        with_conn!(&self.db, |conn, pg| {
            ::diesel::sql_query(format!(
                "DELETE FROM pow_audit_events WHERE at_ms < {}",
                placeholder(pg, 1)
            ))
            .bind::<BigInt, _>(cutoff)
            .execute(&mut *conn)
            .map_err(query_error)
        })
    }
}

impl AuditSink for DieselAuditSink {
    fn write(&self, events: &[AuditEvent]) -> Result<(), PowError> {
        with_conn!(&self.db, |conn, pg| {
            let sql = format!(
                "INSERT INTO pow_audit_events \
                 (at_ms, name, user_id, identifier_hash, ip, user_agent, session_hash, detail) \
                 VALUES ({})",
                (1..=8)
                    .map(|n| placeholder(pg, n))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            conn.transaction(|conn| {
                for event in events {
                    ::diesel::sql_query(sql.as_str())
                        .bind::<BigInt, _>(event.at.timestamp_millis())
                        .bind::<Text, _>(event.name.as_str())
                        .bind::<Nullable<BigInt>, _>(event.user_id)
                        .bind::<Nullable<Text>, _>(event.identifier_hash.as_deref())
                        .bind::<Nullable<Text>, _>(event.ip.as_deref())
                        .bind::<Nullable<Text>, _>(event.user_agent.as_deref())
                        .bind::<Nullable<Text>, _>(event.session_hash.as_deref())
                        .bind::<Text, _>(event.detail.to_string())
                        .execute(conn)?;
                }
                Ok(())
            })
            .map_err(query_error)
        })
    }

    fn anonymise_user(&self, user_id: i64, subject: &str) -> Result<usize, PowError> {
        #[derive(QueryableByName)]
        struct Detail {
            #[diesel(sql_type = BigInt)]
            id: i64,
            #[diesel(sql_type = Text)]
            detail: String,
        }
        with_conn!(&self.db, |conn, pg| {
            let select = format!(
                "SELECT CAST(id AS BIGINT) AS id, detail FROM pow_audit_events WHERE user_id = {}",
                placeholder(pg, 1)
            );
            let update = format!(
                "UPDATE pow_audit_events SET user_id = NULL, identifier_hash = {}, ip = NULL, \
                 user_agent = NULL, session_hash = NULL, detail = {} WHERE id = {}",
                placeholder(pg, 1),
                placeholder(pg, 2),
                placeholder(pg, 3)
            );
            conn.transaction(|conn| {
                let rows: Vec<Detail> = ::diesel::sql_query(select.as_str())
                    .bind::<BigInt, _>(user_id)
                    .load(conn)?;
                for row in &rows {
                    let detail = serde_json::from_str(&row.detail).unwrap_or_default();
                    ::diesel::sql_query(update.as_str())
                        .bind::<Text, _>(subject)
                        .bind::<Text, _>(super::anonymised_detail(&detail).to_string())
                        .bind::<BigInt, _>(row.id)
                        .execute(conn)?;
                }
                Ok(rows.len())
            })
            .map_err(query_error)
        })
    }

    fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, PowError> {
        with_conn!(&self.db, |conn, pg| {
            let (sql, binds) = select(query, pg);
            let mut statement = ::diesel::sql_query(sql).into_boxed();
            for bind in binds {
                statement = match bind {
                    Bind::Int(v) => statement.bind::<BigInt, _>(v),
                    Bind::Text(v) => statement.bind::<Text, _>(v),
                };
            }
            let rows: Vec<Row> = statement.load(&mut *conn).map_err(query_error)?;
            Ok(rows.into_iter().map(AuditEvent::from).collect())
        })
    }
}
