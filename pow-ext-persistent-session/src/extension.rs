//! The [`Extension`] implementation: the remember-me checkbox, the callbacks around
//! sign-in, sign-out and account edits, the per-request cookie check, and the user's
//! remembered browsers.

use pow_core::extension::{CredentialsRevoked, ExtensionBuilder, Remembered};

use super::*;

const MESSAGES: &[(&str, &str)] = &[
    (
        "en",
        include_str!("../locales/en/pow_persistent_session.ftl"),
    ),
    (
        "de",
        include_str!("../locales/de/pow_persistent_session.ftl"),
    ),
    (
        "fr",
        include_str!("../locales/fr/pow_persistent_session.ftl"),
    ),
];

impl Extension for PersistentSession {
    fn name(&self) -> &'static str {
        NAME
    }

    fn build(&self, ext: &mut ExtensionBuilder) {
        ext.messages(MESSAGES.iter().copied())
            .audit_events([crate::events::USED, crate::events::THEFT])
            .page_extension(remember_me_checkbox)
            .on_credentials_revoked(self.clone())
            .remembered(self.clone());
        #[cfg(feature = "actix")]
        ext.callbacks(self.clone()).request_hook(self.clone());
    }
}

/// The remember-me checkbox on the sign-in page.
fn remember_me_checkbox(
    page: &str,
    body: &mut PageBody,
    lang: &LanguageIdentifier,
    config: &PowConfig,
) {
    if page != "session/new" {
        return;
    }
    if let PageBody::Form { form, .. } = body {
        if form.fields.iter().any(|f| f.name == FIELD) {
            return;
        }
        let label = config.messages().text(lang, "pow_persistent_session_label");
        form.fields
            .push(Field::new(FIELD, label, FieldType::Checkbox).value("true"));
    }
}

#[async_trait(?Send)]
impl CredentialsRevoked for PersistentSession {
    async fn credentials_revoked(&self, config: &PowConfig, user: &User) -> Result<(), PowError> {
        self.revoke_user_tokens(config, user.id).await?;
        Ok(())
    }
}

#[async_trait(?Send)]
impl Remembered for PersistentSession {
    async fn remembered(
        &self,
        config: &PowConfig,
        user_id: i64,
    ) -> Result<Vec<pow_core::session::RememberedInfo>, PowError> {
        self.families(config, user_id).await
    }

    async fn forget(&self, config: &PowConfig, user_id: i64, id: &str) -> Result<bool, PowError> {
        self.forget_family(config, user_id, id).await
    }
}
