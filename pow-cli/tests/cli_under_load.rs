//! The `pow` binary beside busy loops on every core of its own process group, in a test
//! binary of its own: the load it makes on purpose slows down no other test of the CLI.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

fn pow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pow"))
        .args(args)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A one-shot tool hashes at normal priority: with busy loops on every core in its own
/// process group (a build or job started from the same shell), `pow users create` is slowed
/// down, never refused. Before, its hashes ran at nice 19 and it answered "service busy"
/// after the pool's 10 s bound.
#[test]
fn users_create_beside_busy_loops_in_the_same_shell_succeeds() {
    let db =
        std::env::temp_dir().join(format!("pow-cli-load-{}.db", uuid::Uuid::new_v4().simple()));
    let url = db.display().to_string();
    let migrated = pow(&["migrate", "--database-url", &url]);
    assert!(migrated.status.success(), "{}", text(&migrated));
    let load = pow_testkit::CpuLoad::start(2);
    let created = pow(&[
        "users",
        "create",
        "--database-url",
        &url,
        "--email",
        "ops@example.com",
        "--password",
        "a long operator passphrase",
    ]);
    drop(load);
    assert!(created.status.success(), "{}", text(&created));
    let _ = std::fs::remove_file(&db);
}
