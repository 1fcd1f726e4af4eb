//! The extension's flows, on the engine: the remember-me cookie, the callbacks around
//! sign-in, sign-out and account edits, and the per-request cookie check, over the
//! request's [`Client`] (every framework layer runs them).

use std::time::Duration;

use async_trait::async_trait;
use pow_core::extension::{Callbacks, RequestHook};
use pow_core::pipeline::{ActionKind, Client, ClientCookie, Flow, Step};
use pow_core::session::{self, AuthMethod, CurrentSession, SessionMetadata};
use pow_core::token::generate_uuid;
use pow_core::{PowConfig, PowError, User};

use crate::families::end_chain_sessions;
use crate::store::{duration_ms, now_ms, TokenRecord, Tokens};
use crate::{PersistentSession, FIELD, TOKEN_SALT};

/// Whether to remember the browser on this sign-in (the checkbox, on by default).
struct Persist(bool);

/// The live remember-me token this browser held before an account edit.
struct Reissue(String);

/// A token whose claim this request took.
struct Claimed<'a> {
    token: &'a str,
    record: TokenRecord,
    /// When it was claimed, in milliseconds since the Unix epoch.
    now: i64,
    /// How long its record has left to live.
    remaining: Duration,
}

impl PersistentSession {
    /// The cookie carrying `value`, kept as long as a token lives.
    fn cookie(&self, config: &PowConfig, value: String) -> ClientCookie {
        ClientCookie::new(self.cookie_name_for(config), value, self.ttl)
    }

    fn set_cookie(&self, client: &mut dyn Client, config: &PowConfig, token: &str) {
        let signed = config.verifier().sign_token(TOKEN_SALT, token);
        client.set_cookie(self.cookie(config, signed));
    }

    fn expire_cookie(&self, client: &mut dyn Client, config: &PowConfig) {
        client.set_cookie(ClientCookie::removal(self.cookie_name_for(config)));
    }

    /// The stored id of the token a cookie value carries (signature verified first).
    async fn token_id(
        config: &PowConfig,
        tokens: &Tokens,
        value: Option<String>,
    ) -> Result<Option<String>, PowError> {
        let token = value.and_then(|value| config.verifier().verify_token(TOKEN_SALT, &value));
        Ok(match token {
            Some(token) => Some(tokens.find_id(&token).await?),
            None => None,
        })
    }

    /// The stored id of the token issued to this browser during this request, if any.
    async fn issued_id(
        &self,
        client: &dyn Client,
        config: &PowConfig,
        tokens: &Tokens,
    ) -> Result<Option<String>, PowError> {
        let sent = client
            .sent_cookie(&self.cookie_name_for(config))
            .filter(|value| !value.is_empty());
        Self::token_id(config, tokens, sent).await
    }

    /// The stored id of the request cookie's token, if any.
    async fn cookie_id(
        &self,
        client: &dyn Client,
        config: &PowConfig,
        tokens: &Tokens,
    ) -> Result<Option<String>, PowError> {
        let value = client.cookie(&self.cookie_name_for(config));
        Self::token_id(config, tokens, value).await
    }

    /// The stored id of this browser's current token: the one issued during this
    /// request, else the cookie's.
    async fn browser_token(
        &self,
        client: &dyn Client,
        config: &PowConfig,
        tokens: &Tokens,
    ) -> Result<Option<String>, PowError> {
        match self.issued_id(client, config, tokens).await? {
            Some(id) => Ok(Some(id)),
            None => self.cookie_id(client, config, tokens).await,
        }
    }

    /// Remembers `user` in this browser: deletes the browser's current token, stores a
    /// new one (carrying the fingerprint of the request's session when it is `user`'s)
    /// and sets the cookie. The core sign-in page does this on its own; call it from
    /// custom sign-in handlers with the request's client (in actix,
    /// `CookieSessionHandle::new(&req)?`, behind
    /// [`PowSessionMiddleware`](pow_actix::PowSessionMiddleware)).
    ///
    /// Without HTTP, a [`MemoryClient`](pow_core::pipeline::MemoryClient) is the browser:
    ///
    /// ```
    /// use pow_core::extension::RequestHook as _;
    /// use pow_core::pipeline::{Client as _, MemoryClient};
    /// use pow_core::request::RequestFacts;
    /// use pow_core::session::{AuthMethod, SessionHandle as _, SessionMetadata};
    /// use pow_core::users::diesel::DieselUsersContext;
    /// use pow_core::PowConfig;
    /// use pow_ext_persistent_session::PersistentSession;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (users, remember_me) = (DieselUsersContext::connect(":memory:")?, PersistentSession::new());
    /// let config = PowConfig::builder("s".repeat(64))
    ///     .users(users.clone())
    ///     .hasher(pow_core::password::Pbkdf2Hasher::new(1)) // cheap, for the example
    ///     .extension(remember_me.clone())
    ///     .build()?;
    /// users.migrate(&config)?;
    /// let ada = pow_core::testing::create_user(&config, "ada@example.com", "a long passphrase")?;
    ///
    /// // Ada signs in and ticks "remember me".
    /// let mut browser = MemoryClient::new(RequestFacts::default());
    /// let password = SessionMetadata::new().with_method(AuthMethod::PASSWORD);
    /// browser.session.start(&config, &ada, password).await?;
    /// remember_me.remember(&mut browser, &config, &ada).await?;
    /// let cookie = remember_me.cookie_name_for(&config);
    /// let token = browser.sent_cookie(&cookie).expect("the remember-me cookie");
    ///
    /// // Her session ends; the cookie signs the browser in again and is replaced.
    /// let mut later = browser.next_request().without_session();
    /// remember_me.on_request(&config, &mut later).await?;
    /// assert_eq!(later.current_session().map(|s| s.user.id), Some(ada.id));
    /// assert_ne!(later.sent_cookie(&cookie), Some(token));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`PowError::Store`] when the store fails.
    pub async fn remember(
        &self,
        client: &mut dyn Client,
        config: &PowConfig,
        user: &User,
    ) -> Result<(), PowError> {
        let tokens = self.tokens(config);
        if let Some(old) = self.browser_token(client, config, &tokens).await? {
            tokens.delete(&old).await?;
        }
        let metadata = client
            .current_session()
            .filter(|current| current.user.id == user.id)
            .map(|current| SessionMetadata::clone(&current.metadata))
            .unwrap_or_default();
        let device = metadata
            .device
            .clone()
            .unwrap_or_else(|| session::device_of(client));
        let token = config.namespaced(&generate_uuid());
        let record = TokenRecord {
            user_id: user.id,
            family: generate_uuid(),
            fingerprint: metadata.fingerprint,
            extra: metadata.extra,
            issued_at: now_ms(),
            family_started_at: now_ms(),
            used_at: None,
            device: Some(device),
        };
        let id = tokens.id(&token);
        tokens.insert(&id, &record).await?;
        self.set_cookie(client, config, &token);
        Ok(())
    }

    /// Forgets this browser: deletes its token from the store and expires the cookie
    /// (when the request carries one or one was issued during it).
    ///
    /// # Errors
    /// [`PowError::Store`] when the store fails.
    pub async fn forget(
        &self,
        client: &mut dyn Client,
        config: &PowConfig,
    ) -> Result<(), PowError> {
        let tokens = self.tokens(config);
        let issued = self.issued_id(client, config, &tokens).await?;
        let had_cookie = client.cookie(&self.cookie_name_for(config)).is_some();
        if let Some(token) = &issued {
            tokens.delete(token).await?;
        }
        if let Some(id) = self.cookie_id(client, config, &tokens).await? {
            tokens.delete(&id).await?;
        }
        if had_cookie || issued.is_some() {
            self.expire_cookie(client, config);
        }
        Ok(())
    }

    /// Uses the unused token `token`, whose claim this request holds.
    async fn rotate(
        &self,
        client: &mut dyn Client,
        config: &PowConfig,
        tokens: &Tokens,
        token: &str,
    ) -> Result<(), PowError> {
        let now = now_ms();
        let record = tokens.get(token).await?;
        let Some((record, remaining)) = record
            .filter(|r| self.within_max_age(r, now))
            .and_then(|r| tokens.remaining(&r, now).map(|left| (r, left)))
        else {
            tokens.delete(token).await?;
            self.expire_cookie(client, config);
            return Ok(());
        };
        let claimed = Claimed {
            token,
            record,
            now,
            remaining,
        };
        match self.restore(client, config, tokens, &claimed).await {
            Ok(()) => Ok(()),
            // The user may not sign in now (disabled, closed, a sign-in policy such as an
            // organization's single sign-on): the cookie signs nobody in again; the visitor
            // goes on signed out.
            Err(
                PowError::AccountDisabled | PowError::AccountClosed | PowError::SignInRefused(_),
            ) => {
                tokens.delete(token).await?;
                self.expire_cookie(client, config);
                Ok(())
            }
            Err(err) => {
                // Give the token back, so that retrying is not taken for a replay.
                if let Err(release) = tokens
                    .release(token, &claimed.record, claimed.remaining)
                    .await
                {
                    tracing::warn!(error = %release, "could not release a remember-me token");
                }
                Err(err)
            }
        }
    }

    /// Signs the claimed token's user in with a new session and gives the browser a new
    /// token of the same family.
    async fn restore(
        &self,
        client: &mut dyn Client,
        config: &PowConfig,
        tokens: &Tokens,
        claimed: &Claimed<'_>,
    ) -> Result<(), PowError> {
        let Claimed {
            token,
            record,
            now,
            remaining,
        } = claimed;
        tokens.mark_used(token, record, *now, *remaining).await?;
        let Some(user) = config.users()?.get(record.user_id).await? else {
            tokens.delete_user(record.user_id).await?;
            self.expire_cookie(client, config);
            return Ok(());
        };
        let next = config.namespaced(&generate_uuid());
        let next_record = TokenRecord {
            issued_at: *now,
            used_at: None,
            ..record.clone()
        };
        let next_id = tokens.id(&next);
        tokens.insert(&next_id, &next_record).await?;
        // A cookie is not a password: the restored session is not fresh (sudo mode).
        let metadata = SessionMetadata {
            extra: record.extra.clone(),
            authenticated_at: None,
            ..SessionMetadata::with_fingerprint(record.fingerprint.clone())
                .with_method(AuthMethod::REMEMBER_ME)
        };
        if let Err(err) = client.session().start(config, &user, metadata).await {
            if let Err(delete) = tokens.delete(&next_id).await {
                tracing::warn!(error = %delete, "could not delete an unused remember-me token");
            }
            return Err(err);
        }
        tracing::debug!(user.id = user.id, "signed in from a remember-me cookie");
        pow_core::audit::record(
            config,
            pow_core::audit::AuditEvent::new(crate::events::USED)
                .request(config, client)
                .user(user.id),
        );
        self.set_cookie(client, config, &next);
        Ok(())
    }

    /// Serves the token's user for this request only, without a session or a new token
    /// (a request that raced the token's rotation).
    async fn serve_once(
        &self,
        client: &mut dyn Client,
        config: &PowConfig,
        record: &TokenRecord,
    ) -> Result<(), PowError> {
        let Some(user) = config.users()?.get(record.user_id).await? else {
            return Ok(());
        };
        let metadata = SessionMetadata {
            extra: record.extra.clone(),
            authenticated_at: None,
            ..SessionMetadata::with_fingerprint(record.fingerprint.clone())
                .with_method(AuthMethod::REMEMBER_ME)
        };
        client.serve_once(CurrentSession {
            user: std::sync::Arc::new(user),
            // No session is stored for this request: signing it out deletes nothing.
            session_id: config.namespaced("persistent_session_grace"),
            metadata: std::sync::Arc::new(metadata),
        });
        Ok(())
    }

    /// A used token came back after the grace period: it was copied. Revokes every token
    /// of the user and signs out the sessions of the token's chain.
    async fn revoke_family(
        &self,
        config: &PowConfig,
        record: &TokenRecord,
    ) -> Result<(), PowError> {
        tracing::warn!(
            user.id = record.user_id,
            family = %record.family,
            "a used remember-me token was presented again; revoking the user's remember-me tokens"
        );
        self.tokens(config).delete_user(record.user_id).await?;
        end_chain_sessions(config, record.user_id, &record.fingerprint).await
    }
}

#[async_trait]
impl Callbacks for PersistentSession {
    async fn before_process(
        &self,
        ctl: &mut Step,
        client: &mut dyn Client,
    ) -> Result<Flow, PowError> {
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
                let user_id = client.current_session().map(|current| current.user.id);
                let tokens = self.tokens(&ctl.config);
                let token = self.browser_token(client, &ctl.config, &tokens).await?;
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

    async fn before_respond(
        &self,
        ctl: &mut Step,
        client: &mut dyn Client,
    ) -> Result<Flow, PowError> {
        let Some(user) = ctl.user.clone().filter(|_| !ctl.is_json()) else {
            return Ok(Flow::Continue);
        };
        match ctl.id.kind() {
            ActionKind::SignIn => {
                let persist = ctl.assigns.get::<Persist>().is_none_or(|p| p.0);
                if persist {
                    self.remember(client, &ctl.config, &user).await?;
                } else {
                    self.forget(client, &ctl.config).await?;
                }
            }
            ActionKind::SignOut | ActionKind::DeleteUser => {
                self.forget(client, &ctl.config).await?;
            }
            ActionKind::UpdateUser => {
                if let Some(Reissue(token)) = ctl.assigns.get::<Reissue>() {
                    if self.tokens(&ctl.config).get(token).await?.is_none() {
                        self.remember(client, &ctl.config, &user).await?;
                    }
                }
            }
            _ => {}
        }
        Ok(Flow::Continue)
    }
}

#[async_trait]
impl RequestHook for PersistentSession {
    /// The remember-me cookie: a request without it has nothing for this hook.
    fn cookies(&self, config: &PowConfig) -> Vec<String> {
        vec![self.cookie_name_for(config)]
    }

    async fn on_request(
        &self,
        config: &PowConfig,
        client: &mut dyn Client,
    ) -> Result<(), PowError> {
        if client.current_session().is_some() {
            return Ok(());
        }
        let Some(cookie) = client.cookie(&self.cookie_name_for(config)) else {
            return Ok(());
        };
        // Signature first: a forged token never reaches the store.
        let Some(token) = config.verifier().verify_token(TOKEN_SALT, &cookie) else {
            self.expire_cookie(client, config);
            return Ok(());
        };
        let tokens = self.tokens(config);
        // The store knows the token by its keyed hash only.
        let token = tokens.find_id(&token).await?;
        if tokens.claim(&token).await? {
            return self.rotate(client, config, &tokens, &token).await;
        }
        let Some(record) = tokens.get(&token).await? else {
            // Unknown, expired or revoked.
            self.expire_cookie(client, config);
            return Ok(());
        };
        // No `used_at` yet: the claim was taken an instant ago by a request still
        // rotating the token.
        let racing = match record.used_at {
            None => true,
            Some(used) => now_ms().saturating_sub(used) < duration_ms(self.grace_period),
        };
        if racing {
            self.serve_once(client, config, &record).await
        } else {
            pow_core::audit::record(
                config,
                pow_core::audit::AuditEvent::new(crate::events::THEFT)
                    .request(config, client)
                    .user(record.user_id),
            );
            self.revoke_family(config, &record).await?;
            self.expire_cookie(client, config);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

    use super::*;

    #[test]
    fn the_cookie_is_named_by_the_setup_and_lives_thirty_days() {
        let config = PowConfig::builder("s".repeat(64)).build().unwrap();
        let remember_me = PersistentSession::new();
        let cookie = remember_me.cookie(&config, "v".into());
        assert_eq!(cookie.name, remember_me.cookie_name_for(&config));
        assert_eq!(cookie.value, "v");
        assert_eq!(
            cookie.max_age,
            Some(std::time::Duration::from_secs(2_592_000))
        );
    }
}
