//! The [`Extension`] implementation: the remember-me checkbox, the callbacks around
//! sign-in, sign-out and account edits, the per-request cookie check, and the user's
//! remembered browsers.

use pow_core::extension::{
    Callbacks, CredentialsRevoked, ExtensionBuilder, Remembered, RequestHook,
};

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
            .callbacks(self.clone())
            .request_hook(self.clone())
            .on_credentials_revoked(self.clone())
            .remembered(self.clone());
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
impl Callbacks for PersistentSession {
    async fn before_process(&self, ctl: &mut Controller) -> Result<Flow, PowError> {
        if ctl.is_json() {
            // API clients hold bearer tokens, never a remember-me cookie.
            return Ok(Flow::Continue);
        }
        match ctl.id.kind() {
            ActionKind::SignIn => {
                let persist = ctl.params.get(FIELD).map(String::as_str) != Some("false");
                ctl.assigns.insert(Persist(persist));
            }
            ActionKind::UpdateUser => {
                // Remember whether this browser holds a live token of the user, to give it
                // a new one if the update revokes the user's tokens (a password change).
                let user_id = session::current_user(&ctl.req).map(|u| u.id);
                let tokens = self.tokens(&ctl.config);
                let token = self.browser_token(&ctl.req, &ctl.config, &tokens).await?;
                if let (Some(user_id), Some(token)) = (user_id, token) {
                    let live = tokens
                        .get(&token)
                        .await?
                        .is_some_and(|r| r.user_id == user_id && r.used_at.is_none());
                    if live {
                        ctl.assigns.insert(Reissue(token));
                    }
                }
            }
            _ => {}
        }
        Ok(Flow::Continue)
    }

    async fn before_respond(&self, ctl: &mut Controller) -> Result<Flow, PowError> {
        let Some(user) = ctl.user.clone().filter(|_| !ctl.is_json()) else {
            return Ok(Flow::Continue);
        };
        match ctl.id.kind() {
            ActionKind::SignIn => {
                let persist = ctl.assigns.get::<Persist>().is_none_or(|p| p.0);
                if persist {
                    self.remember(&ctl.req, &ctl.config, &user).await?;
                } else {
                    self.forget(&ctl.req, &ctl.config).await?;
                }
            }
            ActionKind::SignOut | ActionKind::DeleteUser => {
                self.forget(&ctl.req, &ctl.config).await?;
            }
            ActionKind::UpdateUser => {
                if let Some(Reissue(token)) = ctl.assigns.get::<Reissue>() {
                    if self.tokens(&ctl.config).get(token).await?.is_none() {
                        self.remember(&ctl.req, &ctl.config, &user).await?;
                    }
                }
            }
            _ => {}
        }
        Ok(Flow::Continue)
    }
}

#[async_trait(?Send)]
impl RequestHook for PersistentSession {
    /// The remember-me cookie: a request without it has nothing for this hook.
    fn cookies(&self, config: &PowConfig) -> Vec<String> {
        vec![self.cookie_name_for(config)]
    }

    async fn on_request(&self, req: &HttpRequest, config: &PowConfig) -> Result<(), PowError> {
        if session::is_signed_in(req) {
            return Ok(());
        }
        let Some(cookie) = req.cookie(&self.cookie_name_for(config)) else {
            return Ok(());
        };
        // Signature first: a forged token never reaches the store.
        let Some(token) = config.verifier().verify_token(TOKEN_SALT, cookie.value()) else {
            self.expire_cookie(req, config);
            return Ok(());
        };
        let tokens = self.tokens(config);
        // The store knows the token by its keyed hash only.
        let token = tokens.find_id(&token).await?;
        if tokens.claim(&token).await? {
            return self.rotate(req, config, &tokens, &token).await;
        }
        let Some(record) = tokens.get(&token).await? else {
            // Unknown, expired or revoked.
            self.expire_cookie(req, config);
            return Ok(());
        };
        // No `used_at` yet: the claim was taken an instant ago by a request still
        // rotating the token.
        let racing = match record.used_at {
            None => true,
            Some(used) => now_ms().saturating_sub(used) < duration_ms(self.grace_period),
        };
        if racing {
            self.serve_once(req, config, &record).await
        } else {
            pow_core::audit::record(
                config,
                pow_core::audit::AuditEvent::new(crate::events::THEFT)
                    .request(config, req)
                    .user(record.user_id),
            );
            self.revoke_family(config, &record).await?;
            self.expire_cookie(req, config);
            Ok(())
        }
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
