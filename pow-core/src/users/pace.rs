//! Equal time for a refused insert: an insert refused because its user id is taken comes
//! back as soon as the database says so, while one that is written pays for the row, its
//! indexes and the commit. Where the refusal is hidden (an invitation to an address with an
//! account answers as a new one does) that difference alone would tell taken from new
//! addresses. [`InsertPace`] keeps the durations of recent written inserts and makes a
//! refused one last as long as one of them, picked at random, so the two take the same
//! spread of times.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many written inserts the pace remembers.
const KEPT: usize = 32;

/// The longest a refused insert is held: a written insert that stalled (a lock, a busy
/// disk) must not make every refusal after it wait as long.
const LONGEST: Duration = Duration::from_millis(500);

/// Recent written-insert durations, shared by every clone of one setup's user schema.
///
/// # Example
/// ```
/// use std::time::{Duration, Instant};
/// use pow_core::users::InsertPace;
///
/// let pace = InsertPace::default();
/// pace.written(Duration::from_millis(2));
/// let started = Instant::now();
/// // A refused insert that came back at once is held to a written one's time.
/// pace.hold_refused(started);
/// assert!(started.elapsed() >= Duration::from_millis(2));
/// ```
#[derive(Clone, Default)]
pub struct InsertPace {
    recent: Arc<Mutex<VecDeque<Duration>>>,
}

impl std::fmt::Debug for InsertPace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InsertPace").finish_non_exhaustive()
    }
}

impl InsertPace {
    /// Remembers how long a written insert took.
    pub fn written(&self, took: Duration) {
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() == KEPT {
                recent.pop_front();
            }
            recent.push_back(took.min(LONGEST));
        }
    }

    /// How long a refused insert started at `started` should last: one remembered written
    /// insert's time, picked at random; `None` before any insert was written.
    pub fn target(&self) -> Option<Duration> {
        let recent = self.recent.lock().ok()?;
        if recent.is_empty() {
            return None;
        }
        let pick = rand::Rng::gen_range(&mut rand::thread_rng(), 0..recent.len());
        recent.get(pick).copied()
    }

    /// Blocks the calling thread until a refused insert started at `started` has lasted
    /// as long as [`target`](Self::target). Runs where inserts run: on a blocking thread,
    /// never on the async executor.
    pub fn hold_refused(&self, started: Instant) {
        if let Some(rest) = self
            .target()
            .and_then(|target| target.checked_sub(started.elapsed()))
        {
            std::thread::sleep(rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_lasts_as_long_as_a_remembered_write() {
        let pace = InsertPace::default();
        assert_eq!(pace.target(), None, "nothing written yet: nothing to match");
        pace.written(Duration::from_millis(30));
        let started = Instant::now();
        pace.hold_refused(started);
        assert!(started.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn the_pace_keeps_recent_writes_and_caps_a_stall() {
        let pace = InsertPace::default();
        pace.written(Duration::from_secs(60));
        assert_eq!(pace.target(), Some(LONGEST));
        for _ in 0..KEPT {
            pace.written(Duration::from_millis(3));
        }
        for _ in 0..50 {
            assert_eq!(pace.target(), Some(Duration::from_millis(3)));
        }
    }

    #[test]
    fn the_target_is_picked_from_the_spread_of_writes() {
        let pace = InsertPace::default();
        pace.written(Duration::from_millis(1));
        pace.written(Duration::from_millis(2));
        let picked: std::collections::BTreeSet<_> =
            (0..200).filter_map(|_| pace.target()).collect();
        assert_eq!(picked.len(), 2, "{picked:?}");
    }
}
