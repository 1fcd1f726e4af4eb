//! Tests of the on-disk cache-store backend (`--features disk`).
#![cfg(feature = "disk")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "support/scratch.rs"]
mod scratch;

use pow_core::store::{conformance, DiskStore, Key, KeyPattern, Store, StoreError};
use scratch::ScratchDir;

/// Env var that turns [`sigkill_child`] into the writer process of [`writes_survive_sigkill`].
const CHILD_DB_ENV: &str = "POW_TEST_DISK_CHILD_DB";
const CHILD_SESSIONS: usize = 50;
/// Interval long enough that no background sweep runs during a test that does not want one.
const NO_SWEEP: Duration = Duration::from_secs(3600);

/// The cache file in a scratch directory.
fn db(dir: &ScratchDir) -> PathBuf {
    dir.path().join("cache.redb")
}

fn key(parts: &[&str]) -> Key {
    Key(parts.iter().map(|s| (*s).to_owned()).collect())
}

/// Waits until `instant` has passed (TTL tests need real time to run out).
async fn sleep_past(instant: Instant) {
    let now = Instant::now();
    if instant > now {
        tokio::time::sleep(instant - now).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite() {
    let dir = ScratchDir::new("disk-conformance");
    let store = DiskStore::open(db(&dir)).unwrap();
    conformance::run_all(Arc::new(store)).await;
}

/// Child mode of [`writes_survive_sigkill`]: writes sessions, reports, then waits to be killed.
#[tokio::test]
#[ignore = "runs only as the child process of writes_survive_sigkill"]
async fn sigkill_child() {
    let Some(path) = std::env::var_os(CHILD_DB_ENV) else {
        return;
    };
    let store = DiskStore::open_with_sweep_interval(Path::new(&path), NO_SWEEP).unwrap();
    for i in 0..CHILD_SESSIONS {
        let records = vec![
            (
                key(&["session", &i.to_string()]),
                format!("user-{i}").into_bytes(),
            ),
            (
                key(&["User", "user", &i.to_string(), "session", &i.to_string()]),
                vec![1],
            ),
        ];
        store
            .put("credentials", records, Some(Duration::from_secs(1800)))
            .await
            .unwrap();
    }
    store
        .put(
            "reset_token",
            vec![(key(&["forever"]), b"f".to_vec())],
            None,
        )
        .await
        .unwrap();
    store
        .put(
            "reset_token",
            vec![(key(&["short"]), b"s".to_vec())],
            Some(Duration::from_millis(1)),
        )
        .await
        .unwrap();
    println!("READY {CHILD_SESSIONS}");
    std::future::pending::<()>().await;
}

#[cfg(unix)]
#[tokio::test]
async fn writes_survive_sigkill() {
    use std::os::unix::process::ExitStatusExt;

    let dir = ScratchDir::new("disk-sigkill");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["sigkill_child", "--exact", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(CHILD_DB_ENV, db(&dir))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();

    // Read the child's output on a thread so that waiting for READY has a deadline.
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines_rx.recv_timeout(left) {
            // libtest may print "test sigkill_child ... " on the same line.
            Ok(line) if line.contains("READY") => break,
            Ok(_) => {}
            Err(err) => {
                let _ = child.kill();
                panic!("child never reported READY: {err}");
            }
        }
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "child killed with SIGKILL: {status:?}"
    );

    let store = DiskStore::open_with_sweep_interval(db(&dir), NO_SWEEP).unwrap();
    for i in 0..CHILD_SESSIONS {
        assert_eq!(
            store
                .get("credentials", &key(&["session", &i.to_string()]))
                .await
                .unwrap(),
            Some(format!("user-{i}").into_bytes()),
            "session {i} lost"
        );
    }
    let index = store
        .all(
            "credentials",
            &[
                KeyPattern::exact("User"),
                KeyPattern::exact("user"),
                KeyPattern::Any,
                KeyPattern::exact("session"),
                KeyPattern::Any,
            ],
        )
        .await
        .unwrap();
    assert_eq!(index.len(), CHILD_SESSIONS);
    assert_eq!(
        store.get("reset_token", &key(&["forever"])).await.unwrap(),
        Some(b"f".to_vec())
    );
    assert_eq!(
        store.get("reset_token", &key(&["short"])).await.unwrap(),
        None
    );
    // Opening reclaimed the expired record: 2 per session plus the one without TTL remain.
    assert_eq!(
        store.stored_records().await.unwrap(),
        (2 * CHILD_SESSIONS + 1) as u64
    );
}

#[tokio::test]
async fn ttls_are_honoured_across_reopen() {
    let dir = ScratchDir::new("disk-reopen");
    let ttl = Duration::from_millis(200);
    let expires = {
        let store = DiskStore::open_with_sweep_interval(db(&dir), NO_SWEEP).unwrap();
        let started = Instant::now();
        store
            .put("ns", vec![(key(&["short"]), b"s".to_vec())], Some(ttl))
            .await
            .unwrap();
        store
            .put(
                "ns",
                vec![(key(&["long"]), b"l".to_vec())],
                Some(Duration::from_secs(3600)),
            )
            .await
            .unwrap();
        store
            .put("ns", vec![(key(&["none"]), b"n".to_vec())], None)
            .await
            .unwrap();
        started + ttl
    };

    // Reopened before the TTL ran out: everything is there.
    {
        let store = DiskStore::open_with_sweep_interval(db(&dir), NO_SWEEP).unwrap();
        if Instant::now() < expires {
            assert_eq!(store.stored_records().await.unwrap(), 3);
        }
    }

    sleep_past(expires + Duration::from_millis(20)).await;
    let store = DiskStore::open_with_sweep_interval(db(&dir), NO_SWEEP).unwrap();
    assert_eq!(store.get("ns", &key(&["short"])).await.unwrap(), None);
    assert_eq!(
        store.get("ns", &key(&["long"])).await.unwrap(),
        Some(b"l".to_vec())
    );
    assert_eq!(
        store.get("ns", &key(&["none"])).await.unwrap(),
        Some(b"n".to_vec())
    );
    let mut all = store.all("ns", &[KeyPattern::Any]).await.unwrap();
    all.sort();
    assert_eq!(
        all,
        vec![
            (key(&["long"]), b"l".to_vec()),
            (key(&["none"]), b"n".to_vec())
        ]
    );
    assert_eq!(
        store.stored_records().await.unwrap(),
        2,
        "open reclaims expired records"
    );
}

#[tokio::test]
async fn expired_records_are_hidden_then_swept() {
    let dir = ScratchDir::new("disk-sweep");
    let store = DiskStore::open_with_sweep_interval(db(&dir), NO_SWEEP).unwrap();
    let started = Instant::now();
    let ttl = Duration::from_millis(50);
    let records = (0..5)
        .map(|i| (key(&["k", &i.to_string()]), vec![i]))
        .collect();
    store.put("ns", records, Some(ttl)).await.unwrap();
    store
        .put("ns", vec![(key(&["kept"]), b"v".to_vec())], None)
        .await
        .unwrap();
    // Re-put with a longer TTL: the old expiry must not reclaim it.
    store
        .put(
            "ns",
            vec![(key(&["k", "0"]), b"renewed".to_vec())],
            Some(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    sleep_past(started + ttl + Duration::from_millis(20)).await;

    assert_eq!(store.get("ns", &key(&["k", "1"])).await.unwrap(), None);
    assert_eq!(store.take("ns", &key(&["k", "2"])).await.unwrap(), None);
    assert_eq!(
        store.stored_records().await.unwrap(),
        5,
        "not reclaimed yet"
    );
    assert_eq!(store.sweep().await.unwrap(), 3);
    assert_eq!(store.sweep().await.unwrap(), 0);
    assert_eq!(store.stored_records().await.unwrap(), 2);
    assert_eq!(
        store.get("ns", &key(&["k", "0"])).await.unwrap(),
        Some(b"renewed".to_vec())
    );
}

#[tokio::test]
async fn background_sweep_reclaims_expired_records() {
    let dir = ScratchDir::new("disk-background");
    let store = DiskStore::open_with_sweep_interval(db(&dir), Duration::from_millis(20)).unwrap();
    let records = (0..20)
        .map(|i| (key(&["k", &i.to_string()]), vec![i]))
        .collect();
    store
        .put("ns", records, Some(Duration::from_millis(10)))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.stored_records().await.unwrap() > 0 {
        assert!(
            Instant::now() < deadline,
            "background sweep did not reclaim the records"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_file_is_open_in_one_store_at_a_time() {
    let dir = ScratchDir::new("disk-lock");
    let store = DiskStore::open(db(&dir)).unwrap();
    store
        .put("ns", vec![(key(&["k"]), b"v".to_vec())], None)
        .await
        .unwrap();
    let err = DiskStore::open(db(&dir)).unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend(msg) if msg.contains("already open")),
        "{err:?}"
    );
    drop(store);
    let store = DiskStore::open(db(&dir)).unwrap();
    assert_eq!(
        store.get("ns", &key(&["k"])).await.unwrap(),
        Some(b"v".to_vec())
    );
}

/// Tests started at the same instant get distinct directories. (Names made from the
/// clock's nanoseconds collided in about 1 of 2,000 rounds of 4 threads; two Redis TLS
/// servers then read each other's certificates.)
#[test]
fn scratch_dirs_made_at_the_same_instant_are_distinct() {
    use std::sync::{Arc, Barrier};
    const THREADS: usize = 4;
    for _ in 0..1_000 {
        let start = Arc::new(Barrier::new(THREADS));
        let dirs: Vec<ScratchDir> = (0..THREADS)
            .map(|_| {
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    start.wait();
                    ScratchDir::new("same-instant")
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|thread| thread.join().unwrap())
            .collect();
        let mut paths: Vec<&Path> = dirs.iter().map(ScratchDir::path).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), THREADS, "two tests were handed one directory");
    }
}
