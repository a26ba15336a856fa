//! The cluster (runtime.md §6, §8): the placement engine (a pure function
//! every node — and a plain `noodle run`, a cluster of one — uses to decide
//! where an actor runs), the authenticated wire between nodes, and the
//! `noodle node` process.

mod gossip;
pub mod membership;
pub mod node;
pub mod placement;
mod table;
pub mod wire;

pub use placement::{place_actor, ClusterView, NodeView, Placement, Request, Resources, Strategy};

/// Milliseconds since the epoch (a node's incarnation).
pub fn now_millis() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// This machine's resources: its cores, its memory (`/proc/meminfo`), no GPUs.
pub fn machine_capacity() -> Resources {
    let cpus = std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1);
    Resources { cpus, memory: meminfo("MemTotal:").unwrap_or(0), gpus: 0 }
}

/// Memory not in use now, in bytes (`MemAvailable`).
pub fn free_memory() -> u64 {
    meminfo("MemAvailable:").unwrap_or(0)
}

fn meminfo(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}
