//! Moving every actor off a node: `noodle cluster drain NODE`, and a node
//! leaving on SIGINT/SIGTERM. The node stops taking actors (its load says
//! `draining`, which placement honours), then asks each actor running on it
//! to move where the placement engine puts it among the other nodes
//! (`runtime/migrate.rs`: checkpoint, stop, restore there, queued messages
//! forwarded in order).

use super::agent::Agent;
use super::node::Msg;
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What a drain did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Drained {
    /// Actors that moved to other nodes.
    pub moved: u64,
    /// Actors still here, each with why.
    pub left: Vec<String>,
}

impl Agent {
    /// Move every actor running here to other nodes, waiting at most
    /// `within` for them to go.
    pub fn move_all(&self, within: Duration) -> Drained {
        self.draining.store(true, Ordering::SeqCst);
        self.broadcast(&Msg::Load(self.load(self.busy())));
        let mut asked = Vec::new();
        for run in self.runs() {
            for cell in run.local_cells() {
                if run.request_move(cell.id, None) {
                    asked.push((run.clone(), cell));
                }
            }
        }
        let deadline = Instant::now() + within;
        let settled = |c: &crate::runtime::ActorCell| {
            use crate::runtime::CellExt;
            c.mb().at().is_some() || c.mb().stopped.load(Ordering::Acquire)
        };
        while Instant::now() < deadline && !asked.iter().all(|(run, c)| settled(c) || run.move_skipped(c.id).is_some()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut out = Drained::default();
        for (run, c) in &asked {
            use crate::runtime::CellExt;
            if c.mb().at().is_some() {
                out.moved += 1;
            } else if !c.mb().stopped.load(Ordering::Acquire) {
                let why = run.move_skipped(c.id).unwrap_or_else(|| "it did not finish its turn in time".into());
                out.left.push(format!("{}: {why}", c.label()));
            }
        }
        out
    }
}

/// `noodle cluster drain NODE`: ask that node (found through `addr`'s view
/// of the cluster) to move its actors away.
pub fn drain(addr: &str, secret: &[u8], node: &str) -> Result<Drained, String> {
    let report = super::node::status(addr, secret)?;
    let target = std::iter::once(&report.me)
        .chain(report.peers.iter().filter(|(_, s)| s == "alive").map(|(m, _)| m))
        .find(|m| m.name == node)
        .ok_or_else(|| format!("no live node is called {node:?}"))?;
    match super::node::ask(&target.addr, secret, &Msg::Drain, DRAIN_TIME + Duration::from_secs(5))? {
        Msg::Drained(d) => Ok(d),
        other => Err(format!("{} answered {other:?}", target.addr)),
    }
}

/// How long a drain waits for the actors to move.
pub const DRAIN_TIME: Duration = Duration::from_secs(30);
