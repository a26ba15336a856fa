//! The deterministic simulation of the cluster's fault handling
//! (`src/cluster/sim/`): many seeds of small clusters and some of large
//! ones, each checked after every step. A failing seed prints how to
//! replay it: `NOODLE_SIM_SEED=S [NOODLE_SIM_NODES=N] cargo test --release
//! --test programs sim::replay -- --nocapture` prints its whole trace.

use libtest_mimic::{Failed, Trial};
use noodle::cluster::sim::{self, Config};

/// Seeds of 5–20 nodes, in this many trials (run side by side).
const SMALL_SEEDS: u64 = 1_000;
const SMALL_PARTS: u64 = 4;
/// Seeds of 100 nodes.
const LARGE_SEEDS: u64 = 20;
const LARGE_PARTS: u64 = 2;
/// Seeds of 5–20 nodes without faults.
const CALM_SEEDS: u64 = 100;

pub fn trials() -> Vec<Trial> {
    let mut t = Vec::new();
    // Without faults: the protocol, placement and convergence checks.
    t.push(Trial::test("sim::calm_clusters", || {
        let seeds: Vec<u64> = (0..CALM_SEEDS).collect();
        seeds_pass(&seeds, |s| Config { faults: false, ..Config::small(s) }, false)?;
        seeds_pass(&[1_000_000], |_| Config { faults: false, ..Config::large() }, false)
    }));
    // With faults: crashes, restarts, pauses, partitions, slow and lossy
    // spells (see `src/cluster/sim/mod.rs`).
    for part in 0..SMALL_PARTS {
        let seeds: Vec<u64> = (0..SMALL_SEEDS).filter(|s| s % SMALL_PARTS == part).collect();
        t.push(Trial::test(format!("sim::small_clusters_{part}"), move || seeds_pass(&seeds, Config::small, true)));
    }
    for part in 0..LARGE_PARTS {
        let seeds: Vec<u64> = (0..LARGE_SEEDS).filter(|s| s % LARGE_PARTS == part).map(|s| 1_000_000 + s).collect();
        t.push(Trial::test(format!("sim::large_clusters_{part}"), move || seeds_pass(&seeds, |_| Config::large(), true)));
    }
    t.push(Trial::test("sim::a_seed_replays_exactly", a_seed_replays_exactly));
    t.push(Trial::test("sim::replay", replay));
    t.push(Trial::test("sim::scan", scan));
    t
}

/// `NOODLE_SIM_SCAN=FROM..TO` (and `NOODLE_SIM_NODES`): run those seeds and
/// list every one that fails, with its violation's first line.
fn scan() -> Result<(), Failed> {
    let Some(range) = std::env::var("NOODLE_SIM_SCAN").ok() else { return Ok(()) };
    let (from, to) = range.split_once("..").ok_or("NOODLE_SIM_SCAN=FROM..TO")?;
    let (from, to): (u64, u64) = (from.parse().map_err(|_| "bad FROM")?, to.parse().map_err(|_| "bad TO")?);
    let nodes: Option<usize> = std::env::var("NOODLE_SIM_NODES").ok().and_then(|s| s.parse().ok());
    let mut failed = Vec::new();
    for seed in from..to {
        let mut c = if nodes.is_some_and(|n| n >= 100) { Config::large() } else { Config::small(seed) };
        if let Some(n) = nodes {
            c.nodes = n;
        }
        if let Err(v) = sim::run(seed, &c) {
            println!("seed {seed}: {}", v.what.lines().next().unwrap_or(""));
            failed.push(seed);
        }
    }
    println!("{} of {} seeds failed: {failed:?}", failed.len(), to - from);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{} seeds failed", failed.len()).into())
    }
}

fn seeds_pass(seeds: &[u64], cfg: impl Fn(u64) -> Config, faulty: bool) -> Result<(), Failed> {
    let (mut failovers, mut faults) = (0, 0);
    for &seed in seeds {
        let c = cfg(seed);
        match sim::run(seed, &c) {
            Ok(r) => {
                failovers += r.failovers;
                faults += r.faults.len();
            }
            Err(v) => {
                return Err(format!(
                "{v}\nreplay: NOODLE_SIM_SEED={seed} NOODLE_SIM_NODES={} cargo test --release --test programs sim::replay -- --nocapture",
                c.nodes
            )
                .into())
            }
        }
    }
    // The faults must have bitten: a simulation that never fails over
    // proves nothing.
    if faulty && (failovers == 0 || faults == 0) {
        return Err(format!("{} seeds: {faults} faults, {failovers} actors failed over", seeds.len()).into());
    }
    Ok(())
}

/// The same seed twice gives the same run, step for step.
fn a_seed_replays_exactly() -> Result<(), Failed> {
    for seed in [7, 26, 99] {
        let c = Config { trace: true, ..Config::small(seed) };
        let run = || match sim::run(seed, &c) {
            Ok(r) => (r.steps, r.trace, String::new()),
            Err(v) => (0, v.trace, v.what),
        };
        let (a, b) = (run(), run());
        if a != b || a.1.len() < 100 {
            return Err(format!("seed {seed} ran differently twice ({} then {} trace lines)", a.1.len(), b.1.len()).into());
        }
    }
    Ok(())
}

/// `NOODLE_SIM_SEED` (and `NOODLE_SIM_NODES`) given: run that seed and
/// print its faults and trace.
fn replay() -> Result<(), Failed> {
    let Some(seed) = std::env::var("NOODLE_SIM_SEED").ok().and_then(|s| s.parse::<u64>().ok()) else { return Ok(()) };
    let mut c = Config { trace: true, ..Config::small(seed) };
    if let Some(n) = std::env::var("NOODLE_SIM_NODES").ok().and_then(|s| s.parse().ok()) {
        c = if n >= 100 { Config { trace: true, ..Config::large() } } else { c };
        c.nodes = n;
    }
    c.faults = std::env::var("NOODLE_SIM_CALM").is_err();
    match sim::run(seed, &c) {
        Ok(r) => {
            for l in r.faults.iter().chain(&r.trace) {
                println!("{l}");
            }
            println!("seed {seed}: {} steps, {} asks, {} failed, {} restored", r.steps, r.asks_done, r.asks_failed, r.failovers);
            Ok(())
        }
        Err(v) => {
            for l in &v.trace {
                println!("{l}");
            }
            Err(v.to_string().into())
        }
    }
}
