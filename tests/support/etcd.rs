//! A real etcd for the consistent-provider tests: Debian's etcd-server,
//! client and peer URLs on free loopback ports, a data directory in the
//! test's scratch directory, killed by PID when dropped. Without `etcd` on
//! the PATH these tests are reported ignored — unless NOODLE_REQUIRE_ETCD=1
//! (`.ci/run`, which installs etcd), where they run and fail without it.

use super::scratch::Scratch;
use libtest_mimic::{Failed, Trial};
use noodle::cluster::etcd::{claim_actor, Etcd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn trials() -> Vec<Trial> {
    vec![needs_etcd(Trial::test("etcd::exactly_one_claim_wins", exactly_one_claim_wins))]
}

/// `t`, ignored where etcd cannot be run (and not required).
pub fn needs_etcd(t: Trial) -> Trial {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let available = *AVAILABLE.get_or_init(|| {
        std::env::var("NOODLE_REQUIRE_ETCD").is_ok_and(|v| v == "1")
            || Command::new("etcd").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    });
    t.with_ignored_flag(!available)
}

pub struct EtcdServer {
    child: Child,
    /// `etcd://127.0.0.1:PORT/PREFIX` for `--membership`.
    pub url: String,
    pub pid: u32,
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, Failed> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

impl EtcdServer {
    /// Start etcd in `s` (tried three times: a free port may be taken
    /// between finding it and etcd binding it) and wait until it answers.
    pub fn start(s: &Scratch, prefix: &str) -> Result<EtcdServer, Failed> {
        let mut last = String::new();
        for attempt in 0..3 {
            let (client, peer) = (free_port()?, free_port()?);
            let (c, p) = (format!("http://127.0.0.1:{client}"), format!("http://127.0.0.1:{peer}"));
            let dir = s.path(&format!("etcd-{attempt}"));
            let log = std::fs::File::create(s.0.join(format!("etcd-{attempt}.log"))).map_err(|e| e.to_string())?;
            let args = [
                "--name",
                "default",
                "--data-dir",
                &dir,
                "--listen-client-urls",
                &c,
                "--advertise-client-urls",
                &c,
                "--listen-peer-urls",
                &p,
                "--initial-advertise-peer-urls",
                &p,
                "--initial-cluster",
                &format!("default={p}"),
            ];
            let child = Command::new("etcd")
                .args(args)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|e| format!("cannot start etcd ({e}): install Debian's etcd-server"))?;
            let pid = child.id();
            let server = EtcdServer { child, url: format!("etcd://127.0.0.1:{client}/{prefix}"), pid };
            let etcd = Etcd::new(&server.url, Duration::from_secs(1))?;
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                match etcd.list("") {
                    Ok(_) => return Ok(server),
                    Err(e) => last = e,
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            last = format!("{last}\n{}", s.read(&format!("etcd-{attempt}.log")));
        }
        Err(format!("etcd did not start: {last}").into())
    }
}

/// Compare-and-swap claims on a failed-over actor's key, four claimers at
/// once for each of 25 actors: exactly one wins each generation, a claim
/// of a generation already taken is refused, a later one wins.
fn exactly_one_claim_wins() -> Result<(), Failed> {
    let s = Scratch::new("etcd-claims");
    let server = EtcdServer::start(&s, "claims")?;
    let url = server.url.clone();
    let run = 7u128;
    let wins: Vec<Vec<u128>> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..4)
            .map(|i| {
                let url = url.clone();
                sc.spawn(move || {
                    let etcd = Etcd::new(&url, Duration::from_secs(5)).expect("url");
                    (0..25u128).filter(|&id| claim_actor(&etcd, run, id, 2, &format!("n{i}"), 0).is_ok()).collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let mut all: Vec<u128> = wins.concat();
    all.sort();
    if all != (0..25).collect::<Vec<_>>() {
        return Err(format!("each actor must be won exactly once; winners per claimer: {wins:?}").into());
    }
    let etcd = Etcd::new(&url, Duration::from_secs(5))?;
    match claim_actor(&etcd, run, 0, 2, "late", 0) {
        Err(e) if e.contains("generation 2 is already claimed") => {}
        r => return Err(format!("a second claim of generation 2: {r:?}").into()),
    }
    claim_actor(&etcd, run, 0, 3, "next", 0).map_err(|e| format!("generation 3: {e}"))?;
    Ok(())
}
