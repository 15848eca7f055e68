//! Pairing requests and responses into transactions (docs/features.md): a sans-IO table per node.

pub mod nodes;
pub mod sip_tx;

pub use nodes::{NodeMap, NodeMapStats, NodeSide};
pub use sip_tx::{Completed, MessageSeen, Seen, TransactionTable, TxEvent, TxStats};
