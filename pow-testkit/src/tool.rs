//! A process a test runs beside it: an independent implementation the suite proves a
//! protocol against (an identity provider, a relying party, an SDK client), or a second
//! process of the test binary. [`Tool::start`] starts it with its stdin and stdout piped;
//! [`Tool::line`] waits for what it prints with a bound, so a tool that never answers
//! fails its test with what it was doing instead of stalling the whole suite.
//!
//! ```no_run
//! use std::process::Command;
//!
//! let mut idp = pow_testkit::Tool::start("the provider", Command::new("node").arg("idp.mjs"));
//! let ready = idp.line("its address");
//! # let _ = ready;
//! // Dropped: killed and reaped.
//! ```

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long [`Tool::line`] waits for a line: far beyond a tool's start on a loaded
/// two-core machine (a few seconds), far below the suite's time.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The most of a tool's standard error kept for a failure's message.
const KEPT_STDERR: usize = 8 * 1024;

/// A running tool; killed and reaped when dropped.
pub struct Tool {
    name: String,
    patience: Duration,
    child: Child,
    lines: Receiver<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Closed when all of stderr has been read.
    stderr_read: Receiver<()>,
}

impl Tool {
    /// Starts `command` as the tool called `name` (for messages), with stdin and stdout
    /// piped and stderr kept (the last 8 KiB) for a failure's message. Everything it prints
    /// is read as it comes, so it never blocks on a full pipe; its stdin stays open until
    /// [`finish`](Self::finish) or the drop (tools that serve until stdin closes serve
    /// until then).
    pub fn start(name: &str, command: &mut Command) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("{name} does not start: {err}"));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        std::thread::spawn(move || {
            // Reads to the end even when nobody takes the lines any more: a closed pipe
            // would end the tool.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut from = child.stderr.take().expect("stderr is piped");
        let kept = Arc::clone(&stderr);
        let (read_all, stderr_read) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            let _read_all = read_all;
            let mut buf = [0_u8; 4096];
            while let Ok(n @ 1..) = from.read(&mut buf) {
                let mut kept = kept
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                kept.extend_from_slice(&buf[..n]);
                let excess = kept.len().saturating_sub(KEPT_STDERR);
                kept.drain(..excess);
            }
        });
        Self {
            name: name.to_owned(),
            patience: PATIENCE,
            child,
            lines,
            stderr,
            stderr_read,
        }
    }

    /// Waits `patience` for each line instead of [`PATIENCE`].
    #[must_use]
    pub fn patience(mut self, patience: Duration) -> Self {
        self.patience = patience;
        self
    }

    /// The next line the tool prints, `what` naming it for the message when none comes:
    /// panics when the tool ends first or prints nothing within its patience
    /// ([`PATIENCE`] unless set), with the tool's state and the end of its standard error.
    pub fn line(&mut self, what: &str) -> String {
        match self.lines.recv_timeout(self.patience) {
            Ok(line) => line,
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().ok();
                // Ended: the rest of its stderr is read to its end.
                let _ = self.stderr_read.recv_timeout(self.patience);
                panic!(
                    "{} ended before printing {what} ({status:?}); its stderr:\n{}",
                    self.name,
                    self.stderr_tail()
                )
            }
            Err(RecvTimeoutError::Timeout) => panic!(
                "{} printed no {what} within {:?}; its state: {}; its stderr:\n{}",
                self.name,
                self.patience,
                self.state(),
                self.stderr_tail()
            ),
        }
    }

    /// The tool's standard input, to write to.
    pub fn stdin(&mut self) -> &mut ChildStdin {
        self.child.stdin.as_mut().expect("stdin is open")
    }

    /// Closes stdin and waits for the tool to end on its own (its stdout closing), for its
    /// patience at most: its exit status; panics when it does not end in time or prints
    /// more lines.
    pub fn finish(mut self) -> ExitStatus {
        drop(self.child.stdin.take());
        match self.lines.recv_timeout(self.patience) {
            Err(RecvTimeoutError::Disconnected) => {}
            Ok(line) => panic!("{} printed more than expected: {line}", self.name),
            Err(RecvTimeoutError::Timeout) => panic!(
                "{} did not end within {:?}; its state: {}",
                self.name,
                self.patience,
                self.state()
            ),
        }
        self.child
            .wait()
            .unwrap_or_else(|err| panic!("{} could not be waited for: {err}", self.name))
    }

    /// What the kernel says the process is doing (Linux's `/proc`): its state, each
    /// thread's name and wait channel, and, where gdb is installed, each thread's stack,
    /// for a message.
    fn state(&self) -> String {
        let pid = self.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let state = status
            .lines()
            .filter(|line| line.starts_with("State:") || line.starts_with("Threads:"))
            .collect::<Vec<_>>()
            .join(", ");
        let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
        format!(
            "pid {pid}, {state}, waiting in `{wchan}`; its threads:\n{}\n{}",
            threads(pid),
            stacks(pid)
        )
    }

    fn stderr_tail(&self) -> String {
        let kept = self
            .stderr
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(&kept).into_owned()
    }
}

/// Each thread of process `pid`: its id, name, state and wait channel, one a line.
fn threads(pid: u32) -> String {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return "(no /proc)".to_owned();
    };
    let mut lines: Vec<String> = tasks
        .flatten()
        .map(|task| {
            let dir = task.path();
            let read = |file: &str| {
                std::fs::read_to_string(dir.join(file))
                    .unwrap_or_default()
                    .trim()
                    .to_owned()
            };
            let stat = read("stat");
            // The state is the field after the name, which is in parentheses.
            let state = stat
                .rsplit_once(") ")
                .and_then(|(_, rest)| rest.split(' ').next())
                .unwrap_or("?")
                .to_owned();
            format!(
                "  {} {:<16} {state} {}",
                task.file_name().to_string_lossy(),
                read("comm"),
                read("wchan")
            )
        })
        .collect();
    lines.sort();
    lines.join("\n")
}

/// How long gdb may take to print a stuck tool's stacks.
const GDB_PATIENCE: Duration = Duration::from_secs(30);

/// Every thread's stack of process `pid`, printed by gdb (attached in batch mode, within
/// [`GDB_PATIENCE`]), or why there are none.
fn stacks(pid: u32) -> String {
    let gdb = Command::new("gdb")
        .args(["-nx", "-batch", "-p", &pid.to_string()])
        .args(["-ex", "thread apply all bt 24"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut gdb = match gdb {
        Ok(gdb) => gdb,
        Err(err) => return format!("(no stacks: gdb does not start: {err})"),
    };
    let mut out = gdb.stdout.take().expect("stdout is piped");
    let (tx, printed) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    let text = printed.recv_timeout(GDB_PATIENCE);
    let _ = gdb.kill();
    let _ = gdb.wait();
    match text {
        Ok(text) => format!("its stacks (gdb):\n{text}"),
        Err(_) => format!("(no stacks: gdb printed nothing within {GDB_PATIENCE:?})"),
    }
}

impl Drop for Tool {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Tool {
        Tool::start("sh", Command::new("sh").args(["-c", script]))
    }

    /// The message of the panic `work` ends in.
    fn panic_of(work: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let err = std::panic::catch_unwind(work).expect_err("it panics");
        err.downcast_ref::<String>().cloned().unwrap_or_default()
    }

    #[test]
    fn lines_come_in_order_and_input_reaches_the_tool() {
        let mut tool = sh("echo ready; read name; echo hello $name");
        assert_eq!(tool.line("the first line"), "ready");
        std::io::Write::write_all(tool.stdin(), b"ada\n").unwrap();
        assert_eq!(tool.line("the greeting"), "hello ada");
        assert!(tool.finish().success());
    }

    #[test]
    fn a_silent_tool_fails_within_its_patience_naming_its_state() {
        // Reads its stdin, which stays open: silent until killed.
        let mut tool = sh("cat").patience(Duration::from_millis(300));
        let started = std::time::Instant::now();
        let message = panic_of(std::panic::AssertUnwindSafe(|| {
            tool.line("its address");
        }));
        // Its patience and, at most, the bound on gdb's stacks: far below `PATIENCE`.
        assert!(
            started.elapsed() < Duration::from_millis(300) + GDB_PATIENCE + Duration::from_secs(5)
        );
        assert!(
            message.contains("sh printed no its address within"),
            "{message}"
        );
        assert!(message.contains("State:"), "{message}");
        // Its threads, by name (`sh` has one).
        assert!(message.contains(" sh "), "{message}");
    }

    #[test]
    fn a_tool_that_ends_first_fails_with_its_status_and_stderr() {
        let mut tool = sh("echo cannot listen >&2; exit 3");
        let message = panic_of(std::panic::AssertUnwindSafe(|| {
            tool.line("its address");
        }));
        assert!(
            message.contains("ended before printing its address"),
            "{message}"
        );
        assert!(message.contains("cannot listen"), "{message}");
    }
}
