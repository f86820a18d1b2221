//! The ledger's schema and its versioned migrations, applied in order on open (SQLite's
//! `user_version` holds how many were applied).

use rusqlite::Connection;

use crate::LedgerError;
use crate::error::database_error;
use crate::stored::pending_migrations;

/// Each migration, in order; never edit one that has shipped, add another.
const MIGRATIONS: &[&str] = &[
    // 1: records with every field of a UsageRecord and the exact cost parts as decimal text
    // (never REAL), and the labels one row per key for breakdowns. Both are clustered on their
    // keys (WITHOUT ROWID): ids grow with time, so a commit appends to one b-tree per table
    // instead of updating a rowid table and its key index.
    "CREATE TABLE records (
        id BLOB PRIMARY KEY NOT NULL,
        ts_ns INTEGER NOT NULL,
        model TEXT NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        cached_tokens INTEGER NOT NULL,
        cache_write_tokens INTEGER NOT NULL,
        cache_write_1h_tokens INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL,
        tool_name TEXT,
        estimated INTEGER NOT NULL,
        cut_off INTEGER NOT NULL,
        request_id TEXT,
        latency_ns INTEGER,
        provider_total_tokens INTEGER,
        service_tier TEXT,
        labels TEXT NOT NULL,
        input_cost TEXT NOT NULL,
        cached_input_cost TEXT NOT NULL,
        cache_write_cost TEXT NOT NULL,
        completion_cost TEXT NOT NULL,
        total_cost TEXT NOT NULL,
        unpriced_tokens INTEGER NOT NULL,
        price_source TEXT NOT NULL,
        priced_as TEXT
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX records_by_time ON records (ts_ns);
    CREATE TABLE record_labels (
        record_id BLOB NOT NULL REFERENCES records (id),
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (record_id, key)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX record_labels_by_key ON record_labels (key, value);",
    // 2: breakdowns by label join each record to its label row by the primary key, so this
    // index served no query, and keeping it up cost 13% of batched write speed.
    "DROP INDEX record_labels_by_key;",
    // 3: fleet budgets. `budgets` holds each budget's definition (what the insert of a record
    // needs to count it); `budget_usage` what each window used (counted by the inserts) and
    // holds (reservations in flight), money as decimal text; `budget_holds` each reservation,
    // to settle, release or expire it.
    "CREATE TABLE budgets (
        name TEXT PRIMARY KEY,
        model TEXT,
        label_key TEXT,
        label_value TEXT,
        period TEXT NOT NULL CHECK (period IN ('total', 'day', 'month'))
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE budget_usage (
        budget TEXT NOT NULL,
        window_key TEXT NOT NULL,
        used_requests INTEGER NOT NULL DEFAULT 0,
        used_input INTEGER NOT NULL DEFAULT 0,
        used_output INTEGER NOT NULL DEFAULT 0,
        used_cost TEXT NOT NULL DEFAULT '0',
        reserved_requests INTEGER NOT NULL DEFAULT 0,
        reserved_input INTEGER NOT NULL DEFAULT 0,
        reserved_output INTEGER NOT NULL DEFAULT 0,
        reserved_cost TEXT NOT NULL DEFAULT '0',
        PRIMARY KEY (budget, window_key)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE budget_holds (
        id BLOB PRIMARY KEY CHECK (length(id) = 16),
        budget TEXT NOT NULL,
        window_key TEXT NOT NULL,
        requests INTEGER NOT NULL,
        input INTEGER NOT NULL,
        output INTEGER NOT NULL,
        cost TEXT NOT NULL,
        expires_ns INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX budget_holds_by_expiry ON budget_holds (budget, window_key, expires_ns);",
    // 4: what the records add up to per UTC day, model and tool, kept by each insert in its
    // transaction, so totals and breakdowns by model, day and tool over whole days read a
    // few rows per day instead of every record. Filled from the records already there.
    "CREATE TABLE daily_totals (
        day TEXT NOT NULL,
        model TEXT NOT NULL,
        has_tool INTEGER NOT NULL CHECK (has_tool IN (0, 1)),
        tool_name TEXT NOT NULL,
        requests INTEGER NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        cached_tokens INTEGER NOT NULL,
        cache_write_tokens INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL,
        estimated INTEGER NOT NULL,
        unpriced_tokens INTEGER NOT NULL,
        total_cost TEXT NOT NULL,
        PRIMARY KEY (day, model, has_tool, tool_name)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO daily_totals SELECT date(ts_ns / 1000000000, 'unixepoch'), model,
        tool_name IS NOT NULL, COALESCE(tool_name, ''), COUNT(*), SUM(prompt_tokens),
        SUM(completion_tokens), SUM(cached_tokens), SUM(cache_write_tokens),
        SUM(reasoning_tokens), SUM(estimated), SUM(unpriced_tokens), decimal_sum(total_cost)
        FROM records GROUP BY 1, 2, 3, 4;",
];

/// Applies the migrations `connection` has not had yet, in one immediate transaction: the
/// write lock is taken before the version is read, so processes and threads opening a new
/// file at once apply each migration once (the others wait, then find nothing to do).
///
/// # Errors
/// [`LedgerError::Database`] when a migration fails, or the file has more migrations than
/// this version knows (a newer mamba wrote it).
pub(crate) fn migrate(connection: &Connection, location: &str) -> Result<(), LedgerError> {
    let failed = |action| database_error(location, action);
    let applied: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(failed("cannot read the schema version".to_owned()))?;
    // Up to date (the common case) needs no write lock.
    if pending_migrations(MIGRATIONS, applied, location)?
        .next()
        .is_none()
    {
        return Ok(());
    }
    connection
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(failed("cannot begin a migration".to_owned()))?;
    let outcome = (|| {
        let applied: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(failed("cannot read the schema version".to_owned()))?;
        for (version, migration) in pending_migrations(MIGRATIONS, applied, location)? {
            connection
                .execute_batch(&format!("{migration}; PRAGMA user_version = {version};"))
                .map_err(failed(format!("cannot apply schema migration {version}")))?;
        }
        connection
            .execute_batch("COMMIT")
            .map_err(failed("cannot commit the migrations".to_owned()))
    })();
    if outcome.is_err() {
        // Nothing of a failed migration stays.
        let _ = connection.execute_batch("ROLLBACK");
    }
    outcome
}
