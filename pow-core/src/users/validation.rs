//! User id normalisation and email validation. (Being written.)

/// Trims and lowercases a user id.
pub fn normalize_user_id(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// Validates an email; `Err(reason)` when invalid.
pub fn validate_email(_email: &str) -> Result<(), &'static str> {
    Ok(())
}
