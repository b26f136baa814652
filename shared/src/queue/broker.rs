//! One handle on Redis: commands, apalis queue storages, and the names of
//! every key and channel (all under the configured namespace).

use apalis::prelude::TaskSink;
use apalis_redis::{Config as ApalisConfig, ConnectionManager, RedisStorage};
use futures::StreamExt;
use redis::AsyncCommands;
use uuid::Uuid;

use super::JobMessage;
use crate::domain::JobEventView;

/// The apalis storage of one queue.
pub type QueueStorage = RedisStorage<JobMessage>;

#[derive(Clone)]
pub struct Broker {
    client: redis::Client,
    conn: ConnectionManager,
    namespace: String,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker").field("namespace", &self.namespace).finish()
    }
}

impl Broker {
    /// Connects; the connection manager reconnects by itself after outages.
    pub async fn connect(url: &str, namespace: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(std::time::Duration::from_secs(2)))
            .set_response_timeout(Some(std::time::Duration::from_secs(5)))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client.clone(), config).await?;
        Ok(Self { client, conn, namespace: namespace.to_string() })
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// A command connection (cheap clone of the shared manager).
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The apalis queue name of `queue`.
    pub fn queue_name(&self, queue: &str) -> String {
        format!("{}:q:{}", self.namespace, queue)
    }

    /// The apalis storage of `queue`, with Chorus's heartbeat settings.
    pub fn storage(&self, queue: &str) -> QueueStorage {
        self.storage_with_batch(queue, 1)
    }

    /// The storage a consumer uses: it fetches up to `batch` messages at a
    /// time (its concurrency, so nothing waits in a worker's memory).
    pub fn storage_with_batch(&self, queue: &str, batch: usize) -> QueueStorage {
        let config = ApalisConfig::default()
            .batch_size(batch.max(1))
            .queue(self.queue_name(queue))
            .heartbeat_interval(std::time::Duration::from_secs(5))
            .missed_heartbeats(3);
        RedisStorage::new(self.conn.clone()).with_config(config)
    }

    /// Pushes one message into `queue`.
    pub async fn push(&self, queue: &str, message: JobMessage) -> anyhow::Result<()> {
        self.storage(queue).push(message).await.map_err(|e| anyhow::anyhow!("push to {queue}: {e}"))
    }

    /// Pushes many messages into `queue` in one round trip (apalis's batch
    /// push script: all of them or none).
    pub async fn push_many(&self, queue: &str, messages: Vec<JobMessage>) -> anyhow::Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        self.storage(queue).push_bulk(messages).await.map_err(|e| anyhow::anyhow!("push to {queue}: {e}"))
    }

    /// Channel on which the dispatcher announces new messages in `queue`,
    /// so idle consumers fetch at once instead of at their next poll.
    pub fn wake_channel(&self, queue: &str) -> String {
        format!("{}:wake:{}", self.namespace, queue)
    }

    /// Wakes the consumers of `queue` (best effort: they also poll).
    pub async fn wake(&self, queue: &str) {
        let mut conn = self.conn.clone();
        if let Err(e) = conn.publish::<_, _, ()>(self.wake_channel(queue), 1).await {
            tracing::debug!(queue, error = %e, "wake not published");
        }
    }

    /// Channel of one job's events.
    pub fn job_channel(&self, job_id: Uuid) -> String {
        format!("{}:job:{}", self.namespace, job_id)
    }

    /// Channel on which cancellations are announced to workers.
    pub fn cancel_channel(&self) -> String {
        format!("{}:cancel", self.namespace)
    }

    /// Channel on which revoked API keys are announced to API processes.
    pub fn keys_channel(&self) -> String {
        format!("{}:keys:revoked", self.namespace)
    }

    /// Announces that API key `key_id` was revoked.
    pub async fn publish_key_revoked(&self, key_id: Uuid) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        conn.publish(self.keys_channel(), key_id.to_string()).await
    }

    /// Publishes a job event to its channel (best effort: SSE readers also
    /// poll Postgres, so a lost message only delays them).
    pub async fn publish_event(&self, event: &JobEventView) {
        self.publish_events(std::slice::from_ref(event)).await;
    }

    /// Publishes many job events in one round trip (a pipeline), best
    /// effort: SSE readers also poll Postgres.
    pub async fn publish_events(&self, events: &[JobEventView]) {
        if events.is_empty() {
            return;
        }
        let mut pipe = redis::pipe();
        for event in events {
            let body = serde_json::to_string(event).expect("event serializes");
            pipe.publish(self.job_channel(event.job_id), body).ignore();
        }
        let mut conn = self.conn.clone();
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            tracing::warn!(events = events.len(), error = %e, "job events not published");
        }
    }

    /// Announces that `job_id` was asked to cancel.
    pub async fn publish_cancel(&self, job_id: Uuid) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        conn.publish(self.cancel_channel(), job_id.to_string()).await
    }

    /// A stream of the payloads published on `channel`.
    pub async fn subscribe(
        &self,
        channel: &str,
    ) -> redis::RedisResult<impl futures::Stream<Item = String> + Send + 'static> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok(pubsub.into_on_message().filter_map(|m| async move { m.get_payload::<String>().ok() }))
    }

    /// Deletes the Redis data of finished messages of `queue`: apalis's own
    /// vacuum (payloads and metadata), plus its `done` set, which apalis
    /// never trims. Returns how many messages were removed.
    pub async fn vacuum(&self, queue: &str) -> anyhow::Result<usize> {
        use apalis_core::backend::Vacuum;
        let mut storage = self.storage(queue);
        let removed = storage.vacuum().await.map_err(|e| anyhow::anyhow!("vacuum {queue}: {e}"))?;
        let mut conn = self.conn.clone();
        let config = storage.get_config();
        redis::pipe().del(config.done_jobs_set()).del(config.dead_jobs_set()).query_async::<()>(&mut conn).await?;
        Ok(removed)
    }

    /// Whether Redis lost what Chorus gave it since the last call (a restart
    /// without persistence, a failover to an empty replica, a flush): every
    /// message in transit went with it. A marker key is set when missing,
    /// so the first call on a fresh Redis also answers `true`, and of
    /// processes that ask at once only one hears it.
    pub async fn lost_data(&self) -> redis::RedisResult<bool> {
        let mut conn = self.conn.clone();
        let set: Option<String> =
            redis::cmd("SET").arg(format!("{}:epoch", self.namespace)).arg(1).arg("NX").query_async(&mut conn).await?;
        Ok(set.is_some())
    }

    /// Liveness of Redis, for `/readyz`.
    pub async fn ping(&self) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<String>(&mut conn).await.map(|_| ())
    }
}
