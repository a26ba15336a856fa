//! Where actor checkpoints live. A checkpoint is the actor's `state` fields
//! as a `Packet` (plain data, serialisable). This issue keeps them in memory;
//! the redb store implements the same trait.

use super::lock;
use crate::vm::portable::Packet;
use rustc_hash::FxHashMap;
use std::sync::Mutex;

pub trait CheckpointStore: Send + Sync {
    /// Replace the actor's checkpoint.
    fn save(&self, actor: uuid::Uuid, state: Packet) -> Result<(), String>;
    /// The newest checkpoint, if any.
    fn load(&self, actor: uuid::Uuid) -> Result<Option<Packet>, String>;
    /// Forget a stopped actor.
    fn remove(&self, actor: uuid::Uuid);
}

#[derive(Default)]
pub struct MemoryStore {
    map: Mutex<FxHashMap<uuid::Uuid, Packet>>,
}

impl CheckpointStore for MemoryStore {
    fn save(&self, actor: uuid::Uuid, state: Packet) -> Result<(), String> {
        lock(&self.map).insert(actor, state);
        Ok(())
    }
    fn load(&self, actor: uuid::Uuid) -> Result<Option<Packet>, String> {
        Ok(lock(&self.map).get(&actor).cloned())
    }
    fn remove(&self, actor: uuid::Uuid) {
        lock(&self.map).remove(&actor);
    }
}
