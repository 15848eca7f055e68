//! `imsight simulate`: P-CSCF-centred IMS traffic with injected faults (docs/simulator.md).
//!
//! ```text
//! scenario   TOML timeline: nodes, their network profile, faults (checked, every problem listed)
//! profile    network profiles: population, traffic mix, latencies (four built in)
//! fault      fault kinds, severity ramps, partial and flapping faults
//! event      benign events (restart, flash crowd, drain, probe gap, growth), calendar
//! engine     the event-driven traffic model around each P-CSCF (both legs, RFC 3261 timers)
//! wire       simulated messages and their SIP text
//! output     pcap, HEP over UDP, probe records
//! summary    counts shaped like the corpus ground truth, per-minute series, labels
//! rng        the deterministic random numbers (same seed, same bytes)
//! ```

pub mod engine;
pub mod event;
pub mod fault;
pub mod output;
pub mod profile;
pub mod rng;
pub mod scenario;
pub mod summary;
pub mod wire;

pub use engine::Engine;
pub use event::{BenignKind, EventSpec};
pub use fault::{FaultKind, FaultSpec};
pub use output::Outputs;
pub use profile::NetworkProfile;
pub use scenario::Scenario;
pub use summary::Summary;

/// Runs `scenario` with `seed` into `outputs` (whose summary must be set up for it).
pub fn run(scenario: &Scenario, seed: u64, outputs: &mut Outputs) {
    let start = scenario.start_micros().unwrap_or_default();
    let mut engine = Engine::new(scenario.resolve(), start, scenario.duration_minutes, seed);
    engine.run(outputs);
    outputs.summary.finish();
}
