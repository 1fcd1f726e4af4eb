//! Erasing the accounts whose grace period is over.

use ::diesel::sql_types::{BigInt, Timestamp};
use ::diesel::{QueryableByName, RunQueryDsl};
use chrono::{DateTime, Utc};
use pow_core::users::diesel::{query_error, Tables};
use pow_core::{PowConfig, PowError};

use crate::{Account, ERASE_AFTER_FIELD};

/// What a purge did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Purge {
    /// The ids of the accounts erased.
    pub erased: Vec<i64>,
    /// The accounts that failed to erase, with the error: they stay due, and the next
    /// purge takes them up where this one stopped.
    pub failed: Vec<(i64, String)>,
}

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// How many due accounts one query reads.
const BATCH: i64 = 500;

pub(crate) async fn run(
    account: &Account,
    config: &PowConfig,
    now: DateTime<Utc>,
) -> Result<Purge, PowError> {
    let tables = Tables::of(config, "pow-ext-account (the purge of closed accounts)")?;
    let users_table = tables.table("users");
    let users = config.users()?;
    let mut purge = Purge::default();
    // Ids above the last one read: an account that failed stays due but is not read again
    // in this run.
    let mut after = 0_i64;
    loop {
        let sql = format!(
            "SELECT CAST(id AS BIGINT) AS id FROM {users_table} \
             WHERE {ERASE_AFTER_FIELD} IS NOT NULL AND {ERASE_AFTER_FIELD} <= $1 AND id > $2 \
             ORDER BY id LIMIT {BATCH}"
        );
        let cutoff = now.naive_utc();
        let due: Vec<Due> = tables
            .run(move |db| {
                pow_core::with_connection!(db, conn => ::diesel::sql_query(&sql)
                    .bind::<Timestamp, _>(cutoff)
                    .bind::<BigInt, _>(after)
                    .load(conn)
                    .map_err(query_error))
            })
            .await?;
        let Some(last) = due.last() else {
            return Ok(purge);
        };
        after = last.id;
        for Due { id } in due {
            // Read again: it may have been reopened, or erased by another purge, since.
            let user = match users.get(id).await {
                Ok(Some(user)) => user,
                Ok(None) => continue,
                Err(err) => {
                    purge.failed.push((id, err.to_string()));
                    continue;
                }
            };
            let still_due =
                user.is_closed() && Account::erase_date(&user).is_some_and(|at| at <= now);
            if !still_due {
                continue;
            }
            match account.erase(config, &user).await {
                Ok(()) => purge.erased.push(id),
                Err(err) => {
                    tracing::error!(user_id = id, error = %err, "erasing a closed account failed");
                    purge.failed.push((id, err.to_string()));
                }
            }
        }
    }
}
