//! The hashing pool: the threads every password hash and verification runs on.
//!
//! Hashing is the one expensive thing pow-rs does (tens of milliseconds of CPU per
//! sign-in). Run inline or on the general blocking pool, a burst of sign-ins takes the
//! CPU from every other request. The pool instead runs hashes on a few dedicated threads
//! at the lowest CPU priority (nice 19 on Linux), so signed-in traffic keeps the CPU and
//! sign-ins use what is left, and it bounds the work waiting: when its queue is full a
//! sign-in is answered `503 Service Unavailable` with `Retry-After` at once
//! ([`PowError::Busy`](crate::PowError::Busy)) instead of piling up.
//!
//! Each [`PowConfig`](crate::PowConfig) gets its own pool (threads start on first use);
//! setups that should share one pass the same [`HashPool`] to
//! [`PowConfigBuilder::hash_pool`](crate::PowConfigBuilder::hash_pool).
//!
//! ```
//! use pow_core::password::{HashPool, HashPoolOptions, Pbkdf2Hasher, PasswordHasher};
//!
//! let pool = HashPool::new(HashPoolOptions::default().threads(1).queue(8));
//! let hasher = pool.hasher(Pbkdf2Hasher::new(1));
//! let hash = hasher.hash("correct horse").unwrap();
//! assert!(hasher.verify("correct horse", &hash).unwrap());
//! ```

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};

use super::{HashError, PasswordHasher};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Sizing of a [`HashPool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashPoolOptions {
    threads: usize,
    queue: usize,
    nice: i32,
}

impl Default for HashPoolOptions {
    /// One thread per CPU (at most 8), a queue of 16 hashes per thread, nice 19.
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = cpus.clamp(1, 8);
        Self {
            threads,
            queue: threads * 16,
            nice: 19,
        }
    }
}

impl HashPoolOptions {
    /// How many hashes run at once (the pool's threads). Default: one per CPU, at most 8.
    /// Values below 1 count as 1.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// How many hashes may wait for a thread; one more is refused with
    /// [`HashError::Busy`]. Default: 16 per thread. `0` refuses whenever every thread is busy.
    pub fn queue(mut self, queue: usize) -> Self {
        self.queue = queue;
        self
    }

    /// The threads' nice value on Linux, from `-20` (highest priority) to `19` (lowest,
    /// the default). Raising priority (below the process's own) needs privileges and is
    /// otherwise ignored with a warning. No effect on other systems.
    pub fn nice(mut self, nice: i32) -> Self {
        self.nice = nice.clamp(-20, 19);
        self
    }

    /// The number of threads.
    pub fn thread_count(&self) -> usize {
        self.threads
    }

    /// The queue length.
    pub fn queue_len(&self) -> usize {
        self.queue
    }

    /// The nice value.
    pub fn nice_value(&self) -> i32 {
        self.nice
    }
}

/// A bounded pool of low-priority threads for password hashing. Cheap to clone (shared).
///
/// Threads start on first use and stop when the last clone is dropped and the queue has
/// drained. A hash that panics fails with [`HashError::Algorithm`]; the thread lives on.
#[derive(Clone)]
pub struct HashPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    options: HashPoolOptions,
    sender: OnceLock<Sender<Job>>,
    /// Jobs submitted and not yet finished (queued + running).
    pending: Arc<AtomicUsize>,
    /// Jobs ever accepted.
    accepted: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashPool")
            .field("options", &self.inner.options)
            .field("pending", &self.pending())
            .finish()
    }
}

impl Default for HashPool {
    fn default() -> Self {
        Self::new(HashPoolOptions::default())
    }
}

impl HashPool {
    /// A pool with the given sizing; no thread starts until the first job.
    pub fn new(options: HashPoolOptions) -> Self {
        Self {
            inner: Arc::new(PoolInner {
                options,
                sender: OnceLock::new(),
                pending: Arc::new(AtomicUsize::new(0)),
                accepted: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// The pool's sizing.
    pub fn options(&self) -> HashPoolOptions {
        self.inner.options
    }

    /// Jobs queued or running right now.
    pub fn pending(&self) -> usize {
        self.inner.pending.load(Ordering::Relaxed)
    }

    /// Jobs (hashes and verifications) the pool has accepted since it was made: a
    /// monitoring counter, and how tests see that a refused request hashed nothing.
    pub fn accepted(&self) -> u64 {
        self.inner.accepted.load(Ordering::Relaxed)
    }

    /// `hasher`, with every hash and verification run on this pool.
    pub fn hasher(&self, hasher: impl PasswordHasher) -> PooledHasher {
        self.hasher_arc(Arc::new(hasher))
    }

    /// [`hasher`](Self::hasher) for a shared hasher.
    pub fn hasher_arc(&self, hasher: Arc<dyn PasswordHasher>) -> PooledHasher {
        PooledHasher {
            pool: self.clone(),
            hasher,
        }
    }

    /// Runs `work` on a pool thread and blocks the calling thread until it is done.
    ///
    /// Call it from a thread that may block (pow-core calls it inside the
    /// [`Users`](crate::users::Users) handle's blocking work), never on the async executor.
    /// Fails with [`HashError::Busy`] at once when the queue is full.
    pub fn run<T, F>(&self, work: F) -> Result<T, HashError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.submit(work)?.wait()
    }

    /// Queues `work` without waiting for it: [`Queued::wait`] gets the result. Fails with
    /// [`HashError::Busy`] when the queue is full.
    pub fn submit<T, F>(&self, work: F) -> Result<Queued<T>, HashError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let options = self.inner.options;
        let limit = options.threads.saturating_add(options.queue);
        let pending = &self.inner.pending;
        if pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_err()
        {
            return Err(HashError::Busy);
        }
        self.inner.accepted.fetch_add(1, Ordering::Relaxed);
        // From here the job owns the count: it is given back when the job ends, or when
        // the job is dropped unrun.
        let guard = PendingGuard(Arc::clone(pending));
        let (done_tx, done_rx) = mpsc::sync_channel::<T>(1);
        let job: Job = Box::new(move || {
            let result = std::panic::catch_unwind(AssertUnwindSafe(work));
            // Counted out before the caller can see the result.
            drop(guard);
            if let Ok(value) = result {
                // The caller may have given up waiting; nothing to do then.
                let _ = done_tx.send(value);
            }
        });
        self.sender()
            .send(job)
            .map(|()| Queued(done_rx))
            .map_err(|_| HashError::Algorithm("the hashing pool has stopped".into()))
    }

    fn sender(&self) -> &Sender<Job> {
        self.inner.sender.get_or_init(|| {
            let options = self.inner.options;
            let (tx, rx) = mpsc::channel::<Job>();
            let rx = Arc::new(Mutex::new(rx));
            for index in 0..options.threads {
                let rx = Arc::clone(&rx);
                let spawned = std::thread::Builder::new()
                    .name(format!("pow-hash-{index}"))
                    .spawn(move || worker(&rx, options.nice));
                if let Err(err) = spawned {
                    tracing::error!(error = %err, "could not start a password hashing thread");
                }
            }
            tx
        })
    }
}

/// Work accepted by [`HashPool::submit`].
#[derive(Debug)]
pub struct Queued<T>(Receiver<T>);

impl<T> Queued<T> {
    /// Blocks until the work is done. A panic in the work is [`HashError::Algorithm`].
    pub fn wait(self) -> Result<T, HashError> {
        self.0
            .recv()
            .map_err(|_| HashError::Algorithm("password hashing panicked".into()))
    }
}

/// Decrements the pending count when a job ends, also when it panics.
struct PendingGuard(Arc<AtomicUsize>);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn worker(rx: &Mutex<Receiver<Job>>, nice: i32) {
    set_current_thread_nice(nice);
    loop {
        // Only one idle thread waits in `recv` at a time; the others wait for the lock.
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// Sets the calling thread's nice value (Linux: nice is per thread).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn set_current_thread_nice(nice: i32) {
    // SAFETY: `gettid` has no preconditions; `setpriority` with `PRIO_PROCESS` and a thread
    // id only changes that thread's nice value and reports failure through its return value.
    let result = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice)
    };
    if result != 0 {
        tracing::warn!(
            nice,
            error = %std::io::Error::last_os_error(),
            "could not set the password hashing thread's priority"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn set_current_thread_nice(_nice: i32) {}

/// A [`PasswordHasher`] whose hashes and verifications run on a [`HashPool`].
///
/// [`PowConfig::hasher`](crate::PowConfig::hasher) returns one: the configured hasher on
/// the setup's pool. Its methods block the calling thread until a pool thread has done
/// the work, and fail with [`HashError::Busy`] when the pool's queue is full.
#[derive(Clone)]
pub struct PooledHasher {
    pool: HashPool,
    hasher: Arc<dyn PasswordHasher>,
}

impl std::fmt::Debug for PooledHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledHasher")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

impl PooledHasher {
    /// The pool the work runs on.
    pub fn pool(&self) -> &HashPool {
        &self.pool
    }

    /// The hasher doing the work.
    pub fn inner(&self) -> &dyn PasswordHasher {
        self.hasher.as_ref()
    }
}

impl PasswordHasher for PooledHasher {
    fn hash(&self, password: &str) -> Result<String, HashError> {
        let (hasher, password) = (Arc::clone(&self.hasher), password.to_owned());
        self.pool.run(move || hasher.hash(&password))?
    }

    fn verify(&self, password: &str, hash: &str) -> Result<bool, HashError> {
        let (hasher, password, hash) = (
            Arc::clone(&self.hasher),
            password.to_owned(),
            hash.to_owned(),
        );
        self.pool.run(move || hasher.verify(&password, &hash))?
    }

    fn needs_rehash(&self, hash: &str) -> bool {
        self.hasher.needs_rehash(hash)
    }

    fn dummy_verify(&self, password: &str) -> Result<(), HashError> {
        let (hasher, password) = (Arc::clone(&self.hasher), password.to_owned());
        self.pool.run(move || hasher.dummy_verify(&password))?
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::sync::mpsc::channel;
    use std::sync::Barrier;

    use super::*;

    /// Blocks every pool thread until released, so tests control when the pool is full.
    fn occupy(pool: &HashPool, count: usize) -> (Arc<Barrier>, Vec<Queued<()>>) {
        let release = Arc::new(Barrier::new(count + 1));
        let (started_tx, started_rx) = channel();
        let running = (0..count)
            .map(|_| {
                let (release, started) = (Arc::clone(&release), started_tx.clone());
                pool.submit(move || {
                    started.send(()).unwrap();
                    release.wait();
                })
                .unwrap()
            })
            .collect();
        for _ in 0..count {
            started_rx.recv().unwrap();
        }
        (release, running)
    }

    #[test]
    fn a_full_queue_is_refused_at_once_and_accepts_again_when_drained() {
        let pool = HashPool::new(HashPoolOptions::default().threads(1).queue(1));
        let (release, running) = occupy(&pool, 1);
        // One job fits in the queue behind the running one; the next is refused.
        let queued = pool.submit(|| 7).unwrap();
        assert_eq!(pool.pending(), 2);
        assert!(matches!(pool.submit(|| 0), Err(HashError::Busy)));
        assert!(matches!(pool.run(|| 0), Err(HashError::Busy)));
        assert_eq!(pool.pending(), 2);

        release.wait();
        running.into_iter().for_each(|job| job.wait().unwrap());
        assert_eq!(queued.wait().unwrap(), 7);
        assert_eq!(pool.run(|| 8).unwrap(), 8);
        assert_eq!(pool.pending(), 0);
    }

    #[test]
    fn jobs_run_at_most_threads_at_once() {
        let pool = HashPool::new(HashPoolOptions::default().threads(2).queue(0));
        let (release, running) = occupy(&pool, 2);
        assert!(matches!(pool.run(|| ()), Err(HashError::Busy)));
        release.wait();
        running.into_iter().for_each(|job| job.wait().unwrap());
    }

    #[test]
    fn a_panicking_job_is_an_error_and_the_thread_survives() {
        let pool = HashPool::new(HashPoolOptions::default().threads(1).queue(4));
        let err = pool.run(|| -> u8 { panic!("boom") }).unwrap_err();
        assert!(matches!(err, HashError::Algorithm(_)), "{err:?}");
        assert_eq!(pool.run(|| 5).unwrap(), 5);
        assert_eq!(pool.pending(), 0);
    }

    #[test]
    fn pooled_hasher_hashes_on_pool_threads() {
        let pool = HashPool::new(HashPoolOptions::default().threads(1));
        let hasher = pool.hasher(super::super::Pbkdf2Hasher::new(1));
        let hash = hasher.hash("secret1234").unwrap();
        assert!(hasher.verify("secret1234", &hash).unwrap());
        assert!(!hasher.verify("wrong-password", &hash).unwrap());
        hasher.dummy_verify("x").unwrap();
        let name = pool
            .run(|| std::thread::current().name().map(str::to_owned))
            .unwrap();
        assert_eq!(name.as_deref(), Some("pow-hash-0"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn pool_threads_run_at_the_configured_nice_value() {
        // Field 19 of /proc/thread-self/stat is the thread's nice value.
        fn own_nice() -> i32 {
            let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
            let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
            after_comm.split(' ').nth(16).unwrap().parse().unwrap()
        }
        let pool = HashPool::new(HashPoolOptions::default().threads(1).nice(19));
        assert_eq!(pool.run(own_nice).unwrap(), 19);
        assert_ne!(own_nice(), 19, "the calling thread keeps its priority");
    }
}
