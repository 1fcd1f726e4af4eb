//! [`BackgroundMailer`]: mail delivery off the request path, with a bounded queue and
//! retries.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Mail, Mailer};
use crate::error::PowError;

/// Delivers mails from a queue on a thread of its own, so a request that sends a mail
/// answers at once and takes the same time whether or not a mail goes out (a sign-up with
/// a new address and one with a taken address look alike), and a slow or failing SMTP
/// server never holds requests up.
///
/// The queue is bounded ([`capacity`](Self::capacity), 1 000 by default): when it is full,
/// [`deliver`](Mailer::deliver) fails with [`PowError::Busy`] and the request answers
/// `503`, rather than memory growing. A failed delivery is retried
/// ([`attempts`](Self::attempts), 3 in all by default) after a growing pause
/// ([`backoff`](Self::backoff), 1 s, then 2 s, ...); a mail that fails every attempt is
/// logged and dropped.
///
/// ```
/// use pow_core::mailer::{BackgroundMailer, MemoryMailer};
///
/// let outbox = MemoryMailer::new();
/// let mailer = BackgroundMailer::new(outbox.clone()).capacity(100).attempts(5);
/// let config = pow_core::PowConfig::builder("a".repeat(64))
///     .base_url("https://example.com")
///     .mailer(mailer)
///     .build()?;
/// # Ok::<_, pow_core::PowError>(())
/// ```
pub struct BackgroundMailer {
    inner: Arc<dyn Mailer>,
    capacity: usize,
    attempts: u32,
    backoff: Duration,
    queue: OnceLock<mpsc::Sender<Mail>>,
}

impl std::fmt::Debug for BackgroundMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackgroundMailer")
            .field("capacity", &self.capacity)
            .field("attempts", &self.attempts)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl BackgroundMailer {
    /// Delivers through `inner`, in the background.
    pub fn new(inner: impl Mailer) -> Self {
        Self {
            inner: Arc::new(inner),
            capacity: 1_000,
            attempts: 3,
            backoff: Duration::from_secs(1),
            queue: OnceLock::new(),
        }
    }

    /// Most mails waiting at once (at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Delivery attempts per mail, the first included (at least 1).
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// Pause before the first retry; each further retry waits twice as long.
    pub fn backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// The queue, with its delivery thread started on first use.
    fn queue(&self) -> Result<&mpsc::Sender<Mail>, PowError> {
        if let Some(queue) = self.queue.get() {
            return Ok(queue);
        }
        let (tx, rx) = mpsc::channel(self.capacity);
        let worker = Worker {
            inner: Arc::clone(&self.inner),
            attempts: self.attempts,
            backoff: self.backoff,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| PowError::Mailer(format!("cannot start the mail thread: {err}")))?;
        // Two first sends racing here may both build a thread; the loser's queue is dropped
        // at once, which ends its thread.
        if self.queue.set(tx).is_ok() {
            std::thread::Builder::new()
                .name("pow-mail".to_owned())
                .spawn(move || runtime.block_on(worker.run(rx)))
                .map_err(|err| PowError::Mailer(format!("cannot start the mail thread: {err}")))?;
        }
        self.queue
            .get()
            .ok_or_else(|| PowError::Mailer("the mail queue is not running".to_owned()))
    }
}

#[async_trait::async_trait]
impl Mailer for BackgroundMailer {
    /// Queues `mail`; [`PowError::Busy`] when the queue is full.
    async fn deliver(&self, mail: Mail) -> Result<(), PowError> {
        match self.queue()?.try_send(mail) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("mail queue full: a mail was refused");
                Err(PowError::Busy)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                Err(PowError::Mailer("the mail thread has stopped".to_owned()))
            }
        }
    }
}

struct Worker {
    inner: Arc<dyn Mailer>,
    attempts: u32,
    backoff: Duration,
}

impl Worker {
    /// Delivers queued mails one after the other until every sender is gone.
    async fn run(self, mut rx: mpsc::Receiver<Mail>) {
        while let Some(mail) = rx.recv().await {
            self.deliver(mail).await;
        }
    }

    async fn deliver(&self, mail: Mail) {
        let mut pause = self.backoff;
        for attempt in 1..=self.attempts {
            match self.inner.deliver(mail.clone()).await {
                Ok(()) => return,
                Err(err) if attempt < self.attempts => {
                    tracing::warn!(error = %err, attempt, "mail delivery failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause = pause.saturating_mul(2);
                }
                Err(err) => {
                    tracing::error!(error = %err, attempts = self.attempts, "mail delivery failed; dropped");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Instant;

    use super::*;
    use crate::mailer::MemoryMailer;

    /// Fails its first `failures` deliveries, then hands mails to an outbox.
    struct Flaky {
        failures: AtomicU32,
        outbox: MemoryMailer,
        tries: Arc<AtomicU32>,
    }

    #[async_trait::async_trait]
    impl Mailer for Flaky {
        async fn deliver(&self, mail: Mail) -> Result<(), PowError> {
            self.tries.fetch_add(1, Ordering::SeqCst);
            if self.failures.load(Ordering::SeqCst) > 0 {
                self.failures.fetch_sub(1, Ordering::SeqCst);
                return Err(PowError::Mailer("smtp down".into()));
            }
            self.outbox.deliver(mail).await
        }
    }

    fn mail(to: &str) -> Mail {
        Mail {
            to: to.to_owned(),
            subject: "s".to_owned(),
            text: "t".to_owned(),
            html: "h".to_owned(),
        }
    }

    fn wait_for(outbox: &MemoryMailer, to: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while outbox.last_to(to).is_none() {
            assert!(Instant::now() < deadline, "never delivered to {to}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[tokio::test]
    async fn delivers_after_retries() {
        let outbox = MemoryMailer::new();
        let tries = Arc::new(AtomicU32::new(0));
        let flaky = Flaky {
            failures: AtomicU32::new(2),
            outbox: outbox.clone(),
            tries: Arc::clone(&tries),
        };
        let mailer = BackgroundMailer::new(flaky).backoff(Duration::from_millis(1));
        mailer.deliver(mail("a@example.com")).await.unwrap();
        wait_for(&outbox, "a@example.com");
        assert_eq!(tries.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn gives_up_after_the_last_attempt() {
        let outbox = MemoryMailer::new();
        let tries = Arc::new(AtomicU32::new(0));
        let flaky = Flaky {
            failures: AtomicU32::new(5),
            outbox: outbox.clone(),
            tries: Arc::clone(&tries),
        };
        let mailer = BackgroundMailer::new(flaky)
            .attempts(2)
            .backoff(Duration::from_millis(1));
        mailer.deliver(mail("a@example.com")).await.unwrap();
        // The next mail is handled after the first one's attempts are spent.
        mailer.deliver(mail("b@example.com")).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while tries.load(Ordering::SeqCst) < 4 {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(outbox.last_to("a@example.com").is_none());
        assert!(
            outbox.last_to("b@example.com").is_none(),
            "b failed twice too"
        );
    }

    /// A full queue refuses mails instead of growing.
    #[tokio::test]
    async fn a_full_queue_refuses() {
        /// Never finishes a delivery.
        struct Stuck;
        #[async_trait::async_trait]
        impl Mailer for Stuck {
            async fn deliver(&self, _mail: Mail) -> Result<(), PowError> {
                std::future::pending::<()>().await;
                Ok(())
            }
        }
        let mailer = BackgroundMailer::new(Stuck).capacity(2);
        let mut refused = 0;
        for i in 0..5 {
            if matches!(
                mailer.deliver(mail(&format!("{i}@example.com"))).await,
                Err(PowError::Busy)
            ) {
                refused += 1;
            }
        }
        // One in the worker's hands, two waiting, the rest refused.
        assert!((2..=3).contains(&refused), "{refused} refused");
    }
}
