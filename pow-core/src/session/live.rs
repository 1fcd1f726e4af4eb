//! Live revocation: end long-lived connections (server-sent events, WebSockets) when the
//! session they were opened with ends.
//!
//! A session id changes on every renewal, so a connection cannot hold on to it. It holds
//! the session's [`LiveSessionId`] instead ([`CurrentSession::live_id`]): stable from the
//! sign-in to the sign-out, through renewals. Then:
//!
//! - [`LiveSessions::is_still_valid`] answers whether that session still exists, from one
//!   listing of the user's sessions;
//! - [`LiveSessions::ended`] resolves as soon as it ends: signed out, revoked from the session
//!   list or the admin API, signed out everywhere after a password change or reset, account
//!   disabled or deleted, or expired;
//! - [`LiveSessions::events`] is the hook under both: every ended session of this setup, as
//!   it happens.
//!
//! Events travel in-process, and through the store's [`Broadcast`] to every process sharing
//! the store (Redis pub/sub for [`RedisStore`](crate::store::RedisStore)).
//!
//! ```
//! use pow_core::session::{CurrentSession, LiveSessions};
//! use pow_core::PowConfig;
//!
//! /// Closes a connection (an event stream, a socket) of `session` once the session ends.
//! fn watch(config: &PowConfig, session: &CurrentSession) {
//!     let live = LiveSessions::new(config);
//!     let id = session.live_id();
//!     tokio::spawn(async move {
//!         live.ended(&id).await;
//!         // close the connection here
//!     });
//! }
//! ```
//!
//! [`LiveSessions::is_still_valid`]: super::LiveSessions::is_still_valid
//! [`LiveSessions::events`]: super::LiveSessions::events
//! [`LiveSessions::ended`]: super::LiveSessions::ended

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, OnceCell};

use crate::store::{Broadcast, Store};
use crate::token::{generate_uuid, keyed_digest};

/// How many events a slow subscriber may fall behind before it is told it missed some.
const EVENT_BUFFER: usize = 1024;
/// How often [`LiveSessions::ended`] checks the store too (for sessions that expire, and
/// for events lost while a node was disconnected from the broadcast).
pub const DEFAULT_RECHECK: Duration = Duration::from_secs(30);

/// The stable id of a signed-in session, from the sign-in to the sign-out: `<user id>.<chain>`
/// where the chain is a digest of the session's fingerprint. It reveals nothing that would
/// let anyone use the session; give it to clients if needed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LiveSessionId {
    /// The session's user.
    pub user_id: i64,
    /// The digest of the chain of sessions started by one sign-in.
    pub chain: String,
}

impl LiveSessionId {
    /// The id of the chain with `fingerprint` ([`SessionMetadata::fingerprint`]).
    ///
    /// [`SessionMetadata::fingerprint`]: super::SessionMetadata::fingerprint
    pub fn of(user_id: i64, fingerprint: &str) -> Self {
        let mut chain = keyed_digest(b"pow live session", fingerprint);
        chain.truncate(22);
        Self { user_id, chain }
    }
}

impl fmt::Display for LiveSessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.user_id, self.chain)
    }
}

/// A string that is not a [`LiveSessionId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a live session id")]
pub struct InvalidLiveSessionId;

impl FromStr for LiveSessionId {
    type Err = InvalidLiveSessionId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (user, chain) = s.split_once('.').ok_or(InvalidLiveSessionId)?;
        let user_id = user.parse().map_err(|_| InvalidLiveSessionId)?;
        let well_formed = !chain.is_empty()
            && chain.len() <= 64
            && chain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed {
            return Err(InvalidLiveSessionId);
        }
        Ok(Self {
            user_id,
            chain: chain.to_owned(),
        })
    }
}

/// What [`LiveSessions::events`](super::LiveSessions::events) tells.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LiveEvent {
    /// One session ended.
    Ended(LiveSessionId),
    /// Every session of a user ended (sign out everywhere, password change, disabled or
    /// deleted account).
    AllEnded {
        /// The user.
        user_id: i64,
    },
    /// Events may have been missed (a slow subscriber, or a node reconnecting to the
    /// broadcast): check the sessions you care about with
    /// [`LiveSessions::is_still_valid`](super::LiveSessions::is_still_valid).
    Missed,
}

impl LiveEvent {
    /// Whether this event ends `id` (or may have: [`LiveEvent::Missed`] gives `None`).
    pub fn ends(&self, id: &LiveSessionId) -> Option<bool> {
        match self {
            Self::Ended(ended) => Some(ended == id),
            Self::AllEnded { user_id } => Some(*user_id == id.user_id),
            Self::Missed => None,
        }
    }
}

/// A message on the broadcast channel: the event and the node that published it.
#[derive(Serialize, Deserialize)]
struct Message {
    node: String,
    event: LiveEvent,
}

/// The per-setup event bus, held by the [`PowConfig`](crate::PowConfig).
pub(crate) struct LiveBus {
    node: String,
    channel: String,
    local: broadcast::Sender<LiveEvent>,
    remote: Option<Arc<dyn Broadcast>>,
    subscribed: OnceCell<()>,
    /// The sessions' copies for a store outage, when the config keeps them.
    copies: Option<Arc<super::outage::OutageCopies>>,
    /// Whether [`listen_to_other_nodes_soon`](Self::listen_to_other_nodes_soon) ran.
    asked_to_listen: std::sync::atomic::AtomicBool,
}

impl fmt::Debug for LiveBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveBus")
            .field("node", &self.node)
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl LiveBus {
    pub(crate) fn new(store: &dyn Store, namespace: &str, outage_grace: Option<Duration>) -> Self {
        Self {
            node: generate_uuid(),
            channel: format!("live:{namespace}"),
            local: broadcast::channel(EVENT_BUFFER).0,
            remote: store.broadcast(),
            subscribed: OnceCell::new(),
            copies: outage_grace.map(|grace| Arc::new(super::outage::OutageCopies::new(grace))),
            asked_to_listen: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// [`listen_to_other_nodes`](Self::listen_to_other_nodes) on a task of its own, once,
    /// from code that must not wait (a session read keeping its outage copy).
    pub(crate) fn listen_to_other_nodes_soon(bus: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        if bus.remote.is_none() || bus.asked_to_listen.swap(true, Ordering::AcqRel) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let bus = Arc::clone(bus);
                runtime.spawn(async move { bus.listen_to_other_nodes().await });
            }
            // Outside a runtime there is nothing to listen on: try again next time.
            Err(_) => bus.asked_to_listen.store(false, Ordering::Release),
        }
    }

    /// The sessions' copies for a store outage, when the config keeps them. Before keeping
    /// one, call [`listen_to_other_nodes_soon`](Self::listen_to_other_nodes_soon), so that
    /// the other nodes' ends reach them too.
    pub(crate) fn outage_copies(&self) -> Option<&super::outage::OutageCopies> {
        self.copies.as_deref()
    }

    /// Tells every subscriber, here and on the other nodes. A failure to reach the other
    /// nodes is logged: they find out at their next store check.
    pub(crate) async fn publish(&self, event: LiveEvent) {
        if let Some(remote) = &self.remote {
            let message = Message {
                node: self.node.clone(),
                event: event.clone(),
            };
            if let Ok(bytes) = serde_json::to_vec(&message) {
                if let Err(err) = remote.publish(&self.channel, &bytes).await {
                    tracing::warn!(error = %err, "cannot broadcast an ended session");
                }
            }
        }
        if let Some(copies) = &self.copies {
            copies.apply(&event);
        }
        // No receivers is not an error: nobody is watching.
        let _ = self.local.send(event);
    }

    /// Subscribes to this node's events, and once per bus to the other nodes' events.
    async fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        let receiver = self.local.subscribe();
        self.listen_to_other_nodes().await;
        receiver
    }

    /// A subscriber of its own to the bus's events (see [`subscribe`](Self::subscribe)).
    pub(super) async fn events(self: &Arc<Self>) -> LiveEvents {
        LiveEvents(self.subscribe().await, Arc::clone(self))
    }

    /// Once per bus: the other nodes' events, delivered here as this node's own.
    async fn listen_to_other_nodes(&self) {
        let Some(remote) = &self.remote else {
            return;
        };
        if self.subscribed.initialized() {
            return;
        }
        self.subscribed
            .get_or_init(|| async {
                let (node, local) = (self.node.clone(), self.local.clone());
                let copies = self.copies.clone();
                let deliver = Arc::new(move |bytes: &[u8]| {
                    let event = if bytes.is_empty() {
                        LiveEvent::Missed
                    } else {
                        match serde_json::from_slice::<Message>(bytes) {
                            Ok(message) if message.node != node => message.event,
                            Ok(_) => return,
                            Err(err) => {
                                tracing::warn!(error = %err, "ignoring a live event");
                                return;
                            }
                        }
                    };
                    if let Some(copies) = &copies {
                        copies.apply(&event);
                    }
                    let _ = local.send(event);
                });
                if let Err(err) = remote.subscribe(&self.channel, deliver).await {
                    tracing::warn!(error = %err, "cannot subscribe to other nodes' events yet");
                }
            })
            .await;
    }
}

/// The stream of [`LiveEvent`]s from [`LiveSessions::events`](super::LiveSessions::events).
#[derive(Debug)]
pub struct LiveEvents(
    broadcast::Receiver<LiveEvent>,
    #[allow(dead_code)] Arc<LiveBus>,
);

impl LiveEvents {
    /// The next event if one is already there, without waiting.
    pub fn try_next(&mut self) -> Option<LiveEvent> {
        match self.0.try_recv() {
            Ok(event) => Some(event),
            Err(broadcast::error::TryRecvError::Lagged(_)) => Some(LiveEvent::Missed),
            Err(_) => None,
        }
    }

    /// The next event; [`LiveEvent::Missed`] when this subscriber fell behind.
    pub async fn next(&mut self) -> LiveEvent {
        loop {
            match self.0.recv().await {
                Ok(event) => return event,
                Err(broadcast::error::RecvError::Lagged(_)) => return LiveEvent::Missed,
                // The bus is held by this value, so its sender outlives the receiver.
                Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    }
}
