//! The name directory and the ownership of failed-over durable actors,
//! kept in etcd by the consistent provider.
//!
//! `names/NAME` holds the run and the directory entry; `actors/RUN/ID`
//! the generation a failover claimed and the node it went to. Both are
//! written by compare-and-swap on the key's last revision, so of two
//! claims made at once exactly one wins, and both are attached to the
//! lease of the run's home: a run whose home died has ended, and its keys
//! go with that lease (a run that ends in good order deletes them).

use super::provider::Provider;
use super::Etcd;
use crate::runtime::remote::Entry;
use serde::{Deserialize, Serialize};

/// How often a claim that lost a race reads the key again.
const TRIES: usize = 3;

#[derive(Serialize, Deserialize)]
struct Named {
    run: String,
    entry: Entry,
}

#[derive(Serialize, Deserialize)]
struct Owned {
    generation: u64,
    node: String,
}

fn name_key(name: &str) -> String {
    format!("names/{name}")
}

impl Provider {
    /// Register `name` for actor `entry.id` of `run` (refused if another
    /// actor holds it).
    pub fn claim(&self, run: u128, name: &str, entry: &Entry, lease: i64) -> Result<(), String> {
        let key = name_key(name);
        let value = serde_json::to_vec(&Named { run: format!("{run:032x}"), entry: entry.clone() }).map_err(|e| e.to_string())?;
        for _ in 0..TRIES {
            let now = self.dir.get(&key)?;
            if let Some(held) = now.as_ref().and_then(|kv| serde_json::from_slice::<Named>(&kv.value).ok()) {
                if held.entry.id != entry.id {
                    return Err(format!("an actor named \"{name}\" is already running (on node {})", held.entry.node));
                }
            }
            if self.dir.put_if(&key, now.map_or(0, |kv| kv.mod_revision), &value, lease)? {
                return Ok(());
            }
        }
        Err(format!("the name \"{name}\" is being claimed by another node"))
    }

    pub fn find(&self, name: &str) -> Option<Entry> {
        let kv = self.dir.get(&name_key(name)).ok()??;
        serde_json::from_slice::<Named>(&kv.value).ok().map(|n| n.entry)
    }

    /// Free `name` if actor `id` holds it.
    pub fn release(&self, name: &str, id: u128) {
        let key = name_key(name);
        if let Ok(Some(kv)) = self.dir.get(&key) {
            if serde_json::from_slice::<Named>(&kv.value).is_ok_and(|n| n.entry.id == id) {
                let _ = self.dir.delete_if(&key, kv.mod_revision);
            }
        }
    }

    /// Run `run` ended: its names and claims go.
    pub fn forget_run(&self, run: u128) {
        let tag = format!("{run:032x}");
        if let Ok(kvs) = self.dir.list("names/") {
            for kv in kvs {
                if serde_json::from_slice::<Named>(&kv.value).is_ok_and(|n| n.run == tag) {
                    let name = kv.key.rsplit_once("/names/").map_or("", |(_, n)| n);
                    let _ = self.dir.delete_if(&name_key(name), kv.mod_revision);
                }
            }
        }
        let _ = self.dir.delete_all(&format!("actors/{tag}/"));
    }

    /// Claim generation `generation` of actor `id` of `run` for `node`.
    pub fn own(&self, run: u128, id: u128, generation: u64, node: &str, lease: i64) -> Result<(), String> {
        claim_actor(&self.dir, run, id, generation, node, lease)
    }
}

/// Claim generation `generation` of durable actor `id` of `run` for
/// `node`: refused if that generation or a later one was claimed already
/// (by this claim's rival, say). Of claims made at once, exactly one wins.
pub fn claim_actor(etcd: &Etcd, run: u128, id: u128, generation: u64, node: &str, lease: i64) -> Result<(), String> {
    let key = format!("actors/{run:032x}/{id:032x}");
    let value = serde_json::to_vec(&Owned { generation, node: node.to_string() }).map_err(|e| e.to_string())?;
    for _ in 0..TRIES {
        let now = etcd.get(&key)?;
        if let Some(held) = now.as_ref().and_then(|kv| serde_json::from_slice::<Owned>(&kv.value).ok()) {
            if held.generation >= generation {
                return Err(format!("generation {} is already claimed (for node {})", held.generation, held.node));
            }
        }
        if etcd.put_if(&key, now.map_or(0, |kv| kv.mod_revision), &value, lease)? {
            return Ok(());
        }
    }
    Err(format!("generation {generation} is being claimed by another node"))
}
