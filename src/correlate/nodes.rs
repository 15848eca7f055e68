//! Which node a message belongs to, and on which leg: by the node's addresses, by HEP capture
//! id or agent name, or by the probe record's node column; optional auto-discovery.

use rustc_hash::FxHashMap as HashMap;
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

/// The side of a node a message is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Leg {
    /// Toward the UEs (Gm for a P-CSCF).
    Access,
    /// Toward the core (Mw).
    Core,
    /// Not known (a node identified by name only).
    Unknown,
}

/// One monitored node, as configured (`[[nodes]]`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeSpec {
    /// Node name (verdicts, topics, records' `node` column).
    pub name: String,
    /// Addresses (`ip` or `ip:port`) the node uses toward the UEs.
    pub access: Vec<String>,
    /// Addresses the node uses toward the core.
    pub core: Vec<String>,
    /// HEP capture agent ids (chunk 0x000c) that report this node.
    pub capture_ids: Vec<u32>,
    /// HEP agent / node names (chunk 0x0013) that report this node.
    pub hep_names: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Endpoint {
    Ip(IpAddr),
    Socket(SocketAddr),
}

/// Resolves messages to node indexes.
#[derive(Debug, Clone, Default)]
pub struct NodeMap {
    names: Vec<String>,
    by_endpoint: HashMap<Endpoint, (usize, Leg)>,
    by_capture_id: HashMap<u32, usize>,
    by_name: HashMap<String, usize>,
    auto_discover: bool,
    max_nodes: usize,
    /// Every message not matched otherwise belongs to this node (one SIP node per capture).
    catch_all: Option<usize>,
    /// Messages that matched no node.
    pub unmapped: u64,
    /// Nodes refused because `max_nodes` was reached.
    pub refused: u64,
}

impl NodeMap {
    /// A map of `nodes`; with `auto_discover`, unknown HEP agents and record node names
    /// become nodes of their own, up to `max_nodes`.
    pub fn new(nodes: &[NodeSpec], auto_discover: bool, max_nodes: usize) -> Result<Self, String> {
        let mut map = Self { auto_discover, max_nodes, ..Self::default() };
        for spec in nodes {
            let index = map.add(&spec.name);
            for (addresses, leg) in [(&spec.access, Leg::Access), (&spec.core, Leg::Core)] {
                for text in addresses {
                    let endpoint = match (text.parse::<SocketAddr>(), text.parse::<IpAddr>()) {
                        (Ok(socket), _) => Endpoint::Socket(socket),
                        (_, Ok(ip)) => Endpoint::Ip(ip),
                        _ => {
                            return Err(format!(
                                "node `{}`: `{text}` is not an address",
                                spec.name
                            ));
                        }
                    };
                    map.by_endpoint.insert(endpoint, (index, leg));
                }
            }
            for id in &spec.capture_ids {
                map.by_capture_id.insert(*id, index);
            }
            for name in &spec.hep_names {
                map.by_name.insert(name.clone(), index);
            }
        }
        Ok(map)
    }

    fn add(&mut self, name: &str) -> usize {
        if let Some(&index) = self.by_name.get(name) {
            return index;
        }
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
            .get(&Endpoint::Socket(address))
            .or_else(|| self.by_endpoint.get(&Endpoint::Ip(address.ip())))
            .copied()
    }

    /// The node, leg and direction of a message between `src` and `dst`.
    pub fn by_addresses(&mut self, src: SocketAddr, dst: SocketAddr) -> Option<(usize, Leg, bool)> {
        if let Some((node, leg)) = self.endpoint(dst) {
            return Some((node, leg, true));
        }
        if let Some((node, leg)) = self.endpoint(src) {
            return Some((node, leg, false));
        }
        self.catch_all.map(|node| (node, Leg::Unknown, true))
    }

    /// The node reported by a HEP agent (by addresses first, then capture id or name).
    pub fn by_hep(
        &mut self,
        src: Option<SocketAddr>,
        dst: Option<SocketAddr>,
        capture_id: Option<u32>,
        name: Option<&str>,
    ) -> Option<(usize, Leg, bool)> {
        if let (Some(src), Some(dst)) = (src, dst)
            && let Some(found) = self.by_addresses(src, dst)
        {
            return Some(found);
        }
        let index = capture_id
            .and_then(|id| self.by_capture_id.get(&id).copied())
            .or_else(|| name.and_then(|n| self.by_name.get(n).copied()));
        if let Some(index) = index {
            return Some((index, Leg::Unknown, true));
        }
        let label =
            name.map(str::to_owned).or_else(|| capture_id.map(|id| format!("capture-{id}")))?;
        self.discover(&label).map(|index| (index, Leg::Unknown, true))
    }

    /// The node of a probe record's `node` column.
    pub fn by_name(&mut self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied().or_else(|| self.discover(name))
    }

    fn discover(&mut self, name: &str) -> Option<usize> {
        if !self.auto_discover {
            return None;
        }
        if self.names.len() >= self.max_nodes {
            self.refused += 1;
            return None;
        }
        Some(self.add(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcscf() -> NodeSpec {
        NodeSpec {
            name: "pcscf-1".into(),
            access: vec!["172.20.0.10".into()],
            core: vec!["172.21.0.10:5060".into()],
            capture_ids: vec![2001],
            hep_names: vec![],
        }
    }

    #[test]
    fn addresses_give_node_leg_and_direction() {
        let mut map = NodeMap::new(&[pcscf()], false, 10).unwrap();
        let ue: SocketAddr = "10.0.0.1:50000".parse().unwrap();
        let access: SocketAddr = "172.20.0.10:5060".parse().unwrap();
        let core: SocketAddr = "172.21.0.10:5060".parse().unwrap();
        let scscf: SocketAddr = "172.30.0.30:5060".parse().unwrap();
        assert_eq!(map.by_addresses(ue, access), Some((0, Leg::Access, true)));
        assert_eq!(map.by_addresses(access, ue), Some((0, Leg::Access, false)));
        assert_eq!(map.by_addresses(core, scscf), Some((0, Leg::Core, false)));
        // The core address is configured with its port: another port is not the node.
        assert_eq!(map.by_addresses(scscf, "172.21.0.10:5070".parse().unwrap()), None);
        assert_eq!(map.by_hep(None, None, Some(2001), None), Some((0, Leg::Unknown, true)));
    }

    #[test]
    fn discovery_is_bounded() {
        let mut map = NodeMap::new(&[], true, 2).unwrap();
        assert_eq!(map.by_name("a"), Some(0));
        assert_eq!(map.by_name("b"), Some(1));
        assert_eq!(map.by_name("a"), Some(0));
        assert_eq!(map.by_name("c"), None);
        assert_eq!(map.refused, 1);
        let mut closed = NodeMap::new(&[], false, 10).unwrap();
        assert_eq!(closed.by_name("a"), None);
    }

    #[test]
    fn bad_addresses_are_named() {
        let spec =
            NodeSpec { name: "x".into(), access: vec!["nope".into()], ..NodeSpec::default() };
        assert_eq!(
            NodeMap::new(&[spec], false, 10).unwrap_err(),
            "node `x`: `nope` is not an address"
        );
    }
}
