//! The [`Extension`] implementation: the remember-me checkbox, the callbacks around
//! sign-in, sign-out and account edits, the per-request cookie check, and the user's
//! remembered browsers.

use pow_core::extension::{CredentialsRevoked, ExtensionBuilder, Remembered, UserData};

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
            .page_extension(remember_me_checkbox(self.ticked))
            .on_credentials_revoked(self.clone())
            .remembered(self.clone())
            .user_data(self.clone())
            .callbacks(self.clone())
            .request_hook(self.clone());
    }
}

/// The remember-me checkbox on the sign-in page, ticked when `ticked`.
fn remember_me_checkbox(
    ticked: bool,
) -> impl Fn(pow_core::views::PageId, &mut PageBody, &LanguageIdentifier, &PowConfig)
       + Send
       + Sync
       + 'static {
    move |page, body, lang, config| {
        if page != "session/new" {
            return;
        }
        if let PageBody::Form { form, .. } = body {
            if form.fields.iter().any(|f| f.name == FIELD) {
                return;
            }
            let label = config.messages().text(lang, "pow_persistent_session_label");
            let value = if ticked { "true" } else { "false" };
            form.fields
                .push(Field::new(FIELD, label, FieldType::Checkbox).value(value));
        }
    }
}

#[async_trait]
impl CredentialsRevoked for PersistentSession {
    async fn credentials_revoked(&self, config: &PowConfig, user: &User) -> Result<(), PowError> {
        self.revoke_user_tokens(config, user.id).await?;
        Ok(())
    }
}

#[async_trait]
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

#[async_trait]
impl UserData for PersistentSession {
    /// The remembered browsers: when and where each was remembered (never a token).
    async fn export(&self, config: &PowConfig, user: &User) -> Result<serde_json::Value, PowError> {
        let families = self.families(config, user.id).await?;
        let browsers: Vec<_> = families
            .into_iter()
            .map(|family| {
                serde_json::json!({
                    "remembered_at_ms": family.created_at,
                    "ip": family.device.ip,
                    "user_agent": family.device.user_agent,
                })
            })
            .collect();
        Ok(serde_json::json!({ "remembered_browsers": browsers }))
    }

    async fn erase(&self, config: &PowConfig, user: &User) -> Result<(), PowError> {
        self.revoke_user_tokens(config, user.id).await?;
        Ok(())
    }
}
