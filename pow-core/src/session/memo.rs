//! [`SecretMemo`]: what was derived from a secret a client presents (a signed token, a
//! cookie's session id), remembered by the long-lived instance of a layer so the next
//! request with the same secret skips the derivation.

use std::hash::BuildHasher as _;
use std::sync::{Mutex, PoisonError};

/// Slots of a memo.
const SLOTS: usize = 1024;

/// A direct-mapped memo of values derived from secrets, by a randomly seeded hash: a value
/// is taken from it only when the secret equals (in constant time) the one it was derived
/// from, exactly as trustworthy as deriving it again. A newer secret takes its slot's
/// place: no bookkeeping per read, a fixed size.
pub(crate) struct SecretMemo<V> {
    hasher: foldhash::fast::RandomState,
    slots: Mutex<Vec<Option<Slot<V>>>>,
}

struct Slot<V> {
    hash: u64,
    secret: Box<str>,
    value: V,
}

impl<V: Clone> SecretMemo<V> {
    pub(crate) fn new() -> Self {
        Self {
            hasher: foldhash::fast::RandomState::default(),
            slots: Mutex::default(),
        }
    }

    fn slot(&self, secret: &str) -> (u64, usize) {
        let hash = self.hasher.hash_one(secret);
        (hash, usize::try_from(hash % SLOTS as u64).unwrap_or(0))
    }

    /// What was derived from `secret`, if it is remembered.
    pub(crate) fn get(&self, secret: &str) -> Option<V> {
        let (hash, slot) = self.slot(secret);
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let known = slots.get(slot)?.as_ref()?;
        (known.hash == hash
            && crate::token::secure_compare(known.secret.as_bytes(), secret.as_bytes()))
        .then(|| known.value.clone())
    }

    /// Remembers `value`, derived from `secret`.
    pub(crate) fn put(&self, secret: &str, value: V) {
        let (hash, slot) = self.slot(secret);
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if slots.is_empty() {
            slots.resize_with(SLOTS, || None);
        }
        if let Some(entry) = slots.get_mut(slot) {
            *entry = Some(Slot {
                hash,
                secret: secret.into(),
                value,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_secret_gets_the_value() {
        let memo = SecretMemo::new();
        assert_eq!(memo.get("secret-a"), None);
        memo.put("secret-a", 1);
        assert_eq!(memo.get("secret-a"), Some(1));
        assert_eq!(memo.get("secret-b"), None);
        assert_eq!(memo.get("secret-"), None);
        memo.put("secret-a", 2);
        assert_eq!(memo.get("secret-a"), Some(2));
    }
}
