//! The placement engine (runtime.md §6): where a new actor runs. A pure
//! function of the request and a view of the cluster — no clock, socket or
//! global state — so it is tested against tables of views and runs the same
//! in a simulation. Randomness and round-robin come in as `ticket`.

/// Resources a node offers or an actor needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Resources {
    pub cpus: u64,
    /// Bytes.
    pub memory: u64,
    pub gpus: u64,
}

impl Resources {
    fn fits_in(&self, free: &Resources) -> Result<(), String> {
        let mut missing = Vec::new();
        if self.cpus > free.cpus {
            missing.push(format!("cpus {} (free {})", self.cpus, free.cpus));
        }
        if self.memory > free.memory {
            missing.push(format!("memory {} (free {})", size(self.memory), size(free.memory)));
        }
        if self.gpus > free.gpus {
            missing.push(format!("gpus {} (free {})", self.gpus, free.gpus));
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("needs {}", missing.join(", ")))
        }
    }

    pub fn saturating_sub(&self, o: &Resources) -> Resources {
        Resources {
            cpus: self.cpus.saturating_sub(o.cpus),
            memory: self.memory.saturating_sub(o.memory),
            gpus: self.gpus.saturating_sub(o.gpus),
        }
    }

    pub fn add(&self, o: &Resources) -> Resources {
        Resources { cpus: self.cpus + o.cpus, memory: self.memory + o.memory, gpus: self.gpus + o.gpus }
    }
}

/// A byte count as people write it.
pub fn size(b: u64) -> String {
    const UNITS: [(&str, u64); 4] = [("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)];
    for (u, n) in UNITS {
        if b >= n {
            return if b.is_multiple_of(n) { format!("{}{u}", b / n) } else { format!("{:.1}{u}", b as f64 / n as f64) };
        }
    }
    format!("{b}B")
}

/// One node as placement sees it (from gossip, or the node itself).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeView {
    pub name: String,
    pub capacity: Resources,
    /// What the actors placed there reserved.
    pub reserved: Resources,
    /// Actors running there.
    pub actors: u64,
    /// Share of its workers' time spent busy lately (0 to 1).
    pub busy: f64,
    /// Memory not in use, in bytes (for `"stateful"` actors).
    pub free_memory: u64,
    /// Being drained (`noodle cluster drain`, or leaving): takes no actors.
    pub draining: bool,
}

impl NodeView {
    /// Lower is better: actors and busy time, each against the node's size.
    fn load(&self) -> f64 {
        let cpus = self.capacity.cpus.max(1) as f64;
        self.actors as f64 / cpus + 4.0 * self.busy
    }
}

/// The cluster as placement sees it: the live nodes and which is the
/// spawner's.
#[derive(Clone, Debug, Default)]
pub struct ClusterView {
    pub nodes: Vec<NodeView>,
    pub local: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    Local,
    Balanced,
    Affinity,
    RoundRobin,
    Random,
}

impl Strategy {
    /// A `strategy:` value (`"spread"` is `"round_robin"`).
    pub fn from_name(s: &str) -> Option<Strategy> {
        Some(match s {
            "local" => Strategy::Local,
            "balanced" => Strategy::Balanced,
            "affinity" => Strategy::Affinity,
            "round_robin" | "spread" => Strategy::RoundRobin,
            "random" => Strategy::Random,
            _ => return None,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Local => "local",
            Strategy::Balanced => "balanced",
            Strategy::Affinity => "affinity",
            Strategy::RoundRobin => "round_robin",
            Strategy::Random => "random",
        }
    }
}

/// What is being placed.
#[derive(Clone, Debug)]
pub struct Request {
    pub class: String,
    pub strategy: Strategy,
    /// Record copies wanted on other nodes (durable actors).
    pub replicas: u64,
    /// `constraints: ["stateful"]`: needs `state_size` bytes of free memory.
    pub stateful: bool,
    pub state_size: u64,
    pub needs: Resources,
    pub require_node: Option<String>,
    pub avoid_node: Option<String>,
    /// The node of `near: ref` (affinity).
    pub near: Option<String>,
    /// Messages exchanged with actors on each node (affinity over time).
    pub talks_to: Vec<(String, u64)>,
    /// A number for the choices that need one (round-robin position, random
    /// pick): the caller's counter or generator.
    pub ticket: u64,
}

impl Request {
    pub fn new(class: &str, strategy: Strategy) -> Request {
        Request {
            class: class.into(),
            strategy,
            replicas: 0,
            stateful: false,
            state_size: 0,
            needs: Resources::default(),
            require_node: None,
            avoid_node: None,
            near: None,
            talks_to: Vec::new(),
            ticket: 0,
        }
    }
}

/// Where to run it, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    pub primary: String,
    pub replicas: Vec<String>,
    pub strategy: Strategy,
    /// How good the chosen node is (1: idle, lower: busier).
    pub score: f64,
    pub reasons: Vec<String>,
}

/// Choose a node for `req` in `view`; a `PlacementError` message when no
/// live node satisfies the constraints (naming what was missing where).
pub fn place_actor(req: &Request, view: &ClusterView) -> Result<Placement, String> {
    let mut reasons = Vec::new();
    let mut refused = Vec::new();
    let mut ok: Vec<&NodeView> = Vec::new();
    if let Some(r) = &req.require_node {
        if !view.nodes.iter().any(|n| &n.name == r) {
            return Err(format!("cannot place {}: require_node {r:?} is not a live node", req.class));
        }
    }
    for n in &view.nodes {
        if req.require_node.as_ref().is_some_and(|r| *r != n.name) {
            continue;
        }
        if n.draining {
            refused.push(format!("{}: draining", n.name));
            continue;
        }
        if req.avoid_node.as_ref() == Some(&n.name) {
            refused.push(format!("{}: avoided", n.name));
            continue;
        }
        let free = n.capacity.saturating_sub(&n.reserved);
        if let Err(why) = req.needs.fits_in(&free) {
            refused.push(format!("{}: {why}", n.name));
            continue;
        }
        if req.stateful && req.state_size > n.free_memory.min(free.memory) {
            refused.push(format!(
                "{}: stateful needs {} of memory (free {})",
                n.name,
                size(req.state_size),
                size(n.free_memory.min(free.memory))
            ));
            continue;
        }
        ok.push(n);
    }
    if ok.is_empty() {
        let why = if refused.is_empty() { "there are no live nodes".to_string() } else { refused.join("; ") };
        return Err(format!("cannot place {}: {why}", req.class));
    }
    if !refused.is_empty() {
        reasons.push(format!("not on {}", refused.join("; ")));
    }
    // Candidates in name order, so a choice depends only on the inputs.
    ok.sort_by(|a, b| a.name.cmp(&b.name));
    let pick = |name: &str| ok.iter().copied().find(|n| n.name == name);
    let least_loaded = || {
        // Power of two choices: two candidates drawn from the ticket, the
        // less loaded wins (spreads well without herding on one node).
        let len = ok.len() as u64;
        let i = req.ticket % len;
        let j = if len > 1 { (i + 1 + (req.ticket / len) % (len - 1)) % len } else { i };
        let (a, b) = (ok[i as usize], ok[j as usize]);
        if b.load() < a.load() {
            b
        } else {
            a
        }
    };
    let chosen = match req.strategy {
        Strategy::Local => match pick(&view.local) {
            Some(n) => {
                reasons.push("the spawner's node".into());
                n
            }
            None => {
                reasons.push(format!("the spawner's node {} cannot take it", view.local));
                least_loaded()
            }
        },
        Strategy::Balanced => {
            reasons.push("the less loaded of two candidates".into());
            least_loaded()
        }
        Strategy::Affinity => {
            let talk = req.talks_to.iter().filter(|(n, c)| *c > 0 && pick(n).is_some()).max_by_key(|(_, c)| *c);
            match (req.near.as_deref().and_then(pick), talk) {
                (Some(n), _) => {
                    reasons.push("next to the actor it is near".into());
                    n
                }
                (None, Some((name, count))) => {
                    reasons.push(format!("exchanges most messages ({count}) with actors there"));
                    pick(name).unwrap_or(ok[0])
                }
                (None, None) => match pick(&view.local) {
                    Some(n) => {
                        reasons.push("no partner known yet: the spawner's node".into());
                        n
                    }
                    None => least_loaded(),
                },
            }
        }
        Strategy::RoundRobin => {
            reasons.push("next in turn".into());
            ok[(req.ticket % ok.len() as u64) as usize]
        }
        Strategy::Random => {
            reasons.push("at random".into());
            let mut x = req.ticket.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            x ^= x >> 29;
            ok[(x % ok.len() as u64) as usize]
        }
    };
    let mut others: Vec<&NodeView> = view.nodes.iter().filter(|n| n.name != chosen.name).collect();
    others.sort_by(|a, b| a.load().total_cmp(&b.load()).then(a.name.cmp(&b.name)));
    let replicas: Vec<String> = others.iter().take(req.replicas as usize).map(|n| n.name.clone()).collect();
    if (replicas.len() as u64) < req.replicas {
        reasons.push(format!("under-replicated: {} of {} record copies (not enough other nodes)", replicas.len(), req.replicas));
    }
    Ok(Placement { primary: chosen.name.clone(), replicas, strategy: req.strategy, score: 1.0 / (1.0 + chosen.load()), reasons })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GB: u64 = 1 << 30;

    fn node(name: &str, cpus: u64, actors: u64) -> NodeView {
        NodeView {
            name: name.into(),
            capacity: Resources { cpus, memory: 16 * GB, gpus: 0 },
            reserved: Resources::default(),
            actors,
            busy: 0.0,
            free_memory: 8 * GB,
            draining: false,
        }
    }

    fn view(nodes: Vec<NodeView>) -> ClusterView {
        ClusterView { local: nodes[0].name.clone(), nodes }
    }

    fn req(strategy: Strategy) -> Request {
        Request::new("A", strategy)
    }

    #[test]
    fn local_is_the_spawners_node_unless_it_cannot() {
        let v = view(vec![node("a", 2, 100), node("b", 2, 0)]);
        assert_eq!(place_actor(&req(Strategy::Local), &v).unwrap().primary, "a");
        let mut r = req(Strategy::Local);
        r.needs.cpus = 2;
        let mut v2 = v.clone();
        v2.nodes[0].reserved.cpus = 1;
        let p = place_actor(&r, &v2).unwrap();
        assert_eq!(p.primary, "b");
        assert!(p.reasons.iter().any(|x| x.contains("cannot take it")), "{:?}", p.reasons);
    }

    #[test]
    fn balanced_prefers_the_less_loaded_and_spreads() {
        let v = view(vec![node("a", 2, 50), node("b", 2, 0), node("c", 2, 10)]);
        let mut counts = std::collections::HashMap::new();
        for t in 0..300 {
            let mut r = req(Strategy::Balanced);
            r.ticket = t;
            *counts.entry(place_actor(&r, &v).unwrap().primary).or_insert(0) += 1;
        }
        // The idle node wins most, the loaded one never beats both others.
        assert!(counts["b"] > counts.get("c").copied().unwrap_or(0), "{counts:?}");
        assert!(counts.get("a").copied().unwrap_or(0) < counts["b"], "{counts:?}");
    }

    #[test]
    fn round_robin_visits_every_node_in_name_order() {
        let v = view(vec![node("c", 1, 0), node("a", 1, 0), node("b", 1, 0)]);
        let picks: Vec<String> = (0..6)
            .map(|t| {
                let mut r = req(Strategy::RoundRobin);
                r.ticket = t;
                place_actor(&r, &v).unwrap().primary
            })
            .collect();
        assert_eq!(picks, ["a", "b", "c", "a", "b", "c"]);
    }

    #[test]
    fn affinity_goes_near_then_to_the_chattiest_partner() {
        let v = view(vec![node("a", 2, 0), node("b", 2, 0), node("c", 2, 0)]);
        let mut r = req(Strategy::Affinity);
        r.near = Some("c".into());
        assert_eq!(place_actor(&r, &v).unwrap().primary, "c");
        r.near = None;
        r.talks_to = vec![("a".into(), 3), ("b".into(), 40)];
        assert_eq!(place_actor(&r, &v).unwrap().primary, "b");
        r.talks_to.clear();
        assert_eq!(place_actor(&r, &v).unwrap().primary, "a");
    }

    #[test]
    fn constraints_and_their_errors_name_what_was_missing_where() {
        let v = view(vec![node("a", 2, 0), node("b", 4, 0)]);
        let mut r = req(Strategy::Local);
        r.needs.gpus = 1;
        let e = place_actor(&r, &v).unwrap_err();
        assert!(e.contains("a: needs gpus 1 (free 0)") && e.contains("b: needs gpus 1 (free 0)"), "{e}");
        let mut r = req(Strategy::Local);
        r.needs.cpus = 3;
        assert_eq!(place_actor(&r, &v).unwrap().primary, "b");
        let mut r = req(Strategy::Local);
        r.stateful = true;
        r.state_size = 9 * GB;
        let e = place_actor(&r, &v).unwrap_err();
        assert!(e.contains("stateful needs 9GB of memory (free 8GB)"), "{e}");
        let mut r = req(Strategy::Local);
        r.require_node = Some("b".into());
        assert_eq!(place_actor(&r, &v).unwrap().primary, "b");
        r.require_node = Some("z".into());
        assert!(place_actor(&r, &v).unwrap_err().contains("require_node \"z\" is not a live node"));
        let mut r = req(Strategy::Local);
        r.avoid_node = Some("a".into());
        assert_eq!(place_actor(&r, &v).unwrap().primary, "b");
    }

    #[test]
    fn replicas_go_to_other_nodes_and_a_small_cluster_is_not_refused() {
        let v = view(vec![node("a", 2, 0), node("b", 2, 5), node("c", 2, 1)]);
        let mut r = req(Strategy::Local);
        r.replicas = 2;
        let p = place_actor(&r, &v).unwrap();
        assert_eq!((p.primary.as_str(), p.replicas.clone()), ("a", vec!["c".to_string(), "b".to_string()]));
        r.replicas = 5;
        let p = place_actor(&r, &v).unwrap();
        assert_eq!(p.replicas.len(), 2);
        assert!(p.reasons.iter().any(|x| x.contains("under-replicated: 2 of 5")));
        let one = view(vec![node("solo", 2, 0)]);
        let p = place_actor(&r, &one).unwrap();
        assert_eq!((p.primary.as_str(), p.replicas.len()), ("solo", 0));
        r.replicas = 0;
        assert!(place_actor(&r, &one).unwrap().reasons.iter().all(|x| !x.contains("under-replicated")));
    }

    #[test]
    fn same_inputs_same_answer() {
        let v = view(vec![node("a", 2, 3), node("b", 2, 3), node("c", 2, 3)]);
        for s in [Strategy::Balanced, Strategy::Random, Strategy::RoundRobin] {
            let mut r = req(s);
            r.ticket = 12345;
            assert_eq!(place_actor(&r, &v), place_actor(&r, &v));
        }
    }
}
