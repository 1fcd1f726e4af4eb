//! Property tests of every parser that sees request input: signed tokens (session ids, API
//! tokens and mailed links all use them), form bodies with `user[...]` keys, email
//! validation, password hash strings, `Accept-Language`, and CSRF tokens over HTTP. Never a
//! panic; round trips hold; tampering is always detected.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pow_actix::messages::{negotiate, LanguageIdentifier};
use pow_actix::password::{PasswordHasher as _, Pbkdf2Hasher};
use pow_actix::token::MessageVerifier;
use pow_actix::users::validation::{normalize_user_id, validate_deliverable_email, validate_email};
use pow_actix::web::FormData;
use proptest::prelude::*;

fn verifier() -> MessageVerifier {
    MessageVerifier::new(&[7u8; 64])
}

/// Percent-encodes every byte but unreserved ASCII, as a browser encodes a form.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn signed_tokens_round_trip(salt in "[ -~]{0,40}", token in "\\PC{0,80}") {
        let v = verifier();
        let signed = v.sign_token(&salt, &token);
        prop_assert_eq!(v.verify_token(&salt, &signed), Some(token.clone()));
        // Another salt (another purpose) never accepts it.
        let other = format!("{salt}x");
        prop_assert_eq!(v.verify_token(&other, &signed), None);
    }

    #[test]
    fn tampered_tokens_are_refused(token in "[a-z0-9-]{1,40}", at in any::<prop::sample::Index>(), by in 1u8..=255) {
        let v = verifier();
        let signed = v.sign_token("salt", &token);
        let mut bytes = signed.clone().into_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= by;
        if let Ok(tampered) = String::from_utf8(bytes) {
            if tampered != signed {
                prop_assert_ne!(v.verify_token("salt", &tampered), Some(token));
            }
        }
    }

    #[test]
    fn any_string_verifies_without_panic(s in "\\PC{0,200}", raw in prop::collection::vec(any::<u8>(), 0..200)) {
        let v = verifier();
        let _ = v.verify_token("salt", &s);
        let _ = v.verify("salt", &String::from_utf8_lossy(&raw));
    }

    #[test]
    fn form_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = FormData::parse(&body);
    }

    #[test]
    fn nested_user_keys_round_trip(
        fields in prop::collection::btree_map("[a-z_]{1,12}", "\\PC{0,30}", 0..6),
        noise in "[a-z]{0,8}",
    ) {
        let mut body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(&format!("user[{k}]")), encode(v)))
            .collect();
        body.push(format!("{noise}x=1"));
        let form = FormData::parse(body.join("&").as_bytes());
        for (k, v) in &fields {
            prop_assert_eq!(form.user.get(k), Some(v));
        }
        prop_assert_eq!(form.user.len(), fields.len());
    }

    #[test]
    fn email_validation_never_panics_and_agrees_with_the_mailer(s in "\\PC{0,120}") {
        let _ = validate_email(&s);
        let normalized = normalize_user_id(&s);
        prop_assert_eq!(normalize_user_id(&normalized), normalized.clone(), "idempotent");
        if validate_deliverable_email(&normalized).is_ok() {
            prop_assert!(normalized.parse::<lettre::Address>().is_ok());
        }
    }

    #[test]
    fn email_like_strings_agree_with_the_mailer(
        local in "[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~\"() -]{1,20}",
        domain in "[a-z0-9.()-]{1,20}",
    ) {
        let email = normalize_user_id(&format!("{local}@{domain}"));
        if validate_deliverable_email(&email).is_ok() {
            prop_assert!(email.parse::<lettre::Address>().is_ok(), "{}", email);
        }
    }

    #[test]
    fn accept_language_never_panics(header in "\\PC{0,300}") {
        let available: Vec<LanguageIdentifier> =
            ["en", "de", "fr"].iter().map(|l| l.parse().unwrap()).collect();
        let chosen = negotiate(Some(&header), &available);
        prop_assert!(available.contains(&chosen));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn hash_strings_never_panic(hash in "\\PC{0,200}", password in "\\PC{0,40}") {
        let hasher = Pbkdf2Hasher::new(1);
        let _ = hasher.verify(&password, &hash);
        let _ = hasher.verify(&password, &format!("$pbkdf2-sha512${hash}"));
        let _ = hasher.verify(&password, &format!("$argon2id$v=19${hash}"));
    }

    #[test]
    fn hashes_round_trip(password in "\\PC{8,40}", other in "\\PC{8,40}") {
        let hasher = Pbkdf2Hasher::new(1);
        let hash = hasher.hash(&password).unwrap();
        prop_assert!(hasher.verify(&password, &hash).unwrap());
        if other != password {
            prop_assert!(!hasher.verify(&other, &hash).unwrap());
        }
        // A tampered hash never verifies the password.
        let tampered = hash.replacen('$', "$0", 2);
        prop_assert!(!matches!(hasher.verify(&password, &tampered), Ok(true)));
    }
}

/// Over HTTP: a posted form with any CSRF token but the real one is refused with 403, never
/// a server error.
#[test]
fn forged_csrf_tokens_are_refused_over_http() {
    let config = pow_actix::PowConfig::builder("s".repeat(64))
        .rate_limits(pow_actix::limits::RateLimits::disabled())
        .build()
        .unwrap();
    let addr = pow_actix::test_client::serve(move || pow_actix::testing::app(&config));
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(48));
    let c = std::cell::RefCell::new(pow_actix::test_client::Client::new(addr));
    let real = c.borrow_mut().get("/session/new").csrf();
    runner
        .run(&"\\PC{0,120}", |token| {
            if token == real {
                return Ok(());
            }
            let res = c.borrow_mut().post(
                "/session",
                &[
                    ("_csrf_token", token.as_str()),
                    ("user[email]", "a@example.com"),
                    ("user[password]", "whatever123"),
                ],
            );
            prop_assert_eq!(res.status, 403, "{}", token);
            Ok(())
        })
        .unwrap();
}
