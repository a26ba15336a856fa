//! Drives `membership.rs` (SWIM, by foca) for a node: its UDP socket (the
//! node's port, beside TCP) and smol timers in, membership events out to the
//! node's table and log.
//!
//! A node cut off from the majority, or told it was declared dead, starts
//! a fresh membership (its next incarnation, knowing nobody) and announces
//! itself to the nodes it knew until one answers: the verdicts it made
//! while cut off are forgotten instead of spreading once the split heals.

use super::membership::{Event, Membership, NodeId, Output};
use super::table::{log, Member};
use foca::Timer;
use smol::net::UdpSocket;
use std::rc::Rc;
use std::time::Duration;

/// How often a renewed node that knows nobody announces itself again.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(5);

/// What the gossip loop reacts to.
pub enum Input {
    Datagram(Vec<u8>, std::net::SocketAddr),
    /// A timer of membership instance `.0` (void once it was replaced).
    Timer(u64, Timer<NodeId>),
    Join(std::net::SocketAddr),
    /// Announce again, if instance `.0` still knows nobody.
    Announce(u64),
    /// Leave the cluster, then say so.
    Leave(async_channel::Sender<()>),
}

/// Run membership until the node stops: one task reading datagrams, this
/// loop handling every input in turn (foca is not shared).
pub async fn run(
    ex: Rc<smol::LocalExecutor<'static>>,
    agent: std::sync::Arc<super::agent::Agent>,
    udp: UdpSocket,
    mut m: Membership,
    rx: async_channel::Receiver<Input>,
    tx: async_channel::Sender<Input>,
) {
    let state = agent.state.clone();
    let me = state.me.name.clone();
    let mut instance = 0u64;
    let (u2, t2) = (udp.clone(), tx.clone());
    ex.spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok((n, from)) = u2.recv_from(&mut buf).await {
            if t2.send(Input::Datagram(buf[..n].to_vec(), from)).await.is_err() {
                break;
            }
        }
    })
    .detach();
    while let Ok(input) = rx.recv().await {
        let (out, done) = match input {
            Input::Datagram(d, from) => {
                m.set_notify_down(agent.healthy(m.suspects()));
                match m.datagram(&d) {
                    Ok(o) => (o, None),
                    Err(why) => {
                        log(&me, "bad-datagram", &[("from", &from.to_string()), ("reason", &why)]);
                        continue;
                    }
                }
            }
            Input::Timer(i, t) if i == instance => (m.timer(t).unwrap_or_default(), None),
            Input::Timer(..) => continue,
            Input::Join(addr) => match m.join(addr) {
                Ok(o) => (o, None),
                Err(why) => {
                    log(&me, "join-failed", &[("addr", &addr.to_string()), ("reason", &why)]);
                    continue;
                }
            },
            Input::Announce(i) if i == instance && m.members().is_empty() => {
                let mut out = Output::default();
                for (peer, _) in state.peers() {
                    if let Some(o) = peer.addr.parse().ok().and_then(|a| m.join(a).ok()) {
                        out.send.extend(o.send);
                        out.timers.extend(o.timers);
                        out.events.extend(o.events);
                    }
                }
                later(&ex, &tx, ANNOUNCE_EVERY, Input::Announce(i));
                (out, None)
            }
            Input::Announce(_) => continue,
            Input::Leave(done) => (m.leave(), Some(done)),
        };
        apply(&ex, &agent, &udp, &tx, instance, out).await;
        if agent.take_renew() {
            m = m.fresh(super::now_millis() ^ u64::from(std::process::id()) ^ instance);
            instance += 1;
            state.incarnation.store(m.me().incarnation, std::sync::atomic::Ordering::SeqCst);
            agent.renewed();
            log(&me, "renewed", &[("incarnation", &m.me().incarnation.to_string())]);
            later(&ex, &tx, Duration::ZERO, Input::Announce(instance));
        }
        if let Some(done) = done {
            let _ = done.send(()).await;
            break;
        }
    }
}

/// Send `input` to the loop after `after`.
fn later(ex: &smol::LocalExecutor<'static>, tx: &async_channel::Sender<Input>, after: Duration, input: Input) {
    let tx = tx.clone();
    ex.spawn(async move {
        smol::Timer::after(after).await;
        let _ = tx.send(input).await;
    })
    .detach();
}

async fn apply(
    ex: &smol::LocalExecutor<'static>,
    agent: &super::agent::Agent,
    udp: &UdpSocket,
    tx: &async_channel::Sender<Input>,
    instance: u64,
    out: Output,
) {
    for (to, d) in out.send {
        let _ = udp.send_to(&d, to).await;
    }
    for (after, t) in out.timers {
        later(ex, tx, after, Input::Timer(instance, t));
    }
    let state = &agent.state;
    let me = &state.me.name;
    for e in out.events {
        let member = |id: &NodeId| Member {
            name: id.name.clone(),
            addr: id.addr.to_string(),
            incarnation: id.incarnation,
            capacity: Default::default(),
        };
        match e {
            Event::Up(id) => {
                log(me, "join", &[("peer", &id.name), ("addr", &id.addr.to_string()), ("incarnation", &id.incarnation.to_string())]);
                state.peer_state(member(&id), "alive");
                agent.peer_up(&id.name, id.incarnation);
            }
            Event::Down(id) => {
                log(me, "down", &[("peer", &id.name), ("addr", &id.addr.to_string())]);
                state.peer_state(member(&id), "down");
                agent.peer_down(&id.name, id.incarnation);
            }
            Event::Renamed(old, new) => {
                // Restarted faster than failure detection: the old
                // incarnation is dead (its actors fail over) and the new
                // one is up.
                log(me, "renamed", &[("peer", &new.name), ("was", &old.name), ("incarnation", &new.incarnation.to_string())]);
                agent.peer_down(&old.name, old.incarnation);
                state.forget(&old.name);
                state.peer_state(member(&new), "alive");
                agent.peer_up(&new.name, new.incarnation);
            }
            Event::Rejoined(id) => {
                log(me, "rejoined", &[("incarnation", &id.incarnation.to_string())]);
                state.incarnation.store(id.incarnation, std::sync::atomic::Ordering::SeqCst);
                agent.declared_dead();
            }
        }
    }
}
