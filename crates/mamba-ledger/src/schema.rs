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
];

/// Applies the migrations `connection` has not had yet, each in its own transaction.
///
/// # Errors
/// [`LedgerError::Database`] when a migration fails, or the file has more migrations than
/// this version knows (a newer mamba wrote it).
pub(crate) fn migrate(connection: &Connection, location: &str) -> Result<(), LedgerError> {
    let failed = |action| database_error(location, action);
    let applied: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(failed("cannot read the schema version".to_owned()))?;
    for (version, migration) in pending_migrations(MIGRATIONS, applied, location)? {
        connection
            .execute_batch(&format!(
                "BEGIN IMMEDIATE; {migration}; PRAGMA user_version = {version}; COMMIT;"
            ))
            .map_err(failed(format!("cannot apply schema migration {version}")))?;
    }
    Ok(())
}
