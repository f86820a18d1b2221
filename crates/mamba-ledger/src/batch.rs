//! Batched mode's pending batch: records held in memory until they are written together, with
//! the size and time triggers of [`Batching`]. The ledger writes a batch; this module only
//! holds it, says when it is due, and takes it back when a write fails, so an acknowledged
//! record is never dropped by a failed write.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::Batching;
use crate::stored::Values;

/// The records recorded but not yet written.
pub(crate) struct Batch {
    limits: Batching,
    pending: Mutex<Pending>,
    /// Wakes the flusher thread: a batch started, or the ledger is closing.
    wake: Condvar,
    /// Held while a batch is written, so a flush returns only once every record recorded
    /// before it is written (a batch another thread took is in before the lock is free).
    writing: Mutex<()>,
}

struct Pending {
    values: Vec<Values>,
    /// When the oldest record of the batch arrived (or a failed write put it back).
    since: Option<Instant>,
    /// A write of this batch failed: it is due by its delay only, not by being full, so the
    /// flusher does not retry a database that is down in a busy loop.
    failed: bool,
    closing: bool,
}

/// What [`Batch::push`] did with a record.
// `Refused` hands the record back by move on the rare path where the batch is full; the enum
// lives for one call on the stack, so boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Pushed {
    /// The record waits in the batch.
    Held,
    /// The record waits in the batch, which is now full: the flusher thread is woken to
    /// write it.
    Full,
    /// The batch is full (a write of it failed, or is under way): the record is handed back,
    /// to push again once the batch is written.
    Refused(Values),
}

impl Batch {
    pub(crate) fn new(limits: Batching) -> Batch {
        Batch {
            limits,
            pending: Mutex::new(Pending {
                values: Vec::with_capacity(limits.max_records().get()),
                since: None,
                failed: false,
                closing: false,
            }),
            wake: Condvar::new(),
            writing: Mutex::new(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        // The pending records stay valid whatever panicked while holding the lock.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `values` to the batch, unless it is full.
    pub(crate) fn push(&self, values: Values) -> Pushed {
        let max = self.limits.max_records().get();
        let mut pending = self.lock();
        if pending.values.len() >= max {
            return Pushed::Refused(values);
        }
        pending.values.push(values);
        if pending.since.is_none() {
            pending.since = Some(Instant::now());
            self.wake.notify_all();
        }
        if pending.values.len() == max {
            self.wake.notify_all();
            Pushed::Full
        } else {
            Pushed::Held
        }
    }

    /// Held while a batch is taken and written.
    pub(crate) fn lock_writing(&self) -> MutexGuard<'_, ()> {
        self.writing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Empties the batch, returning its records.
    pub(crate) fn take(&self) -> Vec<Values> {
        let mut pending = self.lock();
        pending.since = None;
        pending.failed = false;
        let capacity = self.limits.max_records().get();
        std::mem::replace(&mut pending.values, Vec::with_capacity(capacity))
    }

    /// Puts back `values` whose write failed, ahead of any recorded since; they are due again
    /// after a full `max_delay` (or when a record finds the batch full and writes it itself),
    /// so a database that is down is retried at that pace, not in a busy loop.
    pub(crate) fn put_back(&self, mut values: Vec<Values>) {
        let mut pending = self.lock();
        values.append(&mut pending.values);
        pending.values = values;
        pending.since = Some(Instant::now());
        pending.failed = true;
    }

    /// Blocks until the batch is due (it is full, or its oldest record has waited
    /// `max_delay`) and returns `true`, or returns `false` once the ledger is closing.
    pub(crate) fn wait_until_due(&self) -> bool {
        let max = self.limits.max_records().get();
        let mut pending = self.lock();
        loop {
            if pending.closing {
                return false;
            }
            if pending.values.len() >= max && !pending.failed {
                return true;
            }
            match pending.since {
                None => {
                    pending = self
                        .wake
                        .wait(pending)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                Some(since) => {
                    let due = since + self.limits.max_delay();
                    let now = Instant::now();
                    if now >= due {
                        return true;
                    }
                    pending = self
                        .wake
                        .wait_timeout(pending, due - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
    }

    /// Ends [`wait_until_due`](Self::wait_until_due) for good.
    pub(crate) fn close(&self) {
        self.lock().closing = true;
        self.wake.notify_all();
    }
}
