//! [`Ledger`]: the one public ledger type, over whichever backend its [`LedgerConfig`] names
//! (an embedded SQLite file, or a PostgreSQL database shared by many processes).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mamba_pricing::CostBreakdown;
use mamba_usage::{SinkError, UsageRecord, UsageSink};

use crate::batch::{Batch, Pushed};
use crate::budget::{BudgetUsage, Definition, HoldRequest};
use crate::config::Location;
#[cfg(feature = "postgres")]
use crate::postgres::PostgresStore;
use crate::spill::Spill;
#[cfg(feature = "sqlite")]
use crate::sqlite::SqliteStore;
use crate::stored::{Group, Inserted, Row, Split, Sums, Values};
use crate::{LedgerConfig, LedgerError, LedgerTotals, RecordId, Replayed, TimeRange, Written};

/// A durable usage ledger: every record and its exact cost, committed before
/// [`record`](Ledger::record) returns, written once per [`RecordId`], with totals and
/// breakdowns computed in SQL with exact decimals.
///
/// It is an embedded SQLite file (feature `sqlite`, on by default; several processes may open
/// the same file and SQLite serialises their writes) or a PostgreSQL database (feature
/// `postgres`), for a fleet of processes on many machines. Every call blocks until the
/// database answers: from async code, call it on a blocking thread (`spawn_blocking`), as
/// mamba-agent does.
///
/// `Ledger` is `Clone + Send + Sync`; clones share one connection.
///
/// ```
/// use mamba_ledger::{Ledger, RecordId, TimeRange, Written};
/// use mamba_pricing::CostEstimator;
/// use mamba_usage::{Labels, UsageRecord};
///
/// let path = std::env::temp_dir().join(format!("ledger-doc-{}.db", std::process::id()));
/// let ledger = Ledger::open_sqlite(&path)?;
/// let record = UsageRecord::builder("gpt-4o").prompt_tokens(1_000).completion_tokens(500)
///     .labels(Labels::new().user("alice")).build()?;
/// let cost = CostEstimator::new().estimate_record(&record);
/// let id = RecordId::new();
/// assert_eq!(ledger.record_with_id(id, &record, &cost)?, Written::Inserted);
/// assert_eq!(ledger.record_with_id(id, &record, &cost)?, Written::AlreadyThere); // a retry
///
/// let totals = ledger.totals(TimeRange::ALL)?;
/// assert_eq!((totals.usage.request_count, totals.cost.to_string()), (1, "0.0075".to_owned()));
/// assert_eq!(ledger.by_label("user", TimeRange::ALL)?[&Some("alice".to_owned())].usage.total_tokens, 1_500);
/// # drop(ledger);
/// # for suffix in ["", "-wal", "-shm"] { let _ = std::fs::remove_file(format!("{}{suffix}", path.display())); }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Ledger {
    shared: Arc<Shared>,
    /// In batched mode, the thread that writes due batches; shared by the handles a user
    /// holds (not by the thread's own), so dropping the last of them writes the last batch.
    flusher: Option<Arc<Flusher>>,
}

struct Shared {
    backend: Backend,
    /// In batched mode, the records not written yet.
    batch: Option<Batch>,
    /// Where records go while the database cannot take them, when configured.
    spill: Option<Spill>,
    /// Records spilled since the database was last seen taking writes, for the log.
    spilled: AtomicU64,
}

// One `Backend` per opened ledger, behind an `Arc`: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Backend {
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteStore),
    #[cfg(feature = "postgres")]
    Postgres(PostgresStore),
}

/// Where a write went.
enum Stored {
    InDatabase(Inserted),
    Spilled,
}

/// Calls `$call` on whichever store `$ledger` has.
macro_rules! on_store {
    ($ledger:expr, $store:ident => $call:expr) => {
        match &$ledger.shared.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite($store) => $call,
            #[cfg(feature = "postgres")]
            Backend::Postgres($store) => $call,
        }
    };
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("database", &self.to_string())
            .field("spill", &self.shared.spill)
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// Opens (or creates) the ledger `config` names, applying schema migrations.
    ///
    /// # Errors
    /// [`LedgerError::Unavailable`] when the server cannot be reached (with a spill file, the
    /// ledger opens anyway and spills until it is back); [`LedgerError::Database`] when the
    /// database cannot be opened or refuses the connection (it does not exist, the password
    /// is wrong), is not a ledger, or was written by a newer version, spill file or not;
    /// [`LedgerError::BadUrl`] for a backend this build was compiled without.
    pub fn open(config: &LedgerConfig) -> Result<Ledger, LedgerError> {
        let spill = config
            .spill_path()
            .map(|path| Spill::new(path, config.commit_durability()));
        let backend = match config.location() {
            #[cfg(feature = "sqlite")]
            Location::Sqlite(path) => {
                Backend::Sqlite(SqliteStore::open(path, config.commit_durability())?)
            }
            #[cfg(feature = "postgres")]
            Location::Postgres(url) => {
                let store = PostgresStore::start(url)?;
                match store.connect_now() {
                    // With a spill file, a server that is down at start is an outage like any
                    // other: records spill until it is back.
                    Err(LedgerError::Unavailable { .. }) if spill.is_some() => {}
                    outcome => outcome?,
                }
                Backend::Postgres(store)
            }
            #[allow(unreachable_patterns)]
            _ => {
                return Err(LedgerError::BadUrl {
                    url: config.to_string(),
                    problem: format!(
                        "this build of mamba-ledger has no {} backend: enable its `{}` feature",
                        config.backend_name(),
                        config.backend_name()
                    ),
                });
            }
        };
        let mut ledger = Ledger {
            shared: Arc::new(Shared {
                backend,
                batch: config.batching().map(Batch::new),
                spill,
                spilled: AtomicU64::new(0),
            }),
            flusher: None,
        };
        if ledger.shared.batch.is_some() {
            ledger.flusher = Some(Arc::new(Flusher::start(&ledger)?));
        }
        // Records spilled by an earlier run go in now if the database can take them; if not,
        // they wait for the next write.
        if ledger.spill_pending() {
            let _ = ledger.replay_spill();
        }
        Ok(ledger)
    }

    /// [`open`](Self::open) on the SQLite file at `path`, with the default durability.
    ///
    /// # Errors
    /// As `open`.
    pub fn open_sqlite(path: impl Into<PathBuf>) -> Result<Ledger, LedgerError> {
        Ledger::open(&LedgerConfig::sqlite(path))
    }

    /// Writes `record` and its `cost` under a new id, committed before it returns (or, when
    /// the database cannot take it and a spill file is configured, appended to that file).
    ///
    /// # Errors
    /// [`LedgerError::Unstorable`] for a count above `i64::MAX`; [`LedgerError::Unavailable`]
    /// (without a spill file) or [`LedgerError::Database`] when the commit fails (nothing is
    /// written then).
    pub fn record(
        &self,
        record: &UsageRecord,
        cost: &CostBreakdown,
    ) -> Result<RecordId, LedgerError> {
        let id = RecordId::new();
        self.record_with_id(id, record, cost)?;
        Ok(id)
    }

    /// Writes `record` and its `cost` under `id`, once: a second write of the same id (a
    /// retry, a replay) changes nothing and says so. With a spill file
    /// ([`LedgerConfig::spill_to`]), a record the database cannot take for now
    /// ([`LedgerError::Unavailable`]: it is down, unreachable, or locked past its timeout) is
    /// appended there instead ([`Written::Spilled`]) and written by a later call once the
    /// database is back. A database that refuses the record (its tables are gone, the role
    /// may not write) fails the call, spill file or not: replaying into it would fail too.
    ///
    /// # Errors
    /// As [`record`](Self::record).
    pub fn record_with_id(
        &self,
        id: RecordId,
        record: &UsageRecord,
        cost: &CostBreakdown,
    ) -> Result<Written, LedgerError> {
        self.write_values(Values::new(id, record, cost)?)
    }

    /// Writes one record's values: into the pending batch in batched mode, else now.
    pub(crate) fn write_values(&self, values: Values) -> Result<Written, LedgerError> {
        if let Some(batch) = &self.shared.batch {
            return self.hold_in_batch(batch, values);
        }
        Ok(match self.write(std::slice::from_ref(&values))? {
            Stored::InDatabase(inserted) => inserted.written(),
            Stored::Spilled => Written::Spilled,
        })
    }

    /// Adds `values` to the pending batch; the flusher thread writes it once it is full or
    /// due. A record that finds the batch full (the flusher is behind, or a write of the batch
    /// failed) writes it itself first, so memory stays bounded and a failure reaches a caller:
    /// then it gets the error, and is not taken.
    fn hold_in_batch(&self, batch: &Batch, mut values: Values) -> Result<Written, LedgerError> {
        loop {
            match batch.push(values) {
                Pushed::Held | Pushed::Full => return Ok(Written::Batched),
                Pushed::Refused(back) => {
                    values = back;
                    self.flush()?;
                }
            }
        }
    }

    /// Writes the records batched mode holds now (a no-op in write-through mode): when it
    /// returns `Ok`, every record recorded before the call is committed (or, with a spill
    /// file and the database unavailable, spilled).
    ///
    /// # Errors
    /// What the write of the batch failed with; its records stay pending, retried by the next
    /// trigger.
    pub fn flush(&self) -> Result<(), LedgerError> {
        let Some(batch) = &self.shared.batch else {
            return Ok(());
        };
        let _writing = batch.lock_writing();
        let values = batch.take();
        if values.is_empty() {
            return Ok(());
        }
        match self.write(&values) {
            Ok(_) => Ok(()),
            Err(error) => {
                batch.put_back(values);
                Err(error)
            }
        }
    }

    /// Writes `batch` in one transaction; with a spill file, appends it there instead while
    /// the database is unavailable (behind the records spilled before it, which go in first
    /// once the database is back).
    fn write(&self, batch: &[Values]) -> Result<Stored, LedgerError> {
        let Some(spill) = &self.shared.spill else {
            return self.insert_all(batch).map(Stored::InDatabase);
        };
        if spill.is_pending() {
            // Still down: this batch joins the queue behind the earlier ones. Replayed, or a
            // line that cannot be read (it stays in the file, and `replay_spill` reports it):
            // this batch goes to the database as usual.
            if let Err(LedgerError::Unavailable { .. }) = self.replay_spill() {
                return self.spill(spill, batch);
            }
        }
        match self.insert_all(batch) {
            Err(LedgerError::Unavailable { .. }) => self.spill(spill, batch),
            inserted => inserted.map(Stored::InDatabase),
        }
    }

    /// Appends `batch` to the spill file, logging the outage at its 1st, 2nd, 4th, 8th ...
    /// spilled record (so a long one cannot flood the log).
    fn spill(&self, spill: &Spill, batch: &[Values]) -> Result<Stored, LedgerError> {
        if batch.is_empty() {
            return Ok(Stored::Spilled);
        }
        spill.append(batch)?;
        let count = batch.len() as u64;
        let spilled = self.shared.spilled.fetch_add(count, Ordering::Relaxed) + count;
        // Whether a power of two was reached in (spilled - count, spilled].
        if spilled.ilog2() != (spilled - count).checked_ilog2().unwrap_or(u32::MAX) {
            tracing::warn!(
                ledger = %self,
                spill = %spill.path().display(),
                spilled,
                "the ledger's database is unavailable; records go to the spill file and are \
                 written when it is back"
            );
        }
        Ok(Stored::Spilled)
    }

    fn insert_all(&self, batch: &[Values]) -> Result<Inserted, LedgerError> {
        on_store!(self, store => store.insert_all(batch))
    }

    /// Writes every spilled record to the database (each under its own id, so none counts
    /// twice however often a replay is cut short) and empties the spill file. Writes replay it
    /// by themselves once the database is back; this is for doing it now, or seeing why not.
    ///
    /// # Errors
    /// [`LedgerError::Unavailable`] while the database is still unavailable;
    /// [`LedgerError::Corrupt`] naming the line of the spill file that cannot be read (the
    /// lines before it are written; the file is kept).
    pub fn replay_spill(&self) -> Result<Replayed, LedgerError> {
        let Some(spill) = &self.shared.spill else {
            return Ok(Replayed::default());
        };
        let replayed = spill.replay(|batch| self.insert_all(batch))?;
        if replayed.inserted + replayed.already_there > 0 {
            let spilled = self.shared.spilled.swap(0, Ordering::Relaxed);
            tracing::info!(
                ledger = %self,
                spill = %spill.path().display(),
                inserted = replayed.inserted,
                already_there = replayed.already_there,
                spilled_by_this_process = spilled,
                "the ledger's database is back; the spilled records are written"
            );
        }
        Ok(replayed)
    }

    /// Stores a fleet budget's definition unless one of its name is there; the stored one.
    pub(crate) fn define_budget(&self, definition: &Definition) -> Result<Definition, LedgerError> {
        on_store!(self, store => store.define_budget(definition))
    }

    /// Holds `request`'s amount if it fits; else what the window has used and holds.
    pub(crate) fn hold(
        &self,
        request: &HoldRequest<'_>,
    ) -> Result<Option<BudgetUsage>, LedgerError> {
        on_store!(self, store => store.hold(request))
    }

    /// Gives a hold back (nothing if it was settled or expired).
    pub(crate) fn release_hold(&self, id: [u8; 16]) -> Result<(), LedgerError> {
        on_store!(self, store => store.release_hold(id))
    }

    /// What a budget's window has used and holds. Batched records are flushed first, so the
    /// usage includes every record recorded before the call.
    pub(crate) fn budget_usage(
        &self,
        budget: &str,
        window: &str,
    ) -> Result<BudgetUsage, LedgerError> {
        self.flush()?;
        on_store!(self, store => store.budget_usage(budget, window))
    }

    /// Whether the spill file may hold records not yet in the database.
    pub fn spill_pending(&self) -> bool {
        self.shared.spill.as_ref().is_some_and(Spill::is_pending)
    }

    /// Usage and exact cost of the records in `range`.
    ///
    /// # Errors
    /// [`LedgerError::Database`] when the query fails.
    pub fn totals(&self, range: TimeRange) -> Result<LedgerTotals, LedgerError> {
        Ok(self
            .grouped(Group::All, range)?
            .into_values()
            .next()
            .unwrap_or_default())
    }

    /// [`totals`](Self::totals) per model, as recorded.
    ///
    /// # Errors
    /// As `totals`.
    pub fn by_model(
        &self,
        range: TimeRange,
    ) -> Result<BTreeMap<String, LedgerTotals>, LedgerError> {
        Ok(self
            .grouped(Group::Model, range)?
            .into_iter()
            .map(|(model, totals)| (model.unwrap_or_default(), totals))
            .collect())
    }

    /// [`totals`](Self::totals) per tool; requests that called no tool under `None`.
    ///
    /// # Errors
    /// As `totals`.
    pub fn by_tool(
        &self,
        range: TimeRange,
    ) -> Result<BTreeMap<Option<String>, LedgerTotals>, LedgerError> {
        self.grouped(Group::Tool, range)
    }

    /// [`totals`](Self::totals) per UTC day (`2026-12-02`).
    ///
    /// # Errors
    /// As `totals`.
    pub fn by_day(&self, range: TimeRange) -> Result<BTreeMap<String, LedgerTotals>, LedgerError> {
        Ok(self
            .grouped(Group::Day, range)?
            .into_iter()
            .map(|(day, totals)| (day.unwrap_or_default(), totals))
            .collect())
    }

    /// [`totals`](Self::totals) per value of the label `key`; records without it under `None`.
    ///
    /// # Errors
    /// As `totals`.
    pub fn by_label(
        &self,
        key: &str,
        range: TimeRange,
    ) -> Result<BTreeMap<Option<String>, LedgerTotals>, LedgerError> {
        self.grouped(Group::Label(key.to_owned()), range)
    }

    fn grouped(
        &self,
        group: Group,
        range: TimeRange,
    ) -> Result<BTreeMap<Option<String>, LedgerTotals>, LedgerError> {
        self.flush()?;
        let bounds = range.bounds();
        let mut sums: BTreeMap<Option<String>, Sums> = BTreeMap::new();
        let mut add = |rows: Vec<(Option<String>, Sums)>| {
            for (key, more) in rows {
                sums.entry(key).or_default().add(&more);
            }
        };
        if group.rollup_key().is_none() {
            add(on_store!(self, store => store.grouped(&group, bounds))?);
        } else {
            // Whole days from the daily totals, the partial days at the ends from the records.
            let split = Split::of(bounds.0, bounds.1);
            for raw in split.raw {
                add(on_store!(self, store => store.grouped(&group, raw))?);
            }
            if let Some((first, last)) = &split.days {
                add(on_store!(self, store => store.grouped_days(&group, (first, last)))?);
            }
        }
        Ok(sums
            .into_iter()
            .map(|(key, sums)| (key, sums.totals()))
            .collect())
    }

    /// The records in `range`, oldest first, with their ids.
    ///
    /// # Errors
    /// [`LedgerError::Database`] when the query fails; [`LedgerError::Corrupt`] for a row that
    /// does not read back as a record.
    pub fn records(&self, range: TimeRange) -> Result<Vec<(RecordId, UsageRecord)>, LedgerError> {
        self.flush()?;
        let rows: Vec<Row> = on_store!(self, store => store.records(range))?;
        let location = self.location();
        rows.into_iter()
            .map(|row| row.into_record(location))
            .collect()
    }

    /// How many records the ledger holds.
    ///
    /// # Errors
    /// [`LedgerError::Database`] when the query fails.
    pub fn len(&self) -> Result<u64, LedgerError> {
        self.flush()?;
        on_store!(self, store => store.len())
    }

    /// Whether the ledger holds no record.
    ///
    /// # Errors
    /// As [`len`](Self::len).
    pub fn is_empty(&self) -> Result<bool, LedgerError> {
        Ok(self.len()? == 0)
    }

    /// The database's own consistency check: SQLite's `PRAGMA integrity_check` on the file;
    /// on PostgreSQL, that every stored label belongs to a stored record and every record's
    /// label text agrees with its label rows (the server checks its own pages).
    ///
    /// # Errors
    /// [`LedgerError::Corrupt`] with what the check found; [`LedgerError::Database`] when the
    /// check cannot run.
    pub fn check_integrity(&self) -> Result<(), LedgerError> {
        self.flush()?;
        on_store!(self, store => store.check_integrity())
    }

    /// Where the ledger is, as errors show it (a path, or a URL without its password).
    fn location(&self) -> &str {
        on_store!(self, store => store.location())
    }
}

/// The ledger as a sink: each record is committed under a new id before `record` returns (so
/// attach it as a required sink when the books must not diverge).
impl UsageSink<CostBreakdown> for Ledger {
    fn record(&self, record: &UsageRecord, cost: &CostBreakdown) -> Result<(), SinkError> {
        Ledger::record(self, record, cost)
            .map(drop)
            .map_err(|error| {
                SinkError::new(self.to_string(), "cannot write the record").with_source(error)
            })
    }

    fn flush(&self) -> Result<(), SinkError> {
        Ledger::flush(self).map_err(|error| {
            SinkError::new(self.to_string(), "cannot write the batched records").with_source(error)
        })
    }
}

/// Batched mode's thread: it writes each batch that has waited `max_delay`, and the last one
/// when the ledger's last handle is dropped.
struct Flusher {
    /// A handle without a flusher (so it keeps no flusher alive), to close the batch.
    ledger: Ledger,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Flusher {
    fn start(ledger: &Ledger) -> Result<Flusher, LedgerError> {
        let own = Ledger {
            shared: Arc::clone(&ledger.shared),
            flusher: None,
        };
        let worker = own.clone();
        let thread = std::thread::Builder::new()
            .name("mamba-ledger-batch".to_owned())
            .spawn(move || {
                let Some(batch) = &worker.shared.batch else {
                    return;
                };
                let write = || {
                    if let Err(error) = worker.flush() {
                        tracing::warn!(
                            ledger = %worker,
                            %error,
                            "a batch of records cannot be written; it is kept and retried"
                        );
                    }
                };
                while batch.wait_until_due() {
                    write();
                }
                write();
            })
            .map_err(|error| LedgerError::Database {
                location: ledger.to_string(),
                action: "cannot start the batch thread".to_owned(),
                source: Box::new(error),
            })?;
        Ok(Flusher {
            ledger: own,
            thread: Some(thread),
        })
    }
}

/// Dropping the last handle writes the last batch before it returns.
impl Drop for Flusher {
    fn drop(&mut self) {
        if let Some(batch) = &self.ledger.shared.batch {
            batch.close();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `sqlite://PATH`, or the PostgreSQL URL without its password.
impl std::fmt::Display for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.shared.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(store) => write!(f, "sqlite://{}", store.location()),
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => f.write_str(store.location()),
        }
    }
}
