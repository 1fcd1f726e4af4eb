//! [`CredentialsCache`]: server-side session records in the cache store.

use std::sync::Arc;
use std::time::Duration;

use super::live::{LiveBus, LiveEvent, LiveSessionId};
use super::memo::SecretMemo;
use super::metadata::{SessionInfo, SessionMetadata};
use super::records::{decode_session, decode_user, encode_session, encode_user, StoredSession};
use super::shards::SessionShards;
use crate::config::PowConfig;
use crate::error::PowError;
use crate::store::{Key, Record, Store, StoreError, UserIndex};
use crate::time::duration_ms;

use crate::users::User;

/// How many rotations [`CredentialsCache::get`] follows from an old session id to the
/// live one. A request never holds an id more than a couple of rotations old.
const MAX_ROTATION_HOPS: usize = 4;

/// How long a claim to rotate a session id holds ([`CredentialsCache::claim_renewal`]).
const CLAIM_TTL: Duration = Duration::from_secs(60);

/// Decoded copies of recently read sessions, keyed by session id, so a request whose
/// records are unchanged skips decoding. The store stays the source of truth: both records
/// are read on every request and compared with the cached ones (by pointer first: the
/// [`MemoryStore`](crate::store::MemoryStore) hands out the same allocation until a value
/// changes). A plain map in a few shards, emptied when full: no per-read bookkeeping.
struct DecodeCache {
    entries: SessionShards<Arc<Decoded>>,
    /// The stored ids of cookies' session ids ([`stored_session_id`](super::stored_session_id)).
    stored_ids: SecretMemo<String>,
}

struct Decoded {
    session_bytes: Arc<[u8]>,
    user_bytes: Arc<[u8]>,
    user: Arc<User>,
    metadata: Arc<SessionMetadata>,
}

/// Entries the decode cache holds at most (about 1 KiB each), over all shards.
const DECODE_CACHE_CAPACITY: usize = 16_384;

impl DecodeCache {
    fn new() -> Self {
        Self {
            entries: SessionShards::new(DECODE_CACHE_CAPACITY),
            stored_ids: SecretMemo::new(),
        }
    }

    fn get(&self, id: &str) -> Option<Arc<Decoded>> {
        self.entries.get(id)
    }

    fn remove(&self, id: &str) {
        self.entries.remove(id);
    }

    fn insert(&self, id: String, decoded: Arc<Decoded>) {
        self.entries.insert(id, decoded);
    }
}

/// A session id resolved to the live session it grants.
#[derive(Debug)]
#[doc(hidden)]
#[allow(missing_docs)]
pub struct Resolved {
    /// The live session id: the one asked for, or the one it was rotated to.
    pub session_id: String,
    pub user: Arc<User>,
    pub metadata: Arc<SessionMetadata>,
    /// Whether the id asked for was rotated and only works during the grace period.
    pub via_rotation: bool,
    /// The handoff nonces of the rotations followed, oldest first: they turn the cookie's
    /// id into the live session's.
    pub handoffs: Vec<String>,
}

/// Sessions in the cache store.
///
/// A session is two records, written in one batch with the configured credentials TTL:
///
/// 1. `["user", user_id, "session", id]`: the session's [`SessionMetadata`]. Listing a
///    user's sessions (and signing out everywhere) reads these; one of them is also what a
///    signed-in request reads, together with
/// 2. `["user", user_id]`: the user, shared by all of the user's sessions, so a put from
///    one session refreshes the user the others see. Everything but the password hash.
///
/// Both are a compact binary encoding, not JSON. The session ids pow-rs makes end in
/// `.<user id>`, which tells where a session lives; an id without that ending also gets a
/// pointer record `["session", id]` holding its user's id (an id ending in `.<digits>`
/// has to name its own user). While a request rotates an id, `["user", user_id,
/// "renewing", id]` marks the claim for a minute.
///
/// Records live in the namespace `"credentials"` (`"<name>_credentials"` for a named
/// setup), so two setups never see each other's sessions.
///
/// ```
/// use pow_core::session::{CredentialsCache, SessionMetadata};
/// use pow_core::{PowConfig, User};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let config = PowConfig::builder("s".repeat(64)).build()?;
/// let cache = CredentialsCache::new(&config);
/// let user = User { id: 7, password_hash: None, inserted_at: chrono::Utc::now(),
///     updated_at: chrono::Utc::now(), fields: Default::default() };
/// cache.put("session-1.7", &user, &SessionMetadata::new()).await?;
/// assert_eq!(cache.sessions(7).await?, vec!["session-1.7".to_owned()]);
/// assert_eq!(cache.get("session-1.7").await?.map(|(u, _)| u.id), Some(7));
/// assert_eq!(cache.delete_user_sessions(7).await?, 1);
/// assert!(cache.get("session-1.7").await?.is_none());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct CredentialsCache {
    store: Arc<dyn Store>,
    namespace: String,
    ttl: Duration,
    decoded: Option<Arc<DecodeCache>>,
    /// Where ended sessions are announced ([`LiveSessions`](super::LiveSessions)).
    live: Option<Arc<LiveBus>>,
    /// The user columns whose values are never cached ([`FieldDef::secret`](crate::users::FieldDef::secret)).
    secret_fields: Arc<[String]>,
}

impl std::fmt::Debug for CredentialsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsCache")
            .field("namespace", &self.namespace)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// Each user's sessions.
const SESSIONS: UserIndex = UserIndex::new("session");
/// Claims to rotate a session id.
const RENEWING: UserIndex = UserIndex::new("renewing");

/// The user a session id names: pow-rs's ids end in `.<user id>`.
fn named_user(session_id: &str) -> Option<i64> {
    super::cookie_user_id(session_id)
}

/// Where the user of a session id that does not name one is kept.
fn pointer_key(session_id: &str) -> Key {
    Key(vec!["session".to_owned(), session_id.to_owned()])
}

fn user_key(user_id: i64) -> Key {
    Key(vec!["user".to_owned(), user_id.to_string()])
}

/// Whether two values read from the store hold the same bytes: at once when they are the
/// same allocation (a [`MemoryStore`](crate::store::MemoryStore) value read twice).
fn same_bytes(a: &Arc<[u8]>, b: &Arc<[u8]>) -> bool {
    Arc::ptr_eq(a, b) || a == b
}

fn encoding_error(err: postcard::Error) -> StoreError {
    StoreError::Backend(format!("cannot encode a session record: {err}"))
}

impl CredentialsCache {
    /// The cache of `config`: its store, namespace `config.namespaced("credentials")` and
    /// TTL `config.session().credentials_ttl`.
    pub fn new(config: &PowConfig) -> Self {
        Self {
            live: Some(Arc::clone(config.live_bus())),
            secret_fields: config
                .user_fields()
                .iter()
                .filter(|field| field.secret)
                .map(|field| field.name.clone())
                .collect(),
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
            secret_fields: Arc::from([]),
        }
    }

    /// Keeps decoded copies of the sessions it reads (for the long-lived instance of the
    /// middleware; see [`DecodeCache`]).
    #[doc(hidden)]
    pub fn with_decode_cache(mut self) -> Self {
        self.decoded = Some(Arc::new(DecodeCache::new()));
        self
    }

    /// The stored id of the session a cookie's id names
    /// ([`stored_session_id`](super::stored_session_id)), remembered by the instance with a
    /// decode cache.
    pub(crate) fn stored_id(&self, config: &PowConfig, cookie_id: &str) -> String {
        let Some(decoded) = &self.decoded else {
            return super::stored_session_id(config, cookie_id);
        };
        if let Some(id) = decoded.stored_ids.get(cookie_id) {
            return id;
        }
        let id = super::stored_session_id(config, cookie_id);
        decoded.stored_ids.put(cookie_id, id.clone());
        id
    }

    /// The TTL of every record.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Stores a session for `user`.
    ///
    /// First deletes the user's other sessions with the same fingerprint (a renewed
    /// session replaces its predecessor), then writes the session and the user in one
    /// batch.
    ///
    /// # Errors
    /// The store's error; [`StoreError::Backend`] for an id ending in `.<digits>` that
    /// names another user.
    pub async fn put(
        &self,
        session_id: &str,
        user: &User,
        metadata: &SessionMetadata,
    ) -> Result<(), StoreError> {
        self.put_keeping(session_id, user, metadata, None).await
    }

    /// [`put`](Self::put) for the session that renews `predecessor`, which is left in place:
    /// the renewal marks it rotated right after, and deleting it in between would sign out
    /// the requests racing the renewal with the old id.
    pub(crate) async fn put_renewal(
        &self,
        session_id: &str,
        user: &User,
        metadata: &SessionMetadata,
        predecessor: &str,
    ) -> Result<(), StoreError> {
        self.put_keeping(session_id, user, metadata, Some(predecessor))
            .await
    }

    async fn put_keeping(
        &self,
        session_id: &str,
        user: &User,
        metadata: &SessionMetadata,
        keep: Option<&str>,
    ) -> Result<(), StoreError> {
        if named_user(session_id).is_some_and(|named| named != user.id) {
            return Err(StoreError::Backend(
                "a session id ending in `.<digits>` must name the session's user".into(),
            ));
        }
        for (other, record) in self.live_records(user.id).await? {
            let replaced = other != session_id && keep != Some(other.as_str());
            if replaced && record.fingerprint == metadata.fingerprint {
                self.delete_record(user.id, &other).await?;
            }
        }
        let mut records: Vec<Record> = vec![
            (
                SESSIONS.key(user.id, session_id),
                encode_session(&StoredSession::live(metadata)).map_err(encoding_error)?,
            ),
            (
                user_key(user.id),
                encode_user(user, &self.secret_fields).map_err(encoding_error)?,
            ),
        ];
        if named_user(session_id).is_none() {
            records.push((pointer_key(session_id), user.id.to_string().into_bytes()));
        }
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
        Ok(self.resolve(session_id.to_owned()).await?.map(|resolved| {
            let user = Arc::try_unwrap(resolved.user).unwrap_or_else(|user| (*user).clone());
            let metadata = Arc::try_unwrap(resolved.metadata)
                .unwrap_or_else(|metadata| SessionMetadata::clone(&metadata));
            (user, metadata)
        }))
    }

    /// The user whose session `session_id` is, if known.
    async fn owner(&self, session_id: &str) -> Result<Option<i64>, StoreError> {
        if let Some(user_id) = named_user(session_id) {
            return Ok(Some(user_id));
        }
        Ok(self
            .store
            .get(&self.namespace, &pointer_key(session_id))
            .await?
            .and_then(|bytes| std::str::from_utf8(&bytes).ok()?.parse().ok()))
    }

    /// Like [`get`](Self::get), telling which live session the id stands for. A signed-in
    /// request costs one store round trip: the session and its user are read together.
    #[doc(hidden)]
    pub async fn resolve(&self, session_id: String) -> Result<Option<Resolved>, StoreError> {
        let mut id = session_id;
        let mut via_rotation = false;
        let mut handoffs = Vec::new();
        for _ in 0..=MAX_ROTATION_HOPS {
            let Some(user_id) = self.owner(&id).await? else {
                return Ok(None);
            };
            // Segments on the stack: reading costs no allocation for the keys.
            let mut digits = itoa::Buffer::new();
            let uid = digits.format(user_id);
            let read = self
                .store
                .get_many_shared(
                    &self.namespace,
                    &[&["user", uid, "session", &id], &["user", uid]],
                )
                .await;
            let mut values = match read {
                Ok(values) => values.into_iter(),
                Err(err @ StoreError::Unavailable(_)) => {
                    return match self.outage_copy(&id) {
                        Some(resolved) => Ok(Some(resolved)),
                        None => Err(err),
                    };
                }
                Err(err) => return Err(err),
            };
            let (Some(session_bytes), user_bytes) =
                (values.next().flatten(), values.next().flatten())
            else {
                // Ended (signed out, revoked, expired, erased): its decoded copy, and the
                // user's data in it, leave this process's memory too.
                if let Some(cache) = &self.decoded {
                    cache.remove(&id);
                }
                if let Some(copies) = self.copies() {
                    copies.forget(&id);
                }
                return Ok(None);
            };
            let cached = self
                .decoded
                .as_ref()
                .and_then(|cache| cache.get(&id))
                .filter(|cached| {
                    same_bytes(&cached.session_bytes, &session_bytes)
                        && user_bytes
                            .as_ref()
                            .is_some_and(|bytes| same_bytes(&cached.user_bytes, bytes))
                });
            if let Some(cached) = cached {
                self.remember(&id, &cached.user, &cached.metadata);
                return Ok(Some(Resolved {
                    session_id: id,
                    user: Arc::clone(&cached.user),
                    metadata: Arc::clone(&cached.metadata),
                    via_rotation,
                    handoffs,
                }));
            }
            let Some(record) = decode_session(&session_bytes) else {
                return Ok(None);
            };
            if let Some(next) = record.rotated_to {
                id = next;
                via_rotation = true;
                handoffs.extend(record.handoff);
                continue;
            }
            let Some(user_bytes) = user_bytes else {
                return Ok(None);
            };
            let Some(user) = decode_user(&user_bytes).filter(|user| user.id == user_id) else {
                return Ok(None);
            };
            let metadata = Arc::new(record.metadata());
            let user = Arc::new(user);
            self.remember(&id, &user, &metadata);
            if let Some(cache) = &self.decoded {
                cache.insert(
                    id.clone(),
                    Arc::new(Decoded {
                        session_bytes,
                        user_bytes,
                        user: Arc::clone(&user),
                        metadata: Arc::clone(&metadata),
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

    /// The sessions' copies for a store outage, when the config keeps them
    /// ([`PowConfigBuilder::session_outage_grace`](crate::PowConfigBuilder::session_outage_grace)).
    fn copies(&self) -> Option<&super::outage::OutageCopies> {
        self.live.as_deref()?.outage_copies()
    }

    /// Keeps a copy of the session `id` just read, when the config keeps them (the
    /// common path is one check, and nothing here is awaited, so the read's future stays
    /// as small as it was).
    fn remember(&self, id: &str, user: &Arc<User>, metadata: &Arc<SessionMetadata>) {
        if let (Some(live), Some(copies)) = (&self.live, self.copies()) {
            LiveBus::listen_to_other_nodes_soon(live);
            copies.remember(id, user, metadata);
        }
    }

    /// The session `id` from this process's copy, while the store is away.
    fn outage_copy(&self, id: &str) -> Option<Resolved> {
        let (user, metadata) = self.copies()?.during_outage(id)?;
        tracing::warn!(
            user_id = user.id,
            "the store does not answer: a session read from this process's copy"
        );
        Some(Resolved {
            session_id: id.to_owned(),
            user,
            metadata,
            via_rotation: false,
            handoffs: Vec::new(),
        })
    }

    /// Deletes a session. The shared user record is left to expire. Deleting a recently
    /// rotated id also deletes the session that replaced it. Deleting a missing session
    /// succeeds.
    ///
    /// # Errors
    /// The store's error.
    pub async fn delete(&self, session_id: &str) -> Result<(), StoreError> {
        self.remove(session_id, true).await
    }

    /// Deletes a session that a session of the same chain replaces next (an API renewal):
    /// no end is announced.
    pub(crate) async fn replace(&self, session_id: &str) -> Result<(), StoreError> {
        self.remove(session_id, false).await
    }

    /// Announces the end of the chain of sessions with `fingerprint`
    /// ([`LiveSessions`](super::LiveSessions)): for a chain whose last session is already
    /// gone.
    pub(crate) async fn end_chain(
        &self,
        user_id: i64,
        fingerprint: &str,
    ) -> Result<(), StoreError> {
        self.announce(LiveEvent::Ended(LiveSessionId::of(user_id, fingerprint)))
            .await;
        Ok(())
    }

    async fn remove(&self, session_id: &str, ends_chain: bool) -> Result<(), StoreError> {
        let mut id = session_id.to_owned();
        for _ in 0..=MAX_ROTATION_HOPS {
            if let Some(copies) = self.copies() {
                copies.forget(&id);
            }
            let Some(user_id) = self.owner(&id).await? else {
                return Ok(());
            };
            let taken = self
                .store
                .take(&self.namespace, &SESSIONS.key(user_id, &id))
                .await?;
            if named_user(&id).is_none() {
                self.store
                    .delete(&self.namespace, &pointer_key(&id))
                    .await?;
            }
            let Some(record) = taken.as_deref().and_then(decode_session) else {
                return Ok(());
            };
            match record.rotated_to {
                Some(next) => id = next,
                None if ends_chain => return self.end_chain(user_id, &record.fingerprint).await,
                None => return Ok(()),
            }
        }
        Ok(())
    }

    /// Deletes the records of one session of `user_id`, announcing nothing.
    async fn delete_record(&self, user_id: i64, session_id: &str) -> Result<(), StoreError> {
        self.store
            .delete(&self.namespace, &SESSIONS.key(user_id, session_id))
            .await?;
        if named_user(session_id).is_none() {
            self.store
                .delete(&self.namespace, &pointer_key(session_id))
                .await?;
        }
        Ok(())
    }

    async fn announce(&self, event: LiveEvent) {
        if let Some(live) = &self.live {
            live.publish(event).await;
        }
    }

    /// The user's live sessions, most recently active first (ids in their rotation grace
    /// period excluded).
    ///
    /// # Errors
    /// The store's error.
    pub(crate) async fn session_infos(&self, user_id: i64) -> Result<Vec<SessionInfo>, StoreError> {
        let mut infos: Vec<SessionInfo> = self
            .live_records(user_id)
            .await?
            .into_iter()
            // Support access is the admin's, not one of the user's sessions.
            .filter(|(_, record)| !record.has_extra(super::impersonation::IMPERSONATION_KEY))
            .map(|(id, record)| {
                let metadata = record.metadata();
                let mut methods: Vec<_> = metadata
                    .methods
                    .iter()
                    .filter(|used| used.at <= record.signed_in_at)
                    .map(|used| used.method)
                    .collect();
                methods.sort_unstable();
                methods.dedup();
                (id, record, metadata.device.unwrap_or_default(), methods)
            })
            .map(|(id, record, device, methods)| SessionInfo {
                api: record.has_extra(super::tokens::META_RENEWAL_TOKEN),
                methods,
                device,
                id,
                signed_in_at: record.signed_in_at,
                last_seen_at: record.inserted_at,
                fingerprint: record.fingerprint.clone(),
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
            .live_records(user_id)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }

    /// Whether a session of the chain `live` exists ([`LiveSessions`](super::LiveSessions)).
    pub(crate) async fn chain_alive(&self, live: &LiveSessionId) -> Result<bool, StoreError> {
        Ok(self
            .live_records(live.user_id)
            .await?
            .iter()
            .any(|(_, record)| LiveSessionId::of(live.user_id, &record.fingerprint) == *live))
    }

    /// Deletes every session of the user ("sign out everywhere") and returns how many
    /// there were. Ids in their rotation grace period stop working with them.
    ///
    /// # Errors
    /// The store's error.
    pub async fn delete_user_sessions(&self, user_id: i64) -> Result<usize, StoreError> {
        let mut live = 0;
        for (id, record) in self.records(user_id).await? {
            self.delete_record(user_id, &id).await?;
            live += usize::from(record.is_some_and(|r| r.rotated_to.is_none()));
        }
        self.announce(LiveEvent::AllEnded { user_id }).await;
        Ok(live)
    }

    /// Deletes every session of `user_id` and the cached copy of the user they share (an
    /// erased account: nothing of theirs stays in the store).
    ///
    /// # Errors
    /// The store's error.
    pub async fn forget_user(&self, user_id: i64) -> Result<(), StoreError> {
        self.delete_user_sessions(user_id).await?;
        self.store.delete(&self.namespace, &user_key(user_id)).await
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
                vec![(
                    user_key(user.id),
                    encode_user(user, &self.secret_fields).map_err(encoding_error)?,
                )],
                Some(self.ttl),
            )
            .await
    }

    /// Claims the right to rotate a session id: of concurrent callers at most one gets
    /// `true`. The claim lapses after a minute.
    pub(crate) async fn claim_renewal(
        &self,
        user_id: i64,
        session_id: &str,
    ) -> Result<bool, StoreError> {
        self.store
            .insert_if_absent(
                &self.namespace,
                (RENEWING.key(user_id, session_id), vec![1]),
                Some(CLAIM_TTL.min(self.ttl)),
            )
            .await
    }

    /// Gives up a claim of [`claim_renewal`](Self::claim_renewal) when the rotation could
    /// not finish.
    pub(crate) async fn release_renewal(
        &self,
        user_id: i64,
        session_id: &str,
    ) -> Result<(), StoreError> {
        self.store
            .delete(&self.namespace, &RENEWING.key(user_id, session_id))
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
        let record = StoredSession {
            rotated_to: Some(new_id.to_owned()),
            handoff: handoff.map(str::to_owned),
            ..StoredSession::live(metadata)
        };
        let mut records: Vec<Record> = vec![(
            SESSIONS.key(user_id, old_id),
            encode_session(&record).map_err(encoding_error)?,
        )];
        if named_user(old_id).is_none() {
            records.push((pointer_key(old_id), user_id.to_string().into_bytes()));
        }
        self.store
            .put(&self.namespace, records, Some(grace.min(self.ttl)))
            .await
    }

    /// Every session record of the user, rotated ones included, as `(id, record)`; a record
    /// that does not decode is `None`, so it can still be deleted.
    async fn records(
        &self,
        user_id: i64,
    ) -> Result<Vec<(String, Option<StoredSession>)>, StoreError> {
        let records = self
            .store
            .all(&self.namespace, &SESSIONS.pattern(user_id))
            .await?;
        Ok(records
            .into_iter()
            .filter_map(|(key, bytes)| Some((key.0.into_iter().nth(3)?, decode_session(&bytes))))
            .collect())
    }

    /// The user's sessions that are not rotated.
    async fn live_records(&self, user_id: i64) -> Result<Vec<(String, StoredSession)>, StoreError> {
        Ok(self
            .records(user_id)
            .await?
            .into_iter()
            .filter_map(|(id, record)| Some((id, record.filter(|r| r.rotated_to.is_none())?)))
            .collect())
    }
}

/// Applies the session rules that do not depend on where the session id came from (the
/// cookie, or a bearer token): ends a session older than the absolute lifetime and, with
/// [`reload_user`](crate::SessionConfig::reload_user), re-reads the user. Returns the
/// user to serve, or `None` after deleting a session that has to end.
pub(crate) async fn check_loaded(
    config: &PowConfig,
    credentials: &CredentialsCache,
    session_id: &str,
    user: Arc<User>,
    metadata: &SessionMetadata,
    now: i64,
) -> Result<Option<Arc<User>>, PowError> {
    let settings = config.session();
    if let Some(max) = settings.absolute_lifetime {
        if now.saturating_sub(metadata.signed_in_at) > duration_ms(max) {
            // Boxed here and below: rare paths whose state would grow every request's future.
            Box::pin(credentials.delete(session_id)).await?;
            return Ok(None);
        }
    }
    if metadata.is_impersonation()
        && !Box::pin(super::impersonation::still_valid(
            config,
            credentials,
            session_id,
            &user,
            metadata,
            now,
        ))
        .await?
    {
        return Ok(None);
    }
    if !settings.reload_user {
        return Ok(Some(user));
    }
    let users = config.users()?;
    match Box::pin(users.get(user.id)).await? {
        Some(fresh) => Ok(Some(Arc::new(fresh))),
        None => {
            Box::pin(credentials.delete(session_id)).await?;
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn a_renewal_leaves_its_predecessor_for_the_rotation_mark() {
        let cache =
            CredentialsCache::with_store(MemoryStore::shared(), "c", Duration::from_secs(60));
        let user = User::bare(7);
        let metadata = SessionMetadata::new();
        cache.put("old.7", &user, &metadata).await.unwrap();
        cache
            .put_renewal("new.7", &user, &metadata, "old.7")
            .await
            .unwrap();
        // Until the rotation mark replaces it, the old id still answers.
        assert!(cache.get("old.7").await.unwrap().is_some());
        assert!(cache.get("new.7").await.unwrap().is_some());
        // A plain put of the same fingerprint replaces both.
        cache.put("third.7", &user, &metadata).await.unwrap();
        assert!(cache.get("old.7").await.unwrap().is_none());
        assert!(cache.get("new.7").await.unwrap().is_none());
    }

    /// An ended session's decoded copy leaves the process on the next read of its id.
    #[tokio::test]
    async fn an_ended_sessions_decoded_copy_is_dropped() {
        let cache =
            CredentialsCache::with_store(MemoryStore::shared(), "c", Duration::from_secs(60))
                .with_decode_cache();
        let user = User::bare(7);
        cache
            .put("s.7", &user, &SessionMetadata::new())
            .await
            .unwrap();
        assert!(cache.resolve("s.7".to_owned()).await.unwrap().is_some());
        let decoded = cache.decoded.as_ref().unwrap();
        assert!(decoded.get("s.7").is_some());
        cache.delete("s.7").await.unwrap();
        assert!(cache.resolve("s.7".to_owned()).await.unwrap().is_none());
        assert!(decoded.get("s.7").is_none());
    }
}
