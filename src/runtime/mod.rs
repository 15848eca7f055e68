//! The live appliance's actors (actix on tokio): the only room that imports actix or tokio
//! (the live sockets will be opened here too). Every actor is a thin shell around a sans-IO
//! core of another room; [`topology`] is the one file that wires them.
//!
//! ```text
//! hep          the live HEP-over-UDP source (batches; dropped and counted when the pipeline is busy)
//! http         /healthz, /readyz, /metrics, /api/v1/nodes (actix-web)
//! broker       the MQTT broker `demo` embeds (rumqttd) and an in-process subscription
//! files        a directory of captures that probes keep writing into
//! judge        JudgeActor (own thread): closed minutes in, judged minutes out
//! announce     AnnounceActor (own thread): judged minutes to the durable outbox
//! messages     what flows between actors (owned, batched)
//! mqtt         the MQTT publisher: the durable outbox drained to the broker, QoS 1, in order
//! pipeline     FeaturePipelineActor: capture events in, closed minutes out
//! topology     the actor graph, with each edge's capacity and overflow policy in one table
//! ```
//!
//! A capture file runs through the same graph as live HEP (`run_judged_capture` gives what
//! `imsight replay` gives, tested).

pub mod announce;
pub mod broker;
pub mod files;
pub mod hep;
pub mod http;
pub mod http_lifecycle;
pub mod judge;
pub mod messages;
pub mod models;
pub mod mqtt;
pub mod pipeline;
pub mod topology;

pub use topology::{
    ActorRun, CaptureTopology, JudgedRun, LiveControl, LiveSettings, Reconfigure, RuntimeError,
    run_capture, run_judged_capture, run_live,
};
