//! The home's side of a simulated node: placing the run's actors, asking
//! them as the program does, and coordinating the failover of a dead node.

use super::*;

impl SimNode {
    pub(super) fn view(&self) -> ClusterView {
        let h = self.home.as_ref();
        let nodes = std::iter::once(self.idx)
            .chain(self.live())
            .map(|i| NodeView {
                name: name(i),
                capacity: Resources { cpus: 8, memory: 1 << 34, gpus: 0 },
                reserved: Resources::default(),
                actors: h.and_then(|h| h.placed.get(&name(i))).copied().unwrap_or(0),
                busy: 0.0,
                free_memory: 1 << 34,
                draining: false,
            })
            .collect();
        ClusterView { nodes, local: self.name.clone() }
    }

    pub(super) fn place(&mut self) -> Result<usize, String> {
        let view = self.view();
        let mut req = Request::new("Counter", Strategy::Balanced);
        req.stateful = true;
        // The ticket draws the two candidates (a node draws it at random).
        let n = self.home.as_ref().map_or(0, |h| h.placed.values().sum::<u64>());
        req.ticket = (n + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
        let to = place_actor(&req, &view)?.primary;
        if let Some(h) = &mut self.home {
            *h.placed.entry(to.clone()).or_default() += 1;
        }
        Ok(index(&to))
    }

    /// The home places every actor once it sees every node.
    pub(super) fn start(&mut self, now: Duration, out: &mut Out) {
        let n = self.home.as_ref().map_or(0, |h| h.actors);
        let everyone = self.up.len() + 1 >= self.home.as_ref().map_or(0, |h| h.nodes);
        if !everyone && now < Duration::from_secs(8) {
            out.wakes.push((Duration::from_millis(200), Wake::Start));
            return;
        }
        out.log.push(format!("starts the program: {} nodes seen, {n} actors", self.up.len() + 1));
        for a in 0..n as Actor {
            let Ok(to) = self.place() else { continue };
            let rec = Rec { generation: 1, committed_at: 0.0, value: 0, applied: Applied::default() };
            if let Some(h) = &mut self.home {
                h.directory[a as usize] = (to, 1);
                h.started = true;
            }
            self.directory.insert(a, (to, 1));
            let copies = self.live().count();
            out.msgs.push((to, Msg::Spawn { actor: a, rec, copies }));
        }
        if let Some(h) = &self.home {
            let mut placed: Vec<(&String, &u64)> = h.placed.iter().collect();
            placed.sort();
            out.log.push(format!("placed {placed:?}"));
        }
    }

    /// The client: the next ask to actor `a`.
    pub(super) fn ask(&mut self, a: Actor, now: Duration, out: &mut Out) {
        let Some(h) = &mut self.home else { return };
        let ai = a as usize;
        if h.ended || h.lost[ai] || h.asks[ai].is_some() {
            return;
        }
        h.seq += 1;
        let (seq, k, to) = (h.seq, h.acked[ai] + 1, h.directory[ai].0);
        h.asks[ai] = Some(Ask { seq, k, to, since: now });
        // An ask to a node being failed over waits for the failover.
        if !h.failovers.contains_key(&to) {
            out.msgs.push((to, Msg::Ask { actor: a, seq }));
        }
    }

    pub(super) fn reply(&mut self, a: Actor, seq: u64, value: Result<i64, String>, out: &mut Out) {
        let Some(h) = &mut self.home else { return };
        let ai = a as usize;
        let Some(ask) = h.asks[ai].as_ref().filter(|x| x.seq == seq) else { return };
        let k = ask.k;
        h.asks[ai] = None;
        match value {
            Ok(v) => {
                h.done += 1;
                h.acked[ai] = k;
                h.last_ok[ai] = v;
                out.checks.push(Seen::Acked { actor: a, k, value: v, failed_before: h.failed_on[ai] });
                let think = Duration::from_millis(20 + (seq * 7919 % 280));
                out.wakes.push((think, Wake::Client(a)));
            }
            Err(e) => {
                // The outcome is unknown: the next ask may see it applied.
                h.failed += 1;
                h.failed_on[ai] += 1;
                h.acked[ai] = k;
                out.log.push(format!("ask {seq} to {} failed: {e}", actor_name(a)));
                out.wakes.push((Duration::from_millis(500), Wake::Client(a)));
            }
        }
    }

    pub(super) fn start_failover(&mut self, host: usize, out: &mut Out) {
        let req = self.req();
        let asked: BTreeSet<usize> = self.live().collect();
        let mut newest = Newest::default();
        let holds = |h: &Home, a: Actor, n: usize| h.copy_nodes[a as usize].contains(&n);
        for (a, c) in self.copies.iter().filter(|(_, c)| c.host == host) {
            if self.home.as_ref().is_some_and(|h| holds(h, *a, self.idx)) {
                newest.offer(*a, self.idx, c.generation, c.rec.committed_at);
            }
        }
        for &n in &asked {
            out.msgs.push((n, Msg::Orphans { host, req }));
        }
        out.wakes.push((CALL_TIME, Wake::FailoverDeadline(host, req)));
        out.log.push(format!("fails over {}", name(host)));
        let f = Failover { req, asked, newest, generations: BTreeMap::new(), fetching: false, copies: BTreeMap::new() };
        if let Some(h) = &mut self.home {
            h.failovers.insert(host, f);
        }
    }

    /// A failover's round is complete (or timed out): fetch, then restore.
    pub(super) fn advance_failover(&mut self, host: usize, out: &mut Out) {
        let Some(f) = self.home.as_mut().and_then(|h| h.failovers.get_mut(&host)) else { return };
        if !f.asked.is_empty() {
            out.log.push(format!("failover of {} waits for {:?}", name(host), f.asked));
            return;
        }
        if !f.fetching {
            f.fetching = true;
            let req = self.next_req + 1;
            self.next_req = req;
            let newest = std::mem::take(&mut f.newest).into_map();
            f.req = req;
            let mut by_holder: BTreeMap<usize, Vec<Actor>> = BTreeMap::new();
            for (a, (holder, generation, _)) in newest {
                by_holder.entry(holder).or_default().push(a);
                f.generations.insert(a, (generation, holder));
            }
            for (holder, mut ids) in by_holder {
                ids.sort_unstable();
                if holder == self.idx {
                    let local: Vec<(Actor, Rec)> = ids.iter().filter_map(|a| self.copies.get(a).map(|c| (*a, c.rec.clone()))).collect();
                    if let Some(f) = self.home.as_mut().and_then(|h| h.failovers.get_mut(&host)) {
                        f.copies.extend(local);
                    }
                } else {
                    if let Some(f) = self.home.as_mut().and_then(|h| h.failovers.get_mut(&host)) {
                        f.asked.insert(holder);
                    }
                    out.msgs.push((holder, Msg::Fetch { ids, req }));
                }
            }
            out.wakes.push((CALL_TIME, Wake::FailoverDeadline(host, req)));
            return self.advance_failover(host, out);
        }
        let Some(f) = self.home.as_mut().and_then(|h| h.failovers.remove(&host)) else { return };
        let mut moved = Vec::new();
        for (a, mut rec) in f.copies {
            // Only actors the directory still places on the dead node.
            let here = self.home.as_ref().is_some_and(|h| h.directory[a as usize].0 == host);
            if !here {
                continue;
            }
            let Ok(to) = self.place() else { continue };
            let (generation, holder) = f.generations.get(&a).copied().unwrap_or((rec.generation, usize::MAX));
            rec.generation = generation.max(rec.generation) + 1;
            out.log.push(format!(
                "restores {} on {} as generation {} from {}'s copy ({})",
                actor_name(a),
                name(to),
                rec.generation,
                name(holder),
                rec.value
            ));
            moved.push((a, to, rec.generation));
            let copies = self.live().count();
            out.msgs.push((to, Msg::Spawn { actor: a, rec, copies }));
        }
        for n in self.live().collect::<Vec<_>>() {
            out.msgs.push((n, Msg::Done { moved: moved.clone() }));
        }
        self.failed_over(&moved);
        let Some(h) = &mut self.home else { return };
        h.restored += moved.len() as u64;
        for &(a, to, g) in &moved {
            h.directory[a as usize] = (to, g);
        }
        // Asks waiting on the dead node: sent again where their actor went;
        // the rest fail (their actors had no copy).
        let restored: BTreeSet<Actor> = moved.iter().map(|m| m.0).collect();
        for ai in 0..h.actors {
            if h.directory[ai].0 == host && !h.lost[ai] && !restored.contains(&(ai as Actor)) {
                h.lost[ai] = true;
                out.log.push(format!("{} is lost: no copy", actor_name(ai as Actor)));
                out.checks.push(Seen::Lost { actor: ai as Actor });
            }
            let Some(ask) = &mut h.asks[ai] else { continue };
            if ask.to != host {
                continue;
            }
            // (Restored on the same node's new incarnation: sent again too.)
            if h.lost[ai] {
                h.asks[ai] = None;
                h.failed += 1;
                h.failed_on[ai] += 1;
                continue;
            }
            ask.to = h.directory[ai].0;
            out.msgs.push((ask.to, Msg::Ask { actor: ai as Actor, seq: ask.seq }));
        }
    }
}
