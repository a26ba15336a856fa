//! What a node knows of the cluster — its own identity and its table of
//! peers with their states — and the structured event log. Shared by the
//! connection handling (`node.rs`) and membership (`gossip.rs`).

use super::Resources;
use serde::{Deserialize, Serialize};

/// A node as others know it: identity (name, address, incarnation) and
/// what it offers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    pub addr: String,
    pub incarnation: u64,
    pub capacity: Resources,
}

/// One structured line per event on stderr: `noodle node NAME: event=E k=v ...`.
pub(crate) fn log(me: &str, event: &str, fields: &[(&str, &str)]) {
    let mut line = format!("noodle node {me}: event={event}");
    for (k, v) in fields {
        if v.contains(' ') || v.contains('"') || v.is_empty() {
            line.push_str(&format!(" {k}={v:?}"));
        } else {
            line.push_str(&format!(" {k}={v}"));
        }
    }
    crate::ewriteln!("{line}");
}

pub(crate) struct State {
    pub me: Member,
    pub secret: Vec<u8>,
    pub peers: std::cell::RefCell<Vec<(Member, String)>>,
}

impl State {
    pub fn set_peer(&self, m: Member, state: &str) {
        let mut p = self.peers.borrow_mut();
        match p.iter_mut().find(|(x, _)| x.name == m.name) {
            Some(e) => *e = (m, state.to_string()),
            None => p.push((m, state.to_string())),
        }
    }

    /// Membership's news of a peer: its state, keeping what a direct
    /// connection told of it (capacity).
    pub(super) fn peer_state(&self, m: Member, state: &str) {
        let mut p = self.peers.borrow_mut();
        match p.iter_mut().find(|(x, _)| x.name == m.name) {
            Some(e) => {
                e.0.addr = m.addr;
                e.0.incarnation = e.0.incarnation.max(m.incarnation);
                e.1 = state.to_string();
            }
            None => p.push((m, state.to_string())),
        }
    }

    /// A connection to the peer broke: suspect it, unless membership has
    /// already declared it down.
    pub fn suspect(&self, m: Member) {
        let mut p = self.peers.borrow_mut();
        match p.iter_mut().find(|(x, _)| x.name == m.name) {
            Some(e) if e.1 == "alive" => e.1 = "suspect".into(),
            Some(_) => {}
            None => p.push((m, "suspect".into())),
        }
    }

    pub(super) fn forget(&self, name: &str) {
        self.peers.borrow_mut().retain(|(m, _)| m.name != name);
    }
}
