//! The queues: one per kind of work. Every kind names one of these; workers
//! consume all of them unless `worker.queues` says otherwise.

use serde::{Deserialize, Serialize};

/// A queue of work. Its name is stored on every job row and used in Redis
/// keys and the `worker.queues` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Queue {
    Chat,
    Knowledge,
    Embed,
    Search,
    Tool,
    Webhook,
    Maintenance,
}

impl Queue {
    /// Every queue, in the order workers start their consumers.
    pub const ALL: [Queue; 7] =
        [Self::Chat, Self::Knowledge, Self::Embed, Self::Search, Self::Tool, Self::Webhook, Self::Maintenance];

    /// The queues whose jobs read or write the vector store directly. With
    /// the embedded engine, one worker process consumes both or neither.
    pub const VECTOR: [Queue; 2] = [Self::Embed, Self::Search];

    /// The queues whose jobs never open the vector store: chat retrieval
    /// and `knowledge_search` reach it through `search` jobs when their
    /// process has no store, so these run on any number of workers.
    pub const NON_VECTOR: [Queue; 5] = [Self::Chat, Self::Knowledge, Self::Tool, Self::Webhook, Self::Maintenance];

    /// The stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Knowledge => "knowledge",
            Self::Embed => "embed",
            Self::Search => "search",
            Self::Tool => "tool",
            Self::Webhook => "webhook",
            Self::Maintenance => "maintenance",
        }
    }

    /// The queue called `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|q| q.as_str() == name)
    }
}

impl std::fmt::Display for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Queue;

    #[test]
    fn names_round_trip_and_vector_split_covers_all() {
        for q in Queue::ALL {
            assert_eq!(Queue::parse(q.as_str()), Some(q));
        }
        let mut both: Vec<Queue> = Queue::VECTOR.into_iter().chain(Queue::NON_VECTOR).collect();
        both.sort();
        let mut all = Queue::ALL.to_vec();
        all.sort();
        assert_eq!(both, all);
        assert_eq!(Queue::parse("nope"), None);
    }
}
