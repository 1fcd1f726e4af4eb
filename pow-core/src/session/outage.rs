//! Sessions read during a store outage from a short-lived local copy (off by default:
//! [`PowConfigBuilder::session_outage_grace`](crate::PowConfigBuilder::session_outage_grace)).
//!
//! Each signed-in request that reads its session from the store leaves a copy here, dated.
//! When the store does not answer, a request whose session was read within the grace
//! period is let through on the copy; every other store operation still fails closed. A
//! copy goes as soon as this process learns its session ended: its own sign-outs and
//! revocations, the other servers' through the store's broadcast (a missed message drops
//! them all), and a read that finds the session gone. What it cannot know: a session
//! ended on another server whose message did not arrive before the outage; the grace
//! period bounds that.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::live::{LiveEvent, LiveSessionId};
use super::shards::SessionShards;
use super::SessionMetadata;
use crate::users::User;

/// Copies kept at most (a full shard of the map is emptied before a new one goes in).
const CAPACITY: usize = 16_384;

/// One session's copy, and when the store gave it.
#[derive(Clone)]
struct Held {
    user: Arc<User>,
    metadata: Arc<SessionMetadata>,
    read_at: Instant,
}

/// The dated copies of the sessions this process read.
pub(crate) struct OutageCopies {
    grace: Duration,
    copies: SessionShards<Held>,
}

impl std::fmt::Debug for OutageCopies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutageCopies")
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

impl OutageCopies {
    pub(crate) fn new(grace: Duration) -> Self {
        Self {
            grace,
            copies: SessionShards::new(CAPACITY),
        }
    }

    /// Keeps a copy of the session `session_id` just read from the store.
    pub(crate) fn remember(
        &self,
        session_id: &str,
        user: &Arc<User>,
        metadata: &Arc<SessionMetadata>,
    ) {
        let held = Held {
            user: Arc::clone(user),
            metadata: Arc::clone(metadata),
            read_at: Instant::now(),
        };
        self.copies.insert(session_id.to_owned(), held);
    }

    /// The copy of `session_id`, if it was read within the grace period.
    pub(crate) fn during_outage(
        &self,
        session_id: &str,
    ) -> Option<(Arc<User>, Arc<SessionMetadata>)> {
        let held = self.copies.get(session_id)?;
        (held.read_at.elapsed() <= self.grace).then_some((held.user, held.metadata))
    }

    /// Drops the copy of `session_id` (its session ended, or a read found it gone).
    pub(crate) fn forget(&self, session_id: &str) {
        self.copies.remove(session_id);
    }

    /// Drops what `event` ends: one session, a user's sessions, or everything when
    /// messages may have been missed.
    pub(crate) fn apply(&self, event: &LiveEvent) {
        match event {
            LiveEvent::Missed => self.copies.retain(|_| false),
            LiveEvent::AllEnded { user_id } => self.copies.retain(|held| held.user.id != *user_id),
            LiveEvent::Ended(live) => self.copies.retain(|held| {
                held.user.id != live.user_id
                    || LiveSessionId::of(held.user.id, &held.metadata.fingerprint) != *live
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64) -> Arc<User> {
        Arc::new(User {
            id,
            password_hash: None,
            inserted_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            fields: Default::default(),
        })
    }

    #[test]
    fn copies_serve_within_the_grace_and_go_with_their_session() {
        let copies = OutageCopies::new(Duration::from_secs(60));
        let metadata = Arc::new(SessionMetadata::new());
        copies.remember("a.1", &user(1), &metadata);
        copies.remember("b.1", &user(1), &Arc::new(SessionMetadata::new()));
        copies.remember("c.2", &user(2), &metadata);
        assert!(copies.during_outage("a.1").is_some());
        assert!(copies.during_outage("x.1").is_none());

        copies.apply(&LiveEvent::Ended(LiveSessionId::of(
            1,
            &metadata.fingerprint,
        )));
        assert!(copies.during_outage("a.1").is_none(), "the ended session");
        assert!(
            copies.during_outage("b.1").is_some(),
            "another session of the user"
        );
        copies.apply(&LiveEvent::AllEnded { user_id: 1 });
        assert!(copies.during_outage("b.1").is_none());
        assert!(copies.during_outage("c.2").is_some());
        copies.forget("c.2");
        assert!(copies.during_outage("c.2").is_none());
        copies.remember("d.3", &user(3), &metadata);
        copies.apply(&LiveEvent::Missed);
        assert!(
            copies.during_outage("d.3").is_none(),
            "missed messages drop everything"
        );

        let none = OutageCopies::new(Duration::ZERO);
        none.remember("e.4", &user(4), &metadata);
        std::thread::sleep(Duration::from_millis(2));
        assert!(none.during_outage("e.4").is_none(), "past the grace");
    }
}
