//! The engine's say in issuing API tokens: [`TokenHooks`], run by every framework layer's
//! JSON side for the pairs it issues.

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::ApiAction;
use crate::config::PowConfig;
use crate::error::{Held, PendingStep, PowError};
use crate::messages::LanguageIdentifier;
use crate::request::RequestSource;
use crate::session::MethodUse;
use crate::users::User;

/// A token pair about to be issued, as [`TokenHooks`] see it.
#[derive(Clone, Copy)]
pub struct Issue<'a> {
    /// The setup.
    pub config: &'a PowConfig,
    /// The request issuing the pair (its facts: client address, device, language).
    pub req: &'a dyn RequestSource,
    /// The language of the answer.
    pub lang: &'a LanguageIdentifier,
    /// Who the pair is for.
    pub user: &'a User,
    /// Why it is issued.
    pub action: ApiAction,
    /// What the sign-in proved (a password, a mailed code, …): empty on a renewal or an
    /// account update.
    pub methods: &'a [MethodUse],
}

impl std::fmt::Debug for Issue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issue")
            .field("user", &self.user.id)
            .field("action", &self.action)
            .field("methods", &self.methods)
            .finish_non_exhaustive()
    }
}

impl Issue<'_> {
    /// Text `key` of the config's messages in the answer's language (the key itself when
    /// none has it).
    pub fn text(&self, key: &str) -> String {
        self.config.messages().text(self.lang, key)
    }
}

/// An extension's say in issuing API tokens, written once for every framework layer's
/// JSON side (which reaches it through its API extension's `hooks`). Every method has a
/// default that does nothing.
///
/// ```
/// use pow_core::api::{ApiAction, Held, Issue, TokenHooks};
/// use pow_core::PowError;
///
/// /// Refuses tokens to locked users.
/// struct Gate;
///
/// #[async_trait::async_trait]
/// impl TokenHooks for Gate {
///     async fn before_issue(&self, issue: &Issue<'_>) -> Result<(), PowError> {
///         if issue.user.get_str("locked_at").is_some() {
///             return Err(Held::new(403, "Account locked").with_code("account_locked").into());
///         }
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait TokenHooks: Send + Sync + 'static {
    /// Runs before a pair is issued; an `Err` ([`Held`] through `?`, or any failure) is
    /// answered instead of the pair. After a registration the user stays created; on a
    /// renewal the renewal token is used up either way.
    ///
    /// # Errors
    /// The answer that holds the pair back, or the store's error.
    async fn before_issue(&self, _issue: &Issue<'_>) -> Result<(), PowError> {
        Ok(())
    }

    /// Adds fields to the `data` object of the token answer, next to `access_token` and
    /// `renewal_token` (which always keep their values), say `"email_confirmed": false`.
    /// Runs once every [`before_issue`](Self::before_issue) passed.
    ///
    /// # Errors
    /// As [`before_issue`](Self::before_issue).
    async fn extend_token_data(
        &self,
        _issue: &Issue<'_>,
        _data: &mut Map<String, Value>,
    ) -> Result<(), PowError> {
        Ok(())
    }

    /// A sign-up was refused only because the user id is taken, and the setup hides which
    /// accounts exist ([`prevent_user_enumeration`](crate::PowConfig::prevent_user_enumeration)):
    /// the answer a sign-up with a new address would get, if it gives no tokens (email
    /// confirmation in strict mode: "confirm your address"). `None` lets the `422` through.
    async fn taken_sign_up(&self, _config: &PowConfig, _lang: &LanguageIdentifier) -> Option<Held> {
        None
    }

    /// The steps still pending for the signed-in `user`, listed by `GET /session` under
    /// `data.pending` (say `confirm_email`). `user` is the session's copy: a hook whose
    /// columns change outside the session reads the stored row itself.
    ///
    /// # Errors
    /// The store's or the database's error.
    async fn pending_steps(
        &self,
        _config: &PowConfig,
        _user: &User,
    ) -> Result<Vec<PendingStep>, PowError> {
        Ok(Vec::new())
    }

    /// What a client should know of this extension's settings, listed by `GET /config`
    /// under `extension_details.<name>` (the OAuth providers, say). Never a secret.
    fn describe(&self, _config: &PowConfig) -> Option<Value> {
        None
    }
}

/// Runs every hook's [`before_issue`](TokenHooks::before_issue), in order, then collects
/// their [`extend_token_data`](TokenHooks::extend_token_data): the data of the token
/// answer. The first error wins.
///
/// # Errors
/// The first refusing or failing hook's error.
pub(crate) async fn prepare_issue(
    hooks: &[&dyn TokenHooks],
    issue: &Issue<'_>,
) -> Result<Map<String, Value>, PowError> {
    for hook in hooks {
        hook.before_issue(issue).await?;
    }
    let mut data = Map::new();
    for hook in hooks {
        hook.extend_token_data(issue, &mut data).await?;
    }
    Ok(data)
}

/// The answer hiding a sign-up refused for a taken user id, if a hook gives one.
pub async fn taken_sign_up(
    hooks: &[&dyn TokenHooks],
    config: &PowConfig,
    lang: &LanguageIdentifier,
) -> Option<Held> {
    for hook in hooks {
        if let Some(held) = hook.taken_sign_up(config, lang).await {
            return Some(held);
        }
    }
    None
}

/// Every hook's pending steps for `user`, in order.
///
/// # Errors
/// The first failing hook's error.
pub async fn pending_steps(
    hooks: &[&dyn TokenHooks],
    config: &PowConfig,
    user: &User,
) -> Result<Vec<PendingStep>, PowError> {
    let mut steps = Vec::new();
    for hook in hooks {
        steps.extend(hook.pending_steps(config, user).await?);
    }
    Ok(steps)
}

/// What the hooks describe, by name (`extension_details` of `GET /config`).
pub fn details<'n, 'h>(
    hooks: impl IntoIterator<Item = (&'n str, &'h dyn TokenHooks)>,
    config: &PowConfig,
) -> Map<String, Value> {
    hooks
        .into_iter()
        .filter_map(|(name, hook)| Some((name.to_owned(), hook.describe(config)?)))
        .collect()
}
