//! Drives `membership.rs` (SWIM, by foca) for a node: its UDP socket (the
//! node's port, beside TCP) and smol timers in, membership events out to the
//! node's table and log.

use super::membership::{Event, Membership, NodeId, Output};
use super::table::{log, Member};
use foca::Timer;
use smol::net::UdpSocket;
use std::rc::Rc;

/// What the gossip loop reacts to.
pub enum Input {
    Datagram(Vec<u8>, std::net::SocketAddr),
    Timer(Timer<NodeId>),
    Join(std::net::SocketAddr),
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
            Input::Datagram(d, from) => match m.datagram(&d) {
                Ok(o) => (o, None),
                Err(why) => {
                    log(&me, "bad-datagram", &[("from", &from.to_string()), ("reason", &why)]);
                    continue;
                }
            },
            Input::Timer(t) => (m.timer(t).unwrap_or_default(), None),
            Input::Join(addr) => match m.join(addr) {
                Ok(o) => (o, None),
                Err(why) => {
                    log(&me, "join-failed", &[("addr", &addr.to_string()), ("reason", &why)]);
                    continue;
                }
            },
            Input::Leave(done) => (m.leave(), Some(done)),
        };
        apply(&ex, &agent, &udp, &tx, out).await;
        if let Some(done) = done {
            let _ = done.send(()).await;
            break;
        }
    }
}

async fn apply(
    ex: &smol::LocalExecutor<'static>,
    agent: &super::agent::Agent,
    udp: &UdpSocket,
    tx: &async_channel::Sender<Input>,
    out: Output,
) {
    for (to, d) in out.send {
        let _ = udp.send_to(&d, to).await;
    }
    for (after, t) in out.timers {
        let tx = tx.clone();
        ex.spawn(async move {
            smol::Timer::after(after).await;
            let _ = tx.send(Input::Timer(t)).await;
        })
        .detach();
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
                log(me, "renamed", &[("peer", &new.name), ("was", &old.name), ("incarnation", &new.incarnation.to_string())]);
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
