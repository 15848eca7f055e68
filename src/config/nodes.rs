//! `[[nodes]]`: the monitored nodes, with their addresses parsed once, when the configuration
//! is read (a bad address is a configuration problem naming its key, not a later surprise).

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest node name: it becomes an MQTT topic level and a CSV field.
pub const MAX_NODE_NAME_LEN: usize = 128;

/// Why a node name cannot be used, if it cannot: names become MQTT topic levels, so no `/`,
/// `+`, `#`, whitespace or control characters, not empty, at most [`MAX_NODE_NAME_LEN`]
/// bytes. Configured, command-line and auto-discovered names follow the same rule.
pub fn node_name_problem(name: &str) -> Option<String> {
    if name.is_empty()
        || name.len() > MAX_NODE_NAME_LEN
        || name.contains(['/', '+', '#'])
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Some(format!(
            "`{}` must be 1 to {MAX_NODE_NAME_LEN} bytes, without `/`, `+`, `#`, spaces or control characters",
            name.escape_debug()
        ));
    }
    None
}

/// One monitored node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Node name (verdicts, topics, records' `node` column).
    pub name: String,
    /// Addresses (`ip` or `ip:port`) the node uses toward the UEs.
    pub access: Vec<NodeAddress>,
    /// Addresses the node uses toward the core.
    pub core: Vec<NodeAddress>,
    /// HEP capture agent ids (chunk 0x000c) that report this node.
    pub capture_ids: Vec<u32>,
    /// HEP agent / node names (chunk 0x0013) that report this node.
    pub hep_names: Vec<String>,
}

impl NodeConfig {
    /// Parses the command-line form `NAME=ACCESS/CORE`, each side a comma-separated list of
    /// `ip` or `ip:port`.
    pub fn from_spec(text: &str) -> Result<Self, String> {
        let (name, addresses) = text.split_once('=').ok_or("expected NAME=ACCESS/CORE")?;
        if let Some(problem) = node_name_problem(name.trim()) {
            return Err(problem);
        }
        let (access, core) = addresses.split_once('/').unwrap_or((addresses, ""));
        let list = |side: &str| {
            side.split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::parse)
                .collect::<Result<Vec<NodeAddress>, String>>()
        };
        Ok(Self {
            name: name.trim().to_owned(),
            access: list(access)?,
            core: list(core)?,
            ..Self::default()
        })
    }
}

/// An address a node uses: an IP (any port) or an IP and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeAddress {
    /// Every port of this IP.
    Ip(IpAddr),
    /// This IP and port only.
    Socket(SocketAddr),
}

impl FromStr for NodeAddress {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match (text.parse::<SocketAddr>(), text.parse::<IpAddr>()) {
            (Ok(socket), _) => Ok(Self::Socket(socket)),
            (_, Ok(ip)) => Ok(Self::Ip(ip)),
            _ => Err(format!("`{text}` is not an address (ip or ip:port)")),
        }
    }
}

impl std::fmt::Display for NodeAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ip(ip) => write!(f, "{ip}"),
            Self::Socket(socket) => write!(f, "{socket}"),
        }
    }
}

impl Serialize for NodeAddress {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NodeAddress {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_with_or_without_port() {
        assert_eq!("172.20.0.10".parse(), Ok(NodeAddress::Ip([172, 20, 0, 10].into())));
        assert_eq!(
            "172.21.0.10:5060".parse(),
            Ok(NodeAddress::Socket(([172, 21, 0, 10], 5060).into()))
        );
        assert!("[::1]:5060".parse::<NodeAddress>().is_ok());
        assert_eq!(
            "nope".parse::<NodeAddress>(),
            Err("`nope` is not an address (ip or ip:port)".to_owned())
        );
    }

    #[test]
    fn the_command_line_form_names_both_legs() {
        let node = NodeConfig::from_spec("pcscf-1=172.20.0.10, 10.0.0.1/172.21.0.10:5060").unwrap();
        assert_eq!(node.name, "pcscf-1");
        assert_eq!(node.access.len(), 2);
        assert_eq!(node.core, vec![NodeAddress::Socket(([172, 21, 0, 10], 5060).into())]);
        assert!(NodeConfig::from_spec("pcscf-1").is_err());
        assert!(NodeConfig::from_spec("a/b=1.2.3.4").is_err());
        assert!(NodeConfig::from_spec("=1.2.3.4").is_err());
        assert!(NodeConfig::from_spec("p=1.2.3/").is_err());
    }
}
