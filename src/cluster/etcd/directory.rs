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
use super::{Etcd, Kv, MAX_TXN};
use crate::runtime::remote::Entry;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// How often a claim that lost a race reads the key again.
const TRIES: usize = 3;

/// A key to write: (key, the revision it was listed at, or 0; value).
type Write = (String, i64, Vec<u8>);

/// Transactions in flight at once in a batch of claims.
const IN_FLIGHT: usize = 4;

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
            // Most names are new: one round trip.
            let Some(now) = self.dir.create_or_get(&key, &value, lease)? else { return Ok(()) };
            if let Ok(held) = serde_json::from_slice::<Named>(&now.value) {
                if held.entry.id != entry.id {
                    return Err(format!("an actor named \"{name}\" is already running (on node {})", held.entry.node));
                }
            }
            if self.dir.put_if(&key, now.mod_revision, &value, lease)? {
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

    /// `claim` for many names at once (a failover's): one listing, many
    /// names per transaction; the names refused and why.
    pub fn claim_many(&self, run: u128, names: &[(String, Entry)], lease: i64) -> Vec<(String, String)> {
        let held = match self.dir.list("names/") {
            Ok(kvs) => by_last_part(kvs, "/names/"),
            Err(e) => return names.iter().map(|(n, _)| (n.clone(), e.clone())).collect(),
        };
        let mut results = vec![Ok(()); names.len()];
        let mut wanted = Vec::new();
        for (i, (name, entry)) in names.iter().enumerate() {
            let kv = held.get(name.as_str());
            if let Some(h) = kv.and_then(|kv| serde_json::from_slice::<Named>(&kv.value).ok()).filter(|h| h.entry.id != entry.id) {
                results[i] = Err(format!("an actor named \"{name}\" is already running (on node {})", h.entry.node));
                continue;
            }
            match serde_json::to_vec(&Named { run: format!("{run:032x}"), entry: entry.clone() }) {
                Ok(v) => wanted.push((i, (name_key(name), kv.map_or(0, |kv| kv.mod_revision), v))),
                Err(e) => results[i] = Err(e.to_string()),
            }
        }
        put_many(&self.dir, lease, wanted, &mut results, |i| self.claim(run, &names[i].0, &names[i].1, lease));
        names.iter().zip(results).filter_map(|((n, _), r)| r.err().map(|e| (n.clone(), e))).collect()
    }

    /// Claim each (actor id, generation, node) of `run`, as `claim_actor`
    /// does, many per transaction: each claim's result.
    pub fn own_many(&self, run: u128, claims: &[(u128, u64, String)], lease: i64) -> Vec<Result<(), String>> {
        let held = match self.dir.list(&format!("actors/{run:032x}/")) {
            Ok(kvs) => by_last_part(kvs, "/"),
            Err(e) => return claims.iter().map(|_| Err(e.clone())).collect(),
        };
        let mut results = vec![Ok(()); claims.len()];
        let mut wanted = Vec::new();
        for (i, (id, generation, node)) in claims.iter().enumerate() {
            let kv = held.get(format!("{id:032x}").as_str());
            if let Some(h) = kv.and_then(|kv| serde_json::from_slice::<Owned>(&kv.value).ok()).filter(|h| h.generation >= *generation) {
                results[i] = Err(format!("generation {} is already claimed (for node {})", h.generation, h.node));
                continue;
            }
            match serde_json::to_vec(&Owned { generation: *generation, node: node.clone() }) {
                Ok(v) => wanted.push((i, (actor_key(run, *id), kv.map_or(0, |kv| kv.mod_revision), v))),
                Err(e) => results[i] = Err(e.to_string()),
            }
        }
        put_many(&self.dir, lease, wanted, &mut results, |i| {
            let (id, generation, node) = &claims[i];
            claim_actor(&self.dir, run, *id, *generation, node, lease)
        });
        results
    }
}

fn actor_key(run: u128, id: u128) -> String {
    format!("actors/{run:032x}/{id:032x}")
}

/// Listed keys by what follows the last `sep` in them.
fn by_last_part(kvs: Vec<Kv>, sep: &str) -> FxHashMap<String, Kv> {
    kvs.into_iter().filter_map(|kv| Some((kv.key.rsplit_once(sep)?.1.to_string(), kv))).collect()
}

/// Write `wanted` (item index, (key, revision listed, value)) by
/// compare-and-swap, `MAX_TXN` keys per transaction, `IN_FLIGHT`
/// transactions at once (etcd commits concurrent ones together: about
/// three times the keys per second of one at a time); the items of a
/// transaction that lost a race (or failed) are claimed one by one with
/// `one`, which reads each key again.
fn put_many(
    etcd: &Etcd,
    lease: i64,
    wanted: Vec<(usize, Write)>,
    results: &mut [Result<(), String>],
    one: impl Fn(usize) -> Result<(), String> + Sync,
) {
    let chunks: Vec<&[(usize, Write)]> = wanted.chunks(MAX_TXN).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done: Vec<(usize, Result<(), String>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..IN_FLIGHT.min(chunks.len()))
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    while let Some(chunk) = chunks.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                        let items: Vec<Write> = chunk.iter().map(|(_, kv)| kv.clone()).collect();
                        if etcd.put_all_if(&items, lease) != Ok(true) {
                            out.extend(chunk.iter().map(|(i, _)| (*i, one(*i))));
                        }
                    }
                    out
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap_or_default()).collect()
    });
    for (i, r) in done {
        results[i] = r;
    }
}

/// Claim generation `generation` of durable actor `id` of `run` for
/// `node`: refused if that generation or a later one was claimed already
/// (by this claim's rival, say). Of claims made at once, exactly one wins.
pub fn claim_actor(etcd: &Etcd, run: u128, id: u128, generation: u64, node: &str, lease: i64) -> Result<(), String> {
    let key = actor_key(run, id);
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
