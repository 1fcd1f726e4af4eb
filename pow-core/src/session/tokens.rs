//! Where API tokens live: access tokens in the [`CredentialsCache`], renewal tokens and
//! the per-user revocation generation in the `api_renewal` namespace of the store.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::memo::SecretMemo;
use super::{
    check_loaded, duration_ms, new_session_id, now_ms, CredentialsCache, CurrentSession, Device,
    MethodUse, SessionMetadata,
};
use crate::config::PowConfig;
use crate::error::PowError;
use crate::store::{decode_record, Key, Store, StoreError, UserIndex};
use crate::token::generate_uuid;
use crate::users::User;

/// Salt of access tokens.
pub const ACCESS_TOKEN_SALT: &str = "pow_core.api.access";
/// Salt of renewal tokens.
pub const RENEWAL_TOKEN_SALT: &str = "pow_core.api.renewal";
/// The longest lifetime of renewal tokens: 365 days. Longer settings are capped.
pub const MAX_RENEWAL_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// Session metadata key holding the id of the renewal token issued with an access token.
/// Its presence is what marks a credentials-cache session as an API access token.
pub(crate) const META_RENEWAL_TOKEN: &str = "api_renewal_token";
/// Session metadata key holding the user's revocation generation at issue time.
const META_GENERATION: &str = "api_generation";

/// A signed access token and a signed renewal token, as handed to the client.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct TokenPair {
    /// Bearer token for API requests; lives as long as a session
    /// ([`credentials_ttl`](crate::SessionConfig::credentials_ttl), 30 minutes by default).
    pub access_token: String,
    /// Single-use token for `POST <prefix>/session/renew`; lives for the renewal TTL
    /// (30 days by default).
    pub renewal_token: String,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"[redacted]")
            .field("renewal_token", &"[redacted]")
            .finish()
    }
}

/// What a renewal token stands for.
#[derive(Serialize, Deserialize)]
struct RenewalRecord {
    user_id: i64,
    /// The access token (credentials-cache session id) issued with it.
    access_token: String,
    /// Shared by every pair of one sign-in, as session fingerprints are.
    fingerprint: String,
    /// When the chain of renewals started (the sign-in), in ms since the Unix epoch.
    signed_in_at: i64,
    /// The user's revocation generation when it was issued.
    #[serde(default)]
    generation: Option<String>,
    /// Where the sign-in came from, for the session list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device: Option<Device>,
    /// The methods the sign-in proved ([`SessionMetadata::methods`]), carried into every
    /// renewed pair.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "super::methods::known_uses"
    )]
    methods: Vec<MethodUse>,
}

/// The sign-in a consumed renewal token continues.
#[derive(Debug)]
#[doc(hidden)]
#[allow(missing_docs)]
pub struct Renewal {
    /// The user, freshly read from the users context.
    pub user: User,
    pub fingerprint: String,
    pub signed_in_at: i64,
    pub generation: Option<String>,
    pub device: Option<Device>,
    pub methods: Vec<MethodUse>,
}

/// The index of each user's renewal tokens.
const TOKENS: UserIndex = UserIndex::new("token");

/// Record of a chain of pairs (one sign-in): which renewal token is its current one, which
/// one it replaced and when. A used token presented again after the grace is a copy: the
/// chain is revoked.
#[derive(Serialize, Deserialize)]
struct ChainRecord {
    user_id: i64,
    current: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous: Option<String>,
    rotated_at: i64,
}

fn chain_key(chain: &str) -> Key {
    Key(vec!["chain".to_owned(), chain.to_owned()])
}

/// The chain a renewal id belongs to (ids end in `~<chain>`; older ids have none).
fn chain_of(renewal_id: &str) -> Option<&str> {
    renewal_id.rsplit_once('~').map(|(_, chain)| chain)
}

/// Purposes of the keyed hashes tokens are stored under.
const ACCESS_PURPOSE: &str = "api_access";
const RENEWAL_PURPOSE: &str = "api_renewal";

/// The ids a token from a client may be stored under, one per secret of the key ring (the
/// current one first): the token's keyed hash, and for a renewal token its chain suffix,
/// kept in clear so a replay can be traced to its chain; for an access token its user's
/// id, which places its session under its user.
fn stored_ids(config: &PowConfig, purpose: &str, token: &str) -> Vec<String> {
    let (secret, suffix) = match (purpose, token.rsplit_once('~')) {
        (RENEWAL_PURPOSE, Some((secret, chain))) => (secret, Some(format!("~{chain}"))),
        // An access token's session id names its user, as a browser session's does.
        (ACCESS_PURPOSE, _) => (
            token,
            crate::session::cookie_user_id(token).map(|user_id| format!(".{user_id}")),
        ),
        _ => (token, None),
    };
    config
        .verifier()
        .token_digests(purpose, secret)
        .into_iter()
        .map(|digest| match &suffix {
            Some(suffix) => format!("{digest}{suffix}"),
            None => digest,
        })
        .collect()
}

/// The id a new token is stored under (see [`stored_ids`]).
fn stored_id(config: &PowConfig, purpose: &str, token: &str) -> String {
    stored_ids(config, purpose, token)
        .into_iter()
        .next()
        .unwrap_or_default()
}

fn token_key(id: &str) -> Key {
    Key(vec!["token".to_owned(), id.to_owned()])
}

fn generation_key(user_id: i64) -> Key {
    Key(vec![
        "user".to_owned(),
        user_id.to_string(),
        "generation".to_owned(),
    ])
}

/// Whether a token issued under `issued` is still valid when the user's generation is
/// `current`. No marker (never revoked, or the marker outlived every token) accepts all.
fn generation_ok(current: Option<&str>, issued: Option<&str>) -> bool {
    match current {
        None => true,
        Some(current) => issued == Some(current),
    }
}

/// Token operations for one setup.
#[derive(Clone)]
#[doc(hidden)]
pub struct Tokens {
    config: PowConfig,
    store: Arc<dyn Store>,
    namespace: String,
    credentials: CredentialsCache,
    /// Access tokens whose signature verified lately, with their stored ids (a layer's
    /// long-lived instance only, see [`with_decode_cache`](Self::with_decode_cache)).
    verified: Option<Arc<SecretMemo<Arc<[String]>>>>,
}

impl Tokens {
    #[doc(hidden)]
    pub fn new(config: &PowConfig) -> Self {
        Self {
            config: config.clone(),
            store: Arc::clone(config.store()),
            namespace: config.namespaced("api_renewal"),
            credentials: CredentialsCache::new(config),
            verified: None,
        }
    }

    /// Keeps decoded copies of the sessions it reads (see
    /// [`CredentialsCache::with_decode_cache`]), for the long-lived instance of a layer that
    /// authenticates every request's token.
    #[doc(hidden)]
    pub fn with_decode_cache(mut self) -> Self {
        self.credentials = self.credentials.with_decode_cache();
        self.verified = Some(Arc::new(SecretMemo::new()));
        self
    }

    /// The stored ids an access token may have (one per secret of the ring), when its
    /// signature verifies: from the memo of verified tokens when it holds it.
    fn access_ids(&self, signed: &str) -> Option<Arc<[String]>> {
        if let Some(ids) = self.verified.as_ref().and_then(|memo| memo.get(signed)) {
            return Some(ids);
        }
        // Signature first: a forged token never reaches the store.
        let token = self
            .config
            .verifier()
            .verify_token(ACCESS_TOKEN_SALT, signed)?;
        let ids: Arc<[String]> = stored_ids(&self.config, ACCESS_PURPOSE, &token).into();
        if let Some(memo) = &self.verified {
            memo.put(signed, Arc::clone(&ids));
        }
        Some(ids)
    }

    /// How long a revocation marker is kept: longer than any token issued before it can
    /// live, so that expiring markers never bring a revoked token back.
    fn generation_ttl(&self) -> Duration {
        MAX_RENEWAL_TTL.max(self.config.session().credentials_ttl) + Duration::from_secs(86_400)
    }

    /// The user's revocation generation: `None` until the user's tokens are first revoked.
    #[doc(hidden)]
    pub async fn generation(&self, user_id: i64) -> Result<Option<String>, StoreError> {
        Ok(self
            .store
            .get(&self.namespace, &generation_key(user_id))
            .await?
            .and_then(|bytes| decode_record::<String>(&bytes, "generation")))
    }

    /// Issues a new pair for `user` under revocation generation `generation` (read before
    /// the user was authenticated, so that a revocation racing the issue wins). `chain`
    /// continues a sign-in (fingerprint and sign-in time); `None` starts one. `device` is
    /// where the sign-in came from, `methods` what it proved.
    #[doc(hidden)]
    pub async fn issue(
        &self,
        user: &User,
        chain: Option<(String, i64)>,
        device: Option<Device>,
        methods: Vec<MethodUse>,
        generation: Option<String>,
        renewal_ttl: Duration,
    ) -> Result<TokenPair, PowError> {
        let now = now_ms();
        let (fingerprint, signed_in_at) = chain.unwrap_or_else(|| (generate_uuid(), now));
        // The client gets the tokens; the store keeps only their keyed hashes.
        // Ends in `.<user id>`, like a browser session's id: its session is found under its
        // user (the hash below covers the whole token, so the ending cannot be changed).
        let access_token = format!("{}.{}", new_session_id(&self.config), user.id);
        let access_id = stored_id(&self.config, ACCESS_PURPOSE, &access_token);
        let chain = crate::session::LiveSessionId::of(user.id, &fingerprint).chain;
        let renewal_token = self
            .config
            .namespaced(&format!("{}~{chain}", generate_uuid()));
        let renewal_id = stored_id(&self.config, RENEWAL_PURPOSE, &renewal_token);
        let previous = self.chain_current(&chain).await?;
        let record = RenewalRecord {
            user_id: user.id,
            access_token: access_id.clone(),
            fingerprint: fingerprint.clone(),
            signed_in_at,
            generation: generation.clone(),
            device: device.clone(),
            methods: methods.clone(),
        };
        self.store
            .put(
                &self.namespace,
                vec![
                    (
                        token_key(&renewal_id),
                        serde_json::to_vec(&record).map_err(StoreError::from)?,
                    ),
                    (
                        TOKENS.key(user.id, &renewal_id),
                        serde_json::to_vec(&access_id).map_err(StoreError::from)?,
                    ),
                    (
                        chain_key(&chain),
                        serde_json::to_vec(&ChainRecord {
                            user_id: user.id,
                            current: renewal_id.clone(),
                            previous,
                            rotated_at: now,
                        })
                        .map_err(StoreError::from)?,
                    ),
                ],
                Some(renewal_ttl.min(MAX_RENEWAL_TTL)),
            )
            .await?;
        let mut extra = BTreeMap::new();
        extra.insert(
            META_RENEWAL_TOKEN.to_owned(),
            serde_json::Value::String(renewal_id.clone()),
        );
        if let Some(generation) = generation {
            extra.insert(
                META_GENERATION.to_owned(),
                serde_json::Value::String(generation),
            );
        }
        let metadata = SessionMetadata {
            inserted_at: now,
            fingerprint,
            signed_in_at,
            authenticated_at: Some(signed_in_at),
            device,
            methods,
            extra,
        };
        // A pair continuing a sign-in shares its fingerprint, so this also drops the
        // access token it replaces.
        self.credentials.put(&access_id, user, &metadata).await?;
        let verifier = self.config.verifier();
        Ok(TokenPair {
            access_token: verifier.sign_token(ACCESS_TOKEN_SALT, &access_token),
            renewal_token: verifier.sign_token(RENEWAL_TOKEN_SALT, &renewal_token),
        })
    }

    /// Resolves a signed access token to its session, or `None` (bad signature, unknown,
    /// expired, revoked, not an API token).
    #[doc(hidden)]
    pub async fn authenticate(&self, signed: &str) -> Result<Option<CurrentSession>, PowError> {
        let Some(ids) = self.access_ids(signed) else {
            return Ok(None);
        };
        let Some((id, user, metadata)) = self.find_access_by(&ids).await? else {
            return Ok(None);
        };
        if !metadata.extra.contains_key(META_RENEWAL_TOKEN) {
            return Ok(None);
        }
        let issued = metadata
            .extra
            .get(META_GENERATION)
            .and_then(serde_json::Value::as_str);
        let current = self.generation(user.id).await?;
        if !generation_ok(current.as_deref(), issued) {
            self.credentials.delete(&id).await?;
            return Ok(None);
        }
        let Some(user) = check_loaded(
            &self.config,
            &self.credentials,
            &id,
            Arc::new(user),
            &metadata,
            crate::time::now_ms(),
        )
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(CurrentSession {
            user,
            session_id: id,
            metadata: Arc::new(metadata),
        }))
    }

    /// Consumes a signed renewal token (each works once, also under concurrent use) and
    /// deletes the access token issued with it. `None` when the token is forged, unknown,
    /// expired, revoked, past the absolute session lifetime, or its user is gone.
    #[doc(hidden)]
    pub async fn renew(
        &self,
        signed: &str,
        replay_grace: Duration,
    ) -> Result<Option<Renewal>, PowError> {
        let Some(token) = self
            .config
            .verifier()
            .verify_token(RENEWAL_TOKEN_SALT, signed)
        else {
            return Ok(None);
        };
        // The chain goes on with the pair issued next: its access token is replaced
        // without announcing an end, unless the renewal is refused below.
        let Some(record) = self.take_renewal_token(&token, false).await? else {
            let id = stored_id(&self.config, RENEWAL_PURPOSE, &token);
            self.check_replay(&id, replay_grace).await?;
            return Ok(None);
        };
        let current = self.generation(record.user_id).await?;
        let mut refused = !generation_ok(current.as_deref(), record.generation.as_deref());
        if let Some(max) = self.config.session().absolute_lifetime {
            refused |= now_ms().saturating_sub(record.signed_in_at) > duration_ms(max);
        }
        let user = if refused {
            None
        } else {
            self.config.users()?.get(record.user_id).await?
        };
        let Some(user) = user else {
            self.credentials
                .end_chain(record.user_id, &record.fingerprint)
                .await?;
            return Ok(None);
        };
        Ok(Some(Renewal {
            user,
            fingerprint: record.fingerprint,
            signed_in_at: record.signed_in_at,
            generation: current,
            device: record.device,
            methods: record.methods,
        }))
    }

    /// The current renewal token of `chain`, if the chain is known.
    async fn chain_current(&self, chain: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .store
            .get(&self.namespace, &chain_key(chain))
            .await?
            .and_then(|bytes| decode_record::<ChainRecord>(&bytes, "token chain"))
            .map(|record| record.current))
    }

    /// A signed renewal token that is no longer stored came back. If it is an earlier token
    /// of a chain that lives on (not the one just replaced, within `grace`), someone holds
    /// a copy: the chain's current pair is revoked, so thief and owner both have to sign in
    /// again.
    async fn check_replay(&self, id: &str, grace: Duration) -> Result<(), PowError> {
        let Some(chain) = chain_of(id) else {
            return Ok(());
        };
        let Some(record) = self
            .store
            .get(&self.namespace, &chain_key(chain))
            .await?
            .and_then(|bytes| decode_record::<ChainRecord>(&bytes, "token chain"))
        else {
            return Ok(());
        };
        let recent = record.previous.as_deref() == Some(id)
            && now_ms().saturating_sub(record.rotated_at) < duration_ms(grace);
        if record.current == id || recent {
            return Ok(());
        }
        tracing::warn!(
            user.id = record.user_id,
            "a used API renewal token was presented again; revoking its chain"
        );
        crate::audit::record(
            &self.config,
            crate::audit::AuditEvent::new(crate::audit::EventName::new("api.token_replayed"))
                .user(record.user_id),
        );
        self.take_renewal(&record.current, true).await?;
        self.store
            .delete(&self.namespace, &chain_key(chain))
            .await?;
        Ok(())
    }

    /// The session of an access token from a client, with the id it is stored under.
    async fn find_access(
        &self,
        token: &str,
    ) -> Result<Option<(String, User, SessionMetadata)>, StoreError> {
        self.find_access_by(&stored_ids(&self.config, ACCESS_PURPOSE, token))
            .await
    }

    /// The session stored under the first of `ids` that has one.
    async fn find_access_by(
        &self,
        ids: &[String],
    ) -> Result<Option<(String, User, SessionMetadata)>, StoreError> {
        for id in ids {
            if let Some((user, metadata)) = self.credentials.get(id).await? {
                return Ok(Some((id.clone(), user, metadata)));
            }
        }
        Ok(None)
    }

    /// [`take_renewal`](Self::take_renewal) for a renewal token from a client, under
    /// whichever secret of the ring stored it.
    async fn take_renewal_token(
        &self,
        token: &str,
        ends_chain: bool,
    ) -> Result<Option<RenewalRecord>, StoreError> {
        for id in stored_ids(&self.config, RENEWAL_PURPOSE, token) {
            if let Some(record) = self.take_renewal(&id, ends_chain).await? {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }

    /// Takes a renewal record with its index entry, and deletes its access token (ending
    /// the chain when `ends_chain`).
    async fn take_renewal(
        &self,
        id: &str,
        ends_chain: bool,
    ) -> Result<Option<RenewalRecord>, StoreError> {
        let Some(bytes) = self.store.take(&self.namespace, &token_key(id)).await? else {
            return Ok(None);
        };
        let Some(record) = decode_record::<RenewalRecord>(&bytes, "renewal token") else {
            return Ok(None);
        };
        self.store
            .delete(&self.namespace, &TOKENS.key(record.user_id, id))
            .await?;
        if ends_chain {
            self.credentials.delete(&record.access_token).await?;
        } else {
            self.credentials.replace(&record.access_token).await?;
        }
        Ok(Some(record))
    }

    /// Revokes the pair a signed token (access or renewal) belongs to. Returns whether
    /// there was one.
    #[doc(hidden)]
    pub async fn sign_out(&self, signed: &str) -> Result<bool, StoreError> {
        let verifier = self.config.verifier();
        if let Some(token) = verifier.verify_token(ACCESS_TOKEN_SALT, signed) {
            let Some((id, _, metadata)) = self.find_access(&token).await? else {
                return Ok(false);
            };
            let Some(renewal) = metadata
                .extra
                .get(META_RENEWAL_TOKEN)
                .and_then(serde_json::Value::as_str)
            else {
                // Not an API token: a browser session is never ended from here.
                return Ok(false);
            };
            self.take_renewal(renewal, true).await?;
            self.credentials.delete(&id).await?;
            return Ok(true);
        }
        if let Some(token) = verifier.verify_token(RENEWAL_TOKEN_SALT, signed) {
            return Ok(self.take_renewal_token(&token, true).await?.is_some());
        }
        Ok(false)
    }

    /// Revokes every API token of the user; returns how many renewal tokens there were.
    ///
    /// First moves the user to a new revocation generation, which invalidates every token
    /// issued before at once, including pairs being issued by requests racing this call;
    /// then deletes the stored tokens.
    pub(crate) async fn revoke_user(&self, user_id: i64) -> Result<usize, StoreError> {
        self.store
            .put(
                &self.namespace,
                vec![(
                    generation_key(user_id),
                    serde_json::to_vec(&generate_uuid())?,
                )],
                Some(self.generation_ttl()),
            )
            .await?;
        self.drop_tokens(user_id).await
    }

    /// Deletes every token of `user_id` (and its chain's replay record) found under the
    /// user; how many.
    async fn drop_tokens(&self, user_id: i64) -> Result<usize, StoreError> {
        let entries = TOKENS
            .entries::<String>(&*self.store, &self.namespace, user_id)
            .await?;
        let mut removed = 0;
        for (id, access) in entries {
            self.store.delete(&self.namespace, &token_key(&id)).await?;
            // With every token of the chain gone, its replay record guards nothing.
            if let Some(chain) = chain_of(&id) {
                self.store
                    .delete(&self.namespace, &chain_key(chain))
                    .await?;
            }
            self.store
                .delete(&self.namespace, &TOKENS.key(user_id, &id))
                .await?;
            if let Some(access) = access {
                self.credentials.delete(&access).await?;
            }
            removed += 1;
        }
        Ok(removed)
    }
}

impl Tokens {
    /// Deletes every token of `user_id` and the revocation marker (an erased account,
    /// whose tokens were revoked when it closed: nothing of theirs stays).
    pub(crate) async fn forget_user(&self, user_id: i64) -> Result<(), StoreError> {
        self.drop_tokens(user_id).await?;
        self.store
            .delete(&self.namespace, &generation_key(user_id))
            .await
    }
}

/// Deletes every API token of `user_id` and the user's revocation marker (see
/// [`admin::erase_account`](crate::admin::erase_account)).
///
/// # Errors
/// [`PowError::Store`] when the store fails.
pub(crate) async fn forget_user_tokens(config: &PowConfig, user_id: i64) -> Result<(), PowError> {
    Ok(Tokens::new(config).forget_user(user_id).await?)
}

/// Resolves a signed access token (the value after `Bearer `) to its session, as
/// pow-actix's `ApiAuthMiddleware` does: for places the middleware does not reach (a WebSocket
/// handshake that sends the token in a message, say). `None` for a forged, unknown,
/// expired or revoked token.
///
/// # Errors
/// [`PowError::Store`] when the store fails; [`PowError::Database`] when the user is
/// reloaded ([`reload_user`](crate::SessionConfig::reload_user)) and the database fails.
pub async fn authenticate(
    config: &PowConfig,
    access_token: &str,
) -> Result<Option<CurrentSession>, PowError> {
    Tokens::new(config).authenticate(access_token).await
}

/// Revokes every API token of the user (access and renewal tokens, also pairs being
/// issued at the same moment) and returns how many renewal tokens there were.
/// [`revoke_user`](crate::session::revoke_user) calls it.
///
/// It stores a small revocation marker for the user (in the `api_renewal` namespace, kept
/// a year and a day, longer than any token issued before it can live), which every API
/// token of the user is checked against from then on.
///
/// # Errors
/// [`PowError::Store`] when the store fails.
pub async fn revoke_user_tokens(config: &PowConfig, user_id: i64) -> Result<usize, PowError> {
    Ok(Tokens::new(config).revoke_user(user_id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_token_is_still_looked_up_and_a_tampered_one_is_not_remembered() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let config = PowConfig::builder("t".repeat(64)).build().unwrap();
            let tokens = Tokens::new(&config).with_decode_cache();
            let user = User::bare(7);
            let pair = tokens
                .issue(&user, None, None, Vec::new(), None, Duration::from_secs(60))
                .await
                .unwrap();
            // Twice: the second time from the memo of verified tokens.
            for _ in 0..2 {
                let current = tokens.authenticate(&pair.access_token).await.unwrap();
                assert_eq!(current.map(|c| c.user.id), Some(7));
            }
            // A changed token is checked (and refused), not taken for the remembered one.
            let mut tampered = pair.access_token.clone();
            tampered.push('x');
            assert!(tokens.authenticate(&tampered).await.unwrap().is_none());
            // Signed out: the remembered signature does not keep the session alive.
            assert!(tokens.sign_out(&pair.access_token).await.unwrap());
            assert!(tokens
                .authenticate(&pair.access_token)
                .await
                .unwrap()
                .is_none());
        });
    }

    #[test]
    fn generations() {
        assert!(generation_ok(None, None));
        assert!(generation_ok(None, Some("a")));
        assert!(generation_ok(Some("a"), Some("a")));
        assert!(!generation_ok(Some("a"), None));
        assert!(!generation_ok(Some("a"), Some("b")));
    }
}
