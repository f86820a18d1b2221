//! The SQLite ledger against real SQLite files: the backend contract (`tests/contract`), and
//! a clear refusal of a file from a newer schema.

mod contract;

use std::path::PathBuf;

use mamba_ledger::{Ledger, LedgerError};
use proptest::prelude::*;

/// A fresh database file path, removed (with its WAL files) when dropped.
struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> TempDb {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("mamba-ledger-{name}-{}-{n}.db", std::process::id()));
        let db = TempDb(path);
        db.remove();
        db
    }

    fn open(&self) -> Ledger {
        Ledger::open_sqlite(&self.0).unwrap()
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        self.remove();
    }
}

#[test]
fn money_is_summed_exactly_where_a_float_sum_is_not() {
    contract::money_is_summed_exactly_where_a_float_sum_is_not(&TempDb::new("exact").open());
}

#[test]
fn a_record_written_twice_under_one_id_counts_once() {
    contract::a_record_written_twice_under_one_id_counts_once(&TempDb::new("idempotent").open());
}

#[test]
fn racing_writes_of_the_same_ids_store_each_once() {
    contract::racing_writes_of_the_same_ids_store_each_once(&TempDb::new("racing").open());
}

#[test]
fn every_field_survives_a_reopen() {
    let db = TempDb::new("fields");
    contract::every_field_survives_a_reopen(|| db.open());
}

#[test]
fn batched_records_are_committed_by_size_delay_flush_query_and_drop() {
    let db = TempDb::new("batched");
    contract::batched_records_are_committed_by_size_delay_flush_query_and_drop(
        |batching| {
            Ledger::open(&mamba_ledger::LedgerConfig::sqlite(&db.0).batched(batching)).unwrap()
        },
        &db.open(),
    );
}

#[test]
fn fleet_budgets_hold_settle_release_expire_and_count_by_scope() {
    contract::fleet_budgets_hold_settle_release_expire_and_count_by_scope(
        &TempDb::new("fleet").open(),
    );
}

/// Openers racing on a new file apply each migration once (before, two could both read
/// version 0 and the second failed on `table ... already exists`).
#[test]
fn threads_opening_a_new_file_at_once_migrate_it_once() {
    for round in 0..10 {
        let db = TempDb::new(&format!("migrate-{round}"));
        let start = std::sync::Barrier::new(8);
        std::thread::scope(|scope| {
            let openers: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        start.wait();
                        Ledger::open_sqlite(&db.0)
                    })
                })
                .collect();
            for opener in openers {
                if let Err(error) = opener.join().unwrap() {
                    panic!("round {round}: {error}");
                }
            }
        });
        assert!(db.open().is_empty().unwrap());
    }
}

/// A ledger written before the daily totals existed (schema 3) gets them filled from its
/// records when it is opened: its totals are the same before and after.
#[test]
fn the_daily_totals_are_filled_from_the_records_of_an_older_ledger() {
    let db = TempDb::new("rollup");
    let ledger = db.open();
    let estimator = mamba_pricing::CostEstimator::new();
    for (i, model) in ["gpt-4o", "gpt-4o-mini", "gpt-4o"].iter().enumerate() {
        let record = mamba_usage::UsageRecord::builder(model)
            .prompt_tokens(1_000 * (i as u64 + 1))
            .completion_tokens(10)
            .timestamp(contract::at(1_764_547_200 + i as u64 * 86_400))
            .build()
            .unwrap();
        ledger
            .record(&record, &estimator.estimate_record(&record))
            .unwrap();
    }
    let before = ledger.by_model(mamba_ledger::TimeRange::ALL).unwrap();
    drop(ledger);
    // Back to schema 3, as an older mamba-ledger left it.
    let connection = rusqlite::Connection::open(&db.0).unwrap();
    connection
        .execute_batch("DROP TABLE daily_totals; PRAGMA user_version = 3;")
        .unwrap();
    drop(connection);
    let reopened = db.open();
    assert_eq!(
        reopened.by_model(mamba_ledger::TimeRange::ALL).unwrap(),
        before
    );
    assert_eq!(before["gpt-4o"].usage.prompt_tokens, 4_000);
}

#[test]
fn racing_holds_never_pass_the_limit() {
    let db = TempDb::new("race");
    contract::racing_holds_never_pass_the_limit(|| db.open());
}

#[test]
fn counts_the_ledger_cannot_store_are_refused_by_name_and_nothing_is_written() {
    contract::counts_the_ledger_cannot_store_are_refused_by_name_and_nothing_is_written(
        &TempDb::new("unstorable").open(),
    );
}

#[test]
fn a_ledger_from_a_newer_version_is_refused_with_the_versions() {
    let db = TempDb::new("newer");
    drop(db.open());
    assert!(bump_schema(&db.0), "the file was bumped to a newer schema");
    let error = Ledger::open_sqlite(&db.0).unwrap_err();
    assert!(matches!(error, LedgerError::Database { .. }));
    assert!(
        error.to_string().ends_with(
            ": the schema is version 99, newer than this version of mamba-ledger knows (4)"
        ),
        "{error}"
    );
}

/// Sets the file's schema version to 99 by writing SQLite's header field directly (offset 60,
/// `user_version`, big-endian), as a newer mamba-ledger would have left it.
fn bump_schema(path: &std::path::Path) -> bool {
    use std::io::{Seek, SeekFrom, Write};
    let Ok(mut file) = std::fs::OpenOptions::new().write(true).open(path) else {
        return false;
    };
    file.seek(SeekFrom::Start(60)).is_ok() && file.write_all(&99_u32.to_be_bytes()).is_ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn sql_breakdowns_equal_the_in_memory_books(records in prop::collection::vec(contract::record(), 0..120)) {
        let db = TempDb::new("property");
        contract::sql_breakdowns_equal_the_in_memory_books(&db.open(), &records)?;
    }
}

#[test]
fn a_spill_file_replays_up_to_a_line_it_cannot_read_and_names_that_line() {
    let db = TempDb::new("spill");
    let spill =
        std::env::temp_dir().join(format!("mamba-ledger-spill-{}.jsonl", std::process::id()));
    // The spill format: the record id, the record in JSON Lines form, and its exact cost.
    let good = r#"{"id":"0190a5e3-7c1a-7d2e-9f3b-000000000001","record":{"timestamp":"2026-11-23T22:10:03Z","model":"gpt-4o","prompt_tokens":40000,"completion_tokens":0,"total_tokens":40000},"cost":{"input":"0.1","cached_input":"0","cache_write":"0","completion":"0","total":"0.1","unpriced_tokens":0,"source":"built_in","priced_as":"gpt-4o"}}"#;
    let torn = r#"{"id":"0190a5e3-7c1a-7d2e-9f3b-000000000002","record":{"timest"#;
    std::fs::write(&spill, format!("{good}\n{torn}\n")).unwrap();
    let ledger = Ledger::open(&mamba_ledger::LedgerConfig::sqlite(&db.0).spill_to(&spill)).unwrap();
    assert!(ledger.spill_pending());
    let error = ledger.replay_spill().unwrap_err();
    assert!(matches!(error, LedgerError::Corrupt { .. }));
    assert!(
        error.to_string().starts_with(&format!(
            "ledger {}: row (line 2) is unreadable: ",
            spill.display()
        )),
        "{error}"
    );
    // Line 1 went in (opening replayed it), exactly once, and the file is kept for a look.
    let totals = ledger.totals(mamba_ledger::TimeRange::ALL).unwrap();
    assert_eq!(
        (totals.usage.request_count, totals.cost),
        (1, rust_decimal::Decimal::new(1, 1))
    );
    assert_eq!(std::fs::read_to_string(&spill).unwrap().lines().count(), 2);
    // Without the torn line, the replay finishes and empties the file.
    std::fs::write(&spill, format!("{good}\n")).unwrap();
    let replayed = ledger.replay_spill().unwrap();
    assert_eq!((replayed.inserted, replayed.already_there), (0, 1));
    assert!(!ledger.spill_pending());
    assert_eq!(ledger.len().unwrap(), 1);
    let _ = std::fs::remove_file(&spill);
}
