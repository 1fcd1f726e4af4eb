//! `SmtpMailer` URLs asking for TLS: accepted with the `smtp-tls` feature, refused with a
//! message naming it without.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use pow_core::mailer::SmtpMailer;
#[cfg(not(feature = "smtp-tls"))]
use pow_core::PowError;

#[cfg(not(feature = "smtp-tls"))]
#[test]
fn smtp_tls_urls_name_the_feature() {
    for url in ["smtps://localhost", "smtp://localhost?tls=required"] {
        let err = SmtpMailer::from_url(url, "noreply@example.com").unwrap_err();
        assert!(
            matches!(err, PowError::Config(ref t) if t.contains("smtp-tls")),
            "{err:?}"
        );
    }
}

#[cfg(feature = "smtp-tls")]
#[test]
fn smtp_tls_urls_are_accepted() {
    for url in [
        "smtps://user:pass@localhost",
        "smtp://localhost?tls=required",
    ] {
        SmtpMailer::from_url(url, "noreply@example.com").unwrap();
    }
}
