//! Fixed-window attempt counters on [`Store::incr`](super::Store::incr).

use std::sync::Arc;

use super::{Key, Limit, Store, StoreError};
use crate::config::PowConfig;
use crate::token::keyed_digest_with;

/// Namespace of every limiter's counters (prefixed like the other namespaces).
pub const LIMIT_NAMESPACE: &str = "limit";

/// Counts attempts of one rule (say, "reset mails per address") per subject, in the
/// configured cache store.
///
/// Each subject gets a counter that starts with its first attempt and lasts one window
/// (a fixed window: across a window boundary up to twice `max` attempts can pass within
/// one `per`). Counting is one atomic [`Store::incr`](super::Store::incr), so concurrent
/// attempts never slip past the limit. Subjects are stored as a keyed hash, never in clear
/// (the store holds no addresses), and the work is the same whether or not an account
/// matches the subject.
///
/// ```
/// use std::time::Duration;
/// use pow_core::store::{Limit, Limiter};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let config = pow_core::PowConfig::builder("a".repeat(64)).build()?;
/// let limiter = Limiter::new(&config, "demo_mails");
/// let limit = Limit::new(2, Duration::from_secs(3600));
/// assert!(limiter.hit(limit, "ann@example.com").await?);
/// assert!(limiter.hit(limit, "ann@example.com").await?);
/// assert!(!limiter.hit(limit, "ann@example.com").await?);
/// assert!(limiter.hit(limit, "bob@example.com").await?);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Limiter {
    store: Arc<dyn Store>,
    namespace: String,
    rule: &'static str,
    mac: hmac::Hmac<sha2::Sha256>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("rule", &self.rule)
            .finish_non_exhaustive()
    }
}

impl Limiter {
    /// The counters of `rule` (a name unique to the rule, used in keys).
    pub fn new(config: &PowConfig, rule: &'static str) -> Self {
        Self {
            store: Arc::clone(config.store()),
            namespace: config.namespaced(LIMIT_NAMESPACE),
            rule,
            mac: config.verifier().mac(&format!("pow limiter {rule}")),
        }
    }

    /// The key of `subject`'s counter (the rule's name and the subject's keyed digest), for
    /// a caller that keeps it between requests and counts with [`hit_at`](Self::hit_at).
    pub fn counter(&self, subject: &str) -> Key {
        let digest = keyed_digest_with(self.mac.clone(), subject);
        Key::from([self.rule, digest.as_str()])
    }

    /// Counts one attempt by `subject`; `false` when it is over `limit` (the attempt is
    /// counted all the same, which does not extend the window).
    ///
    /// # Errors
    /// The store's error, [`StoreError::Unsupported`] for a store without `incr`.
    pub async fn hit(&self, limit: Limit, subject: &str) -> Result<bool, StoreError> {
        self.hit_at(limit, &self.counter(subject)).await
    }

    /// [`hit`](Self::hit) on the counter `counter`: one of [`counter`](Self::counter), or
    /// for a subject that is no personal data (a random id), a key of three segments
    /// starting with the rule's name (a digest's key has two, so the two never meet).
    ///
    /// # Errors
    /// The store's error, [`StoreError::Unsupported`] for a store without `incr`.
    pub async fn hit_at(&self, limit: Limit, counter: &Key) -> Result<bool, StoreError> {
        let count = self
            .store
            .incr(&self.namespace, counter, 1, Some(limit.per))
            .await?;
        Ok(count <= u64::from(limit.max))
    }

    /// Counts one attempt by `subject` in `limit`'s window and returns the attempts made in
    /// the window so far, this one included.
    ///
    /// # Errors
    /// The store's error, [`StoreError::Unsupported`] for a store without `incr`.
    pub async fn add(&self, limit: Limit, subject: &str) -> Result<u64, StoreError> {
        self.store
            .incr(&self.namespace, &self.counter(subject), 1, Some(limit.per))
            .await
    }

    /// The attempts `subject` made in its current window.
    ///
    /// # Errors
    /// The store's error.
    pub async fn count(&self, subject: &str) -> Result<u64, StoreError> {
        match self
            .store
            .get(&self.namespace, &self.counter(subject))
            .await?
        {
            Some(bytes) => super::parse_counter(&bytes),
            None => Ok(0),
        }
    }

    /// Forgets `subject`'s attempts.
    ///
    /// # Errors
    /// The store's error.
    pub async fn reset(&self, subject: &str) -> Result<(), StoreError> {
        self.store
            .delete(&self.namespace, &self.counter(subject))
            .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

    use std::time::Duration;

    use super::*;

    fn limiter(rule: &'static str) -> (PowConfig, Limiter) {
        let config = PowConfig::builder("k".repeat(64)).build().unwrap();
        let limiter = Limiter::new(&config, rule);
        (config, limiter)
    }

    #[tokio::test]
    async fn a_kept_counter_counts_as_its_subject_does() {
        let config = PowConfig::builder("a".repeat(64)).build().unwrap();
        let limiter = Limiter::new(&config, "kept");
        let limit = Limit::new(2, Duration::from_secs(60));
        let counter = limiter.counter("ann@example.com");
        assert!(limiter.hit_at(limit, &counter).await.unwrap());
        assert!(limiter.hit(limit, "ann@example.com").await.unwrap());
        assert!(!limiter.hit_at(limit, &counter).await.unwrap());
        assert_eq!(limiter.count("ann@example.com").await.unwrap(), 3);
        // A key of the caller's own naming is a counter of its own.
        let plain = Key::from(["kept", "id", "0123456789abcdef"]);
        assert!(limiter.hit_at(limit, &plain).await.unwrap());
        assert!(limiter.hit_at(limit, &plain).await.unwrap());
        assert!(!limiter.hit_at(limit, &plain).await.unwrap());
        assert!(!counter.0.iter().any(|segment| segment.contains("ann")));
    }

    #[tokio::test]
    async fn counts_per_rule_and_subject_and_resets() {
        let (config, mails) = limiter("mails");
        let other_rule = Limiter::new(&config, "codes");
        let limit = Limit::new(1, Duration::from_secs(60));
        assert!(mails.hit(limit, "a").await.unwrap());
        assert!(!mails.hit(limit, "a").await.unwrap());
        assert_eq!(mails.count("a").await.unwrap(), 2);
        assert!(mails.hit(limit, "b").await.unwrap());
        assert!(other_rule.hit(limit, "a").await.unwrap());
        mails.reset("a").await.unwrap();
        assert_eq!(mails.count("a").await.unwrap(), 0);
        assert!(mails.hit(limit, "a").await.unwrap());
    }

    #[tokio::test]
    async fn zero_allows_nothing_and_subjects_are_not_stored_in_clear() {
        let (config, limiter) = limiter("mails");
        assert!(!limiter
            .hit(Limit::new(0, Duration::from_secs(60)), "ann@example.com")
            .await
            .unwrap());
        let records = config
            .store()
            .all(
                &config.namespaced(LIMIT_NAMESPACE),
                &[super::super::KeyPattern::Any, super::super::KeyPattern::Any],
            )
            .await
            .unwrap();
        assert_eq!(records.len(), 1);
        assert!(!records[0].0 .0[1].contains("ann"));
    }
}
