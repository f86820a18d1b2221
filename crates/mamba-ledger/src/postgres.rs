//! The PostgreSQL backend, for a fleet: one connection per [`Ledger`](crate::Ledger) (clones
//! share it), replaced when it is lost. The tables live in their own schema, `mamba_ledger`,
//! created with versioned migrations under an advisory lock, so many processes may open a new
//! database at once. Money is `NUMERIC`, whose `SUM` is exact.
//!
//! The `postgres` crate is the synchronous client over tokio-postgres: it runs a small tokio
//! runtime of its own, which panics if it is driven from a thread that already runs async
//! tasks. So the connection lives on a thread of its own, and each call hands it a job and
//! waits on a channel: a call from any thread, an async worker included, blocks (as a SQLite
//! call does) but never panics.

use std::sync::mpsc::{Sender, sync_channel};
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;

use postgres::{Client, NoTls, Statement};
use rust_decimal::Decimal;

use crate::config::redact;
use crate::error::database_error;
use crate::stored::{
    Group, Inserted, RECORD_COLUMNS, Row, Sums, Values, pending_migrations, read_row,
};
use crate::{LedgerError, TimeRange};

/// Each migration, in order; never edit one that has shipped, add another. They run inside
/// the schema `mamba_ledger` (the `search_path` of the migration's transaction).
const MIGRATIONS: &[&str] = &[
    // 1: records with every field of a UsageRecord and the exact cost parts as NUMERIC (never
    // a float), and the labels one row per key for breakdowns.
    "CREATE TABLE records (
        id BYTEA PRIMARY KEY CHECK (octet_length(id) = 16),
        ts_ns BIGINT NOT NULL,
        model TEXT NOT NULL,
        prompt_tokens BIGINT NOT NULL CHECK (prompt_tokens >= 0),
        completion_tokens BIGINT NOT NULL CHECK (completion_tokens >= 0),
        cached_tokens BIGINT NOT NULL CHECK (cached_tokens >= 0),
        cache_write_tokens BIGINT NOT NULL CHECK (cache_write_tokens >= 0),
        cache_write_1h_tokens BIGINT NOT NULL CHECK (cache_write_1h_tokens >= 0),
        reasoning_tokens BIGINT NOT NULL CHECK (reasoning_tokens >= 0),
        tool_name TEXT,
        estimated BOOLEAN NOT NULL,
        cut_off BOOLEAN NOT NULL,
        request_id TEXT,
        latency_ns BIGINT,
        provider_total_tokens BIGINT,
        service_tier TEXT,
        labels TEXT NOT NULL,
        input_cost NUMERIC NOT NULL,
        cached_input_cost NUMERIC NOT NULL,
        cache_write_cost NUMERIC NOT NULL,
        completion_cost NUMERIC NOT NULL,
        total_cost NUMERIC NOT NULL,
        unpriced_tokens BIGINT NOT NULL,
        price_source TEXT NOT NULL,
        priced_as TEXT
    );
    CREATE INDEX records_by_time ON records (ts_ns);
    CREATE TABLE record_labels (
        record_id BYTEA NOT NULL REFERENCES records (id),
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (record_id, key)
    );
    CREATE INDEX record_labels_by_key ON record_labels (key, value);",
    // 2: breakdowns by label join each record to its label row by the primary key, so this
    // index served no query; keeping it up only slowed every write.
    "DROP INDEX record_labels_by_key;",
    // 3: fleet budgets, as on SQLite (see its migration 3), money as NUMERIC.
    "CREATE TABLE budgets (
        name TEXT PRIMARY KEY,
        model TEXT,
        label_key TEXT,
        label_value TEXT,
        period TEXT NOT NULL CHECK (period IN ('total', 'day', 'month'))
    );
    CREATE TABLE budget_usage (
        budget TEXT NOT NULL,
        window_key TEXT NOT NULL,
        used_requests BIGINT NOT NULL DEFAULT 0,
        used_input BIGINT NOT NULL DEFAULT 0,
        used_output BIGINT NOT NULL DEFAULT 0,
        used_cost NUMERIC NOT NULL DEFAULT 0,
        reserved_requests BIGINT NOT NULL DEFAULT 0,
        reserved_input BIGINT NOT NULL DEFAULT 0,
        reserved_output BIGINT NOT NULL DEFAULT 0,
        reserved_cost NUMERIC NOT NULL DEFAULT 0,
        PRIMARY KEY (budget, window_key)
    );
    CREATE TABLE budget_holds (
        id BYTEA PRIMARY KEY CHECK (octet_length(id) = 16),
        budget TEXT NOT NULL,
        window_key TEXT NOT NULL,
        requests BIGINT NOT NULL,
        input BIGINT NOT NULL,
        output BIGINT NOT NULL,
        cost NUMERIC NOT NULL,
        expires_ns BIGINT NOT NULL
    );
    CREATE INDEX budget_holds_by_expiry ON budget_holds (budget, window_key, expires_ns);",
    // 4: the daily totals per UTC day, model and tool, as on SQLite (see its migration 4),
    // filled from the records already there.
    "CREATE TABLE daily_totals (
        day TEXT NOT NULL,
        model TEXT NOT NULL,
        has_tool INTEGER NOT NULL CHECK (has_tool IN (0, 1)),
        tool_name TEXT NOT NULL,
        requests BIGINT NOT NULL,
        prompt_tokens BIGINT NOT NULL,
        completion_tokens BIGINT NOT NULL,
        cached_tokens BIGINT NOT NULL,
        cache_write_tokens BIGINT NOT NULL,
        reasoning_tokens BIGINT NOT NULL,
        estimated BIGINT NOT NULL,
        unpriced_tokens BIGINT NOT NULL,
        total_cost NUMERIC NOT NULL,
        PRIMARY KEY (day, model, has_tool, tool_name)
    );
    INSERT INTO daily_totals SELECT
        to_char(to_timestamp(ts_ns / 1000000000) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), model,
        (tool_name IS NOT NULL)::INTEGER, COALESCE(tool_name, ''), COUNT(*), SUM(prompt_tokens),
        SUM(completion_tokens), SUM(cached_tokens), SUM(cache_write_tokens),
        SUM(reasoning_tokens), COUNT(*) FILTER (WHERE estimated), SUM(unpriced_tokens),
        SUM(total_cost)
        FROM records GROUP BY 1, 2, 3, 4;",
];

/// Gives back the holds whose ids are `$1` (settled or released; a hold already gone, expired
/// or settled before, gives back nothing).
pub(crate) const RELEASE_HOLDS: &str = "WITH released AS (DELETE FROM mamba_ledger.budget_holds \
     WHERE id = ANY($1::BYTEA[]) RETURNING budget, window_key, requests, input, output, cost), \
     sums AS (SELECT budget, window_key, SUM(requests) AS requests, SUM(input) AS input, \
     SUM(output) AS output, SUM(cost) AS cost FROM released GROUP BY 1, 2) \
     UPDATE mamba_ledger.budget_usage AS usage SET \
     reserved_requests = usage.reserved_requests - sums.requests, \
     reserved_input = usage.reserved_input - sums.input, \
     reserved_output = usage.reserved_output - sums.output, \
     reserved_cost = usage.reserved_cost - sums.cost \
     FROM sums WHERE usage.budget = sums.budget AND usage.window_key = sums.window_key";

/// How long connecting may take when the URL does not say (`connect_timeout`).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The advisory lock key that serialises migrations across processes ("mamba_le" in ASCII).
const MIGRATION_LOCK: i64 = 0x6d61_6d62_615f_6c65;

/// A ledger in a PostgreSQL database: the handle to its connection thread.
pub(crate) struct PostgresStore {
    /// The URL as errors and `Display` show it.
    location: String,
    /// Where jobs for the connection thread go; `None` once the store is dropped.
    jobs: Mutex<Option<Sender<Job>>>,
    thread: Option<JoinHandle<()>>,
}

/// Work for the connection thread.
type Job = Box<dyn FnOnce(&mut Session) + Send>;

/// What the connection thread owns: the URL and the connection, when there is one.
pub(crate) struct Session {
    /// The URL as given (password included): used only to connect.
    url: String,
    location: String,
    connection: Option<Connection>,
}

/// A live connection and its prepared statements.
pub(crate) struct Connection {
    pub(crate) client: Client,
    /// Many records and their labels in one statement (see [`insert_all`]).
    insert_records: Statement,
    /// The fleet-budget statements (see `postgres_budget`), prepared once per connection so
    /// each is one round trip.
    pub(crate) budget: crate::postgres_budget::Statements,
}

impl PostgresStore {
    /// Starts the connection thread for the database `url` names (connecting on its first
    /// job: see [`connect_now`](Self::connect_now)).
    pub(crate) fn start(url: &str) -> Result<PostgresStore, LedgerError> {
        let location = redact(url);
        let mut session = Session {
            url: url.to_owned(),
            location: location.clone(),
            connection: None,
        };
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("mamba-ledger-postgres".to_owned())
            .spawn(move || {
                for job in queue {
                    job(&mut session);
                }
            })
            .map_err(|error| LedgerError::Database {
                location: location.clone(),
                action: "cannot start the connection thread".to_owned(),
                source: Box::new(error),
            })?;
        Ok(PostgresStore {
            location,
            jobs: Mutex::new(Some(jobs)),
            thread: Some(thread),
        })
    }

    /// Connects (and migrates) now, so a bad URL or an unreachable server is an error of
    /// opening the ledger, not of its first record.
    pub(crate) fn connect_now(&self) -> Result<(), LedgerError> {
        self.run(|session| session.with_connection(|_, _| Ok(())))
    }

    pub(crate) fn location(&self) -> &str {
        &self.location
    }

    /// Runs `work` on the connection thread and waits for its result.
    pub(crate) fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Session) -> Result<T, LedgerError> + Send + 'static,
    ) -> Result<T, LedgerError> {
        let (reply, answer) = sync_channel(1);
        let job: Job = Box::new(move |session| {
            // The caller waits for this; if it stopped waiting, nobody needs the answer.
            let _ = reply.send(work(session));
        });
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|jobs| jobs.send(job).is_ok());
        let stopped = || LedgerError::Database {
            location: self.location.clone(),
            action: "cannot reach the connection thread".to_owned(),
            source: "the thread has stopped".into(),
        };
        if !sent {
            return Err(stopped());
        }
        answer.recv().map_err(|_| stopped())?
    }
    /// Writes `batch` (each record with its labels) in one transaction of two statements,
    /// each record once per id: a record whose id is already there, or repeats an earlier
    /// one of the batch, changes nothing.
    pub(crate) fn insert_all(&self, batch: &[Values]) -> Result<Inserted, LedgerError> {
        // The connection thread needs its own copy: the caller keeps the values for a spill.
        let batch = batch.to_vec();
        self.run(move |session| {
            session.with_connection(|connection, location| insert_all(connection, location, &batch))
        })
    }

    /// The sums of the records in `range`, per `group`.
    pub(crate) fn grouped(
        &self,
        group: &Group,
        (from, to): (i64, i64),
    ) -> Result<Vec<(Option<String>, Sums)>, LedgerError> {
        let (key_sql, join) = group.sql(
            "to_char(to_timestamp(ts_ns / 1000000000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
            "LEFT JOIN mamba_ledger.record_labels AS label \
             ON label.record_id = records.id AND label.key = $3",
        );
        let label = group.label_key().map(str::to_owned);
        // SUM over BIGINT is NUMERIC in PostgreSQL: each token sum is cast back, which fails
        // loudly (never wraps) past 2^63.
        let sql = format!(
            "SELECT {key_sql}, COUNT(*), SUM(prompt_tokens)::BIGINT, \
             SUM(completion_tokens)::BIGINT, SUM(cached_tokens)::BIGINT, \
             SUM(cache_write_tokens)::BIGINT, SUM(reasoning_tokens)::BIGINT, \
             COUNT(*) FILTER (WHERE estimated), SUM(unpriced_tokens)::BIGINT, SUM(total_cost) \
             FROM mamba_ledger.records AS records {join} \
             WHERE ts_ns >= $1 AND ts_ns < $2 GROUP BY 1"
        );
        self.run(move |session| {
            session.with_connection(|connection, location| {
                let rows = match &label {
                    Some(key) => connection.client.query(&sql, &[&from, &to, &key]),
                    None => connection.client.query(&sql, &[&from, &to]),
                }
                .map_err(database_error(location, "cannot run a query"))?;
                read_sums(&rows, location)
            })
        })
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
            "SELECT {key_sql}, SUM(requests)::BIGINT, SUM(prompt_tokens)::BIGINT, \
             SUM(completion_tokens)::BIGINT, SUM(cached_tokens)::BIGINT, \
             SUM(cache_write_tokens)::BIGINT, SUM(reasoning_tokens)::BIGINT, \
             SUM(estimated)::BIGINT, SUM(unpriced_tokens)::BIGINT, SUM(total_cost) \
             FROM mamba_ledger.daily_totals WHERE day >= $1 AND day < $2 GROUP BY 1"
        );
        let (first, last) = (first.to_owned(), last.to_owned());
        self.run(move |session| {
            session.with_connection(|connection, location| {
                let rows = connection
                    .client
                    .query(&sql, &[&first, &last])
                    .map_err(database_error(location, "cannot run a query"))?;
                read_sums(&rows, location)
            })
        })
    }

    /// The records in `range`, oldest first.
    pub(crate) fn records(&self, range: TimeRange) -> Result<Vec<Row>, LedgerError> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM mamba_ledger.records \
             WHERE ts_ns >= $1 AND ts_ns < $2 ORDER BY ts_ns, id"
        );
        let (from, to) = range.bounds();
        self.run(move |session| {
            session.with_connection(|connection, location| {
                let failed = |action| database_error(location, action);
                let rows = connection
                    .client
                    .query(&sql, &[&from, &to])
                    .map_err(failed("cannot run a query"))?;
                rows.iter()
                    .map(|row| {
                        let read =
                            || -> Result<Row, postgres::Error> { Ok(read_row!(row.try_get)) };
                        read().map_err(failed("cannot read a record"))
                    })
                    .collect()
            })
        })
    }

    pub(crate) fn len(&self) -> Result<u64, LedgerError> {
        self.run(|session| {
            session.with_connection(|connection, location| {
                let failed = |action| database_error(location, action);
                let count: i64 = connection
                    .client
                    .query_one("SELECT COUNT(*) FROM mamba_ledger.records", &[])
                    .and_then(|row| row.try_get(0))
                    .map_err(failed("cannot count the records"))?;
                Ok(u64::try_from(count).unwrap_or_default())
            })
        })
    }

    /// Labels that belong to no record, or records whose label text has a different number
    /// of label rows: either means the tables were edited outside the ledger.
    pub(crate) fn check_integrity(&self) -> Result<(), LedgerError> {
        self.run(|session| {
            session.with_connection(|connection, location| {
                let failed = |action| database_error(location, action);
                let row = connection
                    .client
                    .query_one(
                        "SELECT \
                       (SELECT COUNT(*) FROM mamba_ledger.record_labels AS l \
                        WHERE NOT EXISTS (SELECT 1 FROM mamba_ledger.records AS r \
                                          WHERE r.id = l.record_id)), \
                       (SELECT COUNT(*) FROM mamba_ledger.records AS r \
                        WHERE (SELECT COUNT(*) FROM mamba_ledger.record_labels AS l \
                               WHERE l.record_id = r.id) \
                           <> CASE WHEN r.labels = '' THEN 0 \
                              ELSE array_length(string_to_array(r.labels, ';'), 1) END)",
                        &[],
                    )
                    .map_err(failed("cannot check the tables"))?;
                let orphans: i64 = row.get(0);
                let mismatched: i64 = row.get(1);
                if orphans == 0 && mismatched == 0 {
                    Ok(())
                } else {
                    Err(LedgerError::Corrupt {
                        location: location.to_owned(),
                        id: "(the tables)".to_owned(),
                        problem: format!(
                            "{orphans} label rows belong to no record; {mismatched} records \
                         disagree with their label rows"
                        ),
                    })
                }
            })
        })
    }
}

impl Session {
    fn failed(&self, action: &'static str) -> impl FnOnce(postgres::Error) -> LedgerError + '_ {
        database_error(&self.location, action)
    }

    fn connect(&self) -> Result<Connection, LedgerError> {
        let mut config: postgres::Config =
            self.url
                .parse()
                .map_err(|error: postgres::Error| LedgerError::BadUrl {
                    url: self.location.clone(),
                    problem: error.to_string(),
                })?;
        // An unreachable host must not hold a write (and the spill behind it) for minutes.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let mut client = config
            .connect(NoTls)
            .map_err(self.failed("cannot connect"))?;
        migrate(&mut client, &self.location)?;
        // The ledger's statements are prepared once and their parameters are arrays of any
        // length, so a generic plan serves every call; left to choose, PostgreSQL re-plans
        // the insert (a statement of several CTEs) on every execution, which cost more than
        // running it.
        client
            .batch_execute("SET plan_cache_mode = force_generic_plan")
            .map_err(self.failed("cannot set the plan cache mode"))?;
        let insert_records = client
            .prepare(
                "WITH new AS (INSERT INTO mamba_ledger.records (id, ts_ns, model, prompt_tokens, \
                 completion_tokens, cached_tokens, cache_write_tokens, cache_write_1h_tokens, \
                 reasoning_tokens, tool_name, estimated, cut_off, request_id, latency_ns, \
                 provider_total_tokens, service_tier, labels, input_cost, cached_input_cost, \
                 cache_write_cost, completion_cost, total_cost, unpriced_tokens, price_source, \
                 priced_as) \
                 SELECT * FROM unnest($1::BYTEA[], $2::BIGINT[], $3::TEXT[], $4::BIGINT[], \
                 $5::BIGINT[], $6::BIGINT[], $7::BIGINT[], $8::BIGINT[], $9::BIGINT[], \
                 $10::TEXT[], $11::BOOLEAN[], $12::BOOLEAN[], $13::TEXT[], $14::BIGINT[], \
                 $15::BIGINT[], $16::TEXT[], $17::TEXT[], $18::NUMERIC[], $19::NUMERIC[], \
                 $20::NUMERIC[], $21::NUMERIC[], $22::NUMERIC[], $23::BIGINT[], $24::TEXT[], \
                 $25::TEXT[]) \
                 ON CONFLICT (id) DO NOTHING \
                 RETURNING id, ts_ns, model, prompt_tokens, completion_tokens, cached_tokens, \
                 cache_write_tokens, reasoning_tokens, estimated, unpriced_tokens, tool_name, \
                 total_cost), \
                 rolled AS (INSERT INTO mamba_ledger.daily_totals AS daily \
                 SELECT to_char(to_timestamp(ts_ns / 1000000000) AT TIME ZONE 'UTC', \
                 'YYYY-MM-DD'), model, (tool_name IS NOT NULL)::INTEGER, \
                 COALESCE(tool_name, ''), COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), \
                 SUM(cached_tokens), SUM(cache_write_tokens), SUM(reasoning_tokens), \
                 COUNT(*) FILTER (WHERE estimated), SUM(unpriced_tokens), SUM(total_cost) \
                 FROM new GROUP BY 1, 2, 3, 4 \
                 ON CONFLICT (day, model, has_tool, tool_name) DO UPDATE SET \
                 requests = daily.requests + EXCLUDED.requests, \
                 prompt_tokens = daily.prompt_tokens + EXCLUDED.prompt_tokens, \
                 completion_tokens = daily.completion_tokens + EXCLUDED.completion_tokens, \
                 cached_tokens = daily.cached_tokens + EXCLUDED.cached_tokens, \
                 cache_write_tokens = daily.cache_write_tokens + EXCLUDED.cache_write_tokens, \
                 reasoning_tokens = daily.reasoning_tokens + EXCLUDED.reasoning_tokens, \
                 estimated = daily.estimated + EXCLUDED.estimated, \
                 unpriced_tokens = daily.unpriced_tokens + EXCLUDED.unpriced_tokens, \
                 total_cost = daily.total_cost + EXCLUDED.total_cost), \
                 labels AS (INSERT INTO mamba_ledger.record_labels (record_id, key, value) \
                 SELECT label.record_id, label.key, label.value \
                 FROM unnest($26::BYTEA[], $27::TEXT[], $28::TEXT[]) \
                 AS label (record_id, key, value) \
                 WHERE label.record_id IN (SELECT id FROM new)), \
                 released AS (DELETE FROM mamba_ledger.budget_holds \
                 WHERE id = ANY($29::BYTEA[]) \
                 RETURNING budget, window_key, requests, input, output, cost), \
                 deltas AS (SELECT b.name AS budget, CASE b.period WHEN 'total' THEN 'total' \
                 ELSE to_char(to_timestamp(new.ts_ns / 1000000000) AT TIME ZONE 'UTC', \
                 CASE b.period WHEN 'day' THEN 'YYYY-MM-DD' ELSE 'YYYY-MM' END) END \
                 AS window_key, 1::BIGINT AS used_requests, new.prompt_tokens AS used_input, \
                 new.completion_tokens AS used_output, new.total_cost AS used_cost, \
                 0::BIGINT AS reserved_requests, 0::BIGINT AS reserved_input, \
                 0::BIGINT AS reserved_output, 0::NUMERIC AS reserved_cost \
                 FROM new JOIN mamba_ledger.budgets AS b \
                 ON (b.model IS NULL OR b.model = new.model) \
                 AND (b.label_key IS NULL OR EXISTS (SELECT 1 \
                 FROM unnest($26::BYTEA[], $27::TEXT[], $28::TEXT[]) AS l (record_id, key, value) \
                 WHERE l.record_id = new.id AND l.key = b.label_key \
                 AND l.value = b.label_value)) \
                 UNION ALL SELECT budget, window_key, 0, 0, 0, 0, -requests, -input, -output, \
                 -cost FROM released), \
                 counted AS (INSERT INTO mamba_ledger.budget_usage AS usage (budget, \
                 window_key, used_requests, used_input, used_output, used_cost, \
                 reserved_requests, reserved_input, reserved_output, reserved_cost) \
                 SELECT budget, window_key, SUM(used_requests), SUM(used_input), \
                 SUM(used_output), SUM(used_cost), SUM(reserved_requests), SUM(reserved_input), \
                 SUM(reserved_output), SUM(reserved_cost) FROM deltas GROUP BY 1, 2 \
                 ON CONFLICT (budget, window_key) DO UPDATE SET \
                 used_requests = usage.used_requests + EXCLUDED.used_requests, \
                 used_input = usage.used_input + EXCLUDED.used_input, \
                 used_output = usage.used_output + EXCLUDED.used_output, \
                 used_cost = usage.used_cost + EXCLUDED.used_cost, \
                 reserved_requests = usage.reserved_requests + EXCLUDED.reserved_requests, \
                 reserved_input = usage.reserved_input + EXCLUDED.reserved_input, \
                 reserved_output = usage.reserved_output + EXCLUDED.reserved_output, \
                 reserved_cost = usage.reserved_cost + EXCLUDED.reserved_cost) \
                 SELECT id FROM new",
            )
            .map_err(self.failed("cannot prepare the insert"))?;
        let budget = crate::postgres_budget::Statements::prepare(&mut client)
            .map_err(self.failed("cannot prepare the budget statements"))?;
        Ok(Connection {
            client,
            insert_records,
            budget,
        })
    }

    /// Runs `work` on a live connection, connecting first if there is none. When the
    /// connection turns out to be lost (the server restarted or ended it, the network broke),
    /// it is replaced and `work` runs once more: every write is idempotent by record id, so a
    /// write whose commit was sent but not acknowledged is never counted twice (it then reads
    /// as [`Written::AlreadyThere`](crate::Written::AlreadyThere)).
    pub(crate) fn with_connection<T>(
        &mut self,
        mut work: impl FnMut(&mut Connection, &str) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        let mut retried = false;
        loop {
            let connection = match self.connection.take() {
                Some(connection) if !connection.client.is_closed() => connection,
                _ => self.connect()?,
            };
            let connection = self.connection.insert(connection);
            match work(connection, &self.location) {
                Err(error) if connection.client.is_closed() || connection_lost(&error) => {
                    self.connection = None;
                    if retried {
                        return Err(error);
                    }
                    retried = true;
                }
                outcome => return outcome,
            }
        }
    }
}

/// Dropping the last handle ends the connection thread after the job it is doing.
impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether `error` came from a connection that is gone: closed, ended by the server (a
/// `FATAL` error, such as an administrator's `pg_terminate_backend` or a shutdown), or broken
/// (an I/O error).
fn connection_lost(error: &LedgerError) -> bool {
    let (LedgerError::Database { source, .. } | LedgerError::Unavailable { source, .. }) = error
    else {
        return false;
    };
    let Some(error) = source.downcast_ref::<postgres::Error>() else {
        return false;
    };
    error.is_closed()
        || error
            .as_db_error()
            .is_some_and(|db| db.severity() == "FATAL" || db.severity() == "PANIC")
        || std::error::Error::source(error).is_some_and(|cause| cause.is::<std::io::Error>())
}

/// Whether `error` means the server cannot be reached or cannot take work for now: no
/// connection (refused, reset, timed out, closed), or a server that says so itself
/// (SQLSTATE class 08 connection exceptions, 53 insufficient resources such as too many
/// connections, 57P01-57P03 shutting down or starting up, 57014 a statement timeout, 40001
/// and 40P01 a serialization failure or deadlock). A missing database (3D000), failed
/// authentication (28), or a bad statement (42) is a refusal, not an outage.
pub(crate) fn is_outage(error: &postgres::Error) -> bool {
    if error.is_closed()
        || std::error::Error::source(error).is_some_and(|cause| cause.is::<std::io::Error>())
    {
        return true;
    }
    let Some(code) = error.code() else {
        return false;
    };
    let code = code.code();
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "57014" | "40001" | "40P01"
        )
}

/// One statement (so one round trip, atomic without a transaction of its own) for any batch:
/// a multi-row `INSERT ... SELECT FROM unnest(...)` of every record (one array per column), and
/// in the same statement the labels of the records it inserted.
fn insert_all(
    connection: &mut Connection,
    location: &str,
    batch: &[Values],
) -> Result<Inserted, LedgerError> {
    let failed = |action| database_error(location, action);
    let ids: Vec<[u8; 16]> = batch.iter().map(|values| values.id.to_bytes()).collect();
    let column = |value: fn(&Values) -> i64| batch.iter().map(value).collect::<Vec<i64>>();
    let money = |value: fn(&Values) -> Decimal| batch.iter().map(value).collect::<Vec<Decimal>>();
    let id_column: Vec<&[u8]> = ids.iter().map(|id| &id[..]).collect();
    let models: Vec<&str> = batch.iter().map(|v| v.record.model()).collect();
    let tools: Vec<Option<&str>> = batch.iter().map(|v| v.record.tool_name()).collect();
    let estimated: Vec<bool> = batch.iter().map(|v| v.record.is_estimated()).collect();
    let cut_off: Vec<bool> = batch.iter().map(|v| v.record.is_cut_off()).collect();
    let request_ids: Vec<Option<&str>> = batch.iter().map(|v| v.record.request_id()).collect();
    let latencies: Vec<Option<i64>> = batch.iter().map(|v| v.latency_ns).collect();
    let provider_totals: Vec<Option<i64>> = batch.iter().map(|v| v.provider_total).collect();
    let tiers: Vec<Option<&str>> = batch
        .iter()
        .map(|v| v.record.service_tier().map(|tier| tier.name()))
        .collect();
    let labels: Vec<&str> = batch.iter().map(|v| v.labels.as_str()).collect();
    let sources: Vec<&str> = batch.iter().map(|v| v.cost.source.as_str()).collect();
    let priced_as: Vec<Option<&str>> = batch.iter().map(|v| v.cost.priced_as.as_deref()).collect();
    // Each id's labels once, even when the batch repeats a record; the statement keeps those
    // of the records it inserted.
    let mut seen = std::collections::HashSet::with_capacity(batch.len());
    let (mut label_ids, mut keys, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for (record, id) in batch.iter().zip(&id_column) {
        if seen.insert(*id) {
            for (key, value) in record.record.labels().iter() {
                label_ids.push(*id);
                keys.push(key);
                values.push(value);
            }
        }
    }
    let ts = column(|v| v.ts_ns);
    let counts = [
        column(|v| v.counts.prompt),
        column(|v| v.counts.completion),
        column(|v| v.counts.cached),
        column(|v| v.counts.cache_write),
        column(|v| v.counts.cache_write_1h),
        column(|v| v.counts.reasoning),
    ];
    let costs = [
        money(|v| v.cost.input),
        money(|v| v.cost.cached_input),
        money(|v| v.cost.cache_write),
        money(|v| v.cost.completion),
        money(|v| v.cost.total),
    ];
    let unpriced = column(|v| v.unpriced_tokens);
    let releases: Vec<&[u8]> = batch
        .iter()
        .flat_map(|v| v.releases.iter().map(|id| &id[..]))
        .collect();
    let params: [&(dyn postgres::types::ToSql + Sync); 29] = [
        &id_column,
        &ts,
        &models,
        &counts[0],
        &counts[1],
        &counts[2],
        &counts[3],
        &counts[4],
        &counts[5],
        &tools,
        &estimated,
        &cut_off,
        &request_ids,
        &latencies,
        &provider_totals,
        &tiers,
        &labels,
        &costs[0],
        &costs[1],
        &costs[2],
        &costs[3],
        &costs[4],
        &unpriced,
        &sources,
        &priced_as,
        &label_ids,
        &keys,
        &values,
        &releases,
    ];
    // One statement, atomic on its own: the records, their labels, their counts in the fleet
    // budgets and the holds they settle.
    let inserted = connection
        .client
        .query(&connection.insert_records, &params)
        .map_err(failed("cannot insert a record"))?
        .len();
    Ok(Inserted {
        inserted: inserted as u64,
        already_there: (batch.len() - inserted) as u64,
    })
}

/// The rows of a sums query: the group's key, the eight sums, the cost sum.
fn read_sums(
    rows: &[postgres::Row],
    location: &str,
) -> Result<Vec<(Option<String>, Sums)>, LedgerError> {
    rows.iter()
        .map(|row| {
            let read = || -> Result<_, postgres::Error> {
                let key: Option<String> = row.try_get(0)?;
                let mut numbers = [0_i64; 8];
                for (i, slot) in numbers.iter_mut().enumerate() {
                    *slot = row.try_get::<_, Option<i64>>(i + 1)?.unwrap_or_default();
                }
                let cost: Option<Decimal> = row.try_get(9)?;
                Ok((
                    key,
                    Sums {
                        numbers,
                        cost: cost.unwrap_or_default(),
                    },
                ))
            };
            read().map_err(database_error(location, "cannot read a query's row"))
        })
        .collect()
}

/// Applies the migrations the database has not had yet, all in one transaction under an
/// advisory lock (so two processes opening a new database at once apply them once).
fn migrate(client: &mut Client, location: &str) -> Result<(), LedgerError> {
    let failed = |action| database_error(location, action);
    let mut transaction = client
        .transaction()
        .map_err(failed("cannot begin a migration".to_owned()))?;
    transaction
        .batch_execute(&format!(
            "SELECT pg_advisory_xact_lock({MIGRATION_LOCK}); \
             CREATE SCHEMA IF NOT EXISTS mamba_ledger; \
             CREATE TABLE IF NOT EXISTS mamba_ledger.schema_version (version INTEGER NOT NULL); \
             SET LOCAL search_path TO mamba_ledger;"
        ))
        .map_err(failed("cannot create the schema `mamba_ledger`".to_owned()))?;
    let applied: i64 = transaction
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::BIGINT FROM mamba_ledger.schema_version",
            &[],
        )
        .and_then(|row| row.try_get(0))
        .map_err(failed("cannot read the schema version".to_owned()))?;
    for (version, migration) in pending_migrations(MIGRATIONS, applied, location)? {
        transaction
            .batch_execute(&format!(
                "{migration}; INSERT INTO mamba_ledger.schema_version (version) VALUES ({version});"
            ))
            .map_err(failed(format!("cannot apply schema migration {version}")))?;
    }
    transaction
        .commit()
        .map_err(failed("cannot commit the migrations".to_owned()))
}
