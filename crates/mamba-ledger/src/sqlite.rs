//! The SQLite ledger: one connection under a mutex, WAL journal, versioned schema, and a
//! `decimal_sum` aggregate registered from Rust so money is summed exactly in SQL (SQLite's own
//! `SUM` over text or reals is a float sum: 0.1 + 0.2 = 0.30000000000000004).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mamba_pricing::{CostBreakdown, PriceSource};
use mamba_usage::{Labels, SinkError, TokenUsage, UsageRecord, UsageSink};
use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::{Connection, OptionalExtension, params};
use rust_decimal::Decimal;

use crate::schema;
use crate::{Durability, LedgerConfig, LedgerError, LedgerTotals, RecordId, TimeRange, Written};

/// A durable usage ledger in a SQLite file: every record and its exact cost, committed before
/// [`record`](Ledger::record) returns, written once per [`RecordId`], with totals and
/// breakdowns computed in SQL.
///
/// `Ledger` is `Clone + Send + Sync`; clones share one connection. Several processes may open
/// the same file: SQLite serialises their writes.
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
}

struct Shared {
    connection: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

/// Sums decimal text exactly.
struct DecimalSum;

impl Aggregate<Decimal, Option<String>> for DecimalSum {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<Decimal> {
        Ok(Decimal::ZERO)
    }

    fn step(&self, ctx: &mut Context<'_>, sum: &mut Decimal) -> rusqlite::Result<()> {
        let Some(text) = ctx.get::<Option<String>>(0)? else {
            return Ok(());
        };
        let value: Decimal = text.parse().map_err(|e| {
            rusqlite::Error::UserFunctionError(format!("`{text}` is not a decimal: {e}").into())
        })?;
        *sum = sum.checked_add(value).ok_or_else(|| {
            rusqlite::Error::UserFunctionError("the sum exceeds the decimal range".into())
        })?;
        Ok(())
    }

    fn finalize(
        &self,
        _: &mut Context<'_>,
        sum: Option<Decimal>,
    ) -> rusqlite::Result<Option<String>> {
        Ok(sum.map(|sum| sum.normalize().to_string()))
    }
}

/// The text a price source is stored as.
fn source_name(source: PriceSource) -> &'static str {
    match source {
        PriceSource::BuiltIn => "built_in",
        PriceSource::Custom => "custom",
        PriceSource::Default => "default",
        PriceSource::Local => "local",
        PriceSource::Unpriced => "unpriced",
        _ => "mixed",
    }
}

/// A count as SQLite stores it (a signed 64-bit integer).
fn stored_count(id: RecordId, field: &str, value: u64) -> Result<i64, LedgerError> {
    i64::try_from(value).map_err(|_| LedgerError::Unstorable {
        id: id.to_string(),
        problem: format!(
            "{field} {value} is above the ledger's limit of {}",
            i64::MAX
        ),
    })
}

fn nanos_since_epoch(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|since| i64::try_from(since.as_nanos()).ok())
        .unwrap_or(i64::MAX)
}

/// What turns a driver error during `action` on the database at `path` into a
/// [`LedgerError::Database`]. Nothing is formatted unless the error happens, so the success
/// path of every statement allocates nothing for it.
pub(crate) fn database_error<'a>(
    path: &'a Path,
    action: impl std::fmt::Display + 'a,
) -> impl FnOnce(rusqlite::Error) -> LedgerError + 'a {
    move |source| LedgerError::Database {
        location: path.display().to_string(),
        action: action.to_string(),
        source: Box::new(source),
    }
}

impl Ledger {
    /// Opens (or creates) the ledger `config` names, applying schema migrations.
    ///
    /// # Errors
    /// [`LedgerError::Database`] when the file cannot be opened, is not a ledger, or was
    /// written by a newer version.
    pub fn open(config: &LedgerConfig) -> Result<Ledger, LedgerError> {
        let path = config
            .sqlite_path()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let failed = |action| database_error(&path, action);
        let connection = Connection::open(&path).map_err(failed("cannot open the database"))?;
        let synchronous = match config.commit_durability() {
            Durability::PowerLoss => "FULL",
            _ => "NORMAL",
        };
        connection
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;"
            ))
            .map_err(failed("cannot set the journal mode"))?;
        connection
            .create_aggregate_function(
                "decimal_sum",
                1,
                FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
                DecimalSum,
            )
            .map_err(failed("cannot register decimal_sum"))?;
        schema::migrate(&connection, &path)?;
        Ok(Ledger {
            shared: Arc::new(Shared {
                connection: Mutex::new(connection),
                path,
            }),
        })
    }

    /// [`open`](Self::open) on the SQLite file at `path`, with the default durability.
    ///
    /// # Errors
    /// As `open`.
    pub fn open_sqlite(path: impl Into<PathBuf>) -> Result<Ledger, LedgerError> {
        Ledger::open(&LedgerConfig::sqlite(path))
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic under the lock leaves the connection usable: transactions roll back.
        self.shared
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn failed(&self, action: &'static str) -> impl FnOnce(rusqlite::Error) -> LedgerError + '_ {
        database_error(&self.shared.path, action)
    }

    /// Writes `record` and its `cost` under a new id, committed before it returns.
    ///
    /// # Errors
    /// [`LedgerError::Unstorable`] for a count above `i64::MAX`; [`LedgerError::Database`]
    /// when the commit fails (nothing is written then).
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
    /// retry, a replay) changes nothing and says so.
    ///
    /// # Errors
    /// As [`record`](Self::record).
    pub fn record_with_id(
        &self,
        id: RecordId,
        record: &UsageRecord,
        cost: &CostBreakdown,
    ) -> Result<Written, LedgerError> {
        let count = |field, value| stored_count(id, field, value);
        let counts = [
            count("prompt_tokens", record.prompt_tokens())?,
            count("completion_tokens", record.completion_tokens())?,
            count("cached_tokens", record.cached_tokens())?,
            count("cache_write_tokens", record.cache_write_tokens())?,
            count("cache_write_1h_tokens", record.cache_write_1h_tokens())?,
            count("reasoning_tokens", record.reasoning_tokens())?,
            count("unpriced_tokens", cost.unpriced_tokens)?,
        ];
        let provider_total = record
            .provider_total_tokens()
            .map(|total| count("provider_total_tokens", total))
            .transpose()?;
        let latency = record
            .latency()
            .map(|latency| {
                i64::try_from(latency.as_nanos()).map_err(|_| LedgerError::Unstorable {
                    id: id.to_string(),
                    problem: format!("latency {latency:?} is too long"),
                })
            })
            .transpose()?;
        let mut connection = self.lock();
        let transaction = connection
            .transaction()
            .map_err(self.failed("cannot begin a transaction"))?;
        let mut insert = transaction
            .prepare_cached(
                "INSERT INTO records (id, ts_ns, model, prompt_tokens, completion_tokens, \
                 cached_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, \
                 tool_name, estimated, cut_off, request_id, latency_ns, provider_total_tokens, \
                 service_tier, labels, input_cost, cached_input_cost, cache_write_cost, \
                 completion_cost, total_cost, unpriced_tokens, price_source, priced_as) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, \
                 ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25) ON CONFLICT (id) DO NOTHING",
            )
            .map_err(self.failed("cannot prepare the insert"))?;
        let inserted = insert
            .execute(params![
                &id.to_bytes()[..],
                nanos_since_epoch(record.timestamp()),
                record.model(),
                counts[0],
                counts[1],
                counts[2],
                counts[3],
                counts[4],
                counts[5],
                record.tool_name(),
                record.is_estimated(),
                record.is_cut_off(),
                record.request_id(),
                latency,
                provider_total,
                record.service_tier().map(|tier| tier.name()),
                record.labels().to_string(),
                cost.input_cost.to_string(),
                cost.cached_input_cost.to_string(),
                cost.cache_write_cost.to_string(),
                cost.completion_cost.to_string(),
                cost.total_cost.to_string(),
                counts[6],
                source_name(cost.source),
                cost.priced_as.as_deref(),
            ])
            .map_err(self.failed("cannot insert a record"))?;
        drop(insert);
        if inserted == 1 {
            let mut insert = transaction
                .prepare_cached(
                    "INSERT INTO record_labels (record_id, key, value) VALUES (?1, ?2, ?3)",
                )
                .map_err(self.failed("cannot insert a label"))?;
            for (key, value) in record.labels().iter() {
                insert
                    .execute(params![&id.to_bytes()[..], key, value])
                    .map_err(self.failed("cannot insert a label"))?;
            }
            drop(insert);
        }
        transaction
            .commit()
            .map_err(self.failed("cannot commit a record"))?;
        Ok(if inserted == 1 {
            Written::Inserted
        } else {
            Written::AlreadyThere
        })
    }

    /// Usage and exact cost of the records in `range`.
    ///
    /// # Errors
    /// [`LedgerError::Database`] when the query fails.
    pub fn totals(&self, range: TimeRange) -> Result<LedgerTotals, LedgerError> {
        let grouped = self.grouped("''", "", None, range)?;
        Ok(grouped.into_values().next().unwrap_or_default())
    }

    /// [`totals`](Self::totals) per model, as recorded.
    ///
    /// # Errors
    /// As `totals`.
    pub fn by_model(
        &self,
        range: TimeRange,
    ) -> Result<BTreeMap<String, LedgerTotals>, LedgerError> {
        let grouped = self.grouped("model", "", None, range)?;
        Ok(grouped
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
        self.grouped("tool_name", "", None, range)
    }

    /// [`totals`](Self::totals) per UTC day (`2026-12-02`).
    ///
    /// # Errors
    /// As `totals`.
    pub fn by_day(&self, range: TimeRange) -> Result<BTreeMap<String, LedgerTotals>, LedgerError> {
        let grouped = self.grouped("date(ts_ns / 1000000000, 'unixepoch')", "", None, range)?;
        Ok(grouped
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
        self.grouped(
            "label.value",
            "LEFT JOIN record_labels AS label ON label.record_id = records.id AND label.key = ?3",
            Some(key),
            range,
        )
    }

    /// Sums over `range`, grouped by the SQL expression `group` (after the optional `join`,
    /// whose `?3` is `key`).
    fn grouped(
        &self,
        group: &str,
        join: &str,
        key: Option<&str>,
        range: TimeRange,
    ) -> Result<BTreeMap<Option<String>, LedgerTotals>, LedgerError> {
        let sql = format!(
            "SELECT {group}, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), \
             SUM(cached_tokens), SUM(cache_write_tokens), SUM(reasoning_tokens), SUM(estimated), \
             decimal_sum(total_cost), SUM(unpriced_tokens) \
             FROM records {join} WHERE ts_ns >= ?1 AND ts_ns < ?2 GROUP BY 1"
        );
        let connection = self.lock();
        let mut statement = connection
            .prepare_cached(&sql)
            .map_err(self.failed("cannot prepare a query"))?;
        let (from, to) = range.bounds();
        let read = |row: &rusqlite::Row<'_>| -> rusqlite::Result<(Option<String>, [i64; 8], Option<String>)> {
            let key: Option<String> = row.get(0)?;
            // Columns 1 to 7: the count and six sums; 8 the cost; 9 the unpriced tokens.
            let mut numbers = [0_i64; 8];
            for (i, slot) in numbers.iter_mut().take(7).enumerate() {
                *slot = row.get::<_, Option<i64>>(i + 1)?.unwrap_or_default();
            }
            let cost: Option<String> = row.get(8)?;
            numbers[7] = row.get::<_, Option<i64>>(9)?.unwrap_or_default();
            Ok((key, numbers, cost))
        };
        let rows = match key {
            Some(key) => statement.query_map(params![from, to, key], read),
            None => statement.query_map(params![from, to], read),
        }
        .map_err(self.failed("cannot run a query"))?;
        let mut grouped = BTreeMap::new();
        for row in rows {
            let (key, numbers, cost) = row.map_err(self.failed("cannot read a query's row"))?;
            let whole = |n: i64| u64::try_from(n).unwrap_or_default();
            let mut usage = TokenUsage::ZERO;
            usage.request_count = whole(numbers[0]);
            usage.prompt_tokens = whole(numbers[1]);
            usage.completion_tokens = whole(numbers[2]);
            usage.total_tokens = usage.prompt_tokens.saturating_add(usage.completion_tokens);
            usage.cached_tokens = whole(numbers[3]);
            usage.cache_write_tokens = whole(numbers[4]);
            usage.reasoning_tokens = whole(numbers[5]);
            usage.estimated_request_count = whole(numbers[6]);
            let cost = match cost {
                Some(text) => text.parse().map_err(|e| LedgerError::Corrupt {
                    location: self.shared.path.display().to_string(),
                    id: "(a sum)".to_owned(),
                    problem: format!("`{text}` is not a decimal: {e}"),
                })?,
                None => Decimal::ZERO,
            };
            let totals = LedgerTotals {
                usage,
                cost,
                unpriced_tokens: whole(numbers[7]),
            };
            grouped.insert(key, totals);
        }
        Ok(grouped)
    }

    /// The records in `range`, oldest first, with their ids.
    ///
    /// # Errors
    /// [`LedgerError::Database`] when the query fails; [`LedgerError::Corrupt`] for a row that
    /// does not read back as a record.
    pub fn records(&self, range: TimeRange) -> Result<Vec<(RecordId, UsageRecord)>, LedgerError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare_cached(
                "SELECT id, ts_ns, model, prompt_tokens, completion_tokens, cached_tokens, \
                 cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, tool_name, estimated, \
                 cut_off, request_id, latency_ns, provider_total_tokens, service_tier, labels \
                 FROM records WHERE ts_ns >= ?1 AND ts_ns < ?2 ORDER BY ts_ns, id",
            )
            .map_err(self.failed("cannot prepare a query"))?;
        let (from, to) = range.bounds();
        let rows = statement
            .query_map(params![from, to], |row| {
                Ok(Row {
                    id: row.get(0)?,
                    ts_ns: row.get(1)?,
                    model: row.get(2)?,
                    counts: [
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                        row.get(6)?,
                        row.get(7)?,
                        row.get(8)?,
                    ],
                    tool_name: row.get(9)?,
                    estimated: row.get(10)?,
                    cut_off: row.get(11)?,
                    request_id: row.get(12)?,
                    latency_ns: row.get(13)?,
                    provider_total: row.get(14)?,
                    service_tier: row.get(15)?,
                    labels: row.get(16)?,
                })
            })
            .map_err(self.failed("cannot run a query"))?;
        let mut records = Vec::new();
        for row in rows {
            let row = row.map_err(self.failed("cannot read a record"))?;
            records.push(row.into_record(&self.shared.path)?);
        }
        Ok(records)
    }

    /// How many records the ledger holds.
    ///
    /// # Errors
    /// [`LedgerError::Database`] when the query fails.
    pub fn len(&self) -> Result<u64, LedgerError> {
        let connection = self.lock();
        let count: i64 = connection
            .query_row("SELECT COUNT(*) FROM records", [], |row| row.get(0))
            .map_err(self.failed("cannot count the records"))?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// Whether the ledger holds no record.
    ///
    /// # Errors
    /// As [`len`](Self::len).
    pub fn is_empty(&self) -> Result<bool, LedgerError> {
        Ok(self.len()? == 0)
    }

    /// SQLite's own check of the file (`PRAGMA integrity_check`): `Ok` when it says `ok`.
    ///
    /// # Errors
    /// [`LedgerError::Corrupt`] with what SQLite found; [`LedgerError::Database`] when the
    /// check cannot run.
    pub fn check_integrity(&self) -> Result<(), LedgerError> {
        let connection = self.lock();
        let verdict: String = connection
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .optional()
            .map_err(self.failed("cannot check the file"))?
            .unwrap_or_default();
        if verdict == "ok" {
            Ok(())
        } else {
            Err(LedgerError::Corrupt {
                location: self.shared.path.display().to_string(),
                id: "(the file)".to_owned(),
                problem: verdict,
            })
        }
    }
}

/// A `records` row as read.
struct Row {
    id: Vec<u8>,
    ts_ns: i64,
    model: String,
    counts: [i64; 6],
    tool_name: Option<String>,
    estimated: bool,
    cut_off: bool,
    request_id: Option<String>,
    latency_ns: Option<i64>,
    provider_total: Option<i64>,
    service_tier: Option<String>,
    labels: String,
}

impl Row {
    fn into_record(self, path: &Path) -> Result<(RecordId, UsageRecord), LedgerError> {
        // The id's text is made only for an error: reading a good row formats nothing.
        let raw_id = &self.id;
        let corrupt = |problem: String| LedgerError::Corrupt {
            location: path.display().to_string(),
            id: raw_id.iter().map(|byte| format!("{byte:02x}")).collect(),
            problem,
        };
        let bytes: [u8; 16] = self
            .id
            .as_slice()
            .try_into()
            .map_err(|_| corrupt(format!("the id has {} bytes, not 16", self.id.len())))?;
        let id = RecordId::from_bytes(bytes);
        let whole =
            |n: i64| u64::try_from(n).map_err(|_| corrupt(format!("count {n} is negative")));
        let [
            prompt,
            completion,
            cached,
            cache_write,
            cache_write_1h,
            reasoning,
        ] = self.counts;
        let nanos = whole(self.ts_ns)?;
        let mut builder = UsageRecord::builder(&self.model)
            .timestamp(UNIX_EPOCH + Duration::from_nanos(nanos))
            .prompt_tokens(whole(prompt)?)
            .completion_tokens(whole(completion)?)
            .cached_tokens(whole(cached)?)
            .cache_write_tokens(whole(cache_write)?)
            .cache_write_1h_tokens(whole(cache_write_1h)?)
            .reasoning_tokens(whole(reasoning)?)
            .estimated(self.estimated)
            .cut_off(self.cut_off)
            .labels(Labels::parse(&self.labels).map_err(|e| corrupt(e.to_string()))?);
        if let Some(tool) = &self.tool_name {
            builder = builder.tool_name(tool);
        }
        if let Some(request_id) = &self.request_id {
            builder = builder.request_id(request_id);
        }
        if let Some(latency) = self.latency_ns {
            builder = builder.latency(Duration::from_nanos(whole(latency)?));
        }
        if let Some(total) = self.provider_total {
            builder = builder.provider_total_tokens(whole(total)?);
        }
        if let Some(tier) = &self.service_tier {
            builder = builder.service_tier(tier.parse().map_err(corrupt)?);
        }
        let record = builder.build().map_err(|e| corrupt(e.to_string()))?;
        Ok((id, record))
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
}

/// `sqlite://PATH`.
impl std::fmt::Display for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sqlite://{}", self.shared.path.display())
    }
}
