//! The appliance's Prometheus metrics: one registry per running appliance (not a global, so
//! tests and the demo can run several), served as text on `/metrics`.
//!
//! The cores count in plain structs ([`PipelineStats`], [`JudgeStats`]); the actors that
//! own them pass each new snapshot here, and the difference to the last one is added to the
//! counters. Sockets and the publisher increment their counters directly.

use prometheus::{
    GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::judge::JudgeStats;
use crate::pipeline::PipelineStats;

/// Every metric of the appliance.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// Datagrams or capture events received, by source.
    pub received: IntCounterVec,
    /// Inputs dropped before parsing, by source and reason (`busy`: the pipeline's mailbox was
    /// full; `kernel`: the socket buffer overflowed; `auth`: wrong HEP auth key; `oversized`).
    pub dropped: IntCounterVec,
    /// Inputs that could not be used, by source and reason.
    pub rejected: IntCounterVec,
    /// SIP messages parsed, by source.
    pub sip_messages: IntCounterVec,
    /// Probe records read, by source.
    pub records: IntCounterVec,
    /// Transactions completed, by source.
    pub transactions: IntCounterVec,
    /// Inputs that came later than the allowed lateness, by source.
    pub late: IntCounterVec,
    /// Node-minutes closed.
    pub minutes_closed: IntCounter,
    /// Nodes the pipeline knows.
    pub nodes: IntGauge,
    /// Seconds per call to the model.
    pub inference_seconds: Histogram,
    /// Windows per call to the model.
    pub inference_batch: Histogram,
    /// Embeddings rejected (NaN, infinity, wrong length).
    pub invalid_embeddings: IntCounter,
    /// Node-minutes by outcome: a verdict class, `no_data` or `warming_up`.
    pub verdicts: IntCounterVec,
    /// Alarms in force.
    pub alarms_active: IntGauge,
    /// Alarms raised and cleared, by transition.
    pub alarm_transitions: IntCounterVec,
    /// Seconds from a minute's close to the broker's acknowledgement of its last message.
    pub minute_to_broker_seconds: Histogram,
    /// Messages waiting in the durable outbox.
    pub outbox_depth: IntGauge,
    /// Waiting state messages dropped to keep the outbox within its limit.
    pub outbox_dropped: IntCounter,
    /// 1 while the MQTT broker is connected.
    pub mqtt_connected: IntGauge,
    /// MQTT publishes handed to the broker (re-sends included).
    pub mqtt_published: IntCounter,
    /// MQTT publishes the broker acknowledged.
    pub mqtt_acknowledged: IntCounter,
    /// MQTT connections made (the first included).
    pub mqtt_connections: IntCounter,
    /// MQTT connection errors.
    pub mqtt_connection_errors: IntCounter,
    /// 1 for each component that runs: `hep_udp`, `hep_tcp`, `input_dir`, `http` (0: a
    /// source that stopped, e.g. an input directory whose files cannot be moved).
    pub up: IntGaugeVec,
    /// Distance of each judged window to its nearest reference.
    pub nearest_distance: Histogram,
    /// Input drift score (median PSI over the features) per node and for all (`*`).
    pub drift_score: GaugeVec,
    /// Drift alerts in force.
    pub drift_alerts_active: IntGauge,
    /// Judged windows kept in the sample database, by verdict class.
    pub samples_stored: IntCounterVec,
    /// Samples removed by retention.
    pub samples_pruned: IntCounter,
    /// Bytes the sample database holds (after the last retention run).
    pub samples_bytes: IntGauge,
    /// Shadow-model verdicts, by whether they agree with the active model's.
    pub shadow_verdicts: IntCounterVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The buckets of the inference latency: 100 µs to 10 s.
const LATENCY_BUCKETS: [f64; 12] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0, 10.0];
/// The buckets of the close → broker latency: 10 ms to 2 minutes.
const DELIVERY_BUCKETS: [f64; 16] =
    [0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 120.0];
/// The buckets of the nearest-reference distance (Euclidean, in the model's embedding space).
const DISTANCE_BUCKETS: [f64; 14] =
    [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0];
/// The buckets of the batch size: powers of two to 4096.
const BATCH_BUCKETS: [f64; 13] =
    [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0];

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(metric.clone())).expect("unique metric");
            metric
        };
        let counter = |name: &str, help: &str| {
            let metric = IntCounter::new(name, help).expect("valid metric");
            registry.register(Box::new(metric.clone())).expect("unique metric");
            metric
        };
        let gauge = |name: &str, help: &str| {
            let metric = IntGauge::new(name, help).expect("valid metric");
            registry.register(Box::new(metric.clone())).expect("unique metric");
            metric
        };
        let histogram = |name: &str, help: &str, buckets: &[f64]| {
            let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
            let metric = Histogram::with_opts(opts).expect("valid metric");
            registry.register(Box::new(metric.clone())).expect("unique metric");
            metric
        };
        let up =
            IntGaugeVec::new(Opts::new("imsight_up", "1 while the component runs"), &["component"])
                .expect("valid metric");
        registry.register(Box::new(up.clone())).expect("unique metric");
        let drift_score = GaugeVec::new(
            Opts::new(
                "imsight_input_drift_score",
                "Input drift: median PSI of the features against the model's training statistics",
            ),
            &["scope"],
        )
        .expect("valid metric");
        registry.register(Box::new(drift_score.clone())).expect("unique metric");
        Self {
            nearest_distance: histogram(
                "imsight_nearest_reference_distance",
                "Distance of each judged window to its nearest reference",
                &DISTANCE_BUCKETS,
            ),
            drift_score,
            drift_alerts_active: gauge("imsight_drift_alerts_active", "Drift alerts in force"),
            samples_stored: counter_vec(
                "imsight_samples_stored_total",
                "Judged windows kept in the sample database",
                &["class"],
            ),
            samples_pruned: counter(
                "imsight_samples_pruned_total",
                "Samples removed by the retention policy",
            ),
            samples_bytes: gauge("imsight_samples_bytes", "Bytes the sample database holds"),
            shadow_verdicts: counter_vec(
                "imsight_shadow_verdicts_total",
                "Shadow-model verdicts, by agreement with the active model",
                &["agreement"],
            ),
            received: counter_vec(
                "imsight_source_received_total",
                "Datagrams or capture events received",
                &["source"],
            ),
            dropped: counter_vec(
                "imsight_source_dropped_total",
                "Inputs dropped before parsing",
                &["source", "reason"],
            ),
            rejected: counter_vec(
                "imsight_input_rejected_total",
                "Inputs that could not be used",
                &["source", "reason"],
            ),
            sip_messages: counter_vec(
                "imsight_sip_messages_total",
                "SIP messages parsed",
                &["source"],
            ),
            records: counter_vec("imsight_probe_records_total", "Probe records read", &["source"]),
            transactions: counter_vec(
                "imsight_transactions_total",
                "Transactions completed",
                &["source"],
            ),
            late: counter_vec(
                "imsight_late_inputs_total",
                "Inputs later than the allowed lateness (dropped)",
                &["source"],
            ),
            minutes_closed: counter("imsight_minutes_closed_total", "Node-minutes closed"),
            nodes: gauge("imsight_nodes", "Nodes known to the pipeline"),
            inference_seconds: histogram(
                "imsight_inference_seconds",
                "Seconds per call to the model",
                &LATENCY_BUCKETS,
            ),
            inference_batch: histogram(
                "imsight_inference_batch_windows",
                "Windows per call to the model",
                &BATCH_BUCKETS,
            ),
            invalid_embeddings: counter(
                "imsight_invalid_embeddings_total",
                "Embeddings rejected for NaN, infinity or a wrong length",
            ),
            verdicts: counter_vec(
                "imsight_verdicts_total",
                "Node-minutes by outcome (verdict class, no_data, warming_up)",
                &["class"],
            ),
            alarms_active: gauge("imsight_alarms_active", "Alarms in force"),
            alarm_transitions: counter_vec(
                "imsight_alarm_transitions_total",
                "Alarms raised and cleared",
                &["transition"],
            ),
            minute_to_broker_seconds: histogram(
                "imsight_minute_to_broker_seconds",
                "Seconds from a minute's close to the broker's acknowledgement of its last message",
                &DELIVERY_BUCKETS,
            ),
            outbox_depth: gauge("imsight_outbox_depth", "Messages waiting in the durable outbox"),
            outbox_dropped: counter(
                "imsight_outbox_dropped_states_total",
                "Waiting state messages dropped to keep the outbox within its limit",
            ),
            mqtt_connected: gauge("imsight_mqtt_connected", "1 while the MQTT broker is connected"),
            mqtt_published: counter(
                "imsight_mqtt_published_total",
                "MQTT publishes handed to the broker (re-sends included)",
            ),
            mqtt_acknowledged: counter(
                "imsight_mqtt_acknowledged_total",
                "MQTT publishes the broker acknowledged",
            ),
            mqtt_connections: counter(
                "imsight_mqtt_connections_total",
                "MQTT connections made (the first included)",
            ),
            mqtt_connection_errors: counter(
                "imsight_mqtt_connection_errors_total",
                "MQTT connection errors",
            ),
            up,
            registry,
        }
    }

    /// The name of every metric registered (what dashboards and alert rules may use).
    pub fn names(&self) -> std::collections::BTreeSet<String> {
        use prometheus::core::Collector;
        let collectors: &[&dyn Collector] = &[
            &self.received,
            &self.dropped,
            &self.rejected,
            &self.sip_messages,
            &self.records,
            &self.transactions,
            &self.late,
            &self.minutes_closed,
            &self.nodes,
            &self.inference_seconds,
            &self.inference_batch,
            &self.invalid_embeddings,
            &self.verdicts,
            &self.alarms_active,
            &self.alarm_transitions,
            &self.minute_to_broker_seconds,
            &self.outbox_depth,
            &self.outbox_dropped,
            &self.mqtt_connected,
            &self.mqtt_published,
            &self.mqtt_acknowledged,
            &self.mqtt_connections,
            &self.mqtt_connection_errors,
            &self.up,
            &self.nearest_distance,
            &self.drift_score,
            &self.drift_alerts_active,
            &self.samples_stored,
            &self.samples_pruned,
            &self.samples_bytes,
            &self.shadow_verdicts,
        ];
        collectors.iter().flat_map(|c| c.desc().into_iter().map(|d| d.fq_name.clone())).collect()
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        TextEncoder::new().encode_to_string(&self.registry.gather()).unwrap_or_default()
    }

    /// Adds what the pipeline of `source` counted since `before`.
    pub fn pipeline_counted(&self, source: &str, before: &PipelineStats, now: &PipelineStats) {
        let add = |counter: &IntCounter, before: u64, now: u64| {
            counter.inc_by(now.saturating_sub(before));
        };
        let rejected = |reason: &str| self.rejected.with_label_values(&[source, reason]);
        add(&self.sip_messages.with_label_values(&[source]), before.messages, now.messages);
        add(&self.records.with_label_values(&[source]), before.records, now.records);
        add(&self.transactions.with_label_values(&[source]), before.transactions, now.transactions);
        add(&self.late.with_label_values(&[source]), before.late, now.late);
        add(&rejected("hep_invalid"), before.hep_rejected, now.hep_rejected);
        add(&rejected("sip_unparsable"), before.parse_errors, now.parse_errors);
        add(&rejected("sip_unusable"), before.unusable, now.unusable);
        add(&rejected("unknown_node"), before.unmapped, now.unmapped);
        add(&rejected("implausible_time"), before.implausible_time, now.implausible_time);
        add(&rejected("record_without_end"), before.records_without_end, now.records_without_end);
        add(&rejected("transaction_evicted"), before.evicted, now.evicted);
        add(&rejected("other_shard"), before.other_shard, now.other_shard);
    }

    /// Adds what the judge counted since `before`.
    pub fn judge_counted(&self, before: &JudgeStats, now: &JudgeStats) {
        self.invalid_embeddings
            .inc_by(now.invalid_embeddings.saturating_sub(before.invalid_embeddings));
    }

    /// The value of a labelled counter (tests and logs).
    pub fn count(counter: &IntCounterVec, labels: &[&str]) -> u64 {
        counter.get_metric_with_label_values(labels).map(|c| c.get()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_differences_are_added_by_reason() {
        let metrics = Metrics::new();
        let before = PipelineStats { messages: 10, hep_rejected: 1, ..PipelineStats::default() };
        let now = PipelineStats {
            messages: 25,
            hep_rejected: 4,
            transactions: 7,
            ..PipelineStats::default()
        };
        metrics.pipeline_counted("hep_udp", &before, &now);
        assert_eq!(Metrics::count(&metrics.sip_messages, &["hep_udp"]), 15);
        assert_eq!(Metrics::count(&metrics.rejected, &["hep_udp", "hep_invalid"]), 3);
        assert_eq!(Metrics::count(&metrics.transactions, &["hep_udp"]), 7);
        let text = metrics.render();
        assert!(text.contains("imsight_sip_messages_total{source=\"hep_udp\"} 15"), "{text}");
        assert!(text.contains("# TYPE imsight_inference_seconds histogram"), "{text}");
    }

    #[test]
    fn every_registered_metric_is_named() {
        let metrics = Metrics::new();
        // Everything with a sample renders; `names` covers the rest (labelled families
        // without samples do not render).
        metrics.received.with_label_values(&["x"]).inc();
        let names = metrics.names();
        assert_eq!(names.len(), 31, "{names:?}");
        assert!(names.contains("imsight_source_received_total"));
        assert!(names.iter().all(|n| n.starts_with("imsight_")));
    }

    #[test]
    fn two_appliances_in_one_process_count_apart() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.minutes_closed.inc();
        assert_eq!((a.minutes_closed.get(), b.minutes_closed.get()), (1, 0));
    }
}
