//! The simulation's invariants, checked after every step, and at the end
//! once faults have stopped.

use super::name;
use super::node::{Actor, Seen, SimNode};
use rustc_hash::FxHashMap;
use std::time::Duration;

/// How long an ask may take, faults and failovers included.
const ASK_BOUND: Duration = Duration::from_secs(60);

pub struct Checker {
    pub trace: Vec<String>,
    keep_all: bool,
    broken: Option<String>,
    pub run_ended: Option<String>,
    last_second: u64,
    actors: usize,
}

impl Checker {
    pub fn new(actors: usize, keep_all: bool) -> Checker {
        Checker { trace: Vec::new(), keep_all, broken: None, run_ended: None, last_second: 0, actors }
    }

    pub fn note(&mut self, now: Duration, line: String) {
        if !self.keep_all && self.trace.len() >= 4_000 {
            self.trace.drain(..2_000);
        }
        self.trace.push(format!("{:9.3} {line}", now.as_secs_f64()));
    }

    pub fn event(&mut self, now: Duration, _node: usize, e: Seen) {
        match e {
            Seen::Acked { actor, k, value, failed_before } => {
                if self.keep_all {
                    self.note(now, format!("ack {k} of acct-{actor} = {value}"));
                }
                let low = k.saturating_sub(failed_before) as i64;
                if value > k as i64 {
                    self.broken.get_or_insert(format!("ask {k} to acct-{actor} answered {value}: a turn was applied twice"));
                } else if value < low {
                    self.broken.get_or_insert(format!(
                        "ask {k} to acct-{actor} answered {value} (at least {low} expected): an acknowledged turn was lost"
                    ));
                }
            }
            Seen::Lost { actor } => self.note(now, format!("acct-{actor} lost (no copy reachable)")),
            Seen::RunEnded(why) => {
                self.note(now, format!("the run ended: {why}"));
                self.run_ended.get_or_insert(why);
            }
        }
    }

    pub fn after_step(&mut self, now: Duration, nodes: &[SimNode]) -> Result<(), String> {
        if let Some(b) = self.broken.take() {
            return Err(b);
        }
        // One actor, one generation, one node.
        let mut seen: FxHashMap<(Actor, u64), usize> = FxHashMap::default();
        for (i, n) in nodes.iter().enumerate().filter(|(_, n)| !n.crashed) {
            for (a, h) in &n.hosted {
                if let Some(j) = seen.insert((*a, h.rec.generation), i) {
                    return Err(format!("acct-{a} runs twice in generation {}: on {} and {}", h.rec.generation, name(j), name(i)));
                }
            }
        }
        let Some(home) = nodes[0].home.as_ref().filter(|h| !h.ended && h.started) else { return Ok(()) };
        // What was acknowledged is in the actor the directory names.
        for a in 0..self.actors {
            let (node, g) = home.directory[a];
            let Some(h) = nodes.get(node).filter(|n| !n.crashed).and_then(|n| n.hosted.get(&(a as Actor))) else { continue };
            if h.rec.generation == g && h.rec.value < home.last_ok[a] {
                return Err(format!(
                    "acct-{a} on {} (generation {g}) holds {}, but {} was acknowledged: a turn was lost",
                    name(node),
                    h.rec.value,
                    home.last_ok[a]
                ));
            }
        }
        if now.as_secs() > self.last_second {
            self.last_second = now.as_secs();
            for (a, ask) in home.asks.iter().enumerate() {
                if let Some(ask) = ask.as_ref().filter(|x| now.saturating_sub(x.since) > ASK_BOUND) {
                    return Err(format!("ask {} to acct-{a} (sent to {}) has waited {:?}", ask.k, name(ask.to), now - ask.since));
                }
            }
        }
        Ok(())
    }

    /// Faults stopped a while ago: membership and the directory agree.
    pub fn at_end(&mut self, _now: Duration, nodes: &[SimNode]) -> Result<(), String> {
        let live: Vec<usize> = (0..nodes.len()).filter(|i| !nodes[*i].crashed).collect();
        for &i in &live {
            let sees: Vec<usize> = nodes[i].up.iter().copied().collect();
            let want: Vec<usize> = live.iter().copied().filter(|j| *j != i).collect();
            if sees != want {
                let missing: Vec<String> = want.iter().filter(|j| !sees.contains(j)).map(|j| name(*j)).collect();
                let extra: Vec<String> = sees.iter().filter(|j| !want.contains(j)).map(|j| name(*j)).collect();
                return Err(format!("membership did not converge: {} misses {missing:?}, still has {extra:?}", name(i)));
            }
        }
        let Some(home) = nodes[0].home.as_ref().filter(|h| !h.ended && h.started) else { return Ok(()) };
        for a in 0..self.actors {
            if home.lost[a] {
                continue;
            }
            let (node, g) = home.directory[a];
            let hosted = nodes.get(node).filter(|n| !n.crashed).and_then(|n| n.hosted.get(&(a as Actor)));
            if hosted.is_none_or(|h| h.rec.generation != g) {
                return Err(format!("directory: acct-{a} is on {} in generation {g}, which does not run it", name(node)));
            }
            for &j in &live {
                if let Some(e) = nodes[j].directory.get(&(a as Actor)).filter(|e| **e != (node, g)) {
                    return Err(format!(
                        "directory: {} places acct-{a} on {} (generation {}), not on {}",
                        name(j),
                        name(e.0),
                        e.1,
                        name(node)
                    ));
                }
            }
        }
        Ok(())
    }
}
