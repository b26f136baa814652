//! Open event streams per tenant in this API process, bounded by
//! `api.max_streams_per_tenant`: a tenant cannot hold an unbounded number of
//! connections and follower tasks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

/// The count of open streams by tenant.
#[derive(Debug, Clone, Default)]
pub struct Streams(Arc<Mutex<HashMap<Uuid, usize>>>);

/// One open stream; dropping it frees its place.
#[derive(Debug)]
pub struct Slot {
    streams: Streams,
    tenant: Uuid,
}

impl Streams {
    /// A place for one more stream of `tenant`, if it has fewer than `max`.
    pub fn open(&self, tenant: Uuid, max: usize) -> Option<Slot> {
        let mut open = self.0.lock().unwrap();
        let n = open.entry(tenant).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot { streams: self.clone(), tenant })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.streams.0.lock().unwrap();
        if let Some(n) = open.get_mut(&self.tenant) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_holds_at_most_max_and_a_closed_stream_frees_its_place() {
        let streams = Streams::default();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let first = streams.open(a, 2).unwrap();
        let _second = streams.open(a, 2).unwrap();
        assert!(streams.open(a, 2).is_none());
        assert!(streams.open(b, 2).is_some(), "another tenant is not limited by it");
        drop(first);
        assert!(streams.open(a, 2).is_some());
    }
}
