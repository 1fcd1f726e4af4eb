//! An app replaces the reset mail's template by name; the other mails keep the built-in
//! layout. On both frameworks.
// Tests fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pow_actix::mailer::{DefaultMailViews, Mail, MailContent, MailViews, MemoryMailer};
use pow_actix::messages::Messages;
use pow_actix::password::Pbkdf2Hasher;
use pow_actix::test_client::Client;
use pow_actix::users::diesel::DieselUsersContext;
use pow_actix::{PowConfig, PowError};
use pow_ext_reset_password::{MailDelivery, ResetPassword, MAIL};

/// Replaces the reset mail only.
struct BrandedReset;

impl MailViews for BrandedReset {
    fn render(&self, messages: &dyn Messages, mail: &MailContent<'_>) -> Result<Mail, PowError> {
        if mail.name != MAIL {
            return DefaultMailViews.render(messages, mail);
        }
        let url = mail.link.map(|(_, url)| url).unwrap_or_default();
        Ok(Mail {
            to: mail.to.to_owned(),
            subject: "Example: your reset link".to_owned(),
            text: format!("Reset at Example: {url}\n"),
            html: format!("<p>Reset at <a href=\"{url}\">Example</a></p>"),
        })
    }
}

fn setup(views: Option<BrandedReset>) -> (PowConfig, MemoryMailer) {
    let db = std::env::temp_dir().join(format!(
        "pow-reset-mail-views-{}.db",
        pow_actix::token::generate_uuid()
    ));
    let users = DieselUsersContext::connect(&db.display().to_string()).unwrap();
    let mailer = MemoryMailer::new();
    let mut builder = PowConfig::builder("m".repeat(64))
        .users(users.clone())
        .hasher(Pbkdf2Hasher::new(1))
        .mailer(mailer.clone())
        .base_url("http://localhost")
        .extension(ResetPassword::new().mail_delivery(MailDelivery::Inline));
    if let Some(views) = views {
        builder = builder.mail_views(views);
    }
    let config = builder.build().unwrap();
    users.migrate(&config).unwrap();
    pow_actix::testing::create_user(&config, "alice@example.com", "secret password").unwrap();
    (config, mailer)
}

/// Requests a reset link for alice through the app's form, served on the test's
/// framework.
fn request_reset(config: &PowConfig) {
    let mut browser = Client::new(pow_testkit::serve(config.clone()));
    let page = browser.get("/reset-password/new");
    let res = browser.post(
        "/reset-password",
        &[
            ("_csrf_token", &page.csrf()),
            ("user[email]", "alice@example.com"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
}

fn an_app_replaces_the_reset_mail_by_name() {
    let (config, mailer) = setup(Some(BrandedReset));
    request_reset(&config);
    let mail = mailer.last_to("alice@example.com").unwrap();
    assert_eq!(mail.subject, "Example: your reset link");
    assert!(mail
        .text
        .starts_with("Reset at Example: http://localhost/reset-password/"));
    assert!(mail
        .html
        .contains("href=\"http://localhost/reset-password/"));
}

fn without_an_override_the_built_in_layout_renders_it() {
    let (config, mailer) = setup(None);
    request_reset(&config);
    let mail = mailer.last_to("alice@example.com").unwrap();
    assert_eq!(mail.subject, "Reset password link");
    assert!(mail.text.starts_with("Hi,\n\n"));
    assert!(mail.text.contains("http://localhost/reset-password/"));
}

pow_testkit::on_both!(
    an_app_replaces_the_reset_mail_by_name,
    without_an_override_the_built_in_layout_renders_it,
);
