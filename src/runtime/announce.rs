//! The announcer as an actor: judged minutes become outbound messages, written to the
//! durable outbox (blocking redb writes, so on a thread of its own), and the MQTT publisher
//! is woken.

use std::sync::Arc;

use actix::{Actor, Handler, SyncContext};

use super::messages::{FinishAnnouncing, Judged, Reconfigure};
use super::mqtt::PublisherHandle;
use crate::api::NodeBoard;
use crate::decide::{Decision, Status};
use crate::judge::Judgement;
use crate::publish::{Announcer, Outbound};
use crate::store::Store;
use crate::telemetry::Metrics;

/// What the announcer did.
#[derive(Debug, Default, Clone)]
pub struct Announced {
    /// Minutes announced.
    pub minutes: u64,
    /// Messages written to the outbox.
    pub enqueued: u64,
    /// Waiting state messages dropped to keep the outbox within its limit.
    pub dropped_states: u64,
    /// Every judgement, when kept (`keep_judgements`).
    pub judgements: Vec<Judgement>,
    /// Every message, when there is no store (tests, dry runs).
    pub messages: Vec<Outbound>,
}

/// Announces judged minutes.
#[derive(Debug)]
pub struct AnnounceActor {
    announcer: Announcer,
    store: Option<Arc<Store>>,
    publisher: Option<PublisherHandle>,
    outbox_limit: usize,
    keep_judgements: bool,
    account: Announced,
    observers: Option<Observers>,
}

/// Who else hears of every judged minute: the HTTP API's board and the metrics.
#[derive(Debug)]
struct Observers {
    board: Arc<std::sync::RwLock<NodeBoard>>,
    metrics: Arc<Metrics>,
}

impl AnnounceActor {
    /// An announcer writing to `store`'s outbox (or keeping the messages when there is
    /// none) and waking `publisher`.
    pub fn new(
        announcer: Announcer,
        store: Option<Arc<Store>>,
        publisher: Option<PublisherHandle>,
        outbox_limit: usize,
        keep_judgements: bool,
    ) -> Self {
        Self {
            announcer,
            store,
            publisher,
            outbox_limit,
            keep_judgements,
            account: Announced::default(),
            observers: None,
        }
    }

    /// Shows every judged minute on `board` and counts verdicts and alarms in `metrics`.
    pub fn observed(
        mut self,
        board: Arc<std::sync::RwLock<NodeBoard>>,
        metrics: Arc<Metrics>,
    ) -> Self {
        self.observers = Some(Observers { board, metrics });
        self
    }

    fn observe(&self, judgements: &[Judgement], dropped_states: usize) {
        let Some(Observers { board, metrics }) = &self.observers else { return };
        for judgement in judgements {
            match judgement {
                Judgement::Minute(minute) => {
                    let outcome = match (&minute.verdict, minute.status) {
                        (Some(verdict), _) => verdict.class.as_str(),
                        (None, Status::NoData) => "no_data",
                        (None, _) => "warming_up",
                    };
                    metrics.verdicts.with_label_values(&[outcome]).inc();
                    if let Some(verdict) = &minute.verdict {
                        metrics.nearest_distance.observe(verdict.distance);
                    }
                }
                Judgement::Drift(report) => {
                    for score in &report.scores {
                        metrics.drift_score.with_label_values(&[&score.scope]).set(score.score);
                    }
                }
                // Kept by the judge's shell before they reach the announcer.
                Judgement::Sample(_) | Judgement::Shadow(_) => {}
                Judgement::Alarm(Decision::Raise { .. }) => {
                    metrics.alarm_transitions.with_label_values(&["raise"]).inc();
                }
                Judgement::Alarm(Decision::Clear { .. }) => {
                    metrics.alarm_transitions.with_label_values(&["clear"]).inc();
                }
            }
        }
        metrics.outbox_dropped.inc_by(dropped_states as u64);
        match board.write() {
            Ok(mut board) => {
                board.record(judgements);
                metrics.alarms_active.set(board.alarms_active() as i64);
                metrics.drift_alerts_active.set(board.drift_alerts_active() as i64);
            }
            Err(_) => tracing::error!("the node board is poisoned; the API shows stale verdicts"),
        }
    }
}

impl Actor for AnnounceActor {
    type Context = SyncContext<Self>;
}

impl Handler<Judged> for AnnounceActor {
    type Result = ();

    fn handle(&mut self, judged: Judged, _: &mut Self::Context) {
        let mut messages = Vec::new();
        self.announcer.minute(&judged.judgements, &mut messages);
        self.account.minutes += 1;
        let mut dropped_states = 0;
        match &self.store {
            Some(store) => {
                match store.commit_minute(&messages, self.outbox_limit, &judged.decisions) {
                    Ok(enqueued) => {
                        self.account.enqueued += enqueued.added as u64;
                        self.account.dropped_states += enqueued.dropped as u64;
                        dropped_states = enqueued.dropped;
                        if let (Some(publisher), Some(last)) = (&self.publisher, enqueued.last) {
                            publisher.minute_enqueued(last, judged.closed_at);
                        }
                        if enqueued.over_limit > 0 {
                            tracing::warn!(
                                over = enqueued.over_limit,
                                "outbox beyond its limit: alarm events are kept"
                            );
                        }
                    }
                    Err(error) => {
                        tracing::error!(%error, "cannot write to the outbox; this minute's messages are lost");
                    }
                }
            }
            None => self.account.messages.extend(messages),
        }
        self.observe(&judged.judgements, dropped_states);
        if self.keep_judgements {
            self.account.judgements.extend(judged.judgements);
        }
        if let Some(publisher) = &self.publisher {
            publisher.wake();
        }
    }
}

impl Handler<Reconfigure> for AnnounceActor {
    type Result = ();

    fn handle(&mut self, reconfigure: Reconfigure, _: &mut Self::Context) {
        self.outbox_limit = reconfigure.outbox_limit;
    }
}

impl Handler<FinishAnnouncing> for AnnounceActor {
    type Result = actix::MessageResult<FinishAnnouncing>;

    fn handle(&mut self, _: FinishAnnouncing, _: &mut Self::Context) -> Self::Result {
        actix::MessageResult(std::mem::take(&mut self.account))
    }
}
