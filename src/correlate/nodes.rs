//! Which node a message belongs to, and on which leg: by the node's addresses, by HEP capture
//! id or agent name, or by the probe record's node column; optional auto-discovery.

use rustc_hash::FxHashMap as HashMap;
use std::net::SocketAddr;

use crate::config::{NodeAddress, NodeConfig, node_name_problem};
use crate::schema::Leg;

/// Where a message belongs: its node, the leg (when the node's addresses tell), and whether
/// the node received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeSide {
    /// Node index (see [`NodeMap::names`]).
    pub node: usize,
    /// Leg, when known.
    pub leg: Option<Leg>,
    /// The node received the message (it was sent to one of its addresses).
    pub inbound: bool,
}

/// What the map counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct NodeMapStats {
    /// Messages and records that matched no node.
    pub unmapped: u64,
    /// Messages and records whose node was not discovered because `max_nodes` was reached
    /// (one per input, not per name: a name is not kept once refused).
    pub refused: u64,
    /// Messages and records whose node name (a record's `node`, a HEP agent's name) breaks
    /// the naming rule of configured nodes, so it was not discovered.
    pub bad_names: u64,
}

/// Resolves messages to node indexes.
#[derive(Debug, Clone, Default)]
pub struct NodeMap {
    names: Vec<String>,
    by_endpoint: HashMap<NodeAddress, (usize, Leg)>,
    by_capture_id: HashMap<u32, usize>,
    by_name: HashMap<String, usize>,
    auto_discover: bool,
    max_nodes: usize,
    /// Every message not matched otherwise belongs to this node (one SIP node per capture).
    catch_all: Option<usize>,
    /// Which nodes this instance judges.
    shard: crate::config::ShardConfig,
    /// By index: the node belongs to another shard (known, so its inputs are recognised and
    /// skipped, but never judged here).
    foreign: Vec<bool>,
    stats: NodeMapStats,
}

impl NodeMap {
    /// A map of `nodes`; with `auto_discover`, unknown HEP agents and record node names
    /// become nodes of their own, up to `max_nodes`.
    pub fn new(nodes: &[NodeConfig], auto_discover: bool, max_nodes: usize) -> Self {
        let mut map = Self { auto_discover, max_nodes, ..Self::default() };
        for spec in nodes {
            let index = map.add(&spec.name);
            for (addresses, leg) in [(&spec.access, Leg::Access), (&spec.core, Leg::Core)] {
                for address in addresses {
                    map.by_endpoint.insert(*address, (index, leg));
                }
            }
            for id in &spec.capture_ids {
                map.by_capture_id.insert(*id, index);
            }
            for name in &spec.hep_names {
                map.by_name.insert(name.clone(), index);
            }
        }
        map
    }

    /// What the map counted.
    pub fn stats(&self) -> NodeMapStats {
        self.stats
    }

    /// Counts a message or record that belongs to no node.
    pub fn count_unmapped(&mut self) {
        self.stats.unmapped += 1;
    }

    /// Judges only the nodes of `shard`.
    pub fn sharded(mut self, shard: crate::config::ShardConfig) -> Self {
        self.shard = shard;
        self.foreign = self.names.iter().map(|name| !shard.owns(name)).collect();
        self
    }

    /// Nodes of this shard.
    pub fn owned(&self) -> usize {
        self.names.len() - self.foreign.iter().filter(|&&foreign| foreign).count()
    }

    /// Whether `node` belongs to another shard.
    pub fn is_foreign(&self, node: usize) -> bool {
        self.foreign.get(node).copied().unwrap_or(false)
    }

    fn add(&mut self, name: &str) -> usize {
        if let Some(&index) = self.by_name.get(name) {
            return index;
        }
        self.foreign.push(!self.shard.owns(name));
        self.names.push(name.to_owned());
        self.by_name.insert(name.to_owned(), self.names.len() - 1);
        self.names.len() - 1
    }

    /// Sends every message that matches no configured node to a node called `name`, on an
    /// unknown leg (a capture of a single SIP node whose addresses are not configured).
    pub fn with_catch_all(mut self, name: &str) -> Self {
        self.catch_all = Some(self.add(name));
        self
    }

    /// Node names by index.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    fn endpoint(&self, address: SocketAddr) -> Option<(usize, Leg)> {
        self.by_endpoint
            .get(&NodeAddress::Socket(address))
            .or_else(|| self.by_endpoint.get(&NodeAddress::Ip(address.ip())))
            .copied()
    }

    /// The node, leg and direction of a message between `src` and `dst`.
    pub fn by_addresses(&self, src: SocketAddr, dst: SocketAddr) -> Option<NodeSide> {
        if let Some((node, leg)) = self.endpoint(dst) {
            return Some(NodeSide { node, leg: Some(leg), inbound: true });
        }
        if let Some((node, leg)) = self.endpoint(src) {
            return Some(NodeSide { node, leg: Some(leg), inbound: false });
        }
        self.catch_all.map(|node| NodeSide { node, leg: None, inbound: true })
    }

    /// The node reported by a HEP agent (by addresses first, then capture id or name).
    pub fn by_hep(
        &mut self,
        src: Option<SocketAddr>,
        dst: Option<SocketAddr>,
        capture_id: Option<u32>,
        name: Option<&str>,
    ) -> Option<NodeSide> {
        if let (Some(src), Some(dst)) = (src, dst)
            && let Some(found) = self.by_addresses(src, dst)
        {
            return Some(found);
        }
        let index = capture_id
            .and_then(|id| self.by_capture_id.get(&id).copied())
            .or_else(|| name.and_then(|n| self.by_name.get(n).copied()));
        let index = match index {
            Some(index) => index,
            None => {
                let label = name
                    .map(str::to_owned)
                    .or_else(|| capture_id.map(|id| format!("capture-{id}")))?;
                self.discover(&label)?
            }
        };
        Some(NodeSide { node: index, leg: None, inbound: true })
    }

    /// The node of a probe record's `node` column.
    pub fn by_name(&mut self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied().or_else(|| self.discover(name))
    }

    fn discover(&mut self, name: &str) -> Option<usize> {
        if !self.auto_discover {
            return None;
        }
        if node_name_problem(name).is_some() {
            self.stats.bad_names += 1;
            return None;
        }
        // Another shard's node is remembered (its inputs are skipped cheaply) but does not
        // count against this instance's limit.
        let owned = self.owned();
        let others = self.names.len() - owned;
        let limit_of_others = self.max_nodes.saturating_mul(self.shard.count.max(1) as usize - 1);
        let ours = self.shard.owns(name);
        if (ours && owned >= self.max_nodes) || (!ours && others >= limit_of_others) {
            self.stats.refused += 1;
            return None;
        }
        Some(self.add(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcscf() -> NodeConfig {
        NodeConfig {
            name: "pcscf-1".into(),
            access: vec!["172.20.0.10".parse().unwrap()],
            core: vec!["172.21.0.10:5060".parse().unwrap()],
            capture_ids: vec![2001],
            hep_names: vec![],
        }
    }

    fn side(node: usize, leg: Option<Leg>, inbound: bool) -> Option<NodeSide> {
        Some(NodeSide { node, leg, inbound })
    }

    #[test]
    fn addresses_give_node_leg_and_direction() {
        let mut map = NodeMap::new(&[pcscf()], false, 10);
        let ue: SocketAddr = "10.0.0.1:50000".parse().unwrap();
        let access: SocketAddr = "172.20.0.10:5060".parse().unwrap();
        let core: SocketAddr = "172.21.0.10:5060".parse().unwrap();
        let scscf: SocketAddr = "172.30.0.30:5060".parse().unwrap();
        assert_eq!(map.by_addresses(ue, access), side(0, Some(Leg::Access), true));
        assert_eq!(map.by_addresses(access, ue), side(0, Some(Leg::Access), false));
        assert_eq!(map.by_addresses(core, scscf), side(0, Some(Leg::Core), false));
        // The core address is configured with its port: another port is not the node.
        assert_eq!(map.by_addresses(scscf, "172.21.0.10:5070".parse().unwrap()), None);
        assert_eq!(map.by_hep(None, None, Some(2001), None), side(0, None, true));
    }

    #[test]
    fn discovery_is_bounded_and_counted() {
        let mut map = NodeMap::new(&[], true, 2);
        assert_eq!(map.by_name("a"), Some(0));
        assert_eq!(map.by_name("b"), Some(1));
        assert_eq!(map.by_name("a"), Some(0));
        assert_eq!(map.by_name("c"), None);
        assert_eq!(map.by_hep(None, None, Some(7), None), None);
        assert_eq!(map.stats().refused, 2);
        let mut closed = NodeMap::new(&[], false, 10);
        assert_eq!(closed.by_name("a"), None);
        assert_eq!(closed.stats().refused, 0);
    }

    #[test]
    fn discovered_names_follow_the_naming_rule() {
        let mut map = NodeMap::new(&[], true, 10);
        for bad in ["", "a/b", "x+", "#", "two words", "line\nbreak", &"n".repeat(200)] {
            assert_eq!(map.by_name(bad), None, "{bad:?}");
        }
        assert_eq!(map.by_hep(None, None, None, Some("evil\r\nname")), None);
        assert_eq!(map.stats().bad_names, 8);
        assert_eq!(map.by_name("pcscf-1,site-a"), Some(0), "a comma is quoted in CSV, not refused");
    }

    #[test]
    fn a_catch_all_node_takes_what_no_address_matches() {
        let map = NodeMap::new(&[pcscf()], false, 10).with_catch_all("rest");
        let a: SocketAddr = "10.0.0.1:5060".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:5060".parse().unwrap();
        assert_eq!(map.by_addresses(a, b), side(1, None, true));
        assert_eq!(map.names(), ["pcscf-1".to_owned(), "rest".to_owned()]);
    }
}
