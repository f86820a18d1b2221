//! [`UsageSink`]: what receives every record, and [`QueuedSink`], which feeds a slow sink from
//! a bounded queue so that recording never waits for it.
//!
//! A record's cost travels beside it as the sink's type parameter `C`, so this crate needs no
//! pricing: mamba-agent hands its sinks a `mamba_pricing::CostBreakdown`, a service that prices
//! nothing uses `()`, and the in-memory [`UsageTracker`] accepts any cost (it keeps counts
//! only).

use std::error::Error as StdError;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crate::{UsageRecord, UsageTracker};

/// Receives every usage record, once, after it was priced, with its cost `C`.
///
/// The contract a caller (such as mamba-agent) keeps: `record` is called exactly once per
/// record, after pricing, and never while a lock shared with readers of the caller's totals is
/// held, so a sink may take its time without stalling anyone who reads usage. A sink decides
/// what an error means: the caller reports it (an optional sink's errors are counted and
/// logged; a required sink's error fails the run) and never loses the in-memory record because
/// of it.
///
/// ```
/// use std::sync::Mutex;
/// use mamba_usage::{SinkError, UsageRecord, UsageSink, UsageTracker};
///
/// /// Keeps the request ids of expensive requests (the cost here is a plain number of cents).
/// #[derive(Default)]
/// struct Expensive(Mutex<Vec<String>>);
///
/// impl UsageSink<u64> for Expensive {
///     fn record(&self, record: &UsageRecord, cents: &u64) -> Result<(), SinkError> {
///         if *cents >= 100 {
///             let id = record.request_id().unwrap_or("?").to_owned();
///             self.0.lock().map_err(|_| SinkError::new("expensive", "poisoned"))?.push(id);
///         }
///         Ok(())
///     }
/// }
///
/// let sinks: Vec<Box<dyn UsageSink<u64>>> =
///     vec![Box::new(UsageTracker::new()), Box::new(Expensive::default())];
/// let record = UsageRecord::builder("gpt-4o").prompt_tokens(10).request_id("req_1").build()?;
/// for sink in &sinks {
///     sink.record(&record, &250)?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait UsageSink<C: ?Sized = ()>: Send + Sync {
    /// Takes one record and its cost.
    ///
    /// # Errors
    /// A [`SinkError`] when the sink could not keep the record.
    fn record(&self, record: &UsageRecord, cost: &C) -> Result<(), SinkError>;

    /// Makes everything received so far reach its destination (written, sent, committed).
    /// Sinks that keep nothing back have nothing to do, the default.
    ///
    /// # Errors
    /// A [`SinkError`] when records received earlier could not be delivered.
    fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// The in-memory tracker is a sink for records of any cost: it keeps their counts.
///
/// ```
/// use mamba_usage::{UsageRecord, UsageSink, UsageTracker};
///
/// let tracker = UsageTracker::new();
/// let sink: &dyn UsageSink<()> = &tracker;
/// sink.record(&UsageRecord::new(100, 50, "gpt-4o"), &())?;
/// assert_eq!(tracker.summary().totals.total_tokens, 150);
/// # Ok::<(), mamba_usage::SinkError>(())
/// ```
impl<C: ?Sized> UsageSink<C> for UsageTracker {
    fn record(&self, record: &UsageRecord, _cost: &C) -> Result<(), SinkError> {
        UsageTracker::record(self, record);
        Ok(())
    }
}

impl<C: ?Sized, S: UsageSink<C> + ?Sized> UsageSink<C> for Arc<S> {
    fn record(&self, record: &UsageRecord, cost: &C) -> Result<(), SinkError> {
        (**self).record(record, cost)
    }

    fn flush(&self) -> Result<(), SinkError> {
        (**self).flush()
    }
}

impl<C: ?Sized, S: UsageSink<C> + ?Sized> UsageSink<C> for Box<S> {
    fn record(&self, record: &UsageRecord, cost: &C) -> Result<(), SinkError> {
        (**self).record(record, cost)
    }

    fn flush(&self) -> Result<(), SinkError> {
        (**self).flush()
    }
}

/// A sink could not keep a record: which sink, what went wrong, and the underlying error.
///
/// ```
/// use mamba_usage::SinkError;
///
/// let io = std::io::Error::other("disk full");
/// let error = SinkError::new("usage.jsonl", "cannot append the record").with_source(io);
/// assert_eq!(error.to_string(), "usage sink `usage.jsonl`: cannot append the record: disk full");
/// assert_eq!(error.sink(), "usage.jsonl");
/// ```
#[derive(Debug)]
pub struct SinkError {
    sink: String,
    problem: String,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl SinkError {
    /// `sink` (a name users recognise: a file, a database, a service) failed with `problem`.
    pub fn new(sink: impl Into<String>, problem: impl Into<String>) -> SinkError {
        SinkError {
            sink: sink.into(),
            problem: problem.into(),
            source: None,
        }
    }

    /// The error underneath, shown after the problem and kept as the error's source.
    #[must_use]
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> SinkError {
        self.source = Some(Box::new(source));
        self
    }

    /// The sink that failed.
    pub fn sink(&self) -> &str {
        &self.sink
    }

    /// What went wrong, without the source.
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "usage sink `{}`: {}", self.sink, self.problem)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl StdError for SinkError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

/// What a [`QueuedSink`] did with the records it was given.
///
/// ```
/// let stats = mamba_usage::QueueStats::default();
/// assert_eq!(stats.delivered + stats.failed + stats.dropped, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// Records the inner sink accepted.
    pub delivered: u64,
    /// Records the inner sink refused with an error.
    pub failed: u64,
    /// Records never queued because the queue was full (or its worker had stopped).
    pub dropped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

enum Message<C> {
    Record(UsageRecord, C),
    /// Flush the inner sink once everything queued before has been delivered, and answer.
    Flush(SyncSender<Result<(), SinkError>>),
}

/// What a [`QueuedSink`] calls with each error of its inner sink (after counting it).
pub type ErrorHandler = Box<dyn Fn(&SinkError) + Send + Sync>;

/// Feeds a sink from a bounded queue on a thread of its own, so recording never waits for it.
///
/// [`record`](UsageSink::record) only puts the record in the queue and never blocks: when the
/// queue is full the record is dropped for this sink and counted in
/// [`QueueStats::dropped`] (the caller's own books, such as the in-memory tracker, still have
/// it). The inner sink's errors are counted, handed to the error handler, and never reach the
/// caller. [`flush`](UsageSink::flush) waits until everything queued before it was delivered;
/// dropping the `QueuedSink` delivers what is queued and then stops the thread.
///
/// ```
/// use mamba_usage::{QueuedSink, UsageRecord, UsageSink, UsageTracker};
///
/// let behind_the_queue = UsageTracker::new();
/// let queued = QueuedSink::new(behind_the_queue.clone(), 1_024)?;
/// queued.record(&UsageRecord::new(100, 50, "gpt-4o"), &())?;
/// queued.flush()?;
/// assert_eq!(behind_the_queue.summary().totals.total_tokens, 150);
/// assert_eq!(queued.stats().delivered, 1);
/// # Ok::<(), mamba_usage::SinkError>(())
/// ```
pub struct QueuedSink<C> {
    sender: Option<SyncSender<Message<C>>>,
    counters: Arc<Counters>,
    worker: Option<JoinHandle<()>>,
    /// Serialises flushes, so each waits for its own answer.
    flushing: Mutex<()>,
}

impl<C> fmt::Debug for QueuedSink<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueuedSink")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<C: Send + 'static> QueuedSink<C> {
    /// Starts a worker thread that hands `sink` the records queued for it, up to `capacity` of
    /// them waiting (at least 1); the inner sink's errors are only counted.
    ///
    /// # Errors
    /// A [`SinkError`] when the thread cannot be started.
    pub fn new<S>(sink: S, capacity: usize) -> Result<QueuedSink<C>, SinkError>
    where
        S: UsageSink<C> + 'static,
    {
        QueuedSink::with_error_handler(sink, capacity, Box::new(|_| {}))
    }

    /// [`new`](Self::new), calling `on_error` (on the worker thread) with each error of the
    /// inner sink, to log it.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use mamba_usage::{QueuedSink, SinkError, UsageRecord, UsageSink};
    ///
    /// struct Down;
    /// impl UsageSink for Down {
    ///     fn record(&self, _: &UsageRecord, _: &()) -> Result<(), SinkError> {
    ///         Err(SinkError::new("collector", "connection refused"))
    ///     }
    /// }
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = Arc::clone(&seen);
    /// let queued = QueuedSink::with_error_handler(Down, 8, Box::new(move |error| {
    ///     log.lock().unwrap().push(error.to_string());
    /// }))?;
    /// queued.record(&UsageRecord::new(1, 1, "gpt-4o"), &())?; // never fails the caller
    /// queued.flush()?;
    /// assert_eq!(queued.stats().failed, 1);
    /// assert_eq!(*seen.lock().unwrap(), ["usage sink `collector`: connection refused"]);
    /// # Ok::<(), SinkError>(())
    /// ```
    ///
    /// # Errors
    /// A [`SinkError`] when the thread cannot be started.
    pub fn with_error_handler<S>(
        sink: S,
        capacity: usize,
        on_error: ErrorHandler,
    ) -> Result<QueuedSink<C>, SinkError>
    where
        S: UsageSink<C> + 'static,
    {
        let (sender, receiver) = mpsc::sync_channel(capacity.max(1));
        let counters = Arc::new(Counters::default());
        let worker_counters = Arc::clone(&counters);
        let worker = std::thread::Builder::new()
            .name("mamba-usage-sink".to_owned())
            .spawn(move || deliver(&sink, &receiver, &worker_counters, &on_error))
            .map_err(|error| {
                SinkError::new("queue", "cannot start the sink's worker thread").with_source(error)
            })?;
        Ok(QueuedSink {
            sender: Some(sender),
            counters,
            worker: Some(worker),
            flushing: Mutex::new(()),
        })
    }
}

impl<C> QueuedSink<C> {
    /// What happened to the records given so far.
    pub fn stats(&self) -> QueueStats {
        QueueStats {
            delivered: self.counters.delivered.load(Ordering::Relaxed),
            failed: self.counters.failed.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
        }
    }
}

/// The worker: delivers records in order until every sender is gone.
fn deliver<C, S: UsageSink<C>>(
    sink: &S,
    receiver: &Receiver<Message<C>>,
    counters: &Counters,
    on_error: &ErrorHandler,
) {
    for message in receiver {
        match message {
            Message::Record(record, cost) => match sink.record(&record, &cost) {
                Ok(()) => {
                    counters.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    on_error(&error);
                }
            },
            // The asker may have given up; then nobody needs the answer.
            Message::Flush(answer) => drop(answer.send(sink.flush())),
        }
    }
    if let Err(error) = sink.flush() {
        on_error(&error);
    }
}

impl<C: Clone + Send + 'static> UsageSink<C> for QueuedSink<C> {
    fn record(&self, record: &UsageRecord, cost: &C) -> Result<(), SinkError> {
        let Some(sender) = &self.sender else {
            return Ok(());
        };
        match sender.try_send(Message::Record(record.clone(), cost.clone())) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), SinkError> {
        let _one_at_a_time = self.flushing.lock().unwrap_or_else(PoisonError::into_inner);
        let stopped = || SinkError::new("queue", "the sink's worker thread has stopped");
        let sender = self.sender.as_ref().ok_or_else(stopped)?;
        let (answer, answered) = mpsc::sync_channel(1);
        sender.send(Message::Flush(answer)).map_err(|_| stopped())?;
        answered.recv().map_err(|_| stopped())?
    }
}

impl<C> Drop for QueuedSink<C> {
    fn drop(&mut self) {
        // Closing the queue lets the worker deliver what is left and stop.
        drop(self.sender.take());
        if let Some(worker) = self.worker.take() {
            // A worker that panicked has nothing left to deliver; there is nobody to tell.
            drop(worker.join());
        }
    }
}
