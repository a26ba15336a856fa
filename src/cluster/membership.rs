//! Membership and failure detection (runtime.md §8): SWIM, by the `foca`
//! crate — not a home-made protocol. This wrapper has no socket and no clock:
//! datagrams and timer events go in, datagrams to send, timers to arm and
//! membership events come out, so `node.rs` drives it with smol's UDP socket
//! and timers and a simulation can drive it with its own.
//!
//! Every datagram carries a MAC under a key derived from the cluster secret:
//! gossip from outside the cluster is dropped before foca reads it.

use foca::{Config, Foca, OwnedNotification, PostcardCodec, Timer};
use hmac::{Hmac, KeyInit, Mac};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::net::SocketAddr;
use std::time::Duration;

const TAG: usize = 16;

/// A node's identity: name, address and incarnation (a restarted node is a
/// new incarnation; the newer wins a conflict over one address).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeId {
    pub name: String,
    pub addr: SocketAddr,
    pub incarnation: u64,
}

impl foca::Identity for NodeId {
    type Addr = SocketAddr;

    fn renew(&self) -> Option<Self> {
        Some(NodeId { incarnation: self.incarnation + 1, ..self.clone() })
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.incarnation > adversary.incarnation
    }
}

/// What membership tells the node.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Up(NodeId),
    Down(NodeId),
    /// A node came back under a new identity (a new incarnation).
    Renamed(NodeId, NodeId),
    /// This node was declared down by the others and rejoined as `NodeId`.
    Rejoined(NodeId),
}

/// Failure-detection presets (runtime.md §8 `--fd`).
#[derive(Clone, Copy, Debug)]
pub enum Preset {
    Fast,
    Lan,
    Wan,
}

impl Preset {
    pub fn from_name(s: &str) -> Option<Preset> {
        Some(match s {
            "fast" => Preset::Fast,
            "lan" => Preset::Lan,
            "wan" => Preset::Wan,
            _ => return None,
        })
    }

    fn config(self) -> Config {
        let size = std::num::NonZeroU32::new(32).unwrap_or(std::num::NonZeroU32::MIN);
        let mut c = self.base(size);
        // A member declared down is told so when it speaks (it rejoins as
        // a new incarnation) — but see `set_notify_down`.
        c.notify_down_members = true;
        // After a partition heals, each side reaches the members it
        // declared down within seconds (foca's default is over a minute;
        // the simulation found clusters still split 30 s after healing).
        let every = match self {
            Preset::Fast => Duration::from_secs(2),
            Preset::Lan => Duration::from_secs(5),
            Preset::Wan => Duration::from_secs(20),
        };
        // Every node asks one other for its members now and then: in a
        // large cluster a join's news may miss a few nodes (the simulation
        // found 100-node clusters still incomplete after a minute).
        c.periodic_announce = Some(foca::PeriodicParams { frequency: every, num_members: std::num::NonZeroUsize::MIN });
        c.periodic_announce_to_down_members = Some(foca::PeriodicParams {
            frequency: every,
            num_members: std::num::NonZeroUsize::new(2).unwrap_or(std::num::NonZeroUsize::MIN),
        });
        c
    }

    fn base(self, size: std::num::NonZeroU32) -> Config {
        match self {
            Preset::Lan => {
                // foca scales suspicion by the cluster size it is given (6 s
                // for 32); 3 s refutes comfortably on a LAN and halves how
                // long asks on a crashed node wait.
                let mut c = Config::new_lan(size);
                c.suspect_to_down_after = Duration::from_secs(3);
                c
            }
            Preset::Wan => Config::new_wan(size),
            Preset::Fast => {
                let mut c = Config::new_lan(size);
                c.probe_period = Duration::from_millis(300);
                c.probe_rtt = Duration::from_millis(100);
                c.suspect_to_down_after = Duration::from_millis(600);
                c
            }
        }
    }
}

impl Preset {
    /// How long a member declared down counts against keep-majority:
    /// the spread between the declarations of a split's members.
    pub fn settle(self) -> Duration {
        let c = self.config();
        c.suspect_to_down_after + c.probe_period * 2
    }
}

/// What to do after an input: datagrams to send, timers to arm, events.
#[derive(Default)]
pub struct Output {
    pub send: Vec<(SocketAddr, Vec<u8>)>,
    pub timers: Vec<(Duration, Timer<NodeId>)>,
    pub events: Vec<Event>,
}

pub struct Membership {
    foca: Foca<NodeId, PostcardCodec, SmallRng, foca::NoCustomBroadcast>,
    runtime: foca::AccumulatingRuntime<NodeId>,
    key: [u8; 32],
    preset: Preset,
    notify_down: bool,
}

impl Membership {
    /// `seed` feeds foca's choices (random in a node, fixed in a simulation).
    pub fn new(me: NodeId, secret: &[u8], preset: Preset, seed: u64) -> Membership {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
        m.update(b"noodle gossip");
        Membership::with_key(me, m.finalize().into_bytes().into(), preset, seed)
    }

    fn with_key(me: NodeId, key: [u8; 32], preset: Preset, seed: u64) -> Membership {
        let foca = Foca::new(me, preset.config(), SmallRng::seed_from_u64(seed), PostcardCodec);
        Membership { foca, runtime: foca::AccumulatingRuntime::new(), key, preset, notify_down: true }
    }

    /// A fresh membership for this node as its next incarnation, knowing
    /// nobody (it announces itself again): what it believed while cut off
    /// is forgotten.
    pub fn fresh(&self, seed: u64) -> Membership {
        let me = NodeId { incarnation: self.me().incarnation + 1, ..self.me().clone() };
        Membership::with_key(me, self.key, self.preset, seed)
    }

    /// Members this node suspects (probes unanswered, not yet declared down).
    pub fn suspects(&self) -> usize {
        self.foca.iter_members().filter(|m| m.state() == foca::State::Suspect).count()
    }

    /// Whether a member this node declared down is told so when it speaks.
    /// Only a node that is not cut off should: one that was (most of what
    /// it knows suspected or down) would, once the split heals, make
    /// healthy nodes rejoin and stop what they run — the simulation found
    /// acknowledged turns lost in that cascade.
    pub fn set_notify_down(&mut self, on: bool) {
        if on != self.notify_down {
            let mut c = self.preset.config();
            c.notify_down_members = on;
            if self.foca.set_config(c).is_ok() {
                self.notify_down = on;
            }
        }
    }

    pub fn me(&self) -> &NodeId {
        self.foca.identity()
    }

    /// The members believed alive (this node not included).
    pub fn members(&self) -> Vec<NodeId> {
        self.foca.iter_members().map(|m| m.id().clone()).collect()
    }

    fn tag(&self, body: &[u8]) -> [u8; 32] {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("HMAC takes any key length");
        m.update(body);
        m.finalize().into_bytes().into()
    }

    /// Introduce this node to the node at `addr` (its identity is learned
    /// from the answer).
    pub fn join(&mut self, addr: SocketAddr) -> Result<Output, String> {
        let guess = NodeId { name: addr.to_string(), addr, incarnation: 0 };
        self.foca.announce(guess, &mut self.runtime).map_err(|e| e.to_string())?;
        Ok(self.drain())
    }

    /// A datagram arrived. One without a valid MAC is refused (`Err`)
    /// before foca sees it.
    pub fn datagram(&mut self, data: &[u8]) -> Result<Output, String> {
        let (body, tag) = data.split_at_checked(data.len().wrapping_sub(TAG)).ok_or("datagram too short")?;
        let want = self.tag(body);
        if tag.iter().zip(&want[..TAG]).fold(0u8, |a, (x, y)| a | (x ^ y)) != 0 {
            return Err("datagram without the cluster's MAC".into());
        }
        self.foca.handle_data(body, &mut self.runtime).map_err(|e| e.to_string())?;
        Ok(self.drain())
    }

    /// A timer armed earlier fired.
    pub fn timer(&mut self, t: Timer<NodeId>) -> Result<Output, String> {
        self.foca.handle_timer(t, &mut self.runtime).map_err(|e| e.to_string())?;
        Ok(self.drain())
    }

    /// Leave gracefully (others learn it at once instead of suspecting).
    pub fn leave(&mut self) -> Output {
        let _ = self.foca.leave_cluster(&mut self.runtime);
        self.drain()
    }

    fn drain(&mut self) -> Output {
        let mut out = Output::default();
        while let Some((to, data)) = self.runtime.to_send() {
            let mut d = data.to_vec();
            let tag = self.tag(&d);
            d.extend_from_slice(&tag[..TAG]);
            out.send.push((to.addr, d));
        }
        while let Some(t) = self.runtime.to_schedule() {
            out.timers.push(t);
        }
        while let Some(n) = self.runtime.to_notify() {
            match n {
                OwnedNotification::MemberUp(id) => out.events.push(Event::Up(id)),
                OwnedNotification::MemberDown(id) => out.events.push(Event::Down(id)),
                OwnedNotification::Rename(a, b) => out.events.push(Event::Renamed(a, b)),
                OwnedNotification::Rejoin(id) => out.events.push(Event::Rejoined(id)),
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u16) -> NodeId {
        NodeId { name: format!("n{n}"), addr: SocketAddr::from(([127, 0, 0, 1], 7000 + n)), incarnation: 1 }
    }

    /// Three nodes on a simulated network (instant delivery, a virtual
    /// clock): they find each other, and one that stops answering is
    /// declared down by the others.
    #[test]
    fn three_nodes_find_each_other_and_detect_a_crash() {
        let mut nodes: Vec<Membership> = (0..3).map(|i| Membership::new(id(i), b"secret", Preset::Lan, i as u64)).collect();
        let mut queue: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
        let mut timers: Vec<(Duration, usize, Timer<NodeId>)> = Vec::new();
        let mut now = Duration::ZERO;
        let mut events: Vec<(usize, Event)> = Vec::new();
        let absorb = |i: usize, o: Output, now: Duration, q: &mut Vec<_>, t: &mut Vec<_>, ev: &mut Vec<_>| {
            q.extend(o.send);
            t.extend(o.timers.into_iter().map(|(d, x)| (now + d, i, x)));
            ev.extend(o.events.into_iter().map(|e| (i, e)));
        };
        for (i, n) in nodes.iter_mut().enumerate().skip(1) {
            let o = n.join(id(0).addr).unwrap();
            absorb(i, o, now, &mut queue, &mut timers, &mut events);
        }
        let mut crashed: Option<usize> = None;
        for step in 0..20_000 {
            if let Some((to, data)) = queue.pop() {
                let i = nodes.iter().position(|n| n.me().addr == to).unwrap();
                if crashed != Some(i) {
                    let o = nodes[i].datagram(&data).unwrap();
                    absorb(i, o, now, &mut queue, &mut timers, &mut events);
                }
                continue;
            }
            // Advance the virtual clock to the next timer.
            timers.sort_by_key(|(at, _, _)| std::cmp::Reverse(*at));
            let Some((at, i, t)) = timers.pop() else { break };
            now = at;
            if crashed != Some(i) {
                let o = nodes[i].timer(t).unwrap();
                absorb(i, o, now, &mut queue, &mut timers, &mut events);
            }
            if crashed.is_none() && nodes.iter().all(|n| n.members().len() == 2) {
                crashed = Some(2);
            }
            if crashed.is_some() && nodes[0].members().len() == 1 && nodes[1].members().len() == 1 {
                assert!(events.iter().any(|(i, e)| *i == 0 && matches!(e, Event::Down(x) if x.name == "n2")), "{events:?}");
                assert!(now < Duration::from_secs(60), "detection took {now:?}");
                return;
            }
            assert!(step < 19_999, "did not converge");
        }
        panic!("ran out of work: {:?}", nodes.iter().map(|n| n.members().len()).collect::<Vec<_>>());
    }

    #[test]
    fn gossip_without_the_mac_is_refused() {
        let mut a = Membership::new(id(0), b"secret", Preset::Lan, 1);
        let mut b = Membership::new(id(1), b"other", Preset::Lan, 2);
        let o = b.join(id(0).addr).unwrap();
        for (_, d) in o.send {
            assert!(a.datagram(&d).is_err());
        }
        assert!(a.datagram(b"").is_err());
        assert!(a.datagram(&[7u8; 100]).is_err());
    }
}
