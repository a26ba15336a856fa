//! Durable records across the cluster (runtime.md §7–§8): spawning a
//! durable name resumes its newest record wherever in the cluster it is
//! kept. Each node answers for the records it keeps — a `noodle node` its
//! data directory's store, a program's node the program's own — and hands
//! one over when the actor is placed on another node.

use super::agent::Agent;
use crate::runtime::durable::{Record, Records, FILE};
use crate::runtime::remote::Wire;
use std::sync::Arc;

impl Agent {
    /// The record stores this node keeps that exist on disk (none is
    /// created by asking).
    fn stores(&self) -> Vec<Arc<Records>> {
        let mut out = Vec::new();
        if self.data.as_ref().is_some_and(|d| d.join(FILE).exists()) {
            if let Ok(r) = self.record_store() {
                out.push(r);
            }
        }
        for run in self.runs().iter().filter(|n| n.home.is_none()) {
            if run.data.as_ref().is_some_and(|d| d.join(FILE).exists()) {
                if let Ok(r) = run.records_shared() {
                    out.push(r);
                }
            }
        }
        out
    }

    /// Answer a question about the records kept here.
    pub(super) fn answer_records(&self, w: Wire) -> Option<Wire> {
        match w {
            Wire::RecordQuery { name, req } => {
                let newest = self.stores().iter().filter_map(|s| s.load(&name).ok()?.record).max_by(newer);
                Some(Wire::RecordAt {
                    req,
                    committed_at: newest.as_ref().map(|r| r.committed_at),
                    generation: newest.map_or(0, |r| r.generation),
                })
            }
            Wire::TakeRecord { name, req } => {
                let stores = self.stores();
                let newest =
                    stores.iter().filter_map(|s| s.load(&name).ok()?.record.map(|r| (s.clone(), r))).max_by(|a, b| newer(&a.1, &b.1));
                let record = newest.map(|(s, r)| {
                    let _ = s.remove(&name);
                    Box::new(r)
                });
                Some(Wire::Taken { req, record })
            }
            _ => None,
        }
    }

    /// Ask every live node for its newest record of `name`: the node with
    /// the newest of all.
    pub(super) fn newest_record(&self, name: &str) -> Option<String> {
        let peers = self.state.peers();
        let live = peers.iter().filter(|(_, s)| s == "alive").map(|(m, _)| m.name.clone());
        let mut best: Option<((u64, f64), String)> = None;
        for node in std::iter::once(self.state.me.name.clone()).chain(live) {
            let at = match self.call(&node, |req| Wire::RecordQuery { name: name.to_string(), req }) {
                Some(Wire::RecordAt { committed_at: Some(t), generation, .. }) => (generation, t),
                _ => continue,
            };
            if best.as_ref().is_none_or(|(b, _)| at > *b) {
                best = Some((at, node));
            }
        }
        best.map(|(_, n)| n)
    }

    pub(super) fn take_record_from(&self, node: &str, name: &str) -> Option<Record> {
        match self.call(node, |req| Wire::TakeRecord { name: name.to_string(), req }) {
            Some(Wire::Taken { record, .. }) => record.map(|r| *r),
            _ => None,
        }
    }
}

/// Which of two records of one actor is newer: the later generation (a
/// restore bumps it), then the later commit.
fn newer(a: &Record, b: &Record) -> std::cmp::Ordering {
    a.generation.cmp(&b.generation).then(a.committed_at.total_cmp(&b.committed_at))
}
