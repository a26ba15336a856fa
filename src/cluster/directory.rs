//! The name directory (runtime.md §6): with gossip membership, each name
//! is kept by one live node (`rules::directory_owner`), asked over the
//! wire; with etcd, in etcd (`etcd/directory.rs`). Also the claims on
//! failed-over durable actors, which only etcd keeps.

use super::agent::Agent;
use super::rules::directory_owner;
use crate::contain::lock;
use crate::runtime::remote::{Entry, Net, Wire};
use rustc_hash::FxHashMap;

impl Agent {
    pub(super) fn claim_name(&self, run: u128, name: &str, entry: &Entry) -> Result<(), String> {
        if let Some(p) = self.provider() {
            return p.claim(run, name, entry, p.lease_of(&self.home_of(run)));
        }
        let owner = self.owner(name);
        match self.call(&owner, |req| Wire::Claim { run, name: name.to_string(), entry: entry.clone(), req }) {
            Some(Wire::Claimed { result, .. }) => result,
            _ => Err(format!("the name directory (node {owner}) did not answer for \"{name}\"")),
        }
    }

    pub(super) fn find_name(&self, name: &str) -> Option<Entry> {
        if let Some(p) = self.provider() {
            return p.find(name);
        }
        let owner = self.owner(name);
        match self.call(&owner, |req| Wire::Find { name: name.to_string(), req }) {
            Some(Wire::Found { entry, .. }) => entry,
            _ => None,
        }
    }

    pub(super) fn release_name(&self, name: &str, id: u128) {
        if let Some(p) = self.provider() {
            return p.release(name, id);
        }
        let owner = self.owner(name);
        self.send(&owner, &Wire::Release { name: name.to_string(), id });
    }

    /// Failover: each (actor, generation, node) claimed (with etcd, won
    /// only by one claim; gossip has one coordinator per run and no claim
    /// to make).
    pub(super) fn own_actors(&self, run: u128, claims: &[(u128, u64, String)]) -> Vec<Result<(), String>> {
        match self.provider() {
            Some(p) => p.own_many(run, claims, p.lease_of(&self.home_of(run))),
            None => claims.iter().map(|_| Ok(())).collect(),
        }
    }

    pub(super) fn owner(&self, name: &str) -> String {
        // Every live node, draining or not (not `view`, which is for placement).
        let peers = self.state.peers();
        let live = peers.iter().filter(|(_, s)| s == "alive").map(|(m, _)| m.name.as_str());
        let me = Net::me(self);
        directory_owner(name, live.chain(std::iter::once(&**me))).unwrap_or(me).to_string()
    }

    /// The directory's side: answer a question about a name kept here.
    pub(super) fn answer(&self, w: Wire) -> Option<Wire> {
        let mut dir = lock(&self.directory);
        match w {
            Wire::Claim { run, name, entry, req } => {
                let result = match dir.get(&name) {
                    Some((_, e)) if e.id != entry.id => Err(format!("an actor named \"{name}\" is already running (on node {})", e.node)),
                    _ => {
                        dir.insert(name, (run, entry));
                        Ok(())
                    }
                };
                Some(Wire::Claimed { req, result })
            }
            Wire::Find { name, req } => Some(Wire::Found { req, entry: dir.get(&name).map(|(_, e)| e.clone()) }),
            Wire::Release { name, id } => {
                if dir.get(&name).is_some_and(|(_, e)| e.id == id) {
                    dir.remove(&name);
                }
                None
            }
            _ => None,
        }
    }

    /// The directory entry for `name`, if this node keeps it (with etcd:
    /// the one entry).
    pub fn entry(&self, name: &str) -> Option<Entry> {
        if let Some(p) = self.provider() {
            return p.find(name);
        }
        lock(&self.directory).get(name).map(|(_, e)| e.clone())
    }

    /// A run ended: its names are free.
    pub(super) fn forget_names(&self, run: u128) {
        lock(&self.directory).retain(|_, (r, _)| *r != run);
    }

    /// Register many names, all questions in flight at once; the names
    /// refused (or unanswered) and why.
    pub(super) fn claim_names(&self, run: u128, names: &[(String, Entry)]) -> Vec<(String, String)> {
        if let Some(p) = self.provider() {
            let lease = p.lease_of(&self.home_of(run));
            return p.claim_many(run, names, lease);
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let mut asked: FxHashMap<u64, &str> = FxHashMap::default();
        let mut refused = Vec::new();
        for (name, entry) in names {
            let owner = self.owner(name);
            let req = self.next_req();
            let w = Wire::Claim { run, name: name.clone(), entry: entry.clone(), req };
            if owner == **Net::me(self) {
                if let Some(Wire::Claimed { result: Err(e), .. }) = self.answer_claim(w) {
                    refused.push((name.clone(), e));
                }
                continue;
            }
            self.wait_for(req, tx.clone());
            asked.insert(req, name);
            self.send(&owner, &w);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !asked.is_empty() {
            let Ok(w) = rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) else { break };
            if let Wire::Claimed { req, result } = w {
                if let (Some(name), Err(e)) = (asked.remove(&req), result) {
                    refused.push((name.to_string(), e));
                }
            }
        }
        for (req, name) in asked {
            self.stop_waiting(req);
            refused.push((name.to_string(), "the name directory did not answer".into()));
        }
        refused
    }
}
