//! The decisions of the cluster's fault handling, as plain functions with
//! no socket, thread or clock: where a name's directory entry and copies
//! live, which copy a failover restores, which copy a holder refuses, and
//! which asks a durable actor has applied. The nodes (`agent.rs`,
//! `replicas.rs`, `runtime/failover.rs`, `runtime/persist.rs`) and the
//! deterministic simulation (`sim/`) both call these, so what the
//! simulation proves is about the code that runs.

use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::hash::Hash;

/// The rendezvous hash of `name` on `node`: the highest wins.
pub fn directory_rank(name: &str, node: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes().chain([0xff]).chain(node.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    // A final mix: FNV alone is weak in its high bits.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// The node keeping `name` in the directory: the live node with the
/// highest hash of (name, node) — rendezvous hashing, so a node joining or
/// leaving moves only its share of the names.
pub fn directory_owner<'a>(name: &str, nodes: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    nodes.max_by_key(|n| directory_rank(name, n))
}

/// The nodes that keep copies of `name`'s records: the `copies` live nodes
/// (the actor's own excluded by the caller) ranked first for the name, so
/// the copies stay put while membership does.
pub fn copy_nodes<'a>(name: &str, live: impl Iterator<Item = &'a str>, copies: usize) -> Vec<&'a str> {
    let mut live: Vec<&str> = live.collect();
    live.sort_by_key(|n| std::cmp::Reverse(directory_rank(name, n)));
    live.truncate(copies);
    live
}

/// Fencing at a copy holder: a copy older than the one kept comes from an
/// incarnation that was failed over, and is refused.
pub fn accepts_copy(kept_generation: Option<u64>, generation: u64) -> bool {
    kept_generation.is_none_or(|k| generation >= k)
}

/// Failover's choice among the copies found: per actor, the newest
/// (highest generation, then latest commit) and who holds it.
pub struct Newest<K, H> {
    best: FxHashMap<K, (H, u64, f64)>,
}

impl<K: Hash + Eq, H> Default for Newest<K, H> {
    fn default() -> Self {
        Newest { best: FxHashMap::default() }
    }
}

impl<K: Hash + Eq, H> Newest<K, H> {
    pub fn offer(&mut self, id: K, holder: H, generation: u64, committed_at: f64) {
        let newer = |b: &(H, u64, f64)| (generation, committed_at) > (b.1, b.2);
        if self.best.get(&id).is_none_or(newer) {
            self.best.insert(id, (holder, generation, committed_at));
        }
    }

    /// Actor → (holder, generation, commit time) of its newest copy.
    pub fn into_map(self) -> FxHashMap<K, (H, u64, f64)> {
        self.best
    }
}

/// Exactly once: a durable actor's marks (per sender, the last sequence
/// number applied) and the replies of each sender's latest asks. Part of
/// its record, so a restored actor knows what it already applied.
#[derive(Clone, Debug)]
pub struct Applied<S, R> {
    pub marks: FxHashMap<S, u64>,
    pub replies: FxHashMap<S, VecDeque<(u64, R)>>,
}

/// Replies kept per sender: enough for the asks one sender has in flight
/// to one actor at a time in practice (more are answered with an error).
pub const KEPT_REPLIES: usize = 16;

impl<S, R> Default for Applied<S, R> {
    fn default() -> Self {
        Applied { marks: FxHashMap::default(), replies: FxHashMap::default() }
    }
}

impl<S: Hash + Eq + Clone, R: Clone> Applied<S, R> {
    /// Is message `seq` of `sender` not in the state yet?
    pub fn is_new<Q>(&self, sender: &Q, seq: u64) -> bool
    where
        S: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.marks.get(sender).is_none_or(|m| *m < seq)
    }

    /// The reply an applied ask gave, if it is still kept.
    pub fn kept_reply<Q>(&self, sender: &Q, seq: u64) -> Option<R>
    where
        S: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.replies.get(sender)?.iter().find(|(n, _)| *n == seq).map(|(_, r)| r.clone())
    }

    /// Message `seq` of `sender` was applied (an ask with its `reply`).
    pub fn apply(&mut self, sender: S, seq: u64, reply: Option<R>) {
        if let Some(r) = reply {
            let q = self.replies.entry(sender.clone()).or_default();
            if q.len() >= KEPT_REPLIES {
                q.pop_front();
            }
            q.push_back((seq, r));
        }
        self.marks.insert(sender, seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_is_answered_with_the_kept_reply() {
        let mut a: Applied<String, i64> = Applied::default();
        assert!(a.is_new("main", 1));
        a.apply("main".into(), 1, Some(10));
        assert!(!a.is_new("main", 1));
        assert_eq!(a.kept_reply("main", 1), Some(10));
        for s in 2..=20 {
            a.apply("main".into(), s, Some(s as i64));
        }
        assert_eq!(a.kept_reply("main", 1), None, "only the latest {KEPT_REPLIES} are kept");
        assert_eq!(a.kept_reply("main", 20), Some(20));
    }

    #[test]
    fn the_newest_copy_wins_by_generation_then_commit_time() {
        let mut n: Newest<u32, &str> = Newest::default();
        n.offer(1, "a", 1, 9.0);
        n.offer(1, "b", 2, 1.0);
        n.offer(1, "c", 2, 0.5);
        assert_eq!(n.into_map()[&1].0, "b");
    }

    #[test]
    fn older_generations_are_fenced() {
        assert!(accepts_copy(None, 1));
        assert!(accepts_copy(Some(2), 2));
        assert!(!accepts_copy(Some(3), 2));
    }

    #[test]
    fn copies_go_to_the_nodes_ranked_first_and_stay_there() {
        let nodes = ["n1", "n2", "n3", "n4", "n5"];
        let two = copy_nodes("acct-1", nodes.iter().copied(), 2);
        assert_eq!(two.len(), 2);
        // Losing a node that holds no copy moves nothing.
        let spare = nodes.iter().copied().find(|n| !two.contains(n)).unwrap();
        assert_eq!(copy_nodes("acct-1", nodes.iter().copied().filter(|n| *n != spare), 2), two);
    }
}
