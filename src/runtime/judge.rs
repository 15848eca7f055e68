//! The judge as an actor: a thin shell around [`Judge`], on a thread of its own (a
//! `SyncArbiter`): embedding blocks, and must not block the reactor.

use std::sync::Arc;
use std::time::Instant;

use actix::{Actor, Handler, Recipient, SyncContext};

use super::messages::{FinishJudging, Judged, MinutesClosed, ModelRequest, Reconfigure};
use crate::judge::{Embedder, Judge};
use crate::store::Store;

/// Judges closed minutes; sends each judged minute downstream.
pub struct JudgeActor<E> {
    judge: Judge<E>,
    downstream: Recipient<Judged>,
    /// Where each node's recent minutes are saved (so that a restart judges at once), when
    /// there is one; the decision states then travel with each judged minute to the
    /// announcer, which saves them with the minute's messages.
    checkpoint: Option<Arc<Store>>,
    /// Minutes of rows kept per node in the checkpoint (the window).
    window_minutes: u64,
    /// Where the judge's counters go, with what was counted there already.
    metered: Option<(Arc<crate::telemetry::Metrics>, crate::judge::JudgeStats)>,
    /// Stores samples and shadow verdicts in the checkpoint store.
    keeper: Option<crate::store::SampleKeeper>,
    /// Loads a registered model for a hot swap (none: models cannot change while running).
    loader: Option<ModelLoader<E>>,
}

/// Loads the model at a path with its references from the store, and the drift monitor of
/// its training statistics (the appliance's `cli/run.rs` makes it: it knows ONNX Runtime and
/// the configuration).
pub type ModelLoader<E> = Arc<
    dyn Fn(
            &std::path::Path,
            &Store,
        )
            -> Result<(crate::judge::JudgingModel<E>, Option<crate::monitor::DriftMonitor>), String>
        + Send
        + Sync,
>;

impl<E> std::fmt::Debug for JudgeActor<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JudgeActor").field("judge", &self.judge).finish_non_exhaustive()
    }
}

impl<E: Embedder + Unpin + 'static> JudgeActor<E> {
    /// An actor around `judge`.
    pub fn new(judge: Judge<E>, downstream: Recipient<Judged>) -> Self {
        Self {
            judge,
            downstream,
            checkpoint: None,
            window_minutes: 60,
            metered: None,
            keeper: None,
            loader: None,
        }
    }

    /// Counts what the judge counts in `metrics`.
    pub fn metered(mut self, metrics: Arc<crate::telemetry::Metrics>) -> Self {
        self.metered = Some((metrics, crate::judge::JudgeStats::default()));
        self
    }

    /// Saves the last `window_minutes` of every node to `store` as minutes close, and hands
    /// the decision states on with every judged minute.
    pub fn checkpointing(mut self, store: Arc<Store>, window_minutes: u64) -> Self {
        self.checkpoint = Some(store);
        self.window_minutes = window_minutes;
        self
    }

    /// Lets the HTTP API change models while running ([`ModelRequest`]).
    pub fn loading(mut self, loader: ModelLoader<E>) -> Self {
        self.loader = Some(loader);
        self
    }

    /// Stores the samples and shadow verdicts the judge gives in the checkpoint store.
    pub fn keeping(mut self, keeper: crate::store::SampleKeeper) -> Self {
        self.keeper = Some(keeper);
        self
    }

    /// Samples and shadow verdicts go to the store (or nowhere): they are not announced.
    fn keep(&mut self, judgements: &mut Vec<crate::judge::Judgement>) {
        use crate::judge::Judgement;
        let (Some(store), Some(keeper)) = (&self.checkpoint, &mut self.keeper) else {
            judgements.retain(|j| !matches!(j, Judgement::Sample(_) | Judgement::Shadow(_)));
            return;
        };
        match keeper.keep(store, judgements) {
            Ok(count) => {
                let Some((metrics, _)) = &self.metered else { return };
                for (class, n) in &count.samples {
                    metrics.samples_stored.with_label_values(&[class]).inc_by(*n);
                }
                metrics.shadow_verdicts.with_label_values(&["agree"]).inc_by(count.shadow.0);
                metrics.shadow_verdicts.with_label_values(&["disagree"]).inc_by(count.shadow.1);
                if let Some((pruned, bytes)) = count.pruned {
                    metrics.samples_pruned.inc_by(pruned as u64);
                    metrics.samples_bytes.set(bytes as i64);
                }
            }
            Err(error) => {
                tracing::error!(%error, "cannot store this minute's samples and shadow verdicts");
                judgements.retain(|j| !matches!(j, Judgement::Sample(_) | Judgement::Shadow(_)));
            }
        }
    }

    fn judged(&mut self, mut judgements: Vec<crate::judge::Judgement>, closed_at: Instant) {
        self.keep(&mut judgements);
        if let Some((metrics, counted)) = &mut self.metered {
            let now = self.judge.stats();
            metrics.judge_counted(counted, &now);
            *counted = now;
        }
        // The announcer saves the states in the transaction that writes the minute's
        // messages.
        let decisions = if self.checkpoint.is_some() {
            self.judge.decisions().cloned().collect()
        } else {
            Vec::new()
        };
        self.downstream.do_send(Judged { judgements, decisions, closed_at });
    }
}

impl<E: Embedder + Unpin + 'static> Actor for JudgeActor<E> {
    type Context = SyncContext<Self>;
}

impl<E: Embedder + Unpin + 'static> Handler<MinutesClosed> for JudgeActor<E> {
    type Result = ();

    fn handle(&mut self, closed: MinutesClosed, _: &mut Self::Context) {
        if let Some(store) = &self.checkpoint {
            let named: Vec<(&str, &crate::aggregate::FeatureRow)> = closed
                .rows
                .iter()
                .filter_map(|r| Some((closed.nodes.get(r.node)?.as_str(), r)))
                .collect();
            if let Err(error) = store.save_minutes(&named, self.window_minutes) {
                tracing::error!(%error, "cannot save the recent minutes");
            }
        }
        let mut out = Vec::new();
        for row in &closed.rows {
            // A row of a later minute judges the one before: what comes out is one minute.
            if let Err(error) = self.judge.push(row, &closed.nodes, &mut out) {
                tracing::error!(%error, "judging failed; the minute is lost");
                out.clear();
            }
            if !out.is_empty() {
                self.judged(std::mem::take(&mut out), closed.closed_at);
            }
        }
        // A batch holds whole minutes (the pipeline closes a minute for every node at once):
        // judge the last one now instead of when the next minute closes.
        if let Err(error) = self.judge.finish(&mut out) {
            tracing::error!(%error, "judging failed; the minute is lost");
            out.clear();
        }
        if !out.is_empty() {
            self.judged(out, closed.closed_at);
        }
    }
}

impl<E: Embedder + Unpin + 'static> Handler<Reconfigure> for JudgeActor<E> {
    type Result = ();

    fn handle(&mut self, reconfigure: Reconfigure, _: &mut Self::Context) {
        self.judge.set_decision_settings(reconfigure.decisions);
    }
}

impl<E: Embedder + Unpin + 'static> Handler<ModelRequest> for JudgeActor<E> {
    type Result = Result<serde_json::Value, String>;

    fn handle(&mut self, request: ModelRequest, _: &mut Self::Context) -> Self::Result {
        let (Some(store), Some(loader)) = (self.checkpoint.clone(), self.loader.clone()) else {
            return Err("this appliance cannot change models while running".into());
        };
        let outcome = super::models::apply(&mut self.judge, &store, &loader, request);
        match &outcome {
            Ok(done) => tracing::info!(%done, "model change applied between two minutes"),
            Err(error) => tracing::warn!(%error, "model change refused; nothing changed"),
        }
        outcome
    }
}

impl<E: Embedder + Unpin + 'static> Handler<FinishJudging> for JudgeActor<E> {
    type Result = actix::MessageResult<FinishJudging>;

    fn handle(&mut self, _: FinishJudging, _: &mut Self::Context) -> Self::Result {
        let mut out = Vec::new();
        if let Err(error) = self.judge.finish(&mut out) {
            tracing::error!(%error, "judging the last minute failed");
        }
        if !out.is_empty() {
            self.judged(out, Instant::now());
        }
        actix::MessageResult(self.judge.stats())
    }
}
