//! The hashing pool: the threads every password hash and verification runs on.
//!
//! Hashing is the one expensive thing pow-rs does (tens of milliseconds of CPU per
//! sign-in). Run inline or on the general blocking pool, a burst of sign-ins takes the
//! CPU from every other request. The pool instead runs hashes on a few dedicated threads
//! below normal CPU priority (nice 10 on Linux: about a tenth of the CPU share of a
//! normal thread it competes with), so signed-in traffic keeps most of the CPU during a
//! burst of sign-ins, and it bounds the work waiting, in length and in time:
//!
//! - when its queue is full a sign-in is answered `503 Service Unavailable` with
//!   `Retry-After` at once ([`PowError::Busy`](crate::PowError::Busy)) instead of piling
//!   up;
//! - work that no thread has started within [`max_wait`](HashPoolOptions::max_wait)
//!   (10 s by default) is dropped unrun and its caller gets [`HashError::Busy`] (the same
//!   `503`): a real flood is refused, never left hanging;
//! - work a thread has started is waited for to its end. Other work on the machine (a
//!   batch job or sidecar in the same container, a build in the same terminal session)
//!   makes a sign-in slower, never refused;
//! - the low priority cannot starve a check that has waited: on Linux with a positive
//!   nice value, once a job has waited half of `max_wait` and no thread has taken it, its
//!   own caller (a blocking thread at the process's priority) takes it back and runs it,
//!   one such job per pool at a time. A thread cannot lower its nice value again without
//!   privileges, so the pool's own threads cannot be raised for it.
//!
//! The queue has two lines: a sign-in admitted with no failures behind it (see
//! [`limits`](crate::limits): half the pool is reserved for those) is hashed before the
//! checks waiting with failures behind them, and before sign-ups; each line keeps its
//! order. Every `503` is logged with its cause (a full queue, or no thread free in time).
//!
//! Each [`PowConfig`](crate::PowConfig) gets its own pool (threads start on first use);
//! setups that should share one pass the same [`HashPool`] to
//! [`PowConfigBuilder::hash_pool`](crate::PowConfigBuilder::hash_pool).
//!
//! ```
//! use std::time::Duration;
//! use pow_core::password::{HashPool, HashPoolOptions, Pbkdf2Hasher, PasswordHasher};
//!
//! let pool = HashPool::new(
//!     HashPoolOptions::default().threads(1).queue(8).max_wait(Duration::from_secs(5)),
//! );
//! let hasher = pool.hasher(Pbkdf2Hasher::new(1));
//! let hash = hasher.hash("correct horse").unwrap();
//! assert!(hasher.verify("correct horse", &hash).unwrap());
//! ```

use std::cell::Cell;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::{HashError, PasswordHasher};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The default [`HashPoolOptions::max_wait`].
const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(10);

/// The default [`HashPoolOptions::nice`]: below normal priority, so a burst of sign-ins
/// leaves most of the CPU to signed-in requests, yet not so far below that other work of
/// the app's own process group (a sidecar, a batch job) can starve a started hash: at
/// nice 19 a hash got under 1 % of a core beside two busy threads per core (weight 15
/// against 1,024 each), so a 100 ms hash took over 10 s; at nice 10 (weight 110) about 1 s.
const DEFAULT_NICE: i32 = 10;

/// How often a caller past half its bound tries again to take its job over, while
/// another caller runs the pool's one taken-over job.
const TAKE_OVER_RETRY: Duration = Duration::from_millis(10);

/// Sizing of a [`HashPool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashPoolOptions {
    threads: usize,
    queue: usize,
    nice: i32,
    max_wait: Duration,
}

impl Default for HashPoolOptions {
    /// One thread per CPU (at most 8), a queue of 16 hashes per thread, nice 10, and a
    /// wait for a thread of at most 10 seconds.
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = cpus.clamp(1, 8);
        Self {
            threads,
            queue: threads * 16,
            nice: DEFAULT_NICE,
            max_wait: DEFAULT_MAX_WAIT,
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

    /// The threads' nice value on Linux, from `-20` (highest priority) to `19` (lowest);
    /// default `10`, `0` runs hashes at the process's own priority (what a one-shot tool
    /// such as the `pow` CLI wants). Raising priority (below the process's own) needs privileges and is
    /// otherwise ignored with a warning. No effect on other systems.
    pub fn nice(mut self, nice: i32) -> Self {
        self.nice = nice.clamp(-20, 19);
        self
    }

    /// How long a job waits for a thread at most; then it is dropped unrun and its caller
    /// gets [`HashError::Busy`] (a `503` with `Retry-After`, as for a full queue). A job a
    /// thread has started is not cut: its caller waits for it to end. Default: 10
    /// seconds, well above the time a full default queue takes to drain (16 hashes per
    /// thread of tens of milliseconds each) and below the 30 to 60 seconds after which
    /// proxies and load balancers give up on a request themselves. Keep it several times
    /// longer than one hash. Values below one millisecond count as one millisecond.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait.max(Duration::from_millis(1));
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

    /// The longest a caller waits.
    pub fn max_wait_duration(&self) -> Duration {
        self.max_wait
    }

    /// Whether a caller takes its job back once it has waited half the bound: only where
    /// the pool's threads run below normal priority.
    fn takes_over(&self) -> bool {
        cfg!(target_os = "linux") && self.nice > 0
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
    /// The queues the threads take work from (made, with the threads, on first use).
    queues: OnceLock<Arc<Queues>>,
    /// Jobs submitted and not yet finished or dropped (queued + running).
    pending: Arc<AtomicUsize>,
    /// Jobs ever accepted.
    accepted: std::sync::atomic::AtomicU64,
    /// Whether a caller is running a job it took over (one at a time per pool).
    taken_over: Arc<AtomicBool>,
}

/// What the pool's threads take work from: checks with no failures behind them first
/// ([`ahead`]), then the rest, each in order of arrival.
#[derive(Default)]
struct Queues {
    waiting: Mutex<Waiting>,
    ready: Condvar,
}

#[derive(Default)]
struct Waiting {
    ahead: VecDeque<Arc<Ticket>>,
    rest: VecDeque<Arc<Ticket>>,
    /// The pool is gone: the threads end once both queues are empty.
    closed: bool,
}

impl Queues {
    fn push(&self, ticket: Arc<Ticket>, ahead: bool) {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        if ahead {
            waiting.ahead.push_back(ticket);
        } else {
            waiting.rest.push_back(ticket);
        }
        drop(waiting);
        self.ready.notify_one();
    }

    /// The next job, waiting for one; `None` once the pool is gone and nothing is left.
    fn next(&self) -> Option<Arc<Ticket>> {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(ticket) = waiting
                .ahead
                .pop_front()
                .or_else(|| waiting.rest.pop_front())
            {
                return Some(ticket);
            }
            if waiting.closed {
                return None;
            }
            waiting = self
                .ready
                .wait(waiting)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn close(&self) {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
        self.ready.notify_all();
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        if let Some(queues) = self.queues.get() {
            queues.close();
        }
    }
}

thread_local! {
    /// Whether the hashes this thread submits go ahead of the others ([`ahead`]).
    static AHEAD: Cell<bool> = const { Cell::new(false) };
}

tokio::task_local! {
    /// Whether the request this task serves is a password check with no failures behind
    /// it ([`for_clean_check`]).
    static CLEAN_CHECK: bool;
}

/// Runs `check` (the action of a request whose password check was admitted with no
/// failures behind it, when `clean`) so that the hashes it starts go ahead of the others
/// in the pool's queue: a flood with failures behind it can fill half the pool, but a
/// clean sign-in does not wait behind it.
pub(crate) async fn for_clean_check<F: std::future::Future>(clean: bool, check: F) -> F::Output {
    CLEAN_CHECK.scope(clean, check).await
}

/// Whether the task running this is a clean check ([`for_clean_check`]); read before its
/// blocking work is handed to another thread, which [`ahead`] then marks.
pub(crate) fn clean_check() -> bool {
    CLEAN_CHECK.try_with(|clean| *clean).unwrap_or(false)
}

/// Runs `work` on this thread with the hashes it submits ahead of the others when
/// `clean`.
pub(crate) fn ahead<T>(clean: bool, work: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            AHEAD.with(|ahead| ahead.set(self.0));
        }
    }
    let _reset = Reset(AHEAD.with(|ahead| ahead.replace(clean)));
    work()
}

/// A queued job: taken once, by a pool thread that runs it, or by its caller, which runs
/// it after waiting half the bound or drops it when it gives up.
struct Ticket(Mutex<Option<Job>>);

impl Ticket {
    fn take(&self) -> Option<Job> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    fn is_taken(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }
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
                queues: OnceLock::new(),
                pending: Arc::new(AtomicUsize::new(0)),
                accepted: std::sync::atomic::AtomicU64::new(0),
                taken_over: Arc::new(AtomicBool::new(false)),
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
    pub(crate) fn hasher_arc(&self, hasher: Arc<dyn PasswordHasher>) -> PooledHasher {
        PooledHasher {
            pool: self.clone(),
            hasher,
        }
    }

    /// Runs `work` on a pool thread and blocks the calling thread until it is done.
    ///
    /// Call it from a thread that may block (pow-core calls it inside the
    /// [`Users`](crate::users::Users) handle's blocking work), never on the async executor.
    /// Fails with [`HashError::Busy`] at once when the queue is full, and after
    /// [`max_wait`](HashPoolOptions::max_wait) when the work is not done by then.
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
            return busy(BusyCause::QueueFull);
        }
        self.inner.accepted.fetch_add(1, Ordering::Relaxed);
        let queued_at = Instant::now();
        let max_wait = options.max_wait;
        // From here the job owns the count: it is given back when the job ends, or when
        // the job is dropped unrun.
        let guard = PendingGuard(Arc::clone(pending));
        let (done_tx, done_rx) = mpsc::sync_channel::<Result<T, HashError>>(1);
        let job: Job = Box::new(move || {
            if queued_at.elapsed() >= max_wait {
                // Its caller answers `Busy` (or has already): the channel closes unused.
                drop(guard);
                return;
            }
            let result = std::panic::catch_unwind(AssertUnwindSafe(work))
                .map_err(|_| HashError::Algorithm("password hashing panicked".into()));
            // Counted out before the caller can see the result.
            drop(guard);
            // The caller may have given up waiting; nothing to do then.
            let _ = done_tx.send(result);
        });
        let ticket = Arc::new(Ticket(Mutex::new(Some(job))));
        let ahead = AHEAD.with(Cell::get);
        self.queues().push(Arc::clone(&ticket), ahead);
        Ok(Queued {
            result: done_rx,
            ticket,
            take_over_at: options
                .takes_over()
                .then(|| queued_at.checked_add(max_wait / 2))
                .flatten(),
            deadline: queued_at.checked_add(max_wait),
            taken_over: Arc::clone(&self.inner.taken_over),
        })
    }

    fn queues(&self) -> &Arc<Queues> {
        self.inner.queues.get_or_init(|| {
            let options = self.inner.options;
            let queues = Arc::new(Queues::default());
            for index in 0..options.threads {
                let queues = Arc::clone(&queues);
                let spawned = std::thread::Builder::new()
                    .name(format!("pow-hash-{index}"))
                    .spawn(move || worker(&queues, options.nice));
                if let Err(err) = spawned {
                    tracing::error!(error = %err, "could not start a password hashing thread");
                }
            }
            queues
        })
    }
}

/// Work accepted by [`HashPool::submit`].
pub struct Queued<T> {
    result: Receiver<Result<T, HashError>>,
    ticket: Arc<Ticket>,
    /// When the caller takes the job over if no thread has (`None`: never).
    take_over_at: Option<Instant>,
    /// When the caller gives up (`None`: a bound too long to count).
    deadline: Option<Instant>,
    taken_over: Arc<AtomicBool>,
}

impl<T> std::fmt::Debug for Queued<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queued")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl<T> Queued<T> {
    /// Blocks until the work is done. Work that no thread has started within
    /// [`max_wait`](HashPoolOptions::max_wait) of being queued is dropped unrun and answers
    /// [`HashError::Busy`]; work a thread has started is waited for to its end, however
    /// long other work on the machine makes it take (competition for the CPU slows a
    /// sign-in down, it does not refuse it). A panic in the work is
    /// [`HashError::Algorithm`].
    pub fn wait(self) -> Result<T, HashError> {
        if let Some(answer) = self.recv_until(self.take_over_at.or(self.deadline)) {
            return answer;
        }
        while self.take_over_at.is_some() && !self.ticket.is_taken() {
            if let Some(answer) = self.take_over() {
                return answer;
            }
            let retry = Instant::now().checked_add(TAKE_OVER_RETRY);
            let until = match (retry, self.deadline) {
                (Some(retry), Some(deadline)) => Some(retry.min(deadline)),
                (retry, deadline) => retry.or(deadline),
            };
            if let Some(answer) = self.recv_until(until) {
                return answer;
            }
            if self
                .deadline
                .is_some_and(|deadline| Instant::now() >= deadline)
            {
                break;
            }
        }
        if !self.ticket.is_taken() {
            if let Some(answer) = self.recv_until(self.deadline) {
                return answer;
            }
        }
        // Past the bound: a job still queued is dropped unrun (its place is given back
        // now). One a thread has started is waited for: it holds no place in the queue,
        // and only the machine's other work makes it slow.
        if self.ticket.take().is_some() {
            return busy(BusyCause::NoFreeThread);
        }
        self.recv_until(None)
            .unwrap_or_else(|| busy(BusyCause::NoFreeThread))
    }

    /// The answer if it comes before `until` (`None`: no limit); a job dropped unrun
    /// (past its bound) is [`HashError::Busy`].
    fn recv_until(&self, until: Option<Instant>) -> Option<Result<T, HashError>> {
        let received = match until {
            Some(until) => self
                .result
                .recv_timeout(until.saturating_duration_since(Instant::now())),
            None => self
                .result
                .recv()
                .map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(answer) => Some(answer),
            Err(RecvTimeoutError::Timeout) => None,
            // Dropped unrun by the thread that found it past its bound.
            Err(RecvTimeoutError::Disconnected) => Some(busy(BusyCause::NoFreeThread)),
        }
    }

    /// Runs the job on this thread if no pool thread has taken it and no other caller
    /// is running a job it took over.
    fn take_over(&self) -> Option<Result<T, HashError>> {
        let _permit = TakeOverPermit::acquire(&self.taken_over)?;
        let job = self.ticket.take()?;
        job();
        // The job has sent its answer, or dropped the channel when it was past its bound.
        Some(
            self.recv_until(None)
                .unwrap_or_else(|| busy(BusyCause::NoFreeThread)),
        )
    }
}

/// The pool's one place for a job run by its caller; dropping it frees the place.
struct TakeOverPermit<'a>(&'a AtomicBool);

impl<'a> TakeOverPermit<'a> {
    fn acquire(taken_over: &'a AtomicBool) -> Option<Self> {
        taken_over
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Self(taken_over))
    }
}

impl Drop for TakeOverPermit<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Why the pool refused a job: the log line of the `503` names it.
#[derive(Clone, Copy, Debug)]
enum BusyCause {
    /// Every thread and every queue place was taken when the job came.
    QueueFull,
    /// The job waited [`HashPoolOptions::max_wait`] and no thread became free for it.
    NoFreeThread,
}

/// The answer to work the pool refused, logged with its cause.
fn busy<T>(cause: BusyCause) -> Result<T, HashError> {
    match cause {
        BusyCause::QueueFull => tracing::warn!(
            "password check refused (503): every hashing thread and queue place is taken \
             (more sign-ins at once than the hashing pool's threads + queue)"
        ),
        BusyCause::NoFreeThread => tracing::warn!(
            "password check refused (503): no hashing thread became free within the pool's \
             max_wait (the threads were busy with other sign-ins the whole time)"
        ),
    }
    Err(HashError::Busy)
}

/// Decrements the pending count when a job ends, also when it panics or is dropped unrun.
struct PendingGuard(Arc<AtomicUsize>);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn worker(queues: &Queues, nice: i32) {
    set_current_thread_nice(nice);
    while let Some(ticket) = queues.next() {
        // Empty when its caller took it over or gave up.
        if let Some(job) = ticket.take() {
            job();
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
    use std::time::{Duration, Instant};

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

    /// Runs `wait` on a thread of its own and gives its answer, or fails the test when it
    /// has none within `within` (a hang would otherwise hang the test).
    fn answered_within<T: Send + 'static>(
        within: Duration,
        wait: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        let (tx, rx) = channel();
        std::thread::spawn(move || tx.send(wait()).unwrap());
        rx.recv_timeout(within)
            .expect("the caller was not answered in time")
    }

    /// Waits until the pool has no job left, queued or running.
    fn drained(pool: &HashPool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while pool.pending() > 0 {
            assert!(Instant::now() < deadline, "the pool did not drain");
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_job_held_in_the_queue_past_max_wait_answers_busy() {
        let max_wait = Duration::from_millis(50);
        let pool = HashPool::new(
            HashPoolOptions::default()
                .threads(1)
                .queue(1)
                .max_wait(max_wait),
        );
        // The holding job outlives its own bound: its caller is not waiting here.
        let (release, _holding) = occupy(&pool, 1);
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let queued = pool
            .submit(move || flag.store(true, Ordering::SeqCst))
            .unwrap();
        // Nobody waits on it yet, so it stays in the queue until the thread is free, by
        // then past its bound.
        std::thread::sleep(max_wait);
        release.wait();
        let answer = answered_within(Duration::from_secs(10), move || queued.wait());
        assert!(matches!(answer, Err(HashError::Busy)), "{answer:?}");
        // The pool works on, and the expired job never runs.
        assert_eq!(pool.run(|| 3).unwrap(), 3);
        drained(&pool);
        assert!(!ran.load(Ordering::SeqCst), "an expired job does not run");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_job_that_waited_half_its_bound_runs_on_its_caller() {
        let pool = HashPool::new(
            HashPoolOptions::default()
                .threads(1)
                .queue(1)
                .nice(19)
                .max_wait(Duration::from_secs(2)),
        );
        let (release, _holding) = occupy(&pool, 1);
        let queued = pool
            .submit(|| std::thread::current().name().map(str::to_owned))
            .unwrap();
        // The pool's only thread stays busy: the caller runs the work itself, at its own
        // priority, once half the bound has passed.
        let name = answered_within(Duration::from_secs(10), move || queued.wait()).unwrap();
        assert_ne!(name.as_deref(), Some("pow-hash-0"));
        release.wait();
        drained(&pool);
    }

    #[test]
    fn a_caller_is_answered_busy_when_nothing_takes_its_job() {
        let max_wait = Duration::from_millis(200);
        let pool = HashPool::new(
            HashPoolOptions::default()
                .threads(1)
                .queue(2)
                .nice(19)
                .max_wait(max_wait),
        );
        let (release, _holding) = occupy(&pool, 1);
        // On Linux a first waiting job is taken over by its caller, and blocks there: the
        // pool's one place for such jobs is taken. Elsewhere nothing takes it over.
        let (started_tx, started) = channel();
        let (unblock, blocked) = channel::<()>();
        let first = pool
            .submit(move || {
                started_tx.send(()).unwrap();
                blocked.recv().unwrap();
            })
            .unwrap();
        let first = std::thread::spawn(move || first.wait());
        if cfg!(target_os = "linux") {
            started
                .recv_timeout(Duration::from_secs(10))
                .expect("the caller did not take its job over");
        }
        // Nothing takes the second one: its caller gives up once the bound has passed.
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let submitted = Instant::now();
        let second = pool
            .submit(move || flag.store(true, Ordering::SeqCst))
            .unwrap();
        let answer = answered_within(Duration::from_secs(10), move || second.wait());
        assert!(matches!(answer, Err(HashError::Busy)), "{answer:?}");
        assert!(submitted.elapsed() >= max_wait, "it waited out its bound");
        unblock.send(()).unwrap();
        release.wait();
        let _ = first.join().unwrap();
        drained(&pool);
        assert!(!ran.load(Ordering::SeqCst), "an abandoned job does not run");
    }

    #[test]
    fn a_clean_checks_job_goes_ahead_of_those_waiting() {
        let pool = HashPool::new(HashPoolOptions::default().threads(1).queue(4));
        let (release, _holding) = occupy(&pool, 1);
        let order = Arc::new(Mutex::new(Vec::new()));
        let job = |name: &'static str| {
            let order = Arc::clone(&order);
            move || order.lock().unwrap().push(name)
        };
        let first = pool.submit(job("first")).unwrap();
        let second = pool.submit(job("second")).unwrap();
        let clean = ahead(true, || pool.submit(job("clean"))).unwrap();
        let last = pool.submit(job("last")).unwrap();
        release.wait();
        for queued in [first, second, clean, last] {
            queued.wait().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["clean", "first", "second", "last"]);
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
