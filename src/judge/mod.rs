//! From closed node-minutes to verdicts and alarms: the window ring of each node, batched
//! embedding, matching against the global and the node's enrolled references, the decision
//! state machine, and an explanation for abnormal verdicts (docs/verdicts.md).
//!
//! Sans-IO: the model is behind [`Embedder`] (ONNX Runtime in the appliance, a stand-in in
//! tests), time is the minute of the rows. `imsight replay` drives it from files, the live
//! appliance from its actors; both get the same judgements for the same minutes.
//!
//! Per node and minute:
//! - the source was silent (`source_silent`): `no_data`; the minute does not enter the
//!   window (the window is the node's last 60 minutes *with* data);
//! - the node had no record although the source spoke (a probe gap of that node): `no_data`;
//!   the empty minute enters the window, as in training;
//! - fewer than 60 minutes held (first hour, or after a gap longer than a window, which
//!   empties the ring): `warming_up`. The appliance does not judge a partial hour: the model
//!   was trained on full windows only, and padding would invent traffic;
//! - otherwise the window is embedded and matched; a non-finite embedding is counted and
//!   the minute is `no_data`.

pub mod explain;
pub mod score;

use std::collections::HashMap;

use crate::aggregate::FeatureRow;
use crate::aggregate::window::WindowRing;
use crate::decide::{Decision, DecisionSettings, NodeDecider, Observation, Status};
use crate::matcher::{Reference, ReferenceError, ReferenceSet, Verdict};
use crate::schema::index_of;
use crate::time::MINUTE_US;

pub use explain::GroupShare;

/// A model that turns windows into embeddings.
pub trait Embedder {
    /// Embeds `windows` windows, each `window_minutes × 130` raw values, oldest minute first,
    /// laid end to end; returns one embedding per window.
    fn embed(&mut self, windows: usize, values: &[f32]) -> Result<Vec<Vec<f32>>, String>;
}

/// How nodes are judged.
#[derive(Debug, Clone)]
pub struct JudgeSettings {
    /// The appliance's name (part of alarm identities).
    pub appliance: String,
    /// Minutes in a window (the model's).
    pub window_minutes: usize,
    /// The decision rule.
    pub decisions: DecisionSettings,
    /// Most windows per call to the model.
    pub max_batch: usize,
    /// Explain abnormal verdicts (one extra embedding per feature group).
    pub explain: bool,
}

impl Default for JudgeSettings {
    fn default() -> Self {
        Self {
            appliance: "imsight".into(),
            window_minutes: 60,
            decisions: DecisionSettings::default(),
            max_batch: 256,
            explain: true,
        }
    }
}

/// One node's judgement of one minute.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MinuteVerdict {
    /// The node.
    pub node: String,
    /// Minute start, µs since the epoch.
    pub minute: u64,
    /// The node's state after this minute.
    pub status: Status,
    /// The match, when the minute was judged.
    pub verdict: Option<Verdict>,
    /// The class of the alarm in force after this minute.
    pub alarm: Option<String>,
    /// For an abnormal verdict: the feature groups that moved the embedding most.
    pub explanation: Vec<GroupShare>,
}

/// What the judge says.
#[derive(Debug, Clone, PartialEq)]
pub enum Judgement {
    /// A node-minute.
    Minute(MinuteVerdict),
    /// An alarm raised or cleared.
    Alarm(Decision),
    /// A judged window the sampler keeps (after its minute): for the sample database.
    Sample(Box<Sample>),
    /// The shadow model's verdict on a window the active model judged: stored, never
    /// published.
    Shadow(ShadowVerdict),
    /// Input drift after a minute: every scope's score, and drift alerts raised or cleared.
    Drift(crate::monitor::DriftReport),
}

/// A judged window kept as a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The minute's verdict (the window ends at its minute).
    pub verdict: MinuteVerdict,
    /// The window, `minutes × 130` raw values, oldest minute first.
    pub window: Vec<f32>,
    /// The model that judged it.
    pub model: String,
    /// The rate of its stratum (its verdict class) when it was drawn.
    pub rate: f64,
}

/// What the shadow model says of a window, beside what the active one said.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShadowVerdict {
    /// The node.
    pub node: String,
    /// The window's last minute, µs since the epoch.
    pub minute: u64,
    /// The shadow model.
    pub model: String,
    /// Its verdict class.
    pub class: String,
    /// Its distance to the nearest reference.
    pub distance: f64,
    /// Its confidence.
    pub confidence: f64,
    /// The active model.
    pub active_model: String,
    /// The active model's class for the same window.
    pub active_class: String,
}

/// A model as the judge uses it: the embedder, and the references made with it (the global
/// ones, and each node's enrolled ones joined with them).
pub struct JudgingModel<E> {
    /// The model id (store::model_id), part of samples' and shadow verdicts' provenance.
    pub id: String,
    embedder: E,
    global: ReferenceSet,
    per_node: HashMap<String, ReferenceSet>,
}

impl<E> std::fmt::Debug for JudgingModel<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JudgingModel")
            .field("id", &self.id)
            .field("references", &self.global.len())
            .field("enrolled_nodes", &self.per_node.len())
            .finish_non_exhaustive()
    }
}

impl<E> JudgingModel<E> {
    /// A model with its global references.
    pub fn new(id: impl Into<String>, embedder: E, global: ReferenceSet) -> Self {
        Self { id: id.into(), embedder, global, per_node: HashMap::new() }
    }

    /// Adds a node's enrolled references (they join the global ones for that node only).
    pub fn enroll(&mut self, node: &str, references: &[Reference]) -> Result<(), JudgeError> {
        let base = self.per_node.get(node).unwrap_or(&self.global);
        let set = base
            .with(references)
            .map_err(|error| JudgeError::References { node: node.into(), error })?;
        self.per_node.insert(node.into(), set);
        Ok(())
    }

    /// The references a node is judged against.
    fn references(&self, node: &str) -> &ReferenceSet {
        self.per_node.get(node).unwrap_or(&self.global)
    }

    /// Judges one window of `node` (outside the per-minute flow: comparisons, tools);
    /// `None` when the embedding is not finite.
    pub fn judge_window(
        &mut self,
        node: &str,
        window: &[f32],
    ) -> Result<Option<Verdict>, JudgeError>
    where
        E: Embedder,
    {
        let rows = embed_batches(&mut self.embedder, 1, &[window])?;
        Ok(rows.into_iter().next().flatten().and_then(|e| self.references(node).judge(&e)))
    }

    /// The global references.
    pub fn global(&self) -> &ReferenceSet {
        &self.global
    }

    /// The embedder.
    pub fn embedder(&self) -> &E {
        &self.embedder
    }

    /// The embedder, to configure it.
    pub fn embedder_mut(&mut self) -> &mut E {
        &mut self.embedder
    }
}

/// What the judge counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct JudgeStats {
    /// Node-minutes judged (a verdict).
    pub judged: u64,
    /// Node-minutes without data.
    pub no_data: u64,
    /// Node-minutes before a full window.
    pub warming_up: u64,
    /// Windows the model embedded (explanations included).
    pub embedded: u64,
    /// Embeddings rejected for NaN, infinity or a wrong length.
    pub invalid_embeddings: u64,
    /// Rows of a minute older than one already judged (dropped).
    pub out_of_order_rows: u64,
}

/// Why judging stopped.
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    /// The model failed.
    #[error("embedding failed: {0}")]
    Embedding(String),
    /// Enrolled references do not fit the global ones.
    #[error("references of node {node}: {error}")]
    References {
        /// The node.
        node: String,
        /// The problem.
        error: ReferenceError,
    },
}

struct NodeState {
    name: String,
    windows: NodeWindows,
    decider: NodeDecider,
    baseline: explain::Baseline,
}

/// A judged window: its verdict, the window and its embedding (for the explanation).
struct Seen {
    verdict: Verdict,
    window: Vec<f32>,
    embedding: Vec<f32>,
}

/// One node-minute on its way out.
struct Judged {
    node: usize,
    minute: u64,
    status: Status,
    seen: Option<Seen>,
    decisions: Vec<Decision>,
}

/// A minute waiting for the rest of its nodes.
struct Pending {
    node: usize,
    minute: u64,
    kind: MinuteWindow,
}

/// What a node's minute gives to judge (the rules in the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub enum MinuteWindow {
    /// The source was silent, or the node had no record.
    NoData,
    /// Fewer minutes than a window so far.
    WarmingUp,
    /// The window ending at this minute (`minutes × 130` values, oldest first).
    Window(Vec<f32>),
}

/// One node's minutes made into windows: the one definition of which minutes a window holds,
/// for judging and for enrolment alike.
#[derive(Debug, Clone)]
pub struct NodeWindows {
    ring: WindowRing,
    window_minutes: usize,
    last_minute: Option<u64>,
    no_records: Option<usize>,
}

impl NodeWindows {
    /// A node with nothing seen.
    pub fn new(window_minutes: usize) -> Self {
        Self {
            ring: WindowRing::new(window_minutes),
            window_minutes,
            last_minute: None,
            no_records: index_of("no_records"),
        }
    }

    /// Takes the node's next minute.
    pub fn next(&mut self, row: &FeatureRow) -> MinuteWindow {
        if row.source_silent {
            return MinuteWindow::NoData;
        }
        let span = self.window_minutes as u64 * MINUTE_US;
        if self.last_minute.is_some_and(|last| row.minute.saturating_sub(last) > span) {
            self.ring = WindowRing::new(self.window_minutes);
        }
        self.last_minute = Some(row.minute);
        let window = self.ring.push(row.values);
        let node_silent = self.no_records.is_some_and(|i| row.values[i] > 0.5);
        match window {
            _ if node_silent => MinuteWindow::NoData,
            Some(window) => MinuteWindow::Window(window),
            None => MinuteWindow::WarmingUp,
        }
    }
}

/// The judge of every node.
pub struct Judge<E> {
    settings: JudgeSettings,
    model: JudgingModel<E>,
    /// A candidate model judging the same windows; its verdicts are only reported.
    shadow: Option<JudgingModel<E>>,
    sampler: Option<crate::sample::Sampler>,
    drift: Option<crate::monitor::DriftMonitor>,
    /// Decision states restored from the state database, taken when their node appears.
    restored: HashMap<String, NodeDecider>,
    /// Recent minutes restored from the state database (oldest first), replayed into the
    /// node's window when it appears: judging resumes without a new hour of warming up.
    restored_minutes: HashMap<String, Vec<FeatureRow>>,
    nodes: Vec<Option<NodeState>>,
    pending: Vec<Pending>,
    minute: Option<u64>,
    groups: explain::Groups,
    stats: JudgeStats,
}

impl<E> std::fmt::Debug for Judge<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Judge")
            .field("stats", &self.stats)
            .field("model", &self.model)
            .field("shadow", &self.shadow)
            .finish_non_exhaustive()
    }
}

impl<E: Embedder> Judge<E> {
    /// A judge with the global references (a model without an id: tests, stand-ins).
    pub fn new(settings: JudgeSettings, embedder: E, global: ReferenceSet) -> Self {
        Self::with_model(settings, JudgingModel::new("", embedder, global))
    }

    /// A judge of `model`.
    pub fn with_model(settings: JudgeSettings, model: JudgingModel<E>) -> Self {
        Self {
            settings,
            model,
            shadow: None,
            sampler: None,
            drift: None,
            restored: HashMap::new(),
            restored_minutes: HashMap::new(),
            nodes: Vec::new(),
            pending: Vec::new(),
            minute: None,
            groups: explain::Groups::from_catalogue(),
            stats: JudgeStats::default(),
        }
    }

    /// Adds a node's enrolled references (they join the global ones for that node only).
    pub fn enroll(&mut self, node: &str, references: &[Reference]) -> Result<(), JudgeError> {
        self.model.enroll(node, references)
    }

    /// Keeps the windows `sampler` draws (as [`Judgement::Sample`]).
    pub fn sampling(mut self, sampler: crate::sample::Sampler) -> Self {
        self.sampler = Some(sampler);
        self
    }

    /// Watches input drift (a [`Judgement::Drift`] after every minute).
    pub fn monitoring(mut self, drift: crate::monitor::DriftMonitor) -> Self {
        self.drift = Some(drift);
        self
    }

    /// Replaces the drift monitor (another model's training statistics); drift alerts in
    /// force stay, and clear when the new statistics say the drift ended.
    pub fn set_drift(&mut self, drift: Option<crate::monitor::DriftMonitor>) {
        let alerts = self.drift.as_ref().map(|d| d.alerts().clone()).unwrap_or_default();
        self.drift = drift.map(|mut d| {
            d.restore_alerts(alerts);
            d
        });
    }

    /// The active model's references and embedder (enrolment while running).
    pub fn model_mut(&mut self) -> &mut JudgingModel<E> {
        &mut self.model
    }

    /// The shadow model, when there is one.
    pub fn shadow_mut(&mut self) -> Option<&mut JudgingModel<E>> {
        self.shadow.as_mut()
    }

    /// The drift monitor, when there is one.
    pub fn drift_mut(&mut self) -> Option<&mut crate::monitor::DriftMonitor> {
        self.drift.as_mut()
    }

    /// The active model's id.
    pub fn model_id(&self) -> &str {
        &self.model.id
    }

    /// The shadow model's id, when one judges beside the active one.
    pub fn shadow_id(&self) -> Option<&str> {
        self.shadow.as_ref().map(|m| m.id.as_str())
    }

    /// Sets (or with `None` removes) the shadow model; returns the one it replaces.
    pub fn set_shadow(&mut self, shadow: Option<JudgingModel<E>>) -> Option<JudgingModel<E>> {
        std::mem::replace(&mut self.shadow, shadow)
    }

    /// Judges with `model` from the next minute on (a hot swap: windows, decision states and
    /// alarms stay); returns the model it replaces.
    pub fn swap_model(&mut self, model: JudgingModel<E>) -> JudgingModel<E> {
        std::mem::replace(&mut self.model, model)
    }

    /// Makes the shadow model the active one; returns the model it replaces (`None`, and
    /// nothing changes, without a shadow).
    pub fn promote_shadow(&mut self) -> Option<JudgingModel<E>> {
        let shadow = self.shadow.take()?;
        Some(self.swap_model(shadow))
    }

    /// Restores decision states saved before a restart (an alarm raised before stays raised
    /// with its identity); each applies when its node's first minute arrives.
    pub fn restore_decisions(&mut self, states: impl IntoIterator<Item = NodeDecider>) {
        let (appliance, settings) = (self.settings.appliance.clone(), self.settings.decisions);
        self.restored.extend(states.into_iter().map(|mut d| {
            // The rule and the identity input of today's configuration, not the saved ones.
            d.reconfigure(&appliance, settings);
            (d.node().to_owned(), d)
        }));
    }

    /// Takes a new decision rule (a reloaded configuration): every node's alarm state, alarm
    /// in force and identity are kept; the thresholds apply from the next minute.
    pub fn set_decision_settings(&mut self, decisions: DecisionSettings) {
        self.settings.decisions = decisions;
        let appliance = self.settings.appliance.clone();
        for node in self.nodes.iter_mut().flatten() {
            node.decider.reconfigure(&appliance, decisions);
        }
        for decider in self.restored.values_mut() {
            decider.reconfigure(&appliance, decisions);
        }
    }

    /// The decision rule in force.
    pub fn decision_settings(&self) -> DecisionSettings {
        self.settings.decisions
    }

    /// Restores a node's recent minutes saved before a restart (oldest first; the node index
    /// in them is ignored).
    pub fn restore_minutes(&mut self, node: &str, rows: Vec<FeatureRow>) {
        self.restored_minutes.insert(node.to_owned(), rows);
    }

    /// The decision state of every node seen, to be saved.
    pub fn decisions(&self) -> impl Iterator<Item = &NodeDecider> {
        self.nodes.iter().flatten().map(|n| &n.decider)
    }

    /// What was counted.
    pub fn stats(&self) -> JudgeStats {
        self.stats
    }

    /// The active model's embedder (to read its own counters).
    pub fn embedder(&self) -> &E {
        &self.model.embedder
    }

    /// The active model's embedder, to configure it (metering).
    pub fn embedder_mut(&mut self) -> &mut E {
        &mut self.model.embedder
    }

    /// Takes one closed node-minute (`nodes` names node indexes). A row of a later minute
    /// first judges the minute before it.
    pub fn push(
        &mut self,
        row: &FeatureRow,
        nodes: &[String],
        out: &mut Vec<Judgement>,
    ) -> Result<(), JudgeError> {
        match self.minute {
            Some(current) if row.minute < current => {
                self.stats.out_of_order_rows += 1;
                return Ok(());
            }
            Some(current) if row.minute > current => self.flush(out)?,
            _ => {}
        }
        self.minute = Some(row.minute);
        let window_minutes = self.settings.window_minutes;
        if self.nodes.len() <= row.node {
            self.nodes.resize_with(row.node + 1, || None);
        }
        let (appliance, decisions) = (&self.settings.appliance, self.settings.decisions);
        let (restored, restored_minutes) = (&mut self.restored, &mut self.restored_minutes);
        let state = self.nodes[row.node].get_or_insert_with(|| {
            let name = nodes.get(row.node).cloned().unwrap_or_else(|| format!("node-{}", row.node));
            let mut windows = NodeWindows::new(window_minutes);
            let earlier = restored_minutes.remove(&name).unwrap_or_default();
            for minute in earlier.iter().filter(|r| r.minute < row.minute) {
                windows.next(minute);
            }
            NodeState {
                decider: restored
                    .remove(&name)
                    .unwrap_or_else(|| NodeDecider::new(appliance, &name, decisions)),
                name,
                windows,
                baseline: explain::Baseline::default(),
            }
        });
        let kind = state.windows.next(row);
        // Minutes without traffic say nothing about its kind.
        if let Some(drift) = self.drift.as_mut().filter(|_| kind != MinuteWindow::NoData) {
            drift.observe(&state.name, &row.values);
        }
        self.pending.push(Pending { node: row.node, minute: row.minute, kind });
        Ok(())
    }

    /// Judges what is pending (the end of the input).
    pub fn finish(&mut self, out: &mut Vec<Judgement>) -> Result<(), JudgeError> {
        self.flush(out)
    }

    /// Judges the pending minute of every node: one batched embedding, then matching,
    /// decisions and explanations.
    fn flush(&mut self, out: &mut Vec<Judgement>) -> Result<(), JudgeError> {
        let pending = std::mem::take(&mut self.pending);
        let Some(minute) = pending.first().map(|p| p.minute) else { return Ok(()) };
        let windows: Vec<&[f32]> = pending
            .iter()
            .filter_map(|p| match &p.kind {
                MinuteWindow::Window(w) => Some(w.as_slice()),
                _ => None,
            })
            .collect();
        let mut embeddings = self.embed_all(&windows)?.into_iter();
        // The shadow judges the same windows; its failure costs only its own verdicts.
        let shadow_embeddings = match &mut self.shadow {
            Some(shadow) => {
                match embed_batches(&mut shadow.embedder, self.settings.max_batch, &windows) {
                    Ok(rows) => rows,
                    Err(error) => {
                        tracing::warn!(%error, model = shadow.id, "the shadow model failed this minute");
                        vec![None; windows.len()]
                    }
                }
            }
            None => Vec::new(),
        };
        let mut shadow_embeddings = shadow_embeddings.into_iter();
        let mut shadow_verdicts = Vec::new();
        let mut judged = Vec::with_capacity(pending.len());
        for p in pending {
            let Some(state) = self.nodes[p.node].as_mut() else { continue };
            let references = self.model.references(&state.name);
            // Without a verdict, what the minute was instead.
            let (seen, instead) = match p.kind {
                MinuteWindow::NoData => (None, Observation::NoData),
                MinuteWindow::WarmingUp => (None, Observation::WarmingUp),
                MinuteWindow::Window(window) => {
                    let embedding = embeddings.next().flatten();
                    if let (Some(shadow), Some(Some(e))) = (&self.shadow, shadow_embeddings.next())
                        && let Some(v) = shadow.references(&state.name).judge(&e)
                    {
                        shadow_verdicts.push((p.node, v));
                    }
                    match embedding.and_then(|e| references.judge(&e).map(|v| (v, e))) {
                        Some((verdict, embedding)) => {
                            (Some(Seen { verdict, window, embedding }), Observation::NoData)
                        }
                        None => {
                            self.stats.invalid_embeddings += 1;
                            (None, Observation::NoData)
                        }
                    }
                }
            };
            let mut decisions = Vec::new();
            let observation =
                seen.as_ref().map_or(instead, |s| Observation::Verdict(&s.verdict.class));
            let status = state.decider.observe(p.minute, observation, &mut decisions);
            if let Some(s) = &seen {
                let confidence = format!("{:.2}", s.verdict.confidence);
                for d in &mut decisions {
                    if let Decision::Raise { alarm } = d {
                        confidence.clone_into(&mut alarm.confidence);
                        state.decider.note_raise_confidence(&confidence);
                    }
                }
            }
            match status {
                Status::NoData => self.stats.no_data += 1,
                Status::WarmingUp => self.stats.warming_up += 1,
                _ => self.stats.judged += 1,
            }
            if let Some(s) = seen.as_ref().filter(|s| !s.verdict.is_abnormal()) {
                state.baseline.learn_normal(&s.window, self.settings.window_minutes);
            }
            judged.push(Judged { node: p.node, minute: p.minute, status, seen, decisions });
        }
        // Explanations are best effort: their failure must not lose the minute's decisions.
        let explanations = if self.settings.explain {
            self.explain(&judged).unwrap_or_else(|error| {
                tracing::warn!(%error, "explanations failed for this minute");
                HashMap::new()
            })
        } else {
            HashMap::new()
        };
        let mut samples = Vec::new();
        // The active model's class per node, for the shadow's verdicts beside it.
        let mut active_classes: HashMap<usize, String> = HashMap::new();
        for (i, j) in judged.into_iter().enumerate() {
            let Some(state) = self.nodes[j.node].as_ref() else { continue };
            let (verdict, window) = j.seen.map(|s| (s.verdict, s.window)).unzip();
            let minute = MinuteVerdict {
                node: state.name.clone(),
                minute: j.minute,
                status: j.status,
                verdict,
                alarm: state.decider.active().map(|a| a.class.clone()),
                explanation: explanations.get(&i).cloned().unwrap_or_default(),
            };
            if let (Some(sampler), Some(window), Some(v)) = (&self.sampler, window, &minute.verdict)
                && sampler.keeps(&minute.node, minute.minute, &v.class)
            {
                let rate = sampler.rate(&v.class);
                let model = self.model.id.clone();
                samples.push(Sample { verdict: minute.clone(), window, model, rate });
            }
            if self.shadow.is_some()
                && let Some(v) = &minute.verdict
            {
                active_classes.insert(j.node, v.class.clone());
            }
            out.push(Judgement::Minute(minute));
            out.extend(j.decisions.into_iter().map(Judgement::Alarm));
        }
        out.extend(samples.into_iter().map(|s| Judgement::Sample(Box::new(s))));
        if let Some(shadow) = &self.shadow {
            for (node, v) in shadow_verdicts {
                let Some(state) = self.nodes[node].as_ref() else { continue };
                // Only windows both models judged are compared.
                let Some(active_class) = active_classes.remove(&node) else { continue };
                out.push(Judgement::Shadow(ShadowVerdict {
                    node: state.name.clone(),
                    minute,
                    model: shadow.id.clone(),
                    class: v.class,
                    distance: v.distance,
                    confidence: v.confidence,
                    active_model: self.model.id.clone(),
                    active_class,
                }));
            }
        }
        if let Some(drift) = &mut self.drift {
            out.push(Judgement::Drift(drift.close_minute(minute)));
        }
        Ok(())
    }

    /// Occlusion for every abnormal verdict of the minute: each feature group in turn is
    /// replaced by the node's normal baseline, all in one batch; a group's share is how far
    /// that moved the embedding, against the sum over groups.
    fn explain(
        &mut self,
        judged: &[Judged],
    ) -> Result<HashMap<usize, Vec<GroupShare>>, JudgeError> {
        let minutes = self.settings.window_minutes;
        let mut occluded = Vec::new();
        let mut baselines = HashMap::new();
        for (i, j) in judged.iter().enumerate() {
            let (Some(seen), Some(state)) = (&j.seen, self.nodes[j.node].as_ref()) else {
                continue;
            };
            if !seen.verdict.is_abnormal() {
                continue;
            }
            let baseline = state.baseline.values_or_window_start(&seen.window, minutes);
            for group in 0..self.groups.len() {
                occluded.push((
                    i,
                    group,
                    self.groups.occlude(&seen.window, minutes, group, &baseline),
                ));
            }
            baselines.insert(i, baseline);
        }
        let views: Vec<&[f32]> = occluded.iter().map(|(_, _, w)| w.as_slice()).collect();
        let moved = self.embed_all(&views)?;
        let mut moves: HashMap<usize, Vec<(usize, f64)>> = HashMap::new();
        for ((i, group, _), embedding) in occluded.iter().zip(moved) {
            let Some(seen) = &judged[*i].seen else { continue };
            let distance = embedding.map_or(0.0, |e| crate::matcher::distance(&e, &seen.embedding));
            moves.entry(*i).or_default().push((*group, distance));
        }
        Ok(moves
            .into_iter()
            .filter_map(|(i, m)| {
                let seen = judged[i].seen.as_ref()?;
                Some((i, self.groups.explain(&m, &seen.window, minutes, baselines.get(&i)?)))
            })
            .collect())
    }

    /// Embeds windows in batches of at most `max_batch`; a row that is not finite or not of
    /// the model's size comes back as `None`.
    fn embed_all(&mut self, windows: &[&[f32]]) -> Result<Vec<Option<Vec<f32>>>, JudgeError> {
        let out = embed_batches(&mut self.model.embedder, self.settings.max_batch, windows)?;
        self.stats.embedded += windows.len() as u64;
        Ok(out)
    }
}

/// Embeds windows in batches of at most `max_batch`; a row that is not finite comes back as
/// `None`.
fn embed_batches<E: Embedder>(
    embedder: &mut E,
    max_batch: usize,
    windows: &[&[f32]],
) -> Result<Vec<Option<Vec<f32>>>, JudgeError> {
    let mut out = Vec::with_capacity(windows.len());
    for chunk in windows.chunks(max_batch.max(1)) {
        let values: Vec<f32> = chunk.iter().flat_map(|w| w.iter().copied()).collect();
        let rows = embedder.embed(chunk.len(), &values).map_err(JudgeError::Embedding)?;
        if rows.len() != chunk.len() {
            return Err(JudgeError::Embedding(format!(
                "{} embeddings for {} windows",
                rows.len(),
                chunk.len()
            )));
        }
        out.extend(rows.into_iter().map(|r| r.iter().all(|v| v.is_finite()).then_some(r)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::MatchParams;
    use crate::schema::FEATURE_COUNT;

    const T0: u64 = 1_764_460_800_000_000;
    const WINDOW: usize = 3;

    /// A model whose embedding is the last minute's first feature (and NaN when it is 99).
    #[derive(Debug, Default)]
    struct LastValue {
        calls: Vec<usize>,
    }

    impl Embedder for LastValue {
        fn embed(&mut self, windows: usize, values: &[f32]) -> Result<Vec<Vec<f32>>, String> {
            self.calls.push(windows);
            let size = WINDOW * FEATURE_COUNT;
            Ok(values
                .chunks(size)
                .map(|w| {
                    let v = w[(WINDOW - 1) * FEATURE_COUNT];
                    if v == 99.0 { vec![f32::NAN, 0.0] } else { vec![v, 0.0] }
                })
                .collect())
        }
    }

    fn references() -> ReferenceSet {
        let r = |class: &str, x: f32| Reference { class: class.into(), embedding: vec![x, 0.0] };
        let refs = vec![r("normal", 0.0), r("normal", 1.0), r("hss", 10.0), r("hss", 11.0)];
        ReferenceSet::new(MatchParams { k: 2, ..MatchParams::default() }, refs).expect("refs")
    }

    fn row(node: usize, minute: u64, value: f32) -> FeatureRow {
        let mut values = [0.0; FEATURE_COUNT];
        values[0] = value;
        values[1] = 5.0; // traffic: not a node without records
        FeatureRow { node, minute: T0 + minute * MINUTE_US, values, source_silent: false }
    }

    fn judge() -> Judge<LastValue> {
        let settings =
            JudgeSettings { window_minutes: WINDOW, max_batch: 2, ..JudgeSettings::default() };
        Judge::new(settings, LastValue::default(), references())
    }

    fn statuses(out: &[Judgement], node: &str) -> Vec<Status> {
        out.iter()
            .filter_map(|j| match j {
                Judgement::Minute(m) if m.node == node => Some(m.status),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn warms_up_judges_raises_explains_and_clears() {
        let mut j = judge();
        let nodes = vec!["a".to_string(), "b".to_string()];
        let mut out = Vec::new();
        for minute in 0..14 {
            j.push(&row(0, minute, 0.5), &nodes, &mut out).expect("push");
            let fault = if (5..9).contains(&minute) { 10.5 } else { 0.5 };
            j.push(&row(1, minute, fault), &nodes, &mut out).expect("push");
        }
        j.finish(&mut out).expect("finish");
        use Status::*;
        assert_eq!(statuses(&out, "a"), [vec![WarmingUp; 2], vec![Normal; 12]].concat());
        assert_eq!(
            statuses(&out, "b"),
            [
                vec![WarmingUp, WarmingUp, Normal, Normal, Normal, Suspect],
                vec![Alarm; 5],
                vec![Normal; 3]
            ]
            .concat()
        );
        let alarms: Vec<_> = out
            .iter()
            .filter_map(|j| match j {
                Judgement::Alarm(Decision::Raise { alarm }) => {
                    Some(format!("raise {} {}", alarm.node, (alarm.raised_at - T0) / MINUTE_US))
                }
                Judgement::Alarm(Decision::Clear { alarm, cleared_at, .. }) => {
                    Some(format!("clear {} {}", alarm.node, (cleared_at - T0) / MINUTE_US))
                }
                _ => None,
            })
            .collect();
        assert_eq!(alarms, ["raise b 6", "clear b 11"]);
        let explained = out.iter().find_map(|j| match j {
            Judgement::Minute(m) if m.verdict.as_ref().is_some_and(|v| v.class == "hss") => {
                Some(m.explanation.clone())
            }
            _ => None,
        });
        let explained = explained.expect("an hss minute");
        // Only the group of feature 0 moves this model's embedding.
        assert_eq!(explained.len(), 1);
        assert!((explained[0].share - 1.0).abs() < 1e-9);
        assert_eq!(explained[0].group, crate::schema::catalogue()[0].group);
        // Batches never exceed the maximum.
        assert!(j.embedder().calls.iter().all(|&n| n <= 2));
        let stats = j.stats();
        assert_eq!(stats.warming_up, 4);
        assert_eq!(stats.judged, 24);
    }

    #[test]
    fn silence_gaps_and_bad_embeddings() {
        let mut j = judge();
        let nodes = vec!["a".to_string()];
        let mut out = Vec::new();
        for minute in 0..3 {
            j.push(&row(0, minute, 0.5), &nodes, &mut out).expect("push");
        }
        // The source is silent: no data, and the minute stays out of the window.
        let mut silent = row(0, 3, 0.0);
        silent.source_silent = true;
        j.push(&silent, &nodes, &mut out).expect("push");
        j.push(&row(0, 4, 0.5), &nodes, &mut out).expect("push");
        // The node alone saw nothing: no data, but the minute enters the window.
        let mut empty = row(0, 5, 0.0);
        empty.values = [0.0; FEATURE_COUNT];
        if let Some(i) = index_of("no_records") {
            empty.values[i] = 1.0;
        }
        j.push(&empty, &nodes, &mut out).expect("push");
        // A window the model cannot embed.
        j.push(&row(0, 6, 99.0), &nodes, &mut out).expect("push");
        // More than a window later: warming up again.
        j.push(&row(0, 20, 0.5), &nodes, &mut out).expect("push");
        // An old row is dropped and counted.
        j.push(&row(0, 1, 0.5), &nodes, &mut out).expect("push");
        j.finish(&mut out).expect("finish");
        use Status::*;
        assert_eq!(
            statuses(&out, "a"),
            [WarmingUp, WarmingUp, Normal, NoData, Normal, NoData, NoData, WarmingUp]
        );
        let stats = j.stats();
        assert_eq!(stats.invalid_embeddings, 1);
        assert_eq!(stats.out_of_order_rows, 1);
    }

    #[test]
    fn enrolled_references_apply_to_their_node_only() {
        let mut j = judge();
        j.enroll(
            "b",
            &[
                Reference { class: "normal".into(), embedding: vec![5.0, 0.0] },
                Reference { class: "normal".into(), embedding: vec![6.0, 0.0] },
            ],
        )
        .expect("enroll");
        let nodes = vec!["a".to_string(), "b".to_string()];
        let mut out = Vec::new();
        for minute in 0..3 {
            j.push(&row(0, minute, 5.5), &nodes, &mut out).expect("push");
            j.push(&row(1, minute, 5.5), &nodes, &mut out).expect("push");
        }
        j.finish(&mut out).expect("finish");
        let class = |node: &str| {
            out.iter().rev().find_map(|j| match j {
                Judgement::Minute(m) if m.node == node => {
                    m.verdict.as_ref().map(|v| v.class.clone())
                }
                _ => None,
            })
        };
        assert_eq!(class("a").as_deref(), Some(crate::matcher::UNKNOWN_ANOMALY));
        assert_eq!(class("b").as_deref(), Some("normal"));
        let wrong = j.enroll("a", &[Reference { class: "normal".into(), embedding: vec![1.0] }]);
        assert!(matches!(wrong, Err(JudgeError::References { .. })));
    }

    #[test]
    fn a_restored_alarm_survives_a_restart_with_its_identity() {
        let nodes = vec!["a".to_string()];
        let mut first = judge();
        let mut out = Vec::new();
        for minute in 0..5 {
            first.push(&row(0, minute, 10.5), &nodes, &mut out).expect("push");
        }
        first.finish(&mut out).expect("finish");
        let saved: Vec<NodeDecider> = first.decisions().cloned().collect();
        let raised = saved[0].active().cloned().expect("an alarm");

        let mut second = judge();
        second.restore_decisions(saved);
        let mut out = Vec::new();
        for minute in 100..106 {
            second.push(&row(0, minute, 0.5), &nodes, &mut out).expect("push");
        }
        second.finish(&mut out).expect("finish");
        let cleared = out.iter().find_map(|j| match j {
            Judgement::Alarm(Decision::Clear { alarm, .. }) => Some(alarm.clone()),
            _ => None,
        });
        // Warming up again for two minutes, then three normal minutes clear the old alarm.
        assert_eq!(cleared, Some(raised));
    }

    #[test]
    fn samples_shadow_verdicts_and_a_hot_swap() {
        let sampler = crate::sample::Sampler::new(crate::sample::SampleSettings {
            normal_rate: 0.0,
            ..Default::default()
        });
        let settings =
            JudgeSettings { window_minutes: WINDOW, max_batch: 2, ..JudgeSettings::default() };
        let mut j = Judge::with_model(
            settings,
            JudgingModel::new("m1", LastValue::default(), references()),
        )
        .sampling(sampler);
        // The shadow calls everything near 10 `storm`.
        let r = |class: &str, x: f32| Reference { class: class.into(), embedding: vec![x, 0.0] };
        let shadow_refs = ReferenceSet::new(
            MatchParams { k: 2, ..MatchParams::default() },
            vec![r("normal", 0.0), r("normal", 1.0), r("storm", 10.0), r("storm", 11.0)],
        )
        .expect("refs");
        j.set_shadow(Some(JudgingModel::new("m2", LastValue::default(), shadow_refs)));
        let nodes = vec!["a".to_string()];
        let mut out = Vec::new();
        for minute in 0..10 {
            let value = if (5..8).contains(&minute) { 10.5 } else { 0.5 };
            j.push(&row(0, minute, value), &nodes, &mut out).expect("push");
        }
        j.finish(&mut out).expect("finish");
        let samples: Vec<&Sample> = out
            .iter()
            .filter_map(|x| if let Judgement::Sample(s) = x { Some(s.as_ref()) } else { None })
            .collect();
        let abnormal = out
            .iter()
            .filter(|x| matches!(x, Judgement::Minute(m) if m.verdict.as_ref().is_some_and(Verdict::is_abnormal)))
            .count();
        assert_eq!(samples.len(), abnormal, "every abnormal window, no normal one");
        assert!(samples.iter().all(|s| s.model == "m1" && s.window.len() == WINDOW * crate::schema::FEATURE_COUNT));
        let shadow: Vec<&ShadowVerdict> = out
            .iter()
            .filter_map(|x| if let Judgement::Shadow(v) = x { Some(v) } else { None })
            .collect();
        assert_eq!(shadow.len(), 8, "every judged minute");
        assert!(shadow.iter().all(|v| v.model == "m2" && v.active_model == "m1"));
        assert!(shadow.iter().any(|v| v.class == "storm" && v.active_class == "hss"));
        // Promoted, the shadow judges; the node's window and alarm stay.
        let alarm = j.decisions().next().and_then(|d| d.active().cloned());
        assert!(j.promote_shadow().is_some_and(|old| old.id == "m1"));
        assert_eq!((j.model_id(), j.shadow_id()), ("m2", None));
        let mut out = Vec::new();
        j.push(&row(0, 10, 10.5), &nodes, &mut out).expect("push");
        j.finish(&mut out).expect("finish");
        let class = out.iter().find_map(|x| match x {
            Judgement::Minute(m) => m.verdict.as_ref().map(|v| v.class.clone()),
            _ => None,
        });
        assert_eq!(class.as_deref(), Some("storm"), "judged at once: no new warm-up");
        assert_eq!(j.decisions().next().and_then(|d| d.active().cloned()), alarm);
    }

    #[test]
    fn restored_minutes_spare_a_new_hour_of_warming_up() {
        let nodes = vec!["a".to_string()];
        let mut second = judge();
        second.restore_minutes("a", (0..3).map(|m| row(7, m, 0.5)).collect());
        let mut out = Vec::new();
        second.push(&row(0, 3, 0.5), &nodes, &mut out).expect("push");
        second.finish(&mut out).expect("finish");
        assert_eq!(statuses(&out, "a"), [Status::Normal], "the window was already full");
    }
}
