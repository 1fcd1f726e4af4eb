//! The SCIM endpoints against scim2-tester (python-scim, an independent implementation,
//! the versions pinned in `conformance/scim/requirements.txt`, installed by `.ci/run` into
//! `conformance/scim/.venv`): discovery, then create, read, list, replace, PATCH and delete
//! of Users and Groups with the values it generates (at the organization's verified
//! domain), on both frameworks. Every check must pass; the runner's exit code says so.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use pow_actix::store::Limit;
use pow_ext_scim::Scim;

mod common;

/// The runner's Python, or `None` (with a notice) when the venv is not installed outside
/// CI; under CI a missing install fails the test.
fn python() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../conformance/scim");
    let python = dir.join(".venv/bin/python");
    if python.exists() {
        return Some(python);
    }
    let hint =
        "see conformance/scim/README.md (python3 -m venv ... && pip install -r requirements.txt)";
    assert!(
        std::env::var("CI").is_err(),
        "scim2-tester is not installed: {hint}"
    );
    eprintln!("skipped: scim2-tester is not installed ({hint})");
    None
}

fn scim2_tester_passes_for_users_and_groups() {
    let Some(python) = python() else {
        return;
    };
    // The address the app is reached at, known before it is served: `meta.location`
    // must be a URL the tool can use.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let public = listener.local_addr().unwrap();
    // The tool sends about 720 requests back to back.
    let scim = Scim::new().token_rate_limit(Limit::new(100_000, Duration::from_secs(60)));
    let (config, token) = common::acme(&format!("http://{public}"), scim);
    let served = pow_testkit::serve(config);
    pow_testkit::forward(listener, served);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../conformance/scim/check.py");
    let out = Command::new(python)
        .arg(script)
        .args([
            "--url",
            &format!("http://{public}/scim/v2"),
            "--domain",
            "acme.example",
        ])
        .env("SCIM_TOKEN", token)
        .output()
        .expect("python runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "scim2-tester:\n{printed}");
    let summary = printed
        .lines()
        .find(|line| line.starts_with("scim-conformance:"))
        .unwrap_or_else(|| panic!("no summary:\n{printed}"));
    eprintln!("{summary}");
    assert!(summary.contains(" 0 failed"), "{summary}");
    let passed: usize = summary
        .trim_start_matches("scim-conformance: ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 60, "the checks ran: {summary}");
}

pow_testkit::on_both!(scim2_tester_passes_for_users_and_groups);
