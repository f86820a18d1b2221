//! The SQLite backend: one connection under a mutex, WAL journal, versioned schema, and a
//! `decimal_sum` aggregate registered from Rust so money is summed exactly in SQL (SQLite's own
//! `SUM` over text or reals is a float sum: 0.1 + 0.2 = 0.30000000000000004).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::{Connection, OptionalExtension, params};
use rust_decimal::Decimal;

use crate::error::database_error;
use crate::schema;
use crate::stored::{Group, Inserted, RECORD_COLUMNS, Row, Sums, Values, day_of, read_row};
use crate::{Durability, LedgerError, TimeRange};

/// How long a statement waits for another connection's lock before it is `Unavailable`.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Switches the file to WAL. A new file's switch needs an exclusive lock, and SQLite answers
/// `SQLITE_BUSY` at once (without its busy handler) to a connection that asks while another
/// opener holds the file, so the switch is retried for up to the busy timeout.
fn set_wal(connection: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match connection.query_row("PRAGMA journal_mode = WAL", [], |row| {
            row.get::<_, String>(0)
        }) {
            Err(error)
                if error.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            outcome => return outcome.map(drop),
        }
    }
}

/// A sums query's row: the group's key, the eight sums, the decimal cost sum.
fn read_sums_row(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<(Option<String>, [i64; 8], Option<String>)> {
    let key: Option<String> = row.get(0)?;
    let mut numbers = [0_i64; 8];
    for (i, slot) in numbers.iter_mut().enumerate() {
        *slot = row.get::<_, Option<i64>>(i + 1)?.unwrap_or_default();
    }
    Ok((key, numbers, row.get(9)?))
}

/// A ledger in one SQLite file.
pub(crate) struct SqliteStore {
    connection: Mutex<Connection>,
    /// The file's path as shown in errors and `Display`.
    location: String,
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

impl SqliteStore {
    /// Opens (or creates) the file at `path`, applying schema migrations.
    pub(crate) fn open(path: &Path, durability: Durability) -> Result<SqliteStore, LedgerError> {
        let location = path.display().to_string();
        let failed = |action| database_error(&location, action);
        let connection = Connection::open(path).map_err(failed("cannot open the database"))?;
        let synchronous = match durability {
            Durability::PowerLoss => "FULL",
            _ => "NORMAL",
        };
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(failed("cannot set the busy timeout"))?;
        set_wal(&connection).map_err(failed("cannot set the journal mode"))?;
        connection
            .execute_batch(&format!(
                "PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = ON;"
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
        crate::sqlite_budget::register_decimal_functions(&connection)
            .map_err(failed("cannot register the decimal functions"))?;
        schema::migrate(&connection, &location)?;
        Ok(SqliteStore {
            connection: Mutex::new(connection),
            location,
        })
    }

    pub(crate) fn location(&self) -> &str {
        &self.location
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic under the lock leaves the connection usable: transactions roll back.
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn failed(
        &self,
        action: &'static str,
    ) -> impl FnOnce(rusqlite::Error) -> LedgerError + '_ {
        database_error(&self.location, action)
    }

    /// Writes `batch` (each record with its labels) in one transaction, each record once per
    /// id: a record whose id is already there, or repeats an earlier one of the batch, changes
    /// nothing.
    pub(crate) fn insert_all(&self, batch: &[Values]) -> Result<Inserted, LedgerError> {
        let mut connection = self.lock();
        // Immediate: the write lock is taken first, so the reads below (are there budgets?)
        // cannot meet a writer that committed in between (SQLite would refuse the upgrade).
        let transaction = connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(self.failed("cannot begin a transaction"))?;
        let mut insert_record = transaction
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
        let mut insert_label = transaction
            .prepare_cached("INSERT INTO record_labels (record_id, key, value) VALUES (?1, ?2, ?3)")
            .map_err(self.failed("cannot prepare the insert"))?;
        let mut outcome = Inserted::default();
        let budgets = crate::sqlite_budget::any_budget(&transaction)
            .map_err(self.failed("cannot read the fleet budgets"))?;
        // The new records' sums per day, model and tool, added to `daily_totals` at the end.
        let mut rollup: HashMap<(String, &str, Option<&str>), Sums> = HashMap::new();
        // The money columns as decimal text, formatted into buffers reused across the batch
        // (SQLite copies bound text, so one set serves every row).
        let mut money: [String; 5] = Default::default();
        for values in batch {
            let (record, cost) = (&values.record, &values.cost);
            for (text, amount) in money.iter_mut().zip([
                cost.input,
                cost.cached_input,
                cost.cache_write,
                cost.completion,
                cost.total,
            ]) {
                text.clear();
                // Writing to a String cannot fail.
                let _ = write!(text, "{amount}");
            }
            let id = values.id.to_bytes();
            let inserted = insert_record
                .execute(params![
                    &id[..],
                    values.ts_ns,
                    record.model(),
                    values.counts.prompt,
                    values.counts.completion,
                    values.counts.cached,
                    values.counts.cache_write,
                    values.counts.cache_write_1h,
                    values.counts.reasoning,
                    record.tool_name(),
                    record.is_estimated(),
                    record.is_cut_off(),
                    record.request_id(),
                    values.latency_ns,
                    values.provider_total,
                    record.service_tier().map(|tier| tier.name()),
                    values.labels,
                    money[0],
                    money[1],
                    money[2],
                    money[3],
                    money[4],
                    values.unpriced_tokens,
                    cost.source,
                    cost.priced_as.as_deref(),
                ])
                .map_err(self.failed("cannot insert a record"))?;
            if inserted == 1 {
                for (key, value) in record.labels().iter() {
                    insert_label
                        .execute(params![&id[..], key, value])
                        .map_err(self.failed("cannot insert a label"))?;
                }
                if budgets {
                    crate::sqlite_budget::count_in_budgets(&transaction, values, &money[4])
                        .map_err(self.failed("cannot count a record in its fleet budgets"))?;
                }
                rollup
                    .entry((day_of(values.ts_ns), record.model(), record.tool_name()))
                    .or_default()
                    .add(&Sums::of(values));
            }
            for hold in &values.releases {
                crate::sqlite_budget::release(&transaction, hold)
                    .map_err(self.failed("cannot settle a fleet-budget hold"))?;
            }
            outcome.count(u64::try_from(inserted).unwrap_or_default());
        }
        drop((insert_record, insert_label));
        let mut roll_up = transaction
            .prepare_cached(
                "INSERT INTO daily_totals VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, \
                 ?12, ?13) ON CONFLICT (day, model, has_tool, tool_name) DO UPDATE SET \
                 requests = requests + excluded.requests, \
                 prompt_tokens = prompt_tokens + excluded.prompt_tokens, \
                 completion_tokens = completion_tokens + excluded.completion_tokens, \
                 cached_tokens = cached_tokens + excluded.cached_tokens, \
                 cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, \
                 reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens, \
                 estimated = estimated + excluded.estimated, \
                 unpriced_tokens = unpriced_tokens + excluded.unpriced_tokens, \
                 total_cost = decimal_add(total_cost, excluded.total_cost)",
            )
            .map_err(self.failed("cannot prepare the daily totals"))?;
        for ((day, model, tool), sums) in &rollup {
            let [
                requests,
                prompt,
                completion,
                cached,
                cache_write,
                reasoning,
                estimated,
                unpriced,
            ] = sums.numbers;
            roll_up
                .execute(params![
                    day,
                    model,
                    tool.is_some(),
                    tool.unwrap_or_default(),
                    requests,
                    prompt,
                    completion,
                    cached,
                    cache_write,
                    reasoning,
                    estimated,
                    unpriced,
                    sums.cost.to_string(),
                ])
                .map_err(self.failed("cannot add to the daily totals"))?;
        }
        drop(roll_up);
        transaction
            .commit()
            .map_err(self.failed("cannot commit a record"))?;
        Ok(outcome)
    }

    /// The sums of the records in `range`, per `group`.
    pub(crate) fn grouped(
        &self,
        group: &Group,
        (from, to): (i64, i64),
    ) -> Result<Vec<(Option<String>, Sums)>, LedgerError> {
        let (key_sql, join) = group.sql(
            "date(ts_ns / 1000000000, 'unixepoch')",
            "LEFT JOIN record_labels AS label ON label.record_id = records.id AND label.key = ?3",
        );
        let label = group.label_key();
        let sql = format!(
            "SELECT {key_sql}, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), \
             SUM(cached_tokens), SUM(cache_write_tokens), SUM(reasoning_tokens), SUM(estimated), \
             SUM(unpriced_tokens), decimal_sum(total_cost) \
             FROM records {join} WHERE ts_ns >= ?1 AND ts_ns < ?2 GROUP BY 1"
        );
        let connection = self.lock();
        let mut statement = connection
            .prepare_cached(&sql)
            .map_err(self.failed("cannot prepare a query"))?;
        let rows = match label {
            Some(key) => statement.query_map(params![from, to, key], read_sums_row),
            None => statement.query_map(params![from, to], read_sums_row),
        }
        .map_err(self.failed("cannot run a query"))?;
        self.read_sums(rows)
    }

    /// The sums per `group` (not a label) of the whole UTC days from `first` to `last`
    /// (excluded), from the daily totals.
    pub(crate) fn grouped_days(
        &self,
        group: &Group,
        (first, last): (&str, &str),
    ) -> Result<Vec<(Option<String>, Sums)>, LedgerError> {
        let key_sql = group.rollup_key().unwrap_or("''");
        let sql = format!(
            "SELECT {key_sql}, SUM(requests), SUM(prompt_tokens), SUM(completion_tokens), \
             SUM(cached_tokens), SUM(cache_write_tokens), SUM(reasoning_tokens), SUM(estimated), \
             SUM(unpriced_tokens), decimal_sum(total_cost) \
             FROM daily_totals WHERE day >= ?1 AND day < ?2 GROUP BY 1"
        );
        let connection = self.lock();
        let mut statement = connection
            .prepare_cached(&sql)
            .map_err(self.failed("cannot prepare a query"))?;
        let rows = statement
            .query_map(params![first, last], read_sums_row)
            .map_err(self.failed("cannot run a query"))?;
        self.read_sums(rows)
    }

    fn read_sums(
        &self,
        rows: impl Iterator<Item = rusqlite::Result<(Option<String>, [i64; 8], Option<String>)>>,
    ) -> Result<Vec<(Option<String>, Sums)>, LedgerError> {
        let mut grouped = Vec::new();
        for row in rows {
            let (key, numbers, cost) = row.map_err(self.failed("cannot read a query's row"))?;
            let cost = match cost {
                Some(text) => text.parse().map_err(|e| LedgerError::Corrupt {
                    location: self.location.clone(),
                    id: "(a sum)".to_owned(),
                    problem: format!("`{text}` is not a decimal: {e}"),
                })?,
                None => Decimal::ZERO,
            };
            grouped.push((key, Sums { numbers, cost }));
        }
        Ok(grouped)
    }

    /// The records in `range`, oldest first.
    pub(crate) fn records(&self, range: TimeRange) -> Result<Vec<Row>, LedgerError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM records WHERE ts_ns >= ?1 AND ts_ns < ?2 \
                 ORDER BY ts_ns, id"
            ))
            .map_err(self.failed("cannot prepare a query"))?;
        let (from, to) = range.bounds();
        let rows = statement
            .query_map(params![from, to], |row| Ok(read_row!(row.get)))
            .map_err(self.failed("cannot run a query"))?;
        rows.map(|row| row.map_err(self.failed("cannot read a record")))
            .collect()
    }

    pub(crate) fn len(&self) -> Result<u64, LedgerError> {
        let connection = self.lock();
        let count: i64 = connection
            .query_row("SELECT COUNT(*) FROM records", [], |row| row.get(0))
            .map_err(self.failed("cannot count the records"))?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// SQLite's own check of the file (`PRAGMA integrity_check`).
    pub(crate) fn check_integrity(&self) -> Result<(), LedgerError> {
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
                location: self.location.clone(),
                id: "(the file)".to_owned(),
                problem: verdict,
            })
        }
    }
}
