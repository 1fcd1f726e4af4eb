//! TOTP codes (RFC 6238, through `totp-rs`), recovery codes and the enrolment QR code.

use pow_core::token::keyed_digest;
use pow_core::PowConfig;
use rand::Rng as _;
use totp_rs::{Algorithm, Secret, TOTP};

/// Seconds per code.
pub(crate) const STEP: u64 = 30;
/// Digits per code.
const DIGITS: usize = 6;
/// Secret length in bytes (160 bits, RFC 4226's recommendation).
const SECRET_BYTES: usize = 20;
/// Letters of recovery codes: no `0`/`O`, `1`/`I`/`L`, so codes read back without doubt.
const RECOVERY_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Characters per recovery code (two groups of five: about 49 bits).
const RECOVERY_LEN: usize = 10;

/// A new random secret, base32 (as authenticator apps take it).
pub(crate) fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::thread_rng().fill(&mut bytes[..]);
    Secret::Raw(bytes.to_vec()).to_encoded().to_string()
}

/// The TOTP of a base32 `secret`, labelled for authenticator apps; `None` for a secret
/// that does not decode (a corrupted column).
fn totp(secret: &str, issuer: &str, account: &str) -> Option<TOTP> {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().ok()?;
    // `:` separates issuer and account in the otpauth URL; neither may hold one.
    let clean = |s: &str| s.replace(':', " ");
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        0,
        STEP,
        bytes,
        Some(clean(issuer)),
        clean(account),
    )
    .ok()
}

/// The time step a code entered now belongs to, if it is right for `secret`: the current
/// step or one either side (clock drift). Compared in constant time by `totp-rs`.
pub(crate) fn matching_step(secret: &str, code: &str, now_secs: u64) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret, "pow", "user")?;
    let current = now_secs / STEP;
    // Every candidate is checked, so the time taken does not tell which one matched.
    let mut matched = None;
    for step in [current.saturating_sub(1), current, current + 1] {
        if totp.check(&code, step * STEP) && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// The code for `secret` at `now_secs` (for tests and tools).
pub fn code_at(secret: &str, now_secs: u64) -> Option<String> {
    Some(totp(secret, "pow", "user")?.generate(now_secs))
}

/// The `otpauth://` URL an authenticator app reads from the QR code.
pub(crate) fn otpauth_url(secret: &str, issuer: &str, account: &str) -> Option<String> {
    Some(totp(secret, issuer, account)?.get_url())
}

/// `url` as an SVG QR code, drawn on the server (the page needs no script).
pub(crate) fn qr_svg(url: &str) -> Option<String> {
    let code = qrcode::QrCode::new(url.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}

/// `count` new recovery codes, as shown to the user (`ABCDE-FGHJK`).
pub(crate) fn new_recovery_codes(count: usize) -> Vec<String> {
    let mut rng = rand::thread_rng();
    (0..count)
        .map(|_| {
            let chars: String = (0..RECOVERY_LEN)
                .map(|_| char::from(RECOVERY_ALPHABET[rng.gen_range(0..RECOVERY_ALPHABET.len())]))
                .collect();
            format!(
                "{}-{}",
                &chars[..RECOVERY_LEN / 2],
                &chars[RECOVERY_LEN / 2..]
            )
        })
        .collect()
}

/// What is stored of a recovery code: a keyed hash of its normalized form (case, spaces
/// and dashes do not matter when it is typed back).
pub(crate) fn recovery_hash(config: &PowConfig, code: &str) -> String {
    keyed_digest(
        &config.verifier().derive_key(RECOVERY_SALT),
        &normalize(code),
    )
}

/// The keyed hashes of a typed recovery code under every secret of the key ring, the
/// current one first: codes stored before a key change still match.
pub(crate) fn recovery_hashes_of(config: &PowConfig, code: &str) -> Vec<String> {
    let normalized = normalize(code);
    config
        .verifier()
        .derive_keys(RECOVERY_SALT)
        .iter()
        .map(|key| keyed_digest(key, &normalized))
        .collect()
}

const RECOVERY_SALT: &str = "pow two-factor recovery code";

fn normalize(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_their_step_and_neighbours_only() {
        let secret = new_secret();
        let now = 1_800_000_015;
        let code = code_at(&secret, now).unwrap();
        assert_eq!(matching_step(&secret, &code, now), Some(now / STEP));
        assert_eq!(
            matching_step(&secret, &code, now + STEP),
            Some(now / STEP),
            "one step late still matches"
        );
        assert_eq!(matching_step(&secret, &code, now + 2 * STEP), None);
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "abcdef", now), None);
        assert_eq!(matching_step("not base32!", &code, now), None);
    }

    #[test]
    fn recovery_codes_are_distinct_and_hash_loosely() {
        let config = PowConfig::builder("s".repeat(64)).build().unwrap();
        let codes = new_recovery_codes(10);
        assert_eq!(codes.len(), 10);
        let unique: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
        let code = &codes[0];
        assert_eq!(code.len(), 11);
        assert_eq!(
            recovery_hash(&config, code),
            recovery_hash(&config, &code.to_lowercase().replace('-', " "))
        );
        assert_ne!(
            recovery_hash(&config, code),
            recovery_hash(&config, &codes[1])
        );
    }

    #[test]
    fn the_qr_code_is_an_svg_of_the_otpauth_url() {
        let url = otpauth_url(&new_secret(), "Demo: app", "ada@example.com").unwrap();
        assert!(url.starts_with("otpauth://totp/"), "{url}");
        assert!(
            url.contains("issuer=Demo%20%20app") || url.contains("issuer=Demo"),
            "{url}"
        );
        let svg = qr_svg(&url).unwrap();
        assert!(svg.contains("<svg"), "{svg}");
    }
}
