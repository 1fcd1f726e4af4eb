//! The background thread that reclaims expired records for the stores that keep them
//! (the disk and SQL stores): it runs a sweep at a fixed interval and stops, joined, when
//! it is dropped.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::StoreError;

/// The sweep thread; dropping it stops and joins the thread.
pub(crate) struct Sweeper {
    pub(crate) interval: Duration,
    stop: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Sweeper {
    /// Starts a thread called `name` that calls `sweep` every `interval`.
    pub(crate) fn start(
        name: &str,
        interval: Duration,
        sweep: impl Fn() + Send + 'static,
    ) -> Result<Self, StoreError> {
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                // Any message or a closed channel means stop; a timeout means sweep.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    sweep();
                }
            })
            .map_err(|err| StoreError::Backend(format!("cannot start {name}: {err}")))?;
        Ok(Self {
            interval,
            stop: Some(stop),
            handle: Some(handle),
        })
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        // Closing the channel wakes the thread, which then exits; joining makes sure it has
        // let go of the store before the store is gone.
        self.stop.take();
        if let Some(handle) = self.handle.take() {
            if handle.join().is_err() {
                tracing::warn!("a store's sweep thread panicked");
            }
        }
    }
}
