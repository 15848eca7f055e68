//! The inference engine: model sessions on dedicated threads, off the async reactor, with the
//! windows of many requests gathered into batches.
//!
//! A request (the windows of the nodes judged in one minute, or one explanation's occluded
//! windows) goes to the batcher thread. The batcher gathers requests until a batch holds
//! `max_batch` windows or the oldest request has waited `max_wait`, then hands the batch to
//! the first free worker; each worker owns one session. Results are split back per request;
//! an embedding with NaN or infinity comes back as `None` and is counted. A handle is itself
//! an [`Embedder`], so the judge runs on the engine as it runs on a session.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::judge::Embedder;

/// How the engine batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineSettings {
    /// Most windows in one model call.
    pub max_batch: usize,
    /// Longest a request waits for others to fill its batch.
    pub max_wait: Duration,
    /// Requests queued before submitters block (back-pressure).
    pub queue: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self { max_batch: 64, max_wait: Duration::from_millis(5), queue: 1024 }
    }
}

/// What the engine counted.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Model calls.
    pub batches: AtomicU64,
    /// Windows embedded.
    pub windows: AtomicU64,
    /// Embeddings rejected for NaN or infinity.
    pub rejected: AtomicU64,
    /// Model calls that failed.
    pub failures: AtomicU64,
}

/// One request's rows (`None` where the embedding was not finite), or why the call failed.
type Outcome = Result<Vec<Option<Vec<f32>>>, String>;
type Reply = SyncSender<Outcome>;

const STOPPED: &str = "the inference engine stopped";

struct Request {
    windows: usize,
    values: Vec<f32>,
    reply: Reply,
}

enum Message {
    Work(Request),
    /// Finish what is queued and stop.
    Stop,
}

/// A running engine. Dropping it (and every handle) stops the threads.
#[derive(Debug)]
pub struct InferenceEngine {
    handle: EngineHandle,
    threads: Vec<JoinHandle<()>>,
}

/// A cheap, cloneable way to submit windows.
#[derive(Debug, Clone)]
pub struct EngineHandle {
    submit: SyncSender<Message>,
    stats: Arc<EngineStats>,
    /// Worker threads (sessions): a large call is split into this many requests.
    workers: usize,
    max_batch: usize,
}

impl InferenceEngine {
    /// Starts one worker thread per embedder (each owns its session) and the batcher.
    pub fn start<E: Embedder + Send + 'static>(
        embedders: Vec<E>,
        settings: EngineSettings,
    ) -> Self {
        let stats = Arc::new(EngineStats::default());
        let (submit, requests) = mpsc::sync_channel::<Message>(settings.queue.max(1));
        let (to_workers, work) = mpsc::channel::<Vec<Request>>();
        let work = Arc::new(Mutex::new(work));
        let mut threads = Vec::new();
        let workers = embedders.len().max(1);
        for (i, embedder) in embedders.into_iter().enumerate() {
            let (work, stats) = (Arc::clone(&work), Arc::clone(&stats));
            let spawned = std::thread::Builder::new()
                .name(format!("inference-{i}"))
                .spawn(move || worker(embedder, &work, &stats));
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(error) => tracing::error!(%error, "cannot start an inference thread"),
            }
        }
        let batcher = std::thread::Builder::new()
            .name("inference-batcher".into())
            .spawn(move || batcher(&requests, &to_workers, settings));
        match batcher {
            Ok(thread) => threads.push(thread),
            Err(error) => tracing::error!(%error, "cannot start the inference batcher"),
        }
        let max_batch = settings.max_batch.max(1);
        Self { handle: EngineHandle { submit, stats, workers, max_batch }, threads }
    }

    /// A handle to submit windows.
    pub fn handle(&self) -> EngineHandle {
        self.handle.clone()
    }

    /// Finishes the requests already queued and stops the threads; handles still around get
    /// an error from then on.
    pub fn shutdown(self) {
        let _ = self.handle.submit.send(Message::Stop);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

impl EngineHandle {
    /// Embeds `windows` windows (blocking until their batch ran).
    pub fn submit(
        &self,
        windows: usize,
        values: Vec<f32>,
    ) -> Result<Vec<Option<Vec<f32>>>, String> {
        Self::wait(&self.send(windows, values)?)
    }

    /// Queues `windows` windows without waiting for them.
    fn send(&self, windows: usize, values: Vec<f32>) -> Result<Receiver<Outcome>, String> {
        let (reply, result) = mpsc::sync_channel(1);
        self.submit
            .send(Message::Work(Request { windows, values, reply }))
            .map_err(|_| STOPPED.to_owned())?;
        Ok(result)
    }

    fn wait(result: &Receiver<Outcome>) -> Outcome {
        result.recv().map_err(|_| STOPPED.to_owned())?
    }

    /// The counters.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }
}

impl Embedder for EngineHandle {
    /// Splits the windows into one request per session (at most `max_batch` each), so that
    /// one minute of many nodes runs on every session at once, and joins the rows in order.
    fn embed(&mut self, windows: usize, values: &[f32]) -> Result<Vec<Vec<f32>>, String> {
        if windows == 0 {
            return Ok(Vec::new());
        }
        if values.is_empty() || !values.len().is_multiple_of(windows) {
            return Err(format!("{} values do not split into {windows} windows", values.len()));
        }
        let per_window = values.len() / windows;
        let per_request = windows.div_ceil(self.workers).clamp(1, self.max_batch);
        let pending: Vec<_> = values
            .chunks(per_request * per_window)
            .map(|chunk| self.send(chunk.len() / per_window, chunk.to_vec()))
            .collect::<Result<_, _>>()?;
        let mut rows = Vec::with_capacity(windows);
        for result in &pending {
            // A rejected row is handed on as NaN: the judge rejects non-finite rows itself.
            rows.extend(
                Self::wait(result)?.into_iter().map(|row| row.unwrap_or_else(|| vec![f32::NAN])),
            );
        }
        Ok(rows)
    }
}

fn batcher(requests: &Receiver<Message>, workers: &Sender<Vec<Request>>, settings: EngineSettings) {
    // A request that would overflow the batch starts the next one.
    let mut carried: Option<Request> = None;
    loop {
        let first = match carried.take() {
            Some(r) => r,
            None => match requests.recv() {
                Ok(Message::Work(r)) => r,
                Ok(Message::Stop) | Err(_) => return,
            },
        };
        let deadline = Instant::now() + settings.max_wait;
        let mut size = first.windows;
        let mut batch = vec![first];
        let mut stop = false;
        while size < settings.max_batch {
            let left = deadline.saturating_duration_since(Instant::now());
            match requests.recv_timeout(left) {
                Ok(Message::Work(r)) if size + r.windows > settings.max_batch => {
                    carried = Some(r);
                    break;
                }
                Ok(Message::Work(r)) => {
                    size += r.windows;
                    batch.push(r);
                }
                Err(RecvTimeoutError::Timeout) => break,
                Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => {
                    stop = true;
                    break;
                }
            }
        }
        if workers.send(batch).is_err() {
            return;
        }
        if stop {
            if let Some(last) = carried.take() {
                let _ = workers.send(vec![last]);
            }
            return;
        }
    }
}

fn worker<E: Embedder>(mut embedder: E, work: &Mutex<Receiver<Vec<Request>>>, stats: &EngineStats) {
    loop {
        let batch = {
            let queue = work.lock().unwrap_or_else(PoisonError::into_inner);
            match queue.recv() {
                Ok(batch) => batch,
                Err(_) => return,
            }
        };
        let windows: usize = batch.iter().map(|r| r.windows).sum();
        let values: Vec<f32> = batch.iter().flat_map(|r| r.values.iter().copied()).collect();
        match embedder.embed(windows, &values) {
            Ok(rows) if rows.len() == windows => {
                stats.batches.fetch_add(1, Ordering::Relaxed);
                stats.windows.fetch_add(windows as u64, Ordering::Relaxed);
                let mut rows = rows.into_iter();
                for request in batch {
                    let mine: Vec<Option<Vec<f32>>> = rows
                        .by_ref()
                        .take(request.windows)
                        .map(|row| {
                            let finite = !row.is_empty() && row.iter().all(|v| v.is_finite());
                            if !finite {
                                stats.rejected.fetch_add(1, Ordering::Relaxed);
                            }
                            finite.then_some(row)
                        })
                        .collect();
                    let _ = request.reply.send(Ok(mine));
                }
            }
            outcome => {
                stats.failures.fetch_add(1, Ordering::Relaxed);
                let reason = match outcome {
                    Err(reason) => reason,
                    Ok(rows) => format!("{} embeddings for {windows} windows", rows.len()),
                };
                tracing::warn!(%reason, windows, "inference failed");
                for request in batch {
                    let _ = request.reply.send(Err(reason.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Embeds a window as its first value; records the batch sizes it saw; NaN on -1.
    struct First {
        sizes: Arc<Mutex<Vec<usize>>>,
        per_window: usize,
    }

    impl Embedder for First {
        fn embed(&mut self, windows: usize, values: &[f32]) -> Result<Vec<Vec<f32>>, String> {
            self.sizes.lock().unwrap_or_else(PoisonError::into_inner).push(windows);
            if values.first() == Some(&-9.0) {
                return Err("model failed".into());
            }
            Ok(values
                .chunks(self.per_window)
                .map(|w| vec![if w[0] == -1.0 { f32::NAN } else { w[0] }])
                .collect())
        }
    }

    fn engine(
        max_batch: usize,
        max_wait_ms: u64,
        workers: usize,
    ) -> (InferenceEngine, Arc<Mutex<Vec<usize>>>) {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let embedders =
            (0..workers).map(|_| First { sizes: Arc::clone(&sizes), per_window: 2 }).collect();
        let settings =
            EngineSettings { max_batch, max_wait: Duration::from_millis(max_wait_ms), queue: 64 };
        (InferenceEngine::start(embedders, settings), sizes)
    }

    #[test]
    fn concurrent_requests_share_batches_and_get_their_own_rows() {
        let (engine, sizes) = engine(8, 200, 1);
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let handle = engine.handle();
                std::thread::spawn(move || {
                    let values: Vec<f32> =
                        (0..2).flat_map(|w| [(10 * i + w) as f32, 0.0]).collect();
                    handle.submit(2, values)
                })
            })
            .collect();
        for (i, t) in threads.into_iter().enumerate() {
            let rows = t.join().expect("thread").expect("rows");
            assert_eq!(rows, [Some(vec![(10 * i) as f32]), Some(vec![(10 * i + 1) as f32])]);
        }
        let seen = sizes.lock().expect("sizes").clone();
        assert!(seen.iter().all(|&n| n <= 8), "{seen:?}");
        assert!(seen.len() < 4, "requests were batched together: {seen:?}");
        assert_eq!(engine.handle().stats().windows.load(Ordering::Relaxed), 8);
        engine.shutdown();
    }

    #[test]
    fn a_lone_request_waits_at_most_max_wait_and_oversized_ones_run_alone() {
        let (engine, sizes) = engine(4, 20, 2);
        let handle = engine.handle();
        let started = Instant::now();
        assert_eq!(handle.submit(1, vec![3.0, 0.0]).expect("rows"), [Some(vec![3.0])]);
        assert!(started.elapsed() < Duration::from_secs(2));
        let rows = handle.submit(6, vec![1.0; 12]).expect("rows");
        assert_eq!(rows.len(), 6);
        assert!(sizes.lock().expect("sizes").contains(&6));
        engine.shutdown();
    }

    #[test]
    fn non_finite_rows_and_failures_are_counted_not_fatal() {
        let (engine, _) = engine(4, 1, 1);
        let mut handle = engine.handle();
        let rows = handle.submit(2, vec![-1.0, 0.0, 5.0, 0.0]).expect("rows");
        assert_eq!(rows, [None, Some(vec![5.0])]);
        assert_eq!(handle.stats().rejected.load(Ordering::Relaxed), 1);
        assert!(handle.submit(1, vec![-9.0, 0.0]).is_err());
        assert_eq!(handle.stats().failures.load(Ordering::Relaxed), 1);
        // As an Embedder, a rejected row comes back non-finite for the judge to count.
        let rows = handle.embed(1, &[-1.0, 0.0]).expect("rows");
        assert!(rows[0].iter().any(|v| !v.is_finite()));
        // The engine still works after a failure.
        assert_eq!(handle.submit(1, vec![2.0, 0.0]).expect("rows"), [Some(vec![2.0])]);
        engine.shutdown();
    }

    /// Embeds a window as its first value, after a pause long enough for the other worker to
    /// pick up the next request; records which thread ran each call.
    struct Slow {
        threads: Arc<Mutex<Vec<String>>>,
    }

    impl Embedder for Slow {
        fn embed(&mut self, _windows: usize, values: &[f32]) -> Result<Vec<Vec<f32>>, String> {
            let name = std::thread::current().name().unwrap_or_default().to_owned();
            self.threads.lock().unwrap_or_else(PoisonError::into_inner).push(name);
            std::thread::sleep(Duration::from_millis(200));
            Ok(values.chunks(2).map(|w| vec![w[0]]).collect())
        }
    }

    #[test]
    fn one_large_call_is_split_across_the_sessions_and_comes_back_in_order() {
        let threads = Arc::new(Mutex::new(Vec::new()));
        let workers = (0..2).map(|_| Slow { threads: Arc::clone(&threads) }).collect();
        let settings = EngineSettings { max_batch: 4, max_wait: Duration::ZERO, queue: 64 };
        let engine = InferenceEngine::start(workers, settings);
        let mut handle = engine.handle();
        let values: Vec<f32> = (0..10).flat_map(|w| [w as f32, 0.0]).collect();
        let rows = handle.embed(10, &values).expect("rows");
        assert_eq!(rows, (0..10).map(|w| vec![w as f32]).collect::<Vec<_>>());
        let seen = threads.lock().expect("threads").clone();
        assert_eq!(seen.len(), 3, "10 windows, 2 sessions, at most 4 a call: 4 + 4 + 2 ({seen:?})");
        let distinct: std::collections::BTreeSet<_> = seen.iter().collect();
        assert_eq!(distinct.len(), 2, "both sessions ran a part: {seen:?}");
        assert!(handle.embed(3, &[1.0; 5]).is_err(), "values that do not split into windows");
        engine.shutdown();
    }
}
