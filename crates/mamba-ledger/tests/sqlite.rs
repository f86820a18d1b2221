//! The SQLite ledger against real SQLite files: exact decimal sums, idempotent writes, every
//! field round-tripped, SQL breakdowns equal to the in-memory tracker's, and a clear refusal
//! of a newer schema.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use mamba_ledger::{Ledger, LedgerError, RecordId, TimeRange, Written};
use mamba_pricing::{CostEstimator, HistoryCost};
use mamba_usage::{Labels, ServiceTier, TokenUsage, UsageRecord, UsageTracker};
use proptest::prelude::*;
use rust_decimal::Decimal;

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

fn at(seconds: u64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

#[test]
fn money_is_summed_exactly_where_a_float_sum_is_not() {
    let db = TempDb::new("exact");
    let ledger = Ledger::open_sqlite(&db.0).unwrap();
    let estimator = CostEstimator::new();
    // gpt-4o input is $2.50 per 1M: 40,000 tokens are $0.10, 80,000 are $0.20.
    for prompt in [40_000, 80_000] {
        let record = UsageRecord::new("gpt-4o", prompt, 0);
        ledger
            .record(&record, &estimator.estimate_record(&record))
            .unwrap();
    }
    // Summed as floats (SQLite's SUM over text or REAL) this would be 0.30000000000000004.
    assert_eq!(
        ledger.totals(TimeRange::ALL).unwrap().cost,
        Decimal::new(3, 1)
    );
}

#[test]
fn a_record_written_twice_under_one_id_counts_once() {
    let db = TempDb::new("idempotent");
    let ledger = Ledger::open_sqlite(&db.0).unwrap();
    let record = UsageRecord::builder("gpt-4o")
        .prompt_tokens(10)
        .labels(Labels::new().user("alice").session("s"))
        .build()
        .unwrap();
    let cost = CostEstimator::new().estimate_record(&record);
    let id = RecordId::new();
    assert_eq!(
        ledger.record_with_id(id, &record, &cost).unwrap(),
        Written::Inserted
    );
    for _ in 0..3 {
        assert_eq!(
            ledger.record_with_id(id, &record, &cost).unwrap(),
            Written::AlreadyThere
        );
    }
    assert_eq!(ledger.len().unwrap(), 1);
    let by_user = ledger.by_label("user", TimeRange::ALL).unwrap();
    assert_eq!(by_user[&Some("alice".to_owned())].usage.request_count, 1);
    assert_eq!(ledger.records(TimeRange::ALL).unwrap(), [(id, record)]);
}

#[test]
fn every_field_survives_a_reopen() {
    let db = TempDb::new("fields");
    let record = UsageRecord::builder("claude-sonnet-4-6")
        .timestamp(UNIX_EPOCH + Duration::from_nanos(1_764_000_000_123_456_789))
        .prompt_tokens(1_250)
        .cached_tokens(1_000)
        .cache_write_tokens(200)
        .cache_write_1h_tokens(150)
        .completion_tokens(80)
        .reasoning_tokens(30)
        .tool_name("search")
        .request_id("msg_013Zva")
        .latency(Duration::from_nanos(850_123_457))
        .provider_total_tokens(1_331)
        .service_tier(ServiceTier::Priority)
        .estimated(true)
        .cut_off(true)
        .labels(Labels::new().user("a;b%c").tag("team", "x=y").unwrap())
        .build()
        .unwrap();
    let cost = CostEstimator::new().estimate_record(&record);
    let id = {
        let ledger = Ledger::open_sqlite(&db.0).unwrap();
        ledger.record(&record, &cost).unwrap()
    };
    let reopened = Ledger::open_sqlite(&db.0).unwrap();
    assert_eq!(reopened.records(TimeRange::ALL).unwrap(), [(id, record)]);
    assert_eq!(
        reopened.totals(TimeRange::ALL).unwrap().cost,
        cost.total_cost
    );
    reopened.check_integrity().unwrap();
}

#[test]
fn counts_the_ledger_cannot_store_are_refused_by_name_and_nothing_is_written() {
    let db = TempDb::new("unstorable");
    let ledger = Ledger::open_sqlite(&db.0).unwrap();
    let record = UsageRecord::new("gpt-4o", u64::MAX, 1);
    let cost = CostEstimator::new().estimate_record(&record);
    let error = ledger.record(&record, &cost).unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with(": prompt_tokens 18446744073709551615 is above the ledger's limit of 9223372036854775807"),
        "{error}"
    );
    assert_eq!(ledger.len().unwrap(), 0);
}

#[test]
fn a_ledger_from_a_newer_version_is_refused_with_the_versions() {
    let db = TempDb::new("newer");
    drop(Ledger::open_sqlite(&db.0).unwrap());
    {
        let raw = rusqlite_free_bump(&db.0);
        assert!(raw, "the file was bumped to a newer schema");
    }
    let error = Ledger::open_sqlite(&db.0).unwrap_err();
    assert!(matches!(error, LedgerError::Database { .. }));
    assert!(
        error.to_string().ends_with(
            ": the schema is version 99, newer than this version of mamba-ledger knows (1)"
        ),
        "{error}"
    );
}

/// Sets the file's schema version to 99 by writing SQLite's header field directly (offset 60,
/// `user_version`, big-endian), as a newer mamba-ledger would have left it.
fn rusqlite_free_bump(path: &std::path::Path) -> bool {
    use std::io::{Seek, SeekFrom, Write};
    let Ok(mut file) = std::fs::OpenOptions::new().write(true).open(path) else {
        return false;
    };
    file.seek(SeekFrom::Start(60)).is_ok() && file.write_all(&99_u32.to_be_bytes()).is_ok()
}

/// Records with varied models, tools, labels and days.
fn record() -> impl Strategy<Value = UsageRecord> {
    (
        prop::sample::select(vec!["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-6", "o3"]),
        0u64..200_000,
        0u64..20_000,
        0u64..=100,
        prop::option::of(prop::sample::select(vec!["search", "calc"])),
        0usize..4,
        0u64..(5 * 86_400),
    )
        .prop_map(
            |(model, prompt, completion, cached_pct, tool, labels, seconds)| {
                let pool = [
                    Labels::new(),
                    Labels::new().user("alice"),
                    Labels::new().user("bob").session("s1"),
                    Labels::new().session("s1").tag("team", "search").unwrap(),
                ];
                let mut builder = UsageRecord::builder(model)
                    .timestamp(at(1_764_547_200 + seconds))
                    .prompt_tokens(prompt)
                    .cached_tokens(prompt * cached_pct / 100)
                    .completion_tokens(completion)
                    .labels(pool[labels].clone());
                if let Some(tool) = tool {
                    builder = builder.tool_name(tool);
                }
                builder.build().unwrap()
            },
        )
}

fn totals_of<'a>(records: impl Iterator<Item = &'a UsageRecord>) -> TokenUsage {
    records.map(TokenUsage::from_record).sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn sql_breakdowns_equal_the_in_memory_books(records in prop::collection::vec(record(), 0..120)) {
        let db = TempDb::new("property");
        let ledger = Ledger::open_sqlite(&db.0).unwrap();
        let estimator = CostEstimator::new();
        let tracker = UsageTracker::new();
        let mut costs = HistoryCost::default();
        for record in &records {
            let cost = estimator.estimate_record(record);
            ledger.record(record, &cost).unwrap();
            tracker.record(record);
            costs.add(&cost);
        }
        let totals = ledger.totals(TimeRange::ALL).unwrap();
        prop_assert_eq!(totals.usage, tracker.summary().totals);
        prop_assert_eq!(totals.cost, costs.total_cost);
        prop_assert_eq!(totals.unpriced_tokens, costs.unpriced_tokens);

        let by_model: BTreeMap<String, TokenUsage> = ledger.by_model(TimeRange::ALL).unwrap()
            .into_iter().map(|(model, totals)| (model, totals.usage)).collect();
        let expected: BTreeMap<String, TokenUsage> = tracker.by_model().into_iter()
            .map(|(model, usage)| (model.to_string(), usage)).collect();
        prop_assert_eq!(by_model, expected);
        for (model, totals) in ledger.by_model(TimeRange::ALL).unwrap() {
            prop_assert_eq!(totals.cost, costs.by_model[&model].total_cost);
        }

        let by_tool: BTreeMap<Option<String>, TokenUsage> = ledger.by_tool(TimeRange::ALL).unwrap()
            .into_iter().map(|(tool, totals)| (tool, totals.usage)).collect();
        let expected: BTreeMap<Option<String>, TokenUsage> = tracker.by_tool().into_iter()
            .map(|(tool, usage)| (tool.map(|t| t.to_string()), usage)).collect();
        prop_assert_eq!(by_tool, expected);

        for key in ["user", "session", "team", "absent"] {
            let by_label: BTreeMap<Option<Arc<str>>, TokenUsage> = ledger.by_label(key, TimeRange::ALL).unwrap()
                .into_iter().map(|(value, totals)| (value.map(Arc::from), totals.usage)).collect();
            prop_assert_eq!(by_label, tracker.by_label(key), "label {}", key);
        }

        let mut by_day: BTreeMap<String, TokenUsage> = BTreeMap::new();
        for record in &records {
            let day = (record.timestamp().duration_since(UNIX_EPOCH).unwrap().as_secs() - 1_764_547_200) / 86_400;
            *by_day.entry(format!("2025-12-{:02}", day + 1)).or_default() += TokenUsage::from_record(record);
        }
        let from_sql: BTreeMap<String, TokenUsage> = ledger.by_day(TimeRange::ALL).unwrap()
            .into_iter().map(|(day, totals)| (day, totals.usage)).collect();
        prop_assert_eq!(from_sql, by_day);

        // A window: the second day only.
        let window = TimeRange::between(at(1_764_547_200 + 86_400), at(1_764_547_200 + 2 * 86_400));
        let expected = totals_of(records.iter().filter(|r| window.contains(r.timestamp())));
        prop_assert_eq!(ledger.totals(window).unwrap().usage, expected);

        let mut sorted = records.clone();
        sorted.sort_by_key(UsageRecord::timestamp);
        let back: Vec<UsageRecord> = ledger.records(TimeRange::ALL).unwrap().into_iter().map(|(_, r)| r).collect();
        let mut back_sorted = back.clone();
        back_sorted.sort_by_key(UsageRecord::timestamp);
        prop_assert_eq!(back.len(), records.len());
        prop_assert_eq!(totals_of(back_sorted.iter()), totals_of(sorted.iter()));
    }
}
