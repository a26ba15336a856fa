//! Keep-majority (runtime.md §8): a node that finds itself on the smaller
//! side of a split stops what it runs, so the bigger side — which fails
//! those actors over — is the only one that runs them.
//!
//! Members declared down count against the side that lost them for a
//! settling time (about the failure detector's suspicion time): the members
//! of a split are not declared down all at once, and a side that dropped
//! them one by one from its count would think itself the majority on both
//! sides. After that they are forgotten, so a cluster that lost nodes one
//! at a time, each long after the other, keeps going on what is left.
//!
//! No clock inside: callers pass the time (a node its monotonic clock, the
//! simulation its virtual one).

use rustc_hash::FxHashMap;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Quorum {
    /// The other members: `None` while alive, `Some(when)` once declared down.
    members: FxHashMap<String, Option<Duration>>,
    settle: Duration,
}

impl Quorum {
    pub fn new(settle: Duration) -> Quorum {
        Quorum { members: FxHashMap::default(), settle }
    }

    pub fn up(&mut self, name: &str) {
        self.members.insert(name.to_string(), None);
    }

    /// A member left in good order: it no longer counts either way.
    pub fn left(&mut self, name: &str) {
        self.members.remove(name);
    }

    /// Membership declared `name` down at `now`: does this node (`me`)
    /// still belong to the majority?
    pub fn down(&mut self, me: &str, name: &str, now: Duration) -> bool {
        self.members.insert(name.to_string(), Some(now));
        self.has_majority(me, now, 0)
    }

    /// More than half of the members counted are alive here (`suspects`
    /// of them, not yet declared down, counted as lost); on an exact half,
    /// the side that holds the member whose name sorts first wins (both
    /// sides decide alike without talking).
    pub fn has_majority(&mut self, me: &str, now: Duration, suspects: usize) -> bool {
        let settle = self.settle;
        self.members.retain(|_, d| d.is_none_or(|t| now.saturating_sub(t) <= settle));
        let total = self.members.len() + 1;
        let alive = (1 + self.members.values().filter(|d| d.is_none()).count()).saturating_sub(suspects).max(1);
        if alive * 2 != total {
            return alive * 2 > total;
        }
        let first = self.members.keys().map(String::as_str).chain([me]).min().unwrap_or(me);
        first == me || self.members.get(first).is_some_and(Option::is_none)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(3);

    fn quorum(names: &[&str]) -> Quorum {
        let mut q = Quorum::new(S);
        for n in names {
            q.up(n);
        }
        q
    }

    #[test]
    fn one_lost_of_three_keeps_the_majority() {
        let mut q = quorum(&["b", "c"]);
        assert!(q.down("a", "c", Duration::ZERO));
    }

    #[test]
    fn the_smaller_side_of_a_split_knows_it_even_when_downs_come_one_by_one() {
        // {a, b} | {c, d, e}: a sees c, d, e go down one after the other.
        let mut q = quorum(&["b", "c", "d", "e"]);
        assert!(q.down("a", "c", Duration::from_millis(0)));
        assert!(q.down("a", "d", Duration::from_millis(400)));
        assert!(!q.down("a", "e", Duration::from_millis(900)));
        // The other side, seeing a and b go, keeps going.
        let mut q = quorum(&["a", "b", "d", "e"]);
        assert!(q.down("c", "a", Duration::from_millis(0)));
        assert!(q.down("c", "b", Duration::from_millis(500)));
    }

    #[test]
    fn a_tie_goes_to_the_side_of_the_first_name() {
        let mut left = quorum(&["b", "c", "d"]);
        left.down("a", "c", Duration::ZERO);
        assert!(left.down("a", "d", Duration::ZERO));
        let mut right = quorum(&["a", "b", "d"]);
        right.down("c", "a", Duration::ZERO);
        assert!(!right.down("c", "b", Duration::ZERO));
        // Two nodes: the survivor whose name sorts first goes on.
        assert!(quorum(&["z"]).down("a", "z", Duration::ZERO));
        assert!(!quorum(&["a"]).down("z", "a", Duration::ZERO));
    }

    #[test]
    fn losses_long_apart_are_each_a_minority() {
        // Four nodes lose one, then (long after) another, then another.
        let mut q = quorum(&["b", "c", "d"]);
        assert!(q.down("a", "d", Duration::ZERO));
        assert!(q.down("a", "c", S * 2));
        assert!(q.down("a", "b", S * 4));
    }

    #[test]
    fn members_that_left_do_not_count() {
        let mut q = quorum(&["b", "c", "d"]);
        q.left("c");
        q.left("d");
        assert!(!q.down("z", "b", Duration::ZERO));
        let mut q = quorum(&["b", "c", "d"]);
        q.left("c");
        assert!(q.down("a", "d", Duration::ZERO));
    }
}
