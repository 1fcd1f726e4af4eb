//! Messages (Fluent), mailers and the default pages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use pow_actix::mailer::{
    render_mail, FileMailer, LogMailer, Mail, Mailer, MemoryMailer, SmtpMailer,
};
use pow_actix::messages::{
    negotiate, request_language, FluentMessages, LanguageIdentifier, MessageArg, Messages,
};
use pow_actix::users::ValidationError;
use pow_actix::views::{
    DefaultViews, Field, FieldType, Form, Link, PageBody, PageContext, PageId, Views,
};
use pow_actix::{Extension, PowConfig, PowError};

fn lang(tag: &str) -> LanguageIdentifier {
    tag.parse().unwrap()
}

fn secret() -> String {
    "s".repeat(64)
}

fn core() -> FluentMessages {
    FluentMessages::builder().build()
}

// ---------------------------------------------------------------------------------------
// Messages

fn english_core_messages_match_pow() {
    let m = core();
    let en = lang("en");
    assert_eq!(
        m.invalid_credentials(&en).as_deref(),
        Some(
            "The provided login details did not work. Please verify your credentials, and try again."
        )
    );
    assert_eq!(
        m.user_has_been_updated(&en).as_deref(),
        Some("Your account has been updated.")
    );
    assert_eq!(
        m.user_has_been_deleted(&en).as_deref(),
        Some("Your account has been deleted. Sorry to see you go!")
    );
    assert_eq!(
        m.user_could_not_be_deleted(&en).as_deref(),
        Some("Your account could not be deleted.")
    );
}

fn nil_messages_are_none_in_every_language() {
    let m = core();
    for tag in ["en", "de", "fr"] {
        let l = lang(tag);
        assert_eq!(m.user_not_authenticated(&l), None, "{tag}");
        assert_eq!(m.user_already_authenticated(&l), None, "{tag}");
        assert_eq!(m.signed_in(&l), None, "{tag}");
        assert_eq!(m.signed_out(&l), None, "{tag}");
        assert_eq!(m.user_has_been_created(&l), None, "{tag}");
    }
}

fn languages_start_with_english() {
    let m = core();
    let tags: Vec<String> = m.languages().iter().map(ToString::to_string).collect();
    assert_eq!(tags, ["en", "de", "fr"]);
}

fn german_and_french_are_negotiated_and_translated() {
    let m = core();
    let en = lang("en");
    let de = negotiate(Some("de-DE,de;q=0.9"), m.languages());
    assert_eq!(de, lang("de"));
    let fr = negotiate(Some("fr-CA, fr;q=0.8, en;q=0.5"), m.languages());
    assert_eq!(fr, lang("fr"));
    for getter in [
        Messages::invalid_credentials,
        Messages::user_has_been_updated,
        Messages::user_has_been_deleted,
        Messages::user_could_not_be_deleted,
    ] {
        let english = getter(&m, &en).unwrap();
        let german = getter(&m, &de).unwrap();
        let french = getter(&m, &fr).unwrap();
        assert_ne!(english, german);
        assert_ne!(english, french);
        assert_ne!(german, french);
    }
    assert_eq!(
        m.user_has_been_updated(&de).as_deref(),
        Some("Ihr Konto wurde aktualisiert.")
    );
    assert_eq!(
        m.user_has_been_updated(&fr).as_deref(),
        Some("Votre compte a été mis à jour.")
    );
}

fn quality_values_order_the_choice() {
    let m = core();
    assert_eq!(
        negotiate(Some("fr;q=0.3, de;q=0.7"), m.languages()),
        lang("de")
    );
    assert_eq!(negotiate(Some("de;q=0, fr"), m.languages()), lang("fr"));
    assert_eq!(negotiate(Some("xx, fr;q=0.1"), m.languages()), lang("fr"));
}

fn unknown_and_garbage_headers_fall_back_to_english() {
    let m = core();
    let en = lang("en");
    let long = "ä,".repeat(5000);
    for header in [
        None,
        Some(""),
        Some("xx"),
        Some("xx-YY;q=0.9"),
        Some("*"),
        Some(";;;,,,q="),
        Some("de;q=abc"),
        Some("\u{0}\u{1}garbage!!"),
        Some(long.as_str()),
    ] {
        assert_eq!(negotiate(header, m.languages()), en, "{header:?}");
    }
    assert_eq!(negotiate(Some("de"), &[]), en);
}

#[test]
fn request_language_reads_the_header_and_an_explicit_choice() {
    use actix_web::test::TestRequest;
    use actix_web::HttpMessage;

    let m = core();
    let req = TestRequest::default()
        .insert_header(("accept-language", "fr-FR,fr;q=0.9"))
        .to_http_request();
    assert_eq!(
        request_language(&pow_actix::web::ActixRequest(&req).facts(), &m),
        lang("fr")
    );

    let req = TestRequest::default()
        .insert_header((
            "accept-language",
            actix_web::http::header::HeaderValue::from_bytes(b"de\xff\xfe").unwrap(),
        ))
        .to_http_request();
    assert_eq!(
        request_language(&pow_actix::web::ActixRequest(&req).facts(), &m),
        lang("en")
    );

    let req = TestRequest::default()
        .insert_header(("accept-language", "fr"))
        .to_http_request();
    req.extensions_mut().insert(lang("de"));
    assert_eq!(
        request_language(&pow_actix::web::ActixRequest(&req).facts(), &m),
        lang("de")
    );

    // A choice that is not offered is ignored.
    let req = TestRequest::default()
        .insert_header(("accept-language", "fr"))
        .to_http_request();
    req.extensions_mut().insert(lang("ja"));
    assert_eq!(
        request_language(&pow_actix::web::ActixRequest(&req).facts(), &m),
        lang("fr")
    );
}

fn regional_variants_use_the_language_bundle() {
    let m = core();
    assert_eq!(
        m.user_has_been_updated(&lang("de-AT")).as_deref(),
        Some("Ihr Konto wurde aktualisiert.")
    );
    assert_eq!(
        m.user_has_been_updated(&lang("ja")).as_deref(),
        Some("Your account has been updated.")
    );
}

fn app_override_changes_one_message_and_keeps_the_others() {
    let config = PowConfig::builder(secret())
        .messages_ftl("en", "invalid_credentials = Nope.")
        .build()
        .unwrap();
    let m = config.messages();
    let en = lang("en");
    assert_eq!(m.invalid_credentials(&en).as_deref(), Some("Nope."));
    assert_eq!(
        m.user_has_been_updated(&en).as_deref(),
        Some("Your account has been updated.")
    );
    // German keeps its own translation.
    assert_ne!(m.invalid_credentials(&lang("de")).as_deref(), Some("Nope."));
    assert!(m.invalid_credentials(&lang("de")).is_some());
}

fn app_override_adds_and_silences_messages() {
    let config = PowConfig::builder(secret())
        .messages_ftl("en", "signed_in = Welcome back!")
        .messages_ftl("de", "signed_in = Willkommen zurück!")
        .messages_ftl("en", "user_has_been_updated = { \"\" }")
        .build()
        .unwrap();
    let m = config.messages();
    assert_eq!(m.signed_in(&lang("en")).as_deref(), Some("Welcome back!"));
    assert_eq!(
        m.signed_in(&lang("de")).as_deref(),
        Some("Willkommen zurück!")
    );
    // French has no translation: English shows.
    assert_eq!(m.signed_in(&lang("fr")).as_deref(), Some("Welcome back!"));
    assert_eq!(m.user_has_been_updated(&lang("en")), None);
    assert_eq!(m.signed_out(&lang("en")), None);
}

fn app_override_can_add_a_language() {
    let config = PowConfig::builder(secret())
        .messages_ftl("es", "invalid_credentials = No funcionó.")
        .build()
        .unwrap();
    let m = config.messages();
    assert!(m.languages().contains(&lang("es")));
    let es = negotiate(Some("es-ES,es;q=0.9"), m.languages());
    assert_eq!(es, lang("es"));
    assert_eq!(m.invalid_credentials(&es).as_deref(), Some("No funcionó."));
    // Untranslated keys fall back to English.
    assert_eq!(
        m.user_has_been_updated(&es).as_deref(),
        Some("Your account has been updated.")
    );
}

fn parse_errors_are_config_errors_naming_the_line() {
    let err = PowConfig::builder(secret())
        .messages_ftl("en", "ok = fine\n\nbroken message without equals\n")
        .build()
        .unwrap_err();
    let PowError::Config(text) = err else {
        panic!("expected a Config error, got {err:?}");
    };
    assert!(text.contains("line 3"), "{text}");
    assert!(text.contains("messages_ftl"), "{text}");

    let err = FluentMessages::builder()
        .add_ftl("en", "= no id")
        .unwrap_err();
    assert!(
        matches!(err, PowError::Config(ref t) if t.contains("line 1")),
        "{err:?}"
    );

    let err = FluentMessages::builder()
        .add_ftl("not a tag!", "a = b")
        .unwrap_err();
    assert!(matches!(err, PowError::Config(_)), "{err:?}");
}

fn custom_messages_with_overrides_are_refused() {
    let err = PowConfig::builder(secret())
        .messages(core())
        .messages_ftl("en", "a = b")
        .build()
        .unwrap_err();
    assert!(matches!(err, PowError::Config(_)));
}

struct Greeter;

impl Extension for Greeter {
    fn name(&self) -> &'static str {
        "pow_greeter"
    }

    fn build(&self, ext: &mut pow_actix::extension::ExtensionBuilder) {
        ext.messages([
            (
                "en",
                "pow_greeter_hello = Hello, { $name }!\npow_greeter_bye = Bye!",
            ),
            ("de", "pow_greeter_hello = Hallo, { $name }!"),
        ]);
    }
}

struct Broken;

impl Extension for Broken {
    fn name(&self) -> &'static str {
        "pow_broken"
    }

    fn build(&self, ext: &mut pow_actix::extension::ExtensionBuilder) {
        ext.messages([("en", "ok = fine\n!!!")]);
    }
}

fn extension_messages_load_before_app_overrides() {
    let config = PowConfig::builder(secret())
        .extension(Greeter)
        .messages_ftl("en", "pow_greeter_bye = See you.")
        .build()
        .unwrap();
    let m = config.messages();
    let args = [("name", MessageArg::from("Jane"))];
    assert_eq!(
        m.message(&lang("en"), "pow_greeter_hello", &args)
            .as_deref(),
        Some("Hello, Jane!")
    );
    assert_eq!(
        m.message(&lang("de"), "pow_greeter_hello", &args)
            .as_deref(),
        Some("Hallo, Jane!")
    );
    assert_eq!(
        m.message(&lang("de"), "pow_greeter_bye", &[]).as_deref(),
        Some("See you.")
    );
    // Core messages are still there.
    assert!(m.invalid_credentials(&lang("en")).is_some());

    let err = PowConfig::builder(secret())
        .extension(Broken)
        .build()
        .unwrap_err();
    assert!(
        matches!(err, PowError::Config(ref t) if t.contains("pow_broken") && t.contains("line 2")),
        "{err:?}"
    );
}

fn messages_are_byte_exact_without_isolation_marks() {
    let m = FluentMessages::builder()
        .add_ftl("en", "hello = Hello, { $name }!")
        .unwrap()
        .build();
    let text = m
        .message(&lang("en"), "hello", &[("name", MessageArg::from("Jane"))])
        .unwrap();
    assert_eq!(text.as_bytes(), b"Hello, Jane!");
}

fn validation_errors_are_translated_with_counts() {
    let m = core();
    let (en, de, fr) = (lang("en"), lang("de"), lang("fr"));
    let short = ValidationError::with_count("too_short", 8);
    let long = ValidationError::with_count("too_long", 4096);
    assert_eq!(
        m.validation_error(&en, "password", &short),
        "should be at least 8 characters"
    );
    assert_eq!(
        m.validation_error(&en, "password", &long),
        "should be at most 4096 characters"
    );
    // One is singular in every language: no "character(s)".
    let one = ValidationError::with_count("too_short", 1);
    assert_eq!(
        m.validation_error(&en, "password", &one),
        "should be at least 1 character"
    );
    assert_eq!(
        m.validation_error(&en, "password", &ValidationError::with_count("too_long", 1)),
        "should be at most 1 character"
    );
    assert_eq!(
        m.validation_error(&fr, "password", &one),
        "doit contenir au moins 1 caractère"
    );
    for tag in ["en", "de", "fr"] {
        for count in [1, 2, 8] {
            for key in ["too_short", "too_long"] {
                let text = m.validation_error(
                    &lang(tag),
                    "password",
                    &ValidationError::with_count(key, count),
                );
                assert!(!text.contains("(s)"), "{tag} {key} {count}: {text}");
            }
        }
    }
    assert_eq!(
        m.validation_error(&de, "password", &short),
        "muss mindestens 8 Zeichen lang sein"
    );
    assert_eq!(
        m.validation_error(
            &de,
            "password",
            &ValidationError::with_count("too_short", 1)
        ),
        "muss mindestens ein Zeichen lang sein"
    );
    assert_eq!(
        m.validation_error(&fr, "password", &short),
        "doit contenir au moins 8 caractères"
    );
    assert_eq!(
        m.validation_error(&fr, "password", &ValidationError::with_count("too_long", 1)),
        "doit contenir au plus 1 caractère"
    );

    // Every core key, English text equals Ecto's default.
    for key in ["blank", "taken", "format", "confirmation", "invalid"] {
        let error = ValidationError::new(key);
        assert_eq!(
            m.validation_error(&en, "email", &error),
            error.default_message()
        );
        assert_ne!(
            m.validation_error(&de, "email", &error),
            error.default_message()
        );
        assert_ne!(
            m.validation_error(&fr, "email", &error),
            error.default_message()
        );
    }
    // Email format reasons are not shown.
    let mut format = ValidationError::new("format");
    format.reason = Some("dns label too long".into());
    assert_eq!(
        m.validation_error(&en, "email", &format),
        "has invalid format"
    );
}

fn unknown_validation_keys_fall_back_and_can_be_translated() {
    let error = ValidationError::new("must_be_adult");
    assert_eq!(
        core().validation_error(&lang("de"), "age", &error),
        "must_be_adult"
    );

    let m = FluentMessages::builder()
        .add_ftl(
            "de",
            "error-must-be-adult = { $field } verlangt Volljährigkeit",
        )
        .unwrap()
        .build();
    assert_eq!(
        m.validation_error(&lang("de"), "age", &error),
        "age verlangt Volljährigkeit"
    );
}

fn texts_fall_back_to_english_then_to_the_key() {
    let m = FluentMessages::builder()
        .add_ftl("en", "label-nickname = Nickname")
        .unwrap()
        .build();
    let de = lang("de");
    assert_eq!(m.text(&de, "label-email"), "E-Mail");
    assert_eq!(m.text(&lang("en"), "label-email"), "Email");
    assert_eq!(m.text(&lang("fr"), "button-sign-in"), "Se connecter");
    assert_eq!(m.text(&de, "label-nickname"), "Nickname");
    assert_eq!(m.text(&de, "no-such-key"), "no-such-key");

    assert_eq!(
        m.field_label(&de, "password_confirmation"),
        "Passwort bestätigen"
    );
    assert_eq!(m.field_label(&de, "nickname"), "Nickname");
    assert_eq!(m.field_label(&de, "date_of_birth"), "Date of birth");
    assert_eq!(m.text(&lang("en"), "mail-greeting"), "Hi,");
}

// ---------------------------------------------------------------------------------------
// Mailers

fn mail(to: &str, subject: &str) -> Mail {
    Mail {
        to: to.into(),
        subject: subject.into(),
        text: format!("text for {subject}"),
        html: format!("<p>html for {subject}</p>"),
    }
}

#[actix_rt::test]
async fn memory_mailer_records_and_finds_mails() {
    let mailer = MemoryMailer::new();
    let handle = mailer.clone();
    mailer
        .deliver(mail("jane@example.com", "one"))
        .await
        .unwrap();
    mailer
        .deliver(mail("john@example.com", "two"))
        .await
        .unwrap();
    mailer
        .deliver(mail("jane@example.com", "three"))
        .await
        .unwrap();

    assert_eq!(handle.deliveries().len(), 3);
    assert_eq!(handle.count_to("jane@example.com"), 2);
    assert_eq!(handle.count_to("JANE@example.com"), 2);
    assert_eq!(handle.count_to("nobody@example.com"), 0);
    assert_eq!(handle.last_to("jane@example.com").unwrap().subject, "three");
    assert_eq!(handle.last_to("john@example.com").unwrap().subject, "two");
    assert!(handle.last_to("nobody@example.com").is_none());

    let err = mailer
        .deliver(mail("not an address", "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, PowError::Mailer(_)));
    assert_eq!(handle.deliveries().len(), 3);

    handle.clear();
    assert!(mailer.deliveries().is_empty());
}

#[actix_rt::test]
async fn config_mailer_defaults_to_log_and_takes_a_shared_one() {
    let config = PowConfig::builder(secret()).build().unwrap();
    config
        .mailer()
        .deliver(mail("jane@example.com", "logged"))
        .await
        .unwrap();
    LogMailer
        .deliver(mail("jane@example.com", "logged"))
        .await
        .unwrap();

    let memory = MemoryMailer::new();
    let config = PowConfig::builder(secret())
        .mailer_arc(std::sync::Arc::new(memory.clone()))
        .base_url("https://example.com")
        .build()
        .unwrap();
    config
        .mailer()
        .deliver(mail("jane@example.com", "kept"))
        .await
        .unwrap();
    assert_eq!(memory.last_to("jane@example.com").unwrap().subject, "kept");

    let memory2 = MemoryMailer::new();
    let config = PowConfig::builder(secret())
        .mailer(memory2.clone())
        .base_url("https://example.com")
        .build()
        .unwrap();
    config
        .mailer()
        .deliver(mail("jane@example.com", "kept"))
        .await
        .unwrap();
    assert_eq!(memory2.count_to("jane@example.com"), 1);
}

/// Removes a directory when dropped, so that failed tests leave nothing behind.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pow-mails-{name}-{}", uuid::Uuid::new_v4()));
    assert!(!dir.exists());
    dir
}

/// A minimal MIME reader: headers, and the decoded parts of a multipart body.
struct Parsed {
    headers: Vec<(String, String)>,
    parts: Vec<(String, String)>,
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn parse_headers(block: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in block.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            let last = headers.last_mut().expect("continuation without header");
            last.1.push(' ');
            last.1.push_str(line.trim());
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    headers
}

fn decode_qp(body: &str) -> String {
    let joined = body.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn decode_part(headers: &[(String, String)], body: &str) -> String {
    match header(headers, "Content-Transfer-Encoding").map(str::to_ascii_lowercase) {
        Some(enc) if enc == "base64" => {
            let compact: String = body.split_whitespace().collect();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .unwrap(),
            )
            .unwrap()
        }
        Some(enc) if enc == "quoted-printable" => decode_qp(body),
        _ => body.to_owned(),
    }
}

fn parse_eml(raw: &str) -> Parsed {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .expect("headers end with a blank line");
    let headers = parse_headers(head);
    let content_type = header(&headers, "Content-Type")
        .expect("Content-Type")
        .to_owned();
    assert!(
        content_type.starts_with("multipart/alternative"),
        "{content_type}"
    );
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .expect("boundary")
        .trim_matches('"')
        .to_owned();
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    for chunk in body.split(delimiter.as_str()).skip(1) {
        if chunk.starts_with("--") {
            break;
        }
        let chunk = chunk.trim_start_matches("\r\n");
        let (part_head, part_body) = chunk.split_once("\r\n\r\n").expect("part headers");
        let part_headers = parse_headers(part_head);
        let kind = header(&part_headers, "Content-Type").unwrap().to_owned();
        let decoded = decode_part(&part_headers, part_body.trim_end_matches("\r\n"));
        parts.push((kind, decoded));
    }
    Parsed { headers, parts }
}

#[actix_rt::test]
async fn file_mailer_writes_a_parseable_multipart_eml() {
    let dir = temp_dir("file");
    let _cleanup = RemoveOnDrop(dir.clone());
    let mailer = FileMailer::new(&dir, "Pow App <noreply@example.com>").unwrap();
    assert_eq!(mailer.dir(), dir.as_path());
    let messages = core();
    let rendered = render_mail(
        &lang("de"),
        &messages,
        "jane@example.com",
        "Passwort zurücksetzen".into(),
        &["Über diesen Link setzen Sie Ihr Passwort zurück:".into()],
        Some((
            "Passwort zurücksetzen",
            "https://example.com/reset-password/abc.def",
        )),
    )
    .unwrap();
    mailer.deliver(rendered.clone()).await.unwrap();
    mailer
        .deliver(mail("john@example.com", "second"))
        .await
        .unwrap();

    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    for file in &files {
        assert_eq!(file.extension().unwrap(), "eml");
    }
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    let parsed = parse_eml(&raw);
    assert_eq!(header(&parsed.headers, "To"), Some("jane@example.com"));
    assert!(header(&parsed.headers, "From")
        .unwrap()
        .contains("<noreply@example.com>"));
    assert!(header(&parsed.headers, "Subject").is_some());
    assert!(header(&parsed.headers, "Date").is_some());
    assert_eq!(parsed.parts.len(), 2);
    assert!(
        parsed.parts[0].0.starts_with("text/plain"),
        "{:?}",
        parsed.parts[0].0
    );
    assert!(
        parsed.parts[1].0.starts_with("text/html"),
        "{:?}",
        parsed.parts[1].0
    );
    // Mail bodies travel with CRLF line ends.
    let lf = |s: &str| s.replace("\r\n", "\n").trim_end().to_owned();
    assert_eq!(lf(&parsed.parts[0].1), lf(&rendered.text));
    assert_eq!(lf(&parsed.parts[1].1), lf(&rendered.html));
    assert!(parsed.parts[0].1.starts_with("Hallo,"));
}

#[actix_rt::test]
async fn file_mailer_refuses_bad_addresses() {
    assert!(matches!(
        FileMailer::new(temp_dir("bad"), "not an address"),
        Err(PowError::Config(_))
    ));
    let dir = temp_dir("bad-to");
    let mailer = FileMailer::new(&dir, "noreply@example.com").unwrap();
    let err = mailer
        .deliver(mail("a@b\r\nBcc: x@y", "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, PowError::Mailer(_)));
    assert!(!dir.exists());
}

fn smtp_mailer_parses_urls_without_connecting() {
    let mailer =
        SmtpMailer::from_url("smtp://user:p%40ss@localhost:2525", "noreply@example.com").unwrap();
    assert!(format!("{mailer:?}").contains("noreply@example.com"));
    assert!(!format!("{mailer:?}").contains("p@ss"));
    SmtpMailer::from_url("smtp://localhost", "App <noreply@example.com>").unwrap();

    for (url, from) in [
        ("http://localhost", "noreply@example.com"),
        ("not a url", "noreply@example.com"),
        ("smtp://localhost", "not an address"),
    ] {
        let err = SmtpMailer::from_url(url, from).unwrap_err();
        assert!(matches!(err, PowError::Config(_)), "{url}: {err:?}");
    }
    let err =
        SmtpMailer::from_url("ftp://user:hunter2@localhost", "noreply@example.com").unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

/// A one-connection SMTP relay on a local port; returns the port and the received DATA.
fn fake_smtp_relay() -> (u16, std::thread::JoinHandle<(Vec<String>, String)>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (port, smtp_relay_on(listener))
}

/// A one-connection SMTP relay answering on `listener`; gives the commands and DATA.
fn smtp_relay_on(
    listener: std::net::TcpListener,
) -> std::thread::JoinHandle<(Vec<String>, String)> {
    use std::io::{BufRead, BufReader, Write};

    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut commands = Vec::new();
        let mut data = String::new();
        writer.write_all(b"220 localhost ESMTP test\r\n").unwrap();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            let command = line.trim_end().to_owned();
            let verb = command.split(' ').next().unwrap_or("").to_ascii_uppercase();
            commands.push(command);
            match verb.as_str() {
                "EHLO" | "HELO" => writer.write_all(b"250-localhost\r\n250 8BITMIME\r\n"),
                "DATA" => {
                    writer.write_all(b"354 go ahead\r\n").unwrap();
                    loop {
                        let mut body_line = String::new();
                        reader.read_line(&mut body_line).unwrap();
                        if body_line == ".\r\n" {
                            break;
                        }
                        data.push_str(&body_line);
                    }
                    writer.write_all(b"250 queued\r\n")
                }
                "QUIT" => {
                    writer.write_all(b"221 bye\r\n").unwrap();
                    break;
                }
                _ => writer.write_all(b"250 OK\r\n"),
            }
            .unwrap();
        }
        (commands, data)
    })
}

#[actix_rt::test]
async fn smtp_mailer_delivers_a_multipart_mail() {
    let (port, relay) = fake_smtp_relay();
    let mailer =
        SmtpMailer::from_url(&format!("smtp://127.0.0.1:{port}"), "noreply@example.com").unwrap();
    let rendered = render_mail(
        &lang("en"),
        &core(),
        "jane@example.com",
        "Confirm your email address".into(),
        &["Please use the following link to confirm your e-mail address:".into()],
        Some(("Confirm", "https://example.com/confirm-email/tok")),
    )
    .unwrap();
    mailer.deliver(rendered.clone()).await.unwrap();
    drop(mailer);
    let (commands, data) = relay.join().unwrap();
    assert!(
        commands
            .iter()
            .any(|c| c == "MAIL FROM:<noreply@example.com>"),
        "{commands:?}"
    );
    assert!(
        commands.iter().any(|c| c == "RCPT TO:<jane@example.com>"),
        "{commands:?}"
    );
    let parsed = parse_eml(&data);
    assert_eq!(
        header(&parsed.headers, "Subject"),
        Some("Confirm your email address")
    );
    assert_eq!(parsed.parts.len(), 2);
    assert!(parsed.parts[0]
        .1
        .contains("https://example.com/confirm-email/tok"));
    assert!(parsed.parts[1]
        .1
        .contains("href=\"https://example.com/confirm-email/tok\""));
}

fn render_mail_puts_the_link_in_both_parts() {
    let m = core();
    let url = "https://example.com/reset-password/abc?x=1&y=2";
    let mail = render_mail(
        &lang("en"),
        &m,
        "jane@example.com",
        "Reset password link".into(),
        &[
            "Please use the following link to reset your password:".into(),
            "You can disregard this email if you didn't request a password reset.".into(),
        ],
        Some(("Reset password", url)),
    )
    .unwrap();
    assert_eq!(mail.to, "jane@example.com");
    assert_eq!(mail.subject, "Reset password link");
    assert_eq!(
        mail.text,
        format!(
            "Hi,\n\nPlease use the following link to reset your password:\n\n{url}\n\n\
             You can disregard this email if you didn't request a password reset.\n"
        )
    );
    assert!(mail.html.contains("<p style=\"margin:0 0 16px;\">Hi,</p>"));
    assert!(mail
        .html
        .contains("href=\"https://example.com/reset-password/abc?x=1&#38;y=2\""));
    assert!(mail.html.contains(">Reset password</a>"));
    assert!(mail.html.contains("didn&#39;t request"));
    let link_at = mail.html.find(">Reset password</a>").unwrap();
    assert!(mail.html.find("Please use").unwrap() < link_at);
    assert!(mail.html.find("You can disregard").unwrap() > link_at);
    assert!(mail.html.starts_with("<!DOCTYPE html>"));
    assert!(mail.html.contains("<html lang=\"en\">"));
}

fn render_mail_escapes_html_and_translates_the_greeting() {
    let m = core();
    let mail = render_mail(
        &lang("fr"),
        &m,
        "jane@example.com",
        "<b>Bonjour</b>".into(),
        &["<script>alert(1)</script>".into()],
        None,
    )
    .unwrap();
    assert!(mail
        .text
        .starts_with("Bonjour,\n\n<script>alert(1)</script>"));
    assert!(!mail.html.contains("<script>"));
    assert!(mail
        .html
        .contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    assert!(!mail.html.contains("<b>Bonjour</b>"));
    assert!(!mail.html.contains("<a "));
}

// ---------------------------------------------------------------------------------------
// Views

fn context() -> PageContext {
    PageContext {
        lang: lang("de"),
        title: "Konto bearbeiten".into(),
        flash_info: None,
        page_info: None,
        flash_error: Some("Da ist etwas <schief> gelaufen".into()),
        current_user: Some("jane@example.com".into()),
        csrf_token: "csrf-123".into(),
        captcha: None,
        impersonation: None,
        scripts: Vec::new(),
    }
}

fn edit_form() -> Form {
    Form {
        action: "/registration".into(),
        method: "post",
        method_override: Some("patch"),
        fields: vec![
            Field {
                name: "email".into(),
                label: "E-Mail".into(),
                kind: FieldType::Email,
                value: "\"><script>alert(1)</script>".into(),
                errors: vec!["hat ein ungültiges Format".into()],
                autocomplete: Some("email"),
                required: true,
            },
            Field::new(
                "current_password",
                "Aktuelles Passwort",
                FieldType::Password,
            )
            .value("secret-value")
            .autocomplete("current-password")
            .required()
            .errors(vec!["ist ungültig".into(), "darf nicht leer sein".into()]),
            Field::new(
                "persistent_session",
                "Angemeldet bleiben",
                FieldType::Checkbox,
            )
            .value("true"),
            Field::new("invited_by", "", FieldType::Hidden).value("42"),
        ],
        submit: "Speichern".into(),
        csrf_token: "csrf-123".into(),
    }
}

fn squash(html: &str) -> String {
    html.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn default_views_render_a_form_page() {
    // Without a token of its own, a form takes the page's.
    let delete = Form::new("/registration", "Konto löschen", "").method_override("delete");
    let body = PageBody::Form {
        form: edit_form(),
        links: vec![Link::new("/session/new?a=1&b=2", "Anmelden")],
        extra_forms: vec![delete],
    };
    let html = DefaultViews
        .render(PageId::REGISTRATION_EDIT, &context(), &body)
        .unwrap();
    let flat = squash(&html);

    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<html lang=\"de\">"));
    assert!(html.contains("<title>Konto bearbeiten</title>"));
    assert!(html.contains("<h1>Konto bearbeiten</h1>"));
    assert!(html.contains("<style>"), "the stylesheet is embedded");
    assert!(html.contains(".pow-flash"));
    assert!(!html.contains("<script>"), "values are escaped");
    assert!(html.contains("value=\"&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;\""));
    assert!(html.contains("role=\"alert\""));
    assert!(html.contains("Da ist etwas &#60;schief&#62; gelaufen"));
    assert!(html.contains("jane@example.com"));

    // Labels point at their inputs.
    assert!(flat.contains("<label for=\"user_email\">E-Mail</label>"));
    assert!(flat.contains("<label for=\"user_current_password\">Aktuelles Passwort</label>"));
    assert!(flat.contains("<label for=\"user_persistent_session\">Angemeldet bleiben</label>"));
    assert!(flat.contains("type=\"email\" id=\"user_email\" name=\"user[email]\""));
    assert!(flat.contains("autocomplete=\"email\" required aria-invalid=\"true\" aria-describedby=\"user_email_errors\">"));

    // Errors under each field, referenced by aria-describedby.
    assert!(flat.contains("<ul class=\"pow-errors\" id=\"user_email_errors\"> <li>hat ein ungültiges Format</li> </ul>"));
    assert!(flat.contains(
        "id=\"user_current_password_errors\"> <li>ist ungültig</li> <li>darf nicht leer sein</li>"
    ));
    assert!(flat.contains("aria-describedby=\"user_current_password_errors\""));

    // A summary at the top of the form lists the fields to fix, each linked to its input,
    // under the page's error text (not a second alert above the form).
    let summary_at = flat
        .find("<div class=\"pow-error-summary\" role=\"alert\">")
        .expect("an error summary");
    let form_at = flat.find("<form class=\"pow-form\"").unwrap();
    assert!(form_at < summary_at && summary_at < flat.find("id=\"user_email\"").unwrap());
    assert!(flat.contains(
        "<p class=\"pow-error-summary-title\">Da ist etwas &#60;schief&#62; gelaufen</p>"
    ));
    assert!(flat.contains("<li><a href=\"#user_email\">E-Mail: hat ein ungültiges Format</a></li>"));
    assert!(flat.contains(
        "<li><a href=\"#user_current_password\">Aktuelles Passwort: ist ungültig; darf nicht leer sein</a></li>"
    ));
    assert!(
        !flat.contains("href=\"#user_persistent_session\""),
        "no error there"
    );
    assert!(!html.contains("class=\"pow-flash pow-flash-error\""));
    assert_eq!(html.matches("Da ist etwas").count(), 1);

    // Passwords are never echoed.
    assert!(!html.contains("secret-value"));

    // Checkbox posts false when unchecked, true when checked.
    assert!(
        flat.contains("<input type=\"hidden\" name=\"user[persistent_session]\" value=\"false\">")
    );
    assert!(flat.contains("name=\"user[persistent_session]\" value=\"true\" checked>"));

    // Hidden field.
    assert!(flat.contains(
        "<input type=\"hidden\" id=\"user_invited_by\" name=\"user[invited_by]\" value=\"42\">"
    ));

    // CSRF and method override on both forms.
    assert_eq!(
        html.matches("<input type=\"hidden\" name=\"_csrf_token\" value=\"csrf-123\">")
            .count(),
        2
    );
    assert!(html.contains("<input type=\"hidden\" name=\"_method\" value=\"patch\">"));
    assert!(html.contains("<input type=\"hidden\" name=\"_method\" value=\"delete\">"));
    assert_eq!(html.matches("method=\"post\"").count(), 2);
    assert!(html.contains("<button type=\"submit\">Speichern</button>"));
    assert!(html.contains("<button type=\"submit\">Konto löschen</button>"));

    // Links are escaped too, and come before the extra form.
    let link_at = html.find(">Anmelden</a>").unwrap();
    assert!(html.contains("href=\"/session/new?a=1&#38;b=2\""));
    assert!(link_at < html.find("value=\"delete\"").unwrap());
    assert!(!html.contains("<script"), "no JavaScript");
}

fn default_views_render_a_text_page() {
    let mut ctx = context();
    ctx.flash_error = None;
    ctx.flash_info = Some("Gesendet.".into());
    ctx.current_user = None;
    let body = PageBody::Text {
        paragraphs: vec![
            "Send this link:".into(),
            "https://example.com/invitations/a&b/edit".into(),
        ],
        links: vec![Link::new("/invitations/new", "Invite another")],
    };
    let html = DefaultViews
        .render(PageId::new("invitation/show"), &ctx, &body)
        .unwrap();
    assert!(html.contains("<div class=\"pow-flash pow-flash-info\" role=\"alert\">Gesendet.</div>"));
    assert!(!html.contains("class=\"pow-flash pow-flash-error\""));
    assert!(html.contains("<p class=\"pow-text\">Send this link:</p>"));
    assert!(html.contains("https://example.com/invitations/a&#38;b/edit"));
    assert!(html.contains("<a href=\"/invitations/new\">Invite another</a>"));
    assert!(!html.contains("<form"));
    assert!(!html.contains("<p class=\"pow-user\">"));
    assert!(html.contains("class=\"pow-page-invitation-show\""));
}

struct MyViews;

impl Views for MyViews {
    fn render(&self, page: PageId, ctx: &PageContext, body: &PageBody) -> Result<String, PowError> {
        match page {
            PageId::SESSION_NEW => Ok("custom sign-in".into()),
            _ => DefaultViews.render(page, ctx, body),
        }
    }

    fn pages(&self) -> Vec<PageId> {
        vec![PageId::SESSION_NEW]
    }
}

/// Restyles a page nobody renders (a misspelt id).
struct MisspeltViews;

impl Views for MisspeltViews {
    fn render(&self, page: PageId, ctx: &PageContext, body: &PageBody) -> Result<String, PowError> {
        DefaultViews.render(page, ctx, body)
    }

    fn pages(&self) -> Vec<PageId> {
        vec![PageId::new("sesion/new")]
    }
}

#[test]
fn views_for_a_page_nobody_renders_are_refused() {
    let err = PowConfig::builder(secret())
        .views(MisspeltViews)
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("no page `sesion/new`") && err.to_string().contains("session/new"),
        "{err}"
    );
    // An extension's page is known once the extension is enabled.
    struct Sms;
    impl pow_actix::Extension for Sms {
        fn name(&self) -> &'static str {
            "sms"
        }
        fn build(&self, ext: &mut pow_actix::extension::ExtensionBuilder) {
            ext.pages([PageId::new("sesion/new")]);
        }
    }
    assert!(PowConfig::builder(secret())
        .extension(Sms)
        .views(MisspeltViews)
        .build()
        .is_ok());
}

#[actix_web::test]
async fn a_page_nobody_registered_is_not_rendered() {
    let config = PowConfig::builder(secret()).build().unwrap();
    let req = actix_web::test::TestRequest::default().to_http_request();
    let body = PageBody::Text {
        paragraphs: vec!["x".into()],
        links: vec![],
    };
    let page = pow_actix::web::Page::new("nowhere/page", "title-sign-in", body);
    let err = pow_actix::web::render_page(&req, &config, &lang("en"), page).unwrap_err();
    assert!(
        err.to_string()
            .contains("page `nowhere/page` is not registered"),
        "{err}"
    );
}

fn config_views_default_and_override() {
    let body = PageBody::Text {
        paragraphs: vec!["x".into()],
        links: vec![],
    };
    let config = PowConfig::builder(secret()).build().unwrap();
    let html = config
        .views()
        .render(PageId::SESSION_NEW, &context(), &body)
        .unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));

    let config = PowConfig::builder(secret()).views(MyViews).build().unwrap();
    assert_eq!(
        config
            .views()
            .render(PageId::SESSION_NEW, &context(), &body)
            .unwrap(),
        "custom sign-in"
    );
    assert!(config
        .views()
        .render(PageId::REGISTRATION_NEW, &context(), &body)
        .unwrap()
        .contains("<p class=\"pow-text\">x</p>"));
}

fn form_fields_without_a_label_message_get_the_humanised_name() {
    let config = PowConfig::builder(secret()).build().unwrap();
    let en = lang("en");
    let field = pow_actix::web::field(
        &config,
        &en,
        "favourite_colour",
        FieldType::Text,
        None,
        None,
    );
    assert_eq!(field.label, "Favourite colour");
    let field = pow_actix::web::field(&config, &lang("de"), "email", FieldType::Email, None, None);
    assert_eq!(field.label, "E-Mail");
}

/// An SMTP server that is down holds no request up: the security notice of a password
/// change waits in the background mailer's queue, the change answers while the server still
/// holds the first delivery, and a retry delivers the notice once the server is back.
///
/// The test keeps its port bound from start to end (a port let go and bound again could be
/// taken by any other listener in between): while "down", the server takes one connection,
/// holds it until the request has answered, then answers `421` (service not available) and
/// hangs up; then it serves SMTP on the same listener.
fn an_smtp_server_that_is_down_holds_no_request_up() {
    use pow_actix::mailer::BackgroundMailer;
    use pow_actix::password::Pbkdf2Hasher;
    use pow_actix::test_client::Client;
    use pow_actix::users::diesel::DieselUsersContext;
    use std::io::Write;
    use std::time::Duration;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (answered, held) = std::sync::mpsc::channel::<()>();
    let down = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        // A delivery made inside the request would keep it from answering: this wait would
        // then end only by its time limit.
        let answered_first = held.recv_timeout(Duration::from_secs(30)).is_ok();
        let _ = stream.write_all(b"421 4.3.2 localhost Service not available\r\n");
        drop(stream);
        (listener, answered_first)
    });
    let smtp =
        SmtpMailer::from_url(&format!("smtp://127.0.0.1:{port}"), "noreply@example.com").unwrap();
    let failures = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let smtp = CountingFailures {
        inner: smtp,
        failures: Arc::clone(&failures),
    };
    let mailer = BackgroundMailer::new(smtp)
        .attempts(20)
        .backoff(Duration::from_millis(100));
    let db = std::env::temp_dir().join(format!(
        "pow-smtp-down-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let config = PowConfig::builder("m".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .mailer(mailer)
        .base_url("http://localhost")
        .security_notices(true)
        .build()
        .unwrap();
    users.migrate(&config).unwrap();
    let password = "correct horse battery";
    pow_actix::testing::create_user(&config, "ada@example.com", password).unwrap();
    let served = config.clone();
    let mut c = Client::new(pow_testkit::serve(served.clone()));
    assert_eq!(c.sign_in("ada@example.com", password).status, 302);

    let csrf = c.get("/registration/edit").csrf();
    let res = c.post(
        "/registration",
        &[
            ("_csrf_token", csrf.as_str()),
            ("_method", "PATCH"),
            ("user[current_password]", password),
            ("user[password]", "a brand new passphrase"),
            ("user[password_confirmation]", "a brand new passphrase"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let _ = answered.send(());
    let (listener, answered_first) = down.join().unwrap();
    assert!(
        answered_first,
        "the request waited for the delivery the server held"
    );

    // The server comes back on the same port: a retry delivers the notice.
    let relay = smtp_relay_on(listener);
    let (commands, data) = relay.join().unwrap();
    assert!(
        failures.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the first delivery failed"
    );
    assert!(
        commands.iter().any(|c| c == "RCPT TO:<ada@example.com>"),
        "{commands:?}"
    );
    assert!(data.contains("Subject: "), "{data}");
}

/// A mailer that counts the deliveries of `inner` that failed.
struct CountingFailures<M> {
    inner: M,
    failures: Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait::async_trait]
impl<M: Mailer> Mailer for CountingFailures<M> {
    async fn deliver(&self, mail: Mail) -> Result<(), PowError> {
        let result = self.inner.deliver(mail).await;
        if result.is_err() {
            self.failures
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        result
    }
}

// ---------------------------------------------------------------------------------------
// Newcomer findings: flash kinds, error summaries, session rows, the mailbox, the notice
// of a taken sign-up.

/// The value of CSS custom property `name` in the light theme (its first definition).
fn css_var(name: &str) -> String {
    let css = pow_actix::views::STYLESHEET;
    let at = css.find(&format!("{name}:")).unwrap() + name.len() + 1;
    css[at..at + css[at..].find(';').unwrap()].trim().to_owned()
}

fn flash_kinds_have_their_own_colours() {
    let css = pow_actix::views::STYLESHEET;
    for class in [".pow-flash-info", ".pow-flash-success", ".pow-flash-error"] {
        assert!(css.contains(class), "{class}");
    }
    // Information is neutral blue, not the green of success; errors stay red.
    let (info, success, error) = (
        css_var("--pow-info"),
        css_var("--pow-success"),
        css_var("--pow-error"),
    );
    assert_eq!(info, "#1d4f91");
    assert_eq!(success, "#1a5e3a");
    assert_eq!(error, "#b42318");
    assert_ne!(css_var("--pow-info-bg"), css_var("--pow-success-bg"));
}

fn a_form_with_a_note_is_a_row_with_a_small_button() {
    let row = Form::new("/registration/sessions", "End", "t").field(
        Field::note("about", "Firefox on Linux (127.0.0.1), last active today")
            .value("End: Firefox on Linux (127.0.0.1), last active today"),
    );
    let row = row.field(Field::new("session", "", FieldType::Hidden).value("h1"));
    let body = PageBody::Form {
        form: Form::new("/registration/sessions", "End all other sessions", "t"),
        links: Vec::new(),
        extra_forms: vec![row],
    };
    let mut ctx = context();
    ctx.flash_error = None;
    let html = squash(
        &DefaultViews
            .render(PageId::REGISTRATION_SESSIONS, &ctx, &body)
            .unwrap(),
    );
    assert!(
        html.contains("<form class=\"pow-form pow-form-row\""),
        "{html}"
    );
    assert!(
        html.contains("<p class=\"pow-note\">Firefox on Linux (127.0.0.1), last active today</p>")
    );
    // The button reads "End"; screen readers hear what it ends.
    assert!(html.contains(
        "<button type=\"submit\" aria-label=\"End: Firefox on Linux (127.0.0.1), last active today\">End</button>"
    ));
    assert!(html.contains("<button type=\"submit\">End all other sessions</button>"));
    // The note posts nothing.
    assert!(!html.contains("name=\"user[about]\""));
    assert_eq!(html.matches("class=\"pow-form pow-form-row\"").count(), 1);
}

/// A config on a fresh SQLite file, with mails kept in memory.
fn app_config(
    f: impl FnOnce(pow_actix::PowConfigBuilder) -> pow_actix::PowConfigBuilder,
) -> (PowConfig, MemoryMailer) {
    let db = std::env::temp_dir().join(format!(
        "pow-views-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users =
        pow_actix::users::diesel::DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let outbox = MemoryMailer::new();
    let builder = PowConfig::builder("v".repeat(64))
        .users(users.clone())
        .hasher(pow_actix::password::Pbkdf2Hasher::new(1))
        .mailer(outbox.clone())
        .base_url("https://example.com");
    let config = f(builder).build().unwrap();
    users.migrate(&config).unwrap();
    (config, outbox)
}

fn failed_sign_up_and_account_forms_summarise_their_errors() {
    use pow_actix::test_client::Client;
    let (config, _) = app_config(|b| b);
    pow_actix::testing::create_user(&config, "ada@example.com", "correct horse battery").unwrap();
    let served = config.clone();
    let mut c = Client::new(pow_testkit::serve(served.clone()));

    let csrf = c.get("/registration/new").csrf();
    let res = c.post(
        "/registration",
        &[
            ("_csrf_token", csrf.as_str()),
            ("user[email]", "not an address"),
            ("user[password]", "short"),
            ("user[password_confirmation]", "other"),
        ],
    );
    assert_eq!(res.status, 200);
    let page = squash(&res.body);
    assert!(
        page.contains("<div class=\"pow-error-summary\" role=\"alert\">"),
        "{page}"
    );
    assert!(page.contains(
        "<p class=\"pow-error-summary-title\">Oops, something went wrong! Please check the errors below.</p>"
    ));
    assert!(page.contains("<a href=\"#user_email\">Email: has invalid format</a>"));
    assert!(
        page.contains("<a href=\"#user_password\">Password: should be at least 8 characters</a>")
    );
    assert!(page.contains(
        "<a href=\"#user_password_confirmation\">Password confirmation: does not match confirmation</a>"
    ));
    assert!(page.contains("id=\"user_email\""));

    // The account page too.
    assert_eq!(
        c.sign_in("ada@example.com", "correct horse battery").status,
        302
    );
    let csrf = c.get("/registration/edit").csrf();
    let res = c.post(
        "/registration",
        &[
            ("_csrf_token", csrf.as_str()),
            ("_method", "PATCH"),
            ("user[current_password]", "not the password"),
            ("user[email]", "ada@example.com"),
        ],
    );
    assert_eq!(res.status, 200, "{}", res.body);
    let page = squash(&res.body);
    assert!(
        page.contains("<div class=\"pow-error-summary\" role=\"alert\">"),
        "{page}"
    );
    assert!(page.contains("<a href=\"#user_current_password\">Current password: is invalid</a>"));

    // A page without field errors has no summary.
    assert!(!c
        .get("/registration/edit")
        .body
        .contains("class=\"pow-error-summary\""));
}

fn each_session_is_a_line_of_text_with_a_small_end_button() {
    use pow_actix::test_client::Client;
    let (config, _) = app_config(|b| b);
    pow_actix::testing::create_user(&config, "ada@example.com", "correct horse battery").unwrap();
    let served = config.clone();
    let addr = pow_testkit::serve(served.clone());
    let mut firefox = Client::new(addr);
    firefox.headers.push((
        "User-Agent".into(),
        "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0".into(),
    ));
    assert_eq!(
        firefox
            .sign_in("ada@example.com", "correct horse battery")
            .status,
        302
    );
    let mut other = Client::new(addr);
    assert_eq!(
        other
            .sign_in("ada@example.com", "correct horse battery")
            .status,
        302
    );

    let page = firefox.get("/registration/sessions");
    assert_eq!(page.status, 200);
    let body = squash(&page.body);
    let rows: Vec<&str> = body
        .split("<form class=\"pow-form pow-form-row\"")
        .skip(1)
        .collect();
    assert_eq!(rows.len(), 2, "{body}");
    for row in &rows {
        // The description is text, not the button's label; the button is short.
        assert!(row.contains("<p class=\"pow-note\">"), "{row}");
        assert!(row.contains("\">End</button>"), "{row}");
        assert!(row.contains("name=\"user[session]\""), "{row}");
    }
    assert!(body
        .contains("<p class=\"pow-note\">This device: Firefox on Linux (127.0.0.1), last active "));
    assert!(
        body.contains("aria-label=\"End (this device): Firefox on Linux (127.0.0.1), last active ")
    );
    assert!(body.contains("<button type=\"submit\">End all other sessions</button>"));
}

#[test]
fn the_mailbox_preview_is_a_styled_list() {
    use pow_actix::test_client::{serve, Client};
    let outbox = MemoryMailer::new();
    let served = outbox.clone();
    let mut c = Client::new(serve(move || {
        actix_web::App::new().configure(pow_actix::web::mailbox_preview(served.clone()))
    }));
    let empty = c.get("/dev/mailbox");
    assert!(
        empty.body.contains("<main class=\"pow pow-mailbox\">"),
        "{}",
        empty.body
    );
    assert!(empty.body.contains("No mail sent yet."));
    assert!(!empty.body.contains("<ul class=\"pow-mailbox-list\">"));

    actix_web::rt::System::new()
        .block_on(outbox.deliver(mail("ann@example.com", "Confirm <your> address")))
        .unwrap();
    let list = c.get("/dev/mailbox");
    assert!(
        list.body.contains(".pow-mailbox-list"),
        "the stylesheet styles the list"
    );
    assert!(list.body.contains(
        "<li><span class=\"pow-mailbox-n\">0</span><a class=\"pow-mailbox-subject\" href=\"/dev/mailbox/0\">Confirm &lt;your&gt; address</a>"
    ), "{}", list.body);
    assert!(list
        .body
        .contains("<span class=\"pow-mailbox-to\">to ann@example.com</span>"));
    assert!(list.body.contains("href=\"/dev/mailbox/0/text\""));
    assert!(!list.body.contains("<table"));
}

/// Answers a sign-up refused for a taken address as a new address would be answered
/// (what email confirmation's strict mode does over JSON).
struct HideTaken;

impl pow_actix::Extension for HideTaken {
    fn name(&self) -> &'static str {
        "hide_taken"
    }

    fn build(&self, ext: &mut pow_actix::extension::ExtensionBuilder) {
        ext.api_hooks(HideTaken);
    }
}

#[async_trait::async_trait]
impl pow_actix::api::TokenHooks for HideTaken {
    async fn taken_sign_up(
        &self,
        _config: &pow_actix::PowConfig,
        _lang: &pow_actix::messages::LanguageIdentifier,
    ) -> Option<pow_actix::api::Held> {
        Some(pow_actix::api::Held::new(401, "Confirm your address."))
    }
}

/// The mails to `to` whose subject is the sign-up attempt notice's, waiting up to a few
/// seconds for `want` of them (the notice goes out in the background).
fn sign_up_notices(outbox: &MemoryMailer, to: &str, want: usize) -> Vec<Mail> {
    const SUBJECT: &str = "Someone tried to register with your email address";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let found: Vec<Mail> = outbox
            .deliveries()
            .into_iter()
            .filter(|m| m.to == to && m.subject == SUBJECT)
            .collect();
        if found.len() >= want || std::time::Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_hidden_taken_sign_up_mails_the_owner_a_notice() {
    use pow_actix::test_client::{serve, Client};
    let (config, outbox) = app_config(|b| b.extension(HideTaken));
    pow_actix::testing::create_user(&config, "ada@example.com", "correct horse battery").unwrap();
    let served = config.clone();
    let mut c = Client::new(serve(move || {
        actix_web::App::new().configure(pow_actix::api::configure(
            served.clone(),
            pow_actix::api::ApiOptions::new(),
        ))
    }));
    let sign_up = |c: &mut Client, email: &str| {
        let body = format!(
            r#"{{"user": {{"email": "{email}", "password": "a long passphrase", "password_confirmation": "a long passphrase"}}}}"#
        );
        c.request("POST", "/api/v1/registration", Some(body))
    };

    // The taken address is answered as a new one, and its owner hears of it.
    let res = sign_up(&mut c, " Ada@Example.com");
    assert_eq!(res.status, 401, "{}", res.body);
    let notices = sign_up_notices(&outbox, "ada@example.com", 1);
    assert_eq!(notices.len(), 1, "{:?}", outbox.deliveries());
    let notice = &notices[0];
    assert!(notice
        .text
        .contains("Someone tried to create an account with your email address"));
    assert!(
        notice.text.contains("https://example.com/session/new"),
        "{}",
        notice.text
    );
    assert!(notice
        .html
        .contains("href=\"https://example.com/session/new\""));
    assert!(
        notice.text.contains("you can ignore this mail"),
        "{}",
        notice.text
    );

    // A new address signs up and gets no such notice.
    let res = sign_up(&mut c, "bob@example.com");
    assert_eq!(res.status, 200, "{}", res.body);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(sign_up_notices(&outbox, "bob@example.com", 0).is_empty());
    assert_eq!(sign_up_notices(&outbox, "ada@example.com", 1).len(), 1);

    // At most three per address and hour, however often someone tries.
    for _ in 0..4 {
        assert_eq!(sign_up(&mut c, "ada@example.com").status, 401);
    }
    assert_eq!(sign_up_notices(&outbox, "ada@example.com", 3).len(), 3);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(sign_up_notices(&outbox, "ada@example.com", 4).len(), 3);
}

fn the_sign_up_attempt_notice_is_translated() {
    let m = core();
    for (tag, subject) in [
        ("en", "Someone tried to register with your email address"),
        (
            "de",
            "Jemand wollte sich mit Ihrer E-Mail-Adresse registrieren",
        ),
        (
            "fr",
            "Quelqu'un a tenté de s'inscrire avec votre adresse e-mail",
        ),
    ] {
        let l = lang(tag);
        assert_eq!(m.text(&l, "notice-sign-up-attempted-subject"), subject);
        for key in [
            "notice-sign-up-attempted-intro",
            "notice-sign-up-attempted-not-you",
            "notice-sign-in",
            "sessions-row",
            "sessions-end-button",
            "sessions-forget-button",
        ] {
            assert!(m.message(&l, key, &[]).is_some(), "{tag} {key}");
        }
    }
}

pow_testkit::on_both!(
    english_core_messages_match_pow,
    nil_messages_are_none_in_every_language,
    languages_start_with_english,
    german_and_french_are_negotiated_and_translated,
    quality_values_order_the_choice,
    unknown_and_garbage_headers_fall_back_to_english,
    regional_variants_use_the_language_bundle,
    app_override_changes_one_message_and_keeps_the_others,
    app_override_adds_and_silences_messages,
    app_override_can_add_a_language,
    parse_errors_are_config_errors_naming_the_line,
    custom_messages_with_overrides_are_refused,
    extension_messages_load_before_app_overrides,
    messages_are_byte_exact_without_isolation_marks,
    validation_errors_are_translated_with_counts,
    unknown_validation_keys_fall_back_and_can_be_translated,
    texts_fall_back_to_english_then_to_the_key,
    smtp_mailer_parses_urls_without_connecting,
    render_mail_puts_the_link_in_both_parts,
    render_mail_escapes_html_and_translates_the_greeting,
    default_views_render_a_form_page,
    default_views_render_a_text_page,
    config_views_default_and_override,
    form_fields_without_a_label_message_get_the_humanised_name,
    an_smtp_server_that_is_down_holds_no_request_up,
    flash_kinds_have_their_own_colours,
    a_form_with_a_note_is_a_row_with_a_small_button,
    failed_sign_up_and_account_forms_summarise_their_errors,
    each_session_is_a_line_of_text_with_a_small_end_button,
    the_sign_up_attempt_notice_is_translated,
);
