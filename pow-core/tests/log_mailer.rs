//! The default mailer in an app that installs no `tracing` subscriber: the mail (with its
//! link) is printed to standard error, not lost. Runs itself again as a child process, so
//! that no other test's subscriber is set in the process that delivers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pow_core::mailer::{LogMailer, Mail, Mailer};

const CHILD: &str = "POW_LOG_MAILER_CHILD";

#[test]
fn without_a_subscriber_the_mail_is_printed_to_stderr() {
    if std::env::var_os(CHILD).is_some() {
        let mail = Mail {
            to: "ada@example.com".into(),
            subject: "Confirm your e-mail address".into(),
            text: "Open http://localhost/confirm-email/abc to confirm.".into(),
            html: String::new(),
        };
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(LogMailer.deliver(mail))
            .unwrap();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "without_a_subscriber_the_mail_is_printed_to_stderr",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("To: ada@example.com"), "{stderr}");
    assert!(
        stderr.contains("http://localhost/confirm-email/abc"),
        "{stderr}"
    );
}
