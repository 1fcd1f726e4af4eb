//! The extension registry refuses setups whose extensions break each other's requirements,
//! at `build()`, with a message that names the fix.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pow_actix::{PowConfig, PowError};
use pow_ext_email_confirmation::EmailConfirmation;
use pow_ext_persistent_session::PersistentSession;
use pow_ext_reset_password::ResetPassword;

fn secret() -> String {
    "s".repeat(64)
}

fn config_error(result: Result<PowConfig, PowError>) -> String {
    match result {
        Ok(_) => panic!("the setup was accepted"),
        Err(PowError::Config(message)) => message,
        Err(other) => panic!("unexpected error: {other}"),
    }
}

#[test]
fn persistent_session_listed_before_email_confirmation_is_refused() {
    let message = config_error(
        PowConfig::builder(secret())
            .base_url("http://localhost")
            .extension(PersistentSession::new())
            .extension(EmailConfirmation::new())
            .build(),
    );
    assert!(
        message.contains(
            "extension `pow_email_confirmation` must be listed before `pow_persistent_session`"
        ),
        "{message}"
    );
    assert!(
        message.contains("call PowConfigBuilder::extension for `pow_email_confirmation` first"),
        "{message}"
    );
}

#[test]
fn the_right_order_starts() {
    let config = PowConfig::builder(secret())
        .base_url("http://localhost")
        .extension(EmailConfirmation::new())
        .extension(PersistentSession::new())
        .build()
        .unwrap();
    assert_eq!(
        config.extensions().names(),
        ["pow_email_confirmation", "pow_persistent_session"]
    );
}

#[test]
fn a_missing_email_field_is_refused() {
    for ext in [
        PowConfig::builder(secret())
            .base_url("http://localhost")
            .user_id_field("username")
            .extension(EmailConfirmation::new())
            .build(),
        PowConfig::builder(secret())
            .base_url("http://localhost")
            .user_id_field("username")
            .extension(ResetPassword::new())
            .build(),
    ] {
        let message = config_error(ext);
        assert!(message.contains("needs a user field `email`"), "{message}");
        assert!(
            message.contains("PowConfigBuilder::user_field"),
            "{message}"
        );
    }
}
