//! [`Broadcast`] over Redis pub/sub: messages reach every process sharing the Redis.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt as _;

use super::{map_error, RedisStore};
use crate::store::{Broadcast, Deliver, StoreError};

/// Longest wait for the subscriber's connection and its `SUBSCRIBE` reply.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// First and longest pause before the subscriber reconnects.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// Publishes with the store's connection; each subscription holds a connection of its own
/// on a background thread.
pub(super) struct RedisBroadcast {
    store: RedisStore,
}

impl RedisBroadcast {
    pub(super) fn new(store: RedisStore) -> Self {
        Self { store }
    }

    fn channel(&self, channel: &str) -> String {
        format!("{}:__channel:{channel}", self.store.prefix)
    }
}

#[async_trait]
impl Broadcast for RedisBroadcast {
    async fn publish(&self, channel: &str, message: &[u8]) -> Result<(), StoreError> {
        let mut cmd = ::redis::cmd("PUBLISH");
        cmd.arg(self.channel(channel)).arg(message);
        self.store.conn.query::<i64>(&cmd).await.map(drop)
    }

    async fn subscribe(&self, channel: &str, deliver: Deliver) -> Result<(), StoreError> {
        let client = self.store.subscriber.clone();
        let channel = self.channel(channel);
        let (first, first_result) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("pow-redis-subscriber".to_owned())
            .spawn(move || listen_forever(&client, &channel, &*deliver, first))
            .map_err(|err| StoreError::Backend(format!("cannot start a thread: {err}")))?;
        first_result.await.unwrap_or_else(|_| {
            Err(StoreError::Backend(
                "the Redis subscriber stopped".to_owned(),
            ))
        })
    }
}

/// Runs on its own thread and runtime, so that no request worker's runtime has to host it:
/// subscribes, delivers, and reconnects with a growing pause after every failure. `first`
/// learns how the first attempt went; after every later reconnection `deliver` gets an
/// empty message (messages may have been missed meanwhile).
fn listen_forever(
    client: &::redis::Client,
    channel: &str,
    deliver: &(dyn Fn(&[u8]) + Send + Sync),
    first: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            let _ = first.send(Err(StoreError::Backend(format!(
                "cannot start the Redis subscriber runtime: {err}"
            ))));
            return;
        }
    };
    runtime.block_on(async {
        let mut pause = RETRY_MIN;
        let mut first = Some(first);
        loop {
            let result = listen(client, channel, deliver, &mut first, &mut pause).await;
            if let (Err(err), Some(first)) = (&result, first.take()) {
                let _ = first.send(Err(StoreError::Unavailable(err.to_string())));
            }
            match result {
                Ok(()) => tracing::warn!(channel, "Redis subscription closed, reconnecting"),
                Err(err) => tracing::warn!(channel, error = %err, "Redis subscription failed"),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RETRY_MAX);
        }
    });
}

async fn listen(
    client: &::redis::Client,
    channel: &str,
    deliver: &(dyn Fn(&[u8]) + Send + Sync),
    first: &mut Option<tokio::sync::oneshot::Sender<Result<(), StoreError>>>,
    pause: &mut Duration,
) -> Result<(), StoreError> {
    let subscribed = tokio::time::timeout(CONNECT_TIMEOUT, async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok::<_, ::redis::RedisError>(pubsub)
    })
    .await
    .map_err(|_| StoreError::Unavailable("timed out subscribing to Redis".to_owned()))?
    .map_err(map_error)?;
    *pause = RETRY_MIN;
    match first.take() {
        Some(first) => {
            let _ = first.send(Ok(()));
        }
        None => deliver(&[]),
    }
    let mut messages = subscribed.into_on_message();
    while let Some(message) = messages.next().await {
        deliver(message.get_payload_bytes());
    }
    Ok(())
}
