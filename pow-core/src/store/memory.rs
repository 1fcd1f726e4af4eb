//! In-memory store. (Being written.)
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{Key, KeyPattern, Record, Store, StoreError};

/// In-memory store.
#[derive(Debug, Default)]
pub struct MemoryStore;

impl MemoryStore {
    /// A new shared store.
    pub fn shared() -> Arc<dyn Store> {
        Arc::new(Self)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn put(&self, _n: &str, _r: Vec<Record>, _t: Option<Duration>) -> Result<(), StoreError> {
        Ok(())
    }
    async fn get(&self, _n: &str, _k: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(None)
    }
    async fn delete(&self, _n: &str, _k: &Key) -> Result<(), StoreError> {
        Ok(())
    }
    async fn all(&self, _n: &str, _p: &[KeyPattern]) -> Result<Vec<Record>, StoreError> {
        Ok(Vec::new())
    }
}
