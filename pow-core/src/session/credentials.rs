//! [`CredentialsCache`]: server-side session records in the cache store.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::live::{chain_key, LiveBus, LiveEvent, LiveSessionId, CHAINS};
use super::metadata::{Device, SessionInfo, SessionMetadata};
use crate::config::PowConfig;
use crate::store::{decode_record, Key, Record, Store, StoreError, UserIndex};

use crate::users::User;

/// How many rotations [`CredentialsCache::get`] follows from an old session id to the
/// live one. A request never holds an id more than a couple of rotations old.
const MAX_ROTATION_HOPS: usize = 4;

/// Record 1: session id -> owner and metadata.
#[derive(Serialize, Deserialize)]
struct SessionRecord {
    user_id: i64,
    metadata: SessionMetadata,
    /// Set on an id that was rotated: the id that replaced it. Such a record lives only
    /// for the rotation grace period, is absent from the user's index and never renewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rotated_to: Option<String>,
    /// With `rotated_to`: the nonce that, with the old cookie's secret id, gives the new
    /// one (see [`next_cookie_id`](super::next_cookie_id)). Useless without the cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    handoff: Option<String>,
}

/// Record 3: an entry of the user's session index.
#[derive(Serialize, Deserialize)]
struct IndexRecord {
    inserted_at: i64,
    fingerprint: String,
    #[serde(default)]
    signed_in_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device: Option<Device>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    api: bool,
}

impl IndexRecord {
    fn of(metadata: &SessionMetadata) -> Self {
        Self {
            inserted_at: metadata.inserted_at,
            fingerprint: metadata.fingerprint.clone(),
            signed_in_at: metadata.signed_in_at,
            device: metadata.device.clone(),
            api: metadata
                .extra
                .contains_key(crate::api::tokens::META_RENEWAL_TOKEN),
        }
    }
}

/// Decoded copies of recently read sessions, keyed by session id, so a request whose
/// records are byte-for-byte unchanged skips JSON decoding. The store stays the source of
/// truth: both records are read on every request and compared with the cached bytes.
#[derive(Clone)]
struct DecodeCache(moka::sync::Cache<String, Arc<Decoded>>);

struct Decoded {
    session_bytes: Vec<u8>,
    user_bytes: Vec<u8>,
    user_id: i64,
    user: User,
    metadata: SessionMetadata,
}

/// Entries the decode cache holds at most (about 1 KiB each).
const DECODE_CACHE_CAPACITY: u64 = 10_000;
/// Longest time an unused entry stays in the decode cache.
const DECODE_CACHE_MAX_IDLE: Duration = Duration::from_secs(3600);

/// A session id resolved to the live session it grants.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// The live session id: the one asked for, or the one it was rotated to.
    pub session_id: String,
    pub user: User,
    pub metadata: SessionMetadata,
    /// Whether the id asked for was rotated and only works during the grace period.
    pub via_rotation: bool,
    /// The handoff nonces of the rotations followed, oldest first: they turn the cookie's
    /// id into the live session's.
    pub handoffs: Vec<String>,
}

/// Sessions in the cache store.
///
/// Each session writes four records in one batch, with the configured credentials TTL:
///
/// 1. `["session", id]`: the owner's id and the [`SessionMetadata`];
/// 2. `["user", user_id]`: the user, shared by all of the user's sessions, so a put from
///    one session refreshes the user the others see;
/// 3. `["user", user_id, "session", id]`: the user's session index (issue time and
///    fingerprint), used to list sessions and to sign out everywhere;
/// 4. `["user", user_id, "chain", live id]`: the chain of sessions one sign-in started,
///    alive until it ends ([`LiveSessions`](super::LiveSessions)).
///
/// Records live in the namespace `"credentials"` (`"<name>_credentials"` for a named
/// setup), so two setups never see each other's sessions.
///
/// ```
/// use pow_core::session::{CredentialsCache, SessionMetadata};
/// use pow_core::{PowConfig, User};
///
/// # actix_web::rt::System::new().block_on(async {
/// let config = PowConfig::builder("s".repeat(64)).build()?;
/// let cache = CredentialsCache::new(&config);
/// let user = User { id: 7, password_hash: None, inserted_at: chrono::Utc::now(),
///     updated_at: chrono::Utc::now(), fields: Default::default() };
/// cache.put("session-1", &user, &SessionMetadata::new()).await?;
/// assert_eq!(cache.sessions(7).await?, vec!["session-1".to_owned()]);
/// assert_eq!(cache.get("session-1").await?.map(|(u, _)| u.id), Some(7));
/// assert_eq!(cache.delete_user_sessions(7).await?, 1);
/// assert!(cache.get("session-1").await?.is_none());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct CredentialsCache {
    store: Arc<dyn Store>,
    namespace: String,
    ttl: Duration,
    decoded: Option<DecodeCache>,
    /// Where ended sessions are announced ([`LiveSessions`](super::LiveSessions)).
    live: Option<Arc<LiveBus>>,
}

impl std::fmt::Debug for CredentialsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsCache")
            .field("namespace", &self.namespace)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// The index of each user's sessions.
const SESSIONS: UserIndex = UserIndex::new("session");

fn session_key(session_id: &str) -> Key {
    Key(vec!["session".to_owned(), session_id.to_owned()])
}

/// The marker a cached user carries in `password_hash` when the user has a password.
const PASSWORD_NOT_CACHED: &str = "";

/// The bytes of `user` as cached: everything but the password hash, which never leaves the
/// users table. A user with a password keeps `Some("")`, so "has a password" still reads
/// right from a session; nothing compares or verifies a cached hash.
fn cached_user(user: &User) -> Result<Vec<u8>, serde_json::Error> {
    if user
        .password_hash
        .as_deref()
        .is_none_or(|hash| hash == PASSWORD_NOT_CACHED)
    {
        return serde_json::to_vec(user);
    }
    let mut stripped = user.clone();
    stripped.password_hash = Some(PASSWORD_NOT_CACHED.to_owned());
    serde_json::to_vec(&stripped)
}

fn user_key(user_id: i64) -> Key {
    Key(vec!["user".to_owned(), user_id.to_string()])
}

impl CredentialsCache {
    /// The cache of `config`: its store, namespace `config.namespaced("credentials")` and
    /// TTL `config.session().credentials_ttl`.
    pub fn new(config: &PowConfig) -> Self {
        Self {
            live: Some(Arc::clone(config.live_bus())),
            ..Self::with_store(
                Arc::clone(config.store()),
                config.namespaced("credentials"),
                config.session().credentials_ttl,
            )
        }
    }

    /// A cache on any store, namespace and TTL.
    pub fn with_store(store: Arc<dyn Store>, namespace: impl Into<String>, ttl: Duration) -> Self {
        Self {
            store,
            namespace: namespace.into(),
            ttl,
            decoded: None,
            live: None,
        }
    }

    /// Keeps decoded copies of the sessions it reads (for the long-lived instance of the
    /// middleware; see [`DecodeCache`]).
    pub(crate) fn with_decode_cache(mut self) -> Self {
        self.decoded = Some(DecodeCache(
            moka::sync::Cache::builder()
                .max_capacity(DECODE_CACHE_CAPACITY)
                .time_to_idle(self.ttl.min(DECODE_CACHE_MAX_IDLE))
                .build(),
        ));
        self
    }

    /// The TTL of every record.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Stores a session for `user`.
    ///
    /// First deletes the user's other sessions with the same fingerprint (a renewed
    /// session replaces its predecessor), then writes the three records in one batch.
    ///
    /// # Errors
    /// The store's error.
    pub async fn put(
        &self,
        session_id: &str,
        user: &User,
        metadata: &SessionMetadata,
    ) -> Result<(), StoreError> {
        for (other, index) in self.index_entries(user.id).await? {
            if other != session_id && index.fingerprint == metadata.fingerprint {
                self.store
                    .delete(&self.namespace, &session_key(&other))
                    .await?;
                self.store
                    .delete(&self.namespace, &SESSIONS.key(user.id, &other))
                    .await?;
            }
        }
        let records: Vec<Record> = vec![
            (
                session_key(session_id),
                serde_json::to_vec(&SessionRecord {
                    user_id: user.id,
                    metadata: metadata.clone(),
                    rotated_to: None,
                    handoff: None,
                })?,
            ),
            (user_key(user.id), cached_user(user)?),
            (
                SESSIONS.key(user.id, session_id),
                serde_json::to_vec(&IndexRecord::of(metadata))?,
            ),
            (
                chain_key(&LiveSessionId::of(user.id, &metadata.fingerprint)),
                b"{}".to_vec(),
            ),
        ];
        self.store
            .put(&self.namespace, records, Some(self.ttl))
            .await
    }

    /// The user and metadata of a session, or `None` if it does not exist (or expired).
    ///
    /// An id that was rotated recently answers for the session that replaced it, during a
    /// short grace period, so that requests racing the rotation keep working.
    ///
    /// # Errors
    /// The store's error.
    pub async fn get(
        &self,
        session_id: &str,
    ) -> Result<Option<(User, SessionMetadata)>, StoreError> {
        Ok(self
            .resolve(session_id)
            .await?
            .map(|resolved| (resolved.user, resolved.metadata)))
    }

    /// Like [`get`](Self::get), telling which live session the id stands for.
    pub(crate) async fn resolve(&self, session_id: &str) -> Result<Option<Resolved>, StoreError> {
        self.resolve_hinted(session_id, None).await
    }

    /// [`resolve`](Self::resolve), reading the session and the user `user_hint` names in
    /// one store round trip (the user read is only used when the session is that user's).
    pub(crate) async fn resolve_hinted(
        &self,
        session_id: &str,
        user_hint: Option<i64>,
    ) -> Result<Option<Resolved>, StoreError> {
        let mut id = session_id.to_owned();
        let mut via_rotation = false;
        let mut handoffs = Vec::new();
        let mut prefetched: Option<(i64, Option<Vec<u8>>)> = None;
        for _ in 0..=MAX_ROTATION_HOPS {
            let session_bytes = match user_hint.filter(|_| !via_rotation) {
                Some(hint) => {
                    let mut values = self
                        .store
                        .get_many(&self.namespace, &[session_key(&id), user_key(hint)])
                        .await?
                        .into_iter();
                    let session = values.next().flatten();
                    prefetched = Some((hint, values.next().flatten()));
                    session
                }
                None => self.store.get(&self.namespace, &session_key(&id)).await?,
            };
            let Some(session_bytes) = session_bytes else {
                return Ok(None);
            };
            let cached = self
                .decoded
                .as_ref()
                .and_then(|cache| cache.0.get(id.as_str()))
                .filter(|cached| cached.session_bytes == session_bytes);
            let (user_id, metadata) = match &cached {
                Some(cached) => (cached.user_id, None),
                None => {
                    let Some(record) = decode_record::<SessionRecord>(&session_bytes, "session")
                    else {
                        return Ok(None);
                    };
                    if let Some(next) = record.rotated_to {
                        id = next;
                        via_rotation = true;
                        handoffs.extend(record.handoff);
                        continue;
                    }
                    (record.user_id, Some(record.metadata))
                }
            };
            let user_bytes = match prefetched.take() {
                Some((hinted, bytes)) if hinted == user_id => bytes,
                _ => self.store.get(&self.namespace, &user_key(user_id)).await?,
            };
            let Some(user_bytes) = user_bytes else {
                return Ok(None);
            };
            if let Some(cached) = cached.filter(|cached| cached.user_bytes == user_bytes) {
                return Ok(Some(Resolved {
                    session_id: id,
                    user: cached.user.clone(),
                    metadata: cached.metadata.clone(),
                    via_rotation,
                    handoffs,
                }));
            }
            let metadata = match metadata {
                Some(metadata) => metadata,
                // Cached session record, changed user record.
                None => match decode_record::<SessionRecord>(&session_bytes, "session") {
                    Some(record) => record.metadata,
                    None => return Ok(None),
                },
            };
            let Some(user) = decode_record::<User>(&user_bytes, "user") else {
                return Ok(None);
            };
            if let Some(cache) = &self.decoded {
                cache.0.insert(
                    id.clone(),
                    Arc::new(Decoded {
                        session_bytes,
                        user_bytes,
                        user_id,
                        user: user.clone(),
                        metadata: metadata.clone(),
                    }),
                );
            }
            return Ok(Some(Resolved {
                session_id: id,
                user,
                metadata,
                via_rotation,
                handoffs,
            }));
        }
        Ok(None)
    }

    /// Deletes a session (its record and index entry). The shared user record is left to
    /// expire. Deleting a recently rotated id also deletes the session that replaced it.
    /// Deleting a missing session succeeds.
    ///
    /// # Errors
    /// The store's error.
    pub async fn delete(&self, session_id: &str) -> Result<(), StoreError> {
        self.remove(session_id, true).await
    }

    /// Deletes a session that a session of the same chain replaces next (an API renewal):
    /// the chain's live id stays valid and no end is announced.
    pub(crate) async fn replace(&self, session_id: &str) -> Result<(), StoreError> {
        self.remove(session_id, false).await
    }

    /// Ends the chain of sessions with `fingerprint` ([`LiveSessions`](super::LiveSessions)):
    /// for a chain whose last session is already gone.
    pub(crate) async fn end_chain(
        &self,
        user_id: i64,
        fingerprint: &str,
    ) -> Result<(), StoreError> {
        let live = LiveSessionId::of(user_id, fingerprint);
        self.store
            .delete(&self.namespace, &chain_key(&live))
            .await?;
        self.announce(LiveEvent::Ended(live)).await;
        Ok(())
    }

    async fn remove(&self, session_id: &str, ends_chain: bool) -> Result<(), StoreError> {
        let mut id = session_id.to_owned();
        for _ in 0..=MAX_ROTATION_HOPS {
            let Some(bytes) = self.store.take(&self.namespace, &session_key(&id)).await? else {
                return Ok(());
            };
            let Some(record) = decode_record::<SessionRecord>(&bytes, "session") else {
                return Ok(());
            };
            self.store
                .delete(&self.namespace, &SESSIONS.key(record.user_id, &id))
                .await?;
            match record.rotated_to {
                Some(next) => id = next,
                None if ends_chain => {
                    return self
                        .end_chain(record.user_id, &record.metadata.fingerprint)
                        .await;
                }
                None => return Ok(()),
            }
        }
        Ok(())
    }

    async fn announce(&self, event: LiveEvent) {
        if let Some(live) = &self.live {
            live.publish(event).await;
        }
    }

    /// The ids of the user's live sessions (ids in their rotation grace period excluded).
    ///
    /// # Errors
    /// The store's error.
    pub async fn session_infos(&self, user_id: i64) -> Result<Vec<SessionInfo>, StoreError> {
        let mut infos: Vec<SessionInfo> = self
            .index_entries(user_id)
            .await?
            .into_iter()
            .map(|(id, index)| SessionInfo {
                id,
                signed_in_at: index.signed_in_at,
                last_seen_at: index.inserted_at,
                device: index.device.unwrap_or_default(),
                api: index.api,
            })
            .collect();
        infos.sort_by_key(|info| std::cmp::Reverse(info.last_seen_at));
        Ok(infos)
    }

    /// The ids of the user's live sessions (ids in their rotation grace period excluded).
    ///
    /// # Errors
    /// The store's error.
    pub async fn sessions(&self, user_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(self
            .index_entries(user_id)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }

    /// Deletes every session of the user ("sign out everywhere") and returns how many
    /// there were. Ids in their rotation grace period stop working with the session they
    /// were rotated to.
    ///
    /// # Errors
    /// The store's error.
    pub async fn delete_user_sessions(&self, user_id: i64) -> Result<usize, StoreError> {
        let sessions = self.sessions(user_id).await?;
        for id in &sessions {
            self.store.delete(&self.namespace, &session_key(id)).await?;
            self.store
                .delete(&self.namespace, &SESSIONS.key(user_id, id))
                .await?;
        }
        let chains = CHAINS
            .entries::<serde_json::Value>(&*self.store, &self.namespace, user_id)
            .await?;
        for (chain, _) in chains {
            self.store
                .delete(&self.namespace, &CHAINS.key(user_id, &chain))
                .await?;
        }
        self.announce(LiveEvent::AllEnded { user_id }).await;
        Ok(sessions.len())
    }

    /// Replaces the cached user shared by all of the user's sessions (after an update),
    /// restarting its TTL.
    ///
    /// # Errors
    /// The store's error.
    pub async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        self.store
            .put(
                &self.namespace,
                vec![(user_key(user.id), cached_user(user)?)],
                Some(self.ttl),
            )
            .await
    }

    /// Claims the right to rotate a session by taking its index entry: of concurrent
    /// callers at most one gets `true`.
    pub(crate) async fn claim_renewal(
        &self,
        user_id: i64,
        session_id: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .store
            .take(&self.namespace, &SESSIONS.key(user_id, session_id))
            .await?
            .is_some())
    }

    /// Puts back an index entry taken by [`claim_renewal`](Self::claim_renewal) when the
    /// rotation could not finish.
    pub(crate) async fn release_renewal(
        &self,
        user_id: i64,
        session_id: &str,
        metadata: &SessionMetadata,
    ) -> Result<(), StoreError> {
        let index = serde_json::to_vec(&IndexRecord::of(metadata))?;
        self.store
            .put(
                &self.namespace,
                vec![(SESSIONS.key(user_id, session_id), index)],
                Some(self.ttl),
            )
            .await
    }

    /// Marks `old_id` as rotated to `new_id`; the old id keeps working for `grace`.
    /// `handoff` is the nonce that moves a cookie holding the old id to the new one.
    pub(crate) async fn mark_rotated(
        &self,
        old_id: &str,
        user_id: i64,
        metadata: &SessionMetadata,
        (new_id, handoff): (&str, Option<&str>),
        grace: Duration,
    ) -> Result<(), StoreError> {
        let record = serde_json::to_vec(&SessionRecord {
            user_id,
            metadata: metadata.clone(),
            rotated_to: Some(new_id.to_owned()),
            handoff: handoff.map(str::to_owned),
        })?;
        self.store
            .put(
                &self.namespace,
                vec![(session_key(old_id), record)],
                Some(grace.min(self.ttl)),
            )
            .await
    }

    async fn index_entries(&self, user_id: i64) -> Result<Vec<(String, IndexRecord)>, StoreError> {
        let entries = SESSIONS
            .entries(&*self.store, &self.namespace, user_id)
            .await?;
        Ok(entries
            .into_iter()
            .filter_map(|(id, entry)| Some((id, entry?)))
            .collect())
    }
}
