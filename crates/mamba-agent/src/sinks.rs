//! Where every record goes after it was priced: the tracker and the agent's own in-memory
//! sinks (telemetry metrics) at once, optional sinks (each behind a bounded queue, never
//! waited for) and required sinks (awaited by the request, whose run fails if they fail).

use std::fmt;
use std::sync::Arc;

use mamba_pricing::CostBreakdown;
use mamba_usage::{QueueStats, QueuedSink, SinkError, UsageRecord, UsageSink, UsageTracker};
use tokio::task::JoinHandle;

use crate::AgentError;
use crate::inner::FleetHolds;

/// A sink the agent records to: it receives each record with its [`CostBreakdown`].
pub type AgentSink = dyn UsageSink<CostBreakdown>;

/// The agent's outlets for records.
pub(crate) struct Outlets {
    tracker: UsageTracker,
    /// The agent's own sinks that only update memory and never fail, like the tracker.
    #[cfg_attr(not(feature = "otel"), allow(dead_code))]
    inline: Vec<Arc<AgentSink>>,
    queued: Vec<QueuedSink<CostBreakdown>>,
    required: Vec<Arc<AgentSink>>,
    /// The agent's own ledger (its fleet budgets live there): required like the sinks above,
    /// and written with the fleet holds each record settles, in the record's insert.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    ledger: Option<mamba_ledger::Ledger>,
}

impl fmt::Debug for Outlets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outlets")
            .field("queued", &self.queued.len())
            .field("required", &self.required.len())
            .finish_non_exhaustive()
    }
}

impl Outlets {
    pub(crate) fn new(tracker: UsageTracker) -> Outlets {
        Outlets {
            tracker,
            inline: Vec::new(),
            queued: Vec::new(),
            required: Vec::new(),
            #[cfg(any(feature = "sqlite", feature = "postgres"))]
            ledger: None,
        }
    }

    /// Makes `ledger` the agent's own (see the field); the one already there, if any, stays
    /// as a plain required sink.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn set_ledger(&mut self, ledger: mamba_ledger::Ledger) {
        if let Some(earlier) = self.ledger.replace(ledger) {
            self.required.push(Arc::new(earlier));
        }
    }

    /// The agent's own ledger.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn ledger(&self) -> Option<&mamba_ledger::Ledger> {
        self.ledger.as_ref()
    }

    /// Adds an optional sink behind a queue of `capacity` records.
    ///
    /// # Errors
    /// [`AgentError::Sink`] when the queue's thread cannot be started.
    pub(crate) fn add_queued(
        &mut self,
        sink: Arc<AgentSink>,
        capacity: usize,
    ) -> Result<(), AgentError> {
        let queued = QueuedSink::with_error_handler(
            sink,
            capacity,
            Box::new(|error| {
                tracing::warn!(%error, "an optional usage sink failed; the record stays in the agent's books");
            }),
        )
        .map_err(AgentError::Sink)?;
        self.queued.push(queued);
        Ok(())
    }

    /// Adds one of the agent's own in-memory sinks, called at once on the request path.
    #[cfg(feature = "otel")]
    pub(crate) fn add_inline(&mut self, sink: Arc<AgentSink>) {
        self.inline.push(sink);
    }

    pub(crate) fn add_required(&mut self, sink: Arc<AgentSink>) {
        self.required.push(sink);
    }

    pub(crate) fn tracker(&self) -> &UsageTracker {
        &self.tracker
    }

    /// Hands `record` to every sink: the tracker and the queues at once, the required sinks
    /// (the agent's ledger, settling `fleet` in the record's insert, among them) on blocking
    /// threads, returned as a [`Delivery`] to await.
    pub(crate) fn deliver(
        &self,
        record: &UsageRecord,
        cost: &CostBreakdown,
        fleet: FleetHolds,
    ) -> Delivery {
        self.tracker.record(record);
        for sink in &self.inline {
            // These sinks update memory only and never fail.
            drop(sink.record(record, cost));
        }
        for queued in &self.queued {
            let dropped = queued.stats().dropped;
            // A queue's `record` never fails and never blocks: a full queue drops and counts.
            drop(queued.record(record, cost));
            let now = queued.stats().dropped;
            // Logged at the 1st, 2nd, 4th, 8th ... drop, so an overloaded sink cannot flood
            // the log; `Agent::sink_stats` has the exact count.
            if now > dropped && now.is_power_of_two() {
                tracing::warn!(
                    dropped = now,
                    "an optional usage sink's queue is full; records were not queued for it"
                );
            }
        }
        #[cfg(not(any(feature = "sqlite", feature = "postgres")))]
        let (no_ledger, _) = (true, fleet);
        #[cfg(any(feature = "sqlite", feature = "postgres"))]
        let no_ledger = self.ledger.is_none();
        if self.required.is_empty() && no_ledger {
            return Delivery::default();
        }
        let mut delivery = Delivery::default();
        let runtime = tokio::runtime::Handle::try_current().ok();
        #[cfg(any(feature = "sqlite", feature = "postgres"))]
        if let Some(ledger) = &self.ledger {
            delivery.extend(deliver_to_ledger(
                ledger,
                runtime.as_ref(),
                record,
                cost,
                fleet,
            ));
        }
        for sink in &self.required {
            let sink = Arc::clone(sink);
            match &runtime {
                Some(runtime) => {
                    let (record, cost) = (record.clone(), cost.clone());
                    delivery.tasks.push(runtime.spawn_blocking(move || {
                        let outcome = sink.record(&record, &cost);
                        if let Err(error) = &outcome {
                            tracing::error!(%error, "a required usage sink failed");
                        }
                        outcome
                    }));
                }
                // Outside a runtime (a guard dropped after it ended) there is no thread to
                // hand the work to, so it is done here.
                None => {
                    if let Err(error) = sink.record(record, cost) {
                        tracing::error!(%error, "a required usage sink failed");
                        delivery.failed.get_or_insert(error);
                    }
                }
            }
        }
        delivery
    }

    /// What each optional sink's queue did, in the order the sinks were added.
    pub(crate) fn queue_stats(&self) -> Vec<QueueStats> {
        self.queued.iter().map(QueuedSink::stats).collect()
    }

    /// Flushes every sink: waits until the queues are delivered, then flushes the required
    /// sinks. Blocks; call it on a blocking thread.
    pub(crate) fn flush(&self) -> Result<(), SinkError> {
        let mut first_error = None;
        let queued = self.queued.iter().map(|queued| queued.flush());
        let required = self.required.iter().map(|sink| sink.flush());
        #[cfg(any(feature = "sqlite", feature = "postgres"))]
        let required = required.chain(self.ledger.iter().map(UsageSink::flush));
        for outcome in queued.chain(required) {
            if let Err(error) = outcome {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Writes `record` to the agent's own ledger under a new id, settling `fleet` in its insert:
/// on a blocking thread of `runtime` (a task of the delivery), or here outside a runtime.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn deliver_to_ledger(
    ledger: &mamba_ledger::Ledger,
    runtime: Option<&tokio::runtime::Handle>,
    record: &UsageRecord,
    cost: &CostBreakdown,
    fleet: FleetHolds,
) -> Delivery {
    let write = {
        let ledger = ledger.clone();
        move |record: &UsageRecord, cost: &CostBreakdown| {
            ledger
                .record_settling(mamba_ledger::RecordId::new(), record, cost, fleet)
                .map(drop)
                .map_err(|error| {
                    tracing::error!(%error, "the agent's ledger cannot write a record");
                    SinkError::new(ledger.to_string(), "cannot write the record").with_source(error)
                })
        }
    };
    let mut delivery = Delivery::default();
    match runtime {
        Some(runtime) => {
            let (record, cost) = (record.clone(), cost.clone());
            delivery
                .tasks
                .push(runtime.spawn_blocking(move || write(&record, &cost)));
        }
        None => {
            if let Err(error) = write(record, cost) {
                delivery.failed = Some(error);
            }
        }
    }
    delivery
}

/// The required sinks' work for one or more records. Awaiting it ([`finish`](Self::finish))
/// is how a request waits for them; dropping it leaves them running to completion on their
/// threads (each logs its own failure), which is what a request that was cancelled needs.
#[derive(Debug, Default)]
#[must_use = "a required sink's failure is only seen by awaiting its delivery"]
pub(crate) struct Delivery {
    tasks: Vec<JoinHandle<Result<(), SinkError>>>,
    /// A failure that happened before any task could be made.
    failed: Option<SinkError>,
}

impl Delivery {
    /// Joins another delivery's work to this one.
    pub(crate) fn extend(&mut self, other: Delivery) {
        self.tasks.extend(other.tasks);
        if let Some(error) = other.failed {
            self.failed.get_or_insert(error);
        }
    }

    /// Waits for every required sink; the first failure, if any.
    ///
    /// # Errors
    /// [`AgentError::Sink`] with the first sink error.
    pub(crate) async fn finish(self) -> Result<(), AgentError> {
        let mut first_error = self.failed;
        for task in self.tasks {
            let outcome = match task.await {
                Ok(outcome) => outcome,
                Err(join) => Err(SinkError::new(
                    "required sink",
                    format!("the sink's thread ended before recording: {join}"),
                )),
            };
            if let Err(error) = outcome {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), |error| Err(AgentError::Sink(error)))
    }
}
