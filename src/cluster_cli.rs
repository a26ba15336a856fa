//! `noodle node` and `noodle cluster status|members|whereis|drain`: arguments in, the
//! cluster room (`noodle::cluster`) does the work.

use noodle::cluster::node::{self, Config};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const EXIT_USAGE: u8 = 2;
const EXIT_FAILED: u8 = 3;

fn fail(code: u8, msg: &str) -> ExitCode {
    noodle::ewriteln!("error: {msg}");
    ExitCode::from(code)
}

pub struct NodeArgs {
    pub listen: String,
    pub advertise: Option<String>,
    pub join: Vec<String>,
    pub name: Option<String>,
    pub capacity: Option<String>,
    pub fd: String,
    pub membership: String,
    pub data: Option<PathBuf>,
    pub workers: Option<usize>,
}

pub fn node(a: NodeArgs, secret_file: &Path) -> ExitCode {
    let NodeArgs { listen, advertise, join, name, capacity, fd, membership, data, workers } = a;
    let Some(fd) = noodle::cluster::membership::Preset::from_name(&fd) else {
        return fail(EXIT_USAGE, &format!("--fd {fd}: use fast, lan or wan"));
    };
    let etcd = match provider(&membership) {
        Ok(e) => e,
        Err(e) => return fail(EXIT_USAGE, &e),
    };
    let capacity = capacity.as_deref();
    let secret = match node::read_secret(secret_file) {
        Ok(s) => s,
        Err(e) => return fail(EXIT_USAGE, &e),
    };
    let base = noodle::cluster::machine_capacity();
    let capacity = match capacity.map(|c| node::parse_capacity(c, base)).transpose() {
        Ok(c) => c.unwrap_or(base),
        Err(e) => return fail(EXIT_USAGE, &e),
    };
    let workers = workers.unwrap_or_else(noodle::runtime::default_workers).clamp(1, 1024);
    match node::run(Config { listen, advertise, join, secret, name, capacity, fd, etcd, data, workers }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(EXIT_FAILED, &e),
    }
}

/// `--membership`: `swim` (gossip, the default) or an etcd URL (checked
/// here, so a typo is a usage error).
fn provider(membership: &str) -> Result<Option<String>, String> {
    if membership == "swim" {
        return Ok(None);
    }
    noodle::cluster::etcd::Etcd::new(membership, std::time::Duration::from_secs(1))?;
    Ok(Some(membership.to_string()))
}

pub enum Query {
    Status,
    Members,
    Whereis(String),
    Drain(String),
}

pub fn query(what: Query, cluster: Option<String>, secret_file: Option<PathBuf>) -> ExitCode {
    let (Some(addr), Some(secret_file)) = (cluster, secret_file) else {
        return fail(EXIT_USAGE, "`noodle cluster` needs --cluster HOST:PORT and --secret-file FILE");
    };
    let secret = match node::read_secret(&secret_file) {
        Ok(s) => s,
        Err(e) => return fail(EXIT_USAGE, &e),
    };
    if let Query::Drain(name) = &what {
        return match node::drain(&addr, &secret, name) {
            Ok(d) => {
                noodle::owriteln!("drained {name}: {} actor{} moved", d.moved, if d.moved == 1 { "" } else { "s" });
                for l in &d.left {
                    noodle::owriteln!("still on {name}: {l}");
                }
                if d.left.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(EXIT_FAILED)
                }
            }
            Err(e) => fail(EXIT_FAILED, &e),
        };
    }
    let node::Report { me, peers, loads } = match node::status(&addr, &secret) {
        Ok(x) => x,
        Err(e) => return fail(EXIT_FAILED, &e),
    };
    if let Query::Whereis(name) = &what {
        // Each node keeps part of the directory: ask the live ones.
        let addrs = std::iter::once(me.addr.clone()).chain(peers.iter().filter(|(_, s)| s == "alive").map(|(m, _)| m.addr.clone()));
        for a in addrs {
            match node::whereis(&a, &secret, name) {
                Ok(Some(e)) => {
                    noodle::owriteln!("{name}: {} {} on node {}", e.class, uuid::Uuid::from_u128(e.id), e.node);
                    noodle::owriteln!("placed by {}", e.why);
                    return ExitCode::SUCCESS;
                }
                Ok(None) => {}
                Err(e) => noodle::ewriteln!("warning: {e}"),
            }
        }
        return fail(EXIT_FAILED, &format!("no actor is registered as \"{name}\" in the cluster"));
    }
    if matches!(what, Query::Members) {
        noodle::owriteln!("{}", me.name);
        for (p, _) in &peers {
            noodle::owriteln!("{}", p.name);
        }
        return ExitCode::SUCCESS;
    }
    let size = noodle::cluster::placement::size;
    let mut rows = vec![[
        "NODE".to_string(),
        "STATE".into(),
        "ADDRESS".into(),
        "INCARNATION".into(),
        "CPUS".into(),
        "MEMORY".into(),
        "GPUS".into(),
        "ACTORS".into(),
        "BUSY".into(),
        "FREE".into(),
        "RESTORED".into(),
    ]];
    let row = |m: &node::Member, state: &str| {
        let load = loads.iter().find(|(n, _)| *n == m.name).map(|(_, l)| l);
        let state = if load.is_some_and(|l| l.draining) { format!("{state}, draining") } else { state.to_string() };
        let or_dash = |f: &dyn Fn(&node::Load) -> String| load.map(f).unwrap_or_else(|| "-".into());
        [
            m.name.clone(),
            state,
            m.addr.clone(),
            m.incarnation.to_string(),
            m.capacity.cpus.to_string(),
            size(m.capacity.memory),
            m.capacity.gpus.to_string(),
            or_dash(&|l| l.actors.to_string()),
            or_dash(&|l| format!("{:.0}%", l.busy * 100.0)),
            or_dash(&|l| size(l.free_memory)),
            or_dash(&|l| l.restored.to_string()),
        ]
    };
    rows.push(row(&me, "alive (asked)"));
    for (p, state) in &peers {
        rows.push(row(p, state));
    }
    let widths: Vec<usize> = (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
    for r in rows {
        let line: Vec<String> = r.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect();
        noodle::owriteln!("{}", line.join("  ").trim_end());
    }
    ExitCode::SUCCESS
}

/// `noodle run --cluster`: this process joins the cluster as a node.
pub fn program_node(
    cluster: String,
    secret_file: &Path,
    listen: Option<String>,
    name: Option<String>,
    membership: &str,
    workers: usize,
) -> Result<node::Handle, String> {
    let secret = node::read_secret(secret_file)?;
    let etcd = provider(membership)?;
    node::start(Config {
        listen: listen.unwrap_or_else(|| "127.0.0.1:0".into()),
        advertise: None,
        join: vec![cluster],
        secret,
        name,
        capacity: noodle::cluster::machine_capacity(),
        fd: noodle::cluster::membership::Preset::Lan,
        etcd,
        data: None,
        workers,
    })
}
