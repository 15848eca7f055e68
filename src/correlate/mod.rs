//! Pairing requests and responses into transactions (DESIGN §2): a sans-IO table per node.

pub mod nodes;
pub mod sip_tx;

pub use nodes::{NodeMap, NodeMapStats, NodeSide};
pub use sip_tx::{Completed, MessageSeen, Seen, TransactionTable, TxEvent, TxStats};
