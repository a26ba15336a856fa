//! The cluster (runtime.md §6, §8): the placement engine (a pure function
//! every node — and a plain `noodle run`, a cluster of one — uses to decide
//! where an actor runs), the authenticated wire between nodes, and the
//! `noodle node` process.

pub mod agent;
mod directory;
pub mod drain;
pub mod etcd;
mod gossip;
mod link;
pub mod membership;
pub mod node;
pub mod placement;
pub mod quorum;
mod records;
mod replicas;
mod spawn_wait;
pub use spawn_wait::PEER_WAIT as SPAWN_PEER_WAIT;
pub mod rules;
pub mod sim;
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

/// The share of this machine's cores the process kept busy between calls
/// (from `/proc/self/stat`; 0 where that is not available).
#[derive(Default)]
pub struct CpuMeter {
    last: Option<(std::time::Instant, u64)>,
}

impl CpuMeter {
    pub fn busy(&mut self) -> f64 {
        let now = std::time::Instant::now();
        let Some(ticks) = cpu_ticks() else { return 0.0 };
        let r = match self.last {
            Some((t, before)) => {
                let secs = now.duration_since(t).as_secs_f64().max(1e-3);
                let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
                ((ticks.saturating_sub(before)) as f64 / 100.0 / secs / cores).clamp(0.0, 1.0)
            }
            None => 0.0,
        };
        self.last = Some((now, ticks));
        r
    }
}

/// User + system CPU time of this process in clock ticks (100 per second).
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}
