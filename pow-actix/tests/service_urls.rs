//! The README's test command runs on a machine without PostgreSQL or Redis: a test that
//! needs one reads its URL through `pow_actix::testing::test_database_url` /
//! `test_redis_url` (a notice and a skip when unset, a failure under `CI`) and never
//! panics when it is unset. CI sets both variables, so it would never see such a panic:
//! this test reads every test source of the workspace for the shapes that panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

/// Every `.rs` file below `dir`, skipping build output.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name == "node_modules" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Where a statement reads a service URL and unwraps it: `(line, text)`.
fn panicking_reads(text: &str) -> Vec<(usize, String)> {
    let reads = [
        "test_database_url()",
        "test_redis_url()",
        "var(\"POW_TEST_DATABASE_URL\")",
        "var(\"POW_TEST_REDIS_URL\")",
    ];
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        for read in reads {
            let Some(at) = line.find(read) else { continue };
            // The rest of the statement: this line after the read, and the next lines up
            // to the `;` or `{` that ends it.
            let mut rest = line[at + read.len()..].to_owned();
            for next in text.lines().skip(n + 1).take(3) {
                if rest.contains(';') || rest.contains('{') {
                    break;
                }
                rest.push_str(next.trim());
            }
            let rest = rest.split([';', '{']).next().unwrap_or_default();
            if rest.contains(".expect(") || rest.contains(".unwrap()") {
                found.push((n + 1, line.trim().to_owned()));
            }
        }
    }
    found
}

#[test]
fn no_test_panics_when_a_service_url_is_unset() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let files: Vec<PathBuf> = files
        .into_iter()
        .filter(|p| p.components().any(|c| c.as_os_str() == "tests"))
        // This file names the shapes it looks for.
        .filter(|p| !p.ends_with("pow-actix/tests/service_urls.rs"))
        .collect();
    assert!(files.len() > 20, "found only {} test files", files.len());
    let mut offenders = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (line, code) in panicking_reads(&text) {
            offenders.push(format!("{}:{line}: {code}", file.display()));
        }
    }
    assert!(
        offenders.is_empty(),
        "tests that panic when a service URL is unset (return when \
         pow_actix::testing::test_database_url()/test_redis_url() is None instead):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_check_sees_the_panicking_shapes() {
    let bad =
        "let url = pow_actix::testing::test_database_url().expect(\"POW_TEST_DATABASE_URL\");";
    assert_eq!(panicking_reads(bad).len(), 1);
    let bad = "let url = std::env::var(\"POW_TEST_REDIS_URL\")\n    .unwrap();";
    assert_eq!(panicking_reads(bad).len(), 1);
    let fine = "let Some(url) = pow_actix::testing::test_database_url() else {\n    return;\n};";
    assert!(panicking_reads(fine).is_empty());
    let fine = "match std::env::var(\"POW_TEST_DATABASE_URL\") {";
    assert!(panicking_reads(fine).is_empty());
}
