//! The 130 features per node per minute: the catalogue ([`schema`]), and extraction from
//! captures and probe records ([`extract`]), shared by `imsight features`, replay and training.

pub mod extract;
pub mod schema;

pub use extract::{ExtractConfig, ExtractStats, Extractor};
pub use schema::{FEATURE_COUNT, SCHEMA_ID, catalogue, schema_hash};
