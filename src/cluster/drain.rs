//! Moving every actor off a node: `noodle cluster drain NODE`, and a node
//! leaving on SIGINT/SIGTERM. The node stops taking actors (its load says
//! `draining`, which placement honours), then asks each actor running on it
//! to move where the placement engine puts it among the other nodes
//! (`runtime/migrate.rs`: checkpoint, stop, restore there, queued messages
//! forwarded in order).

use super::agent::Agent;
use super::table::Drained;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

impl Agent {
    /// Move every actor running here to other nodes, waiting at most
    /// `within` for them to go.
    pub fn move_all(&self, within: Duration) -> Drained {
        self.draining.store(true, Ordering::SeqCst);
        self.broadcast_load();
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
