//! The password checks under way in this process, which the setup holds once and the
//! admission in [`limits`](super) bounds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Password checks under way in this process: per client, per network, per account, and
/// in all.
#[derive(Debug, Default)]
pub(crate) struct InFlight(Mutex<InFlightState>);

#[derive(Debug, Default)]
struct InFlightState {
    counts: HashMap<String, u32>,
    total: usize,
}

/// One bound on the checks a subject (a client, a network, an account) has under way.
pub(super) struct Bound {
    subject: String,
    max: u32,
    /// Only once the checks under way fill half the pool (the reserved half).
    reserved_half_only: bool,
}

impl Bound {
    pub(super) fn always(subject: String, max: u32) -> Self {
        Self {
            subject,
            max,
            reserved_half_only: false,
        }
    }

    pub(super) fn in_reserved_half(subject: String, max: u32) -> Self {
        Self {
            subject,
            max,
            reserved_half_only: true,
        }
    }
}

/// Why [`InFlight::enter`] refused a check.
pub(super) enum Crowded {
    /// A client or an account has its maximum under way.
    Subject,
    /// The checks under way fill half the pool, and this one has failures behind it, or
    /// its network or account already has its share under way.
    Shed,
}

impl InFlight {
    /// Takes a place under each of `bounds` at once, or none. Once `half` checks are under
    /// way, a `failing` check is refused, and so is one over a bound of the reserved half.
    pub(super) fn enter(
        self: &Arc<Self>,
        bounds: Vec<Bound>,
        half: usize,
        failing: bool,
    ) -> Result<InFlightSlot, Crowded> {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let reserved = state.total >= half;
        if reserved && failing {
            return Err(Crowded::Shed);
        }
        let full = |bound: &Bound| {
            state
                .counts
                .get(&bound.subject)
                .is_some_and(|n| *n >= bound.max)
        };
        if bounds.iter().any(|b| !b.reserved_half_only && full(b)) {
            return Err(Crowded::Subject);
        }
        if reserved && bounds.iter().any(|b| b.reserved_half_only && full(b)) {
            return Err(Crowded::Shed);
        }
        for bound in &bounds {
            *state.counts.entry(bound.subject.clone()).or_insert(0) += 1;
        }
        state.total += 1;
        Ok(InFlightSlot {
            owner: Arc::clone(self),
            subjects: bounds.into_iter().map(|bound| bound.subject).collect(),
        })
    }
}

/// One password check under way; dropping it frees its places.
#[derive(Debug)]
pub(crate) struct InFlightSlot {
    owner: Arc<InFlight>,
    subjects: Vec<String>,
}

impl Drop for InFlightSlot {
    fn drop(&mut self) {
        let mut state = self.owner.0.lock().unwrap_or_else(PoisonError::into_inner);
        state.total = state.total.saturating_sub(1);
        for subject in &self.subjects {
            if let Some(count) = state.counts.get_mut(subject) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    state.counts.remove(subject);
                }
            }
        }
    }
}
