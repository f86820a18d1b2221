//! What every backend must do, written once and run on each: exact decimal sums, idempotent
//! writes, every field round-tripped, refusals by name, and SQL breakdowns equal to the
//! in-memory tracker's. `tests/sqlite.rs` and `tests/postgres.rs` call these on fresh ledgers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use mamba_ledger::{Ledger, RecordId, TimeRange, Written};
use mamba_pricing::{CostEstimator, HistoryCost};
use mamba_usage::{Labels, ServiceTier, TokenUsage, UsageRecord, UsageTracker};
use proptest::prelude::*;
use rust_decimal::Decimal;

pub(crate) fn at(seconds: u64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

pub(crate) fn money_is_summed_exactly_where_a_float_sum_is_not(ledger: &Ledger) {
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

pub(crate) fn a_record_written_twice_under_one_id_counts_once(ledger: &Ledger) {
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

/// Threads racing to write the same ids (replays from several workers) store each once.
pub(crate) fn racing_writes_of_the_same_ids_store_each_once(ledger: &Ledger) {
    let ids: Vec<RecordId> = (0..40).map(|_| RecordId::new()).collect();
    let record = UsageRecord::new("gpt-4o-mini", 1_000, 100);
    let cost = CostEstimator::new().estimate_record(&record);
    let inserted: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    ids.iter()
                        .filter(|id| {
                            ledger.record_with_id(**id, &record, &cost).unwrap()
                                == Written::Inserted
                        })
                        .count() as u64
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(inserted, 40);
    let totals = ledger.totals(TimeRange::ALL).unwrap();
    assert_eq!(totals.usage.request_count, 40);
    assert_eq!(totals.cost, cost.total_cost * Decimal::from(40));
}

/// The record with every field set, as the round-trip test writes it.
pub(crate) fn every_field_record() -> UsageRecord {
    UsageRecord::builder("claude-sonnet-4-6")
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
        .unwrap()
}

/// Writes through one ledger, reads through another opened by `open`.
pub(crate) fn every_field_survives_a_reopen(open: impl Fn() -> Ledger) {
    let record = every_field_record();
    let cost = CostEstimator::new().estimate_record(&record);
    let id = {
        let ledger = open();
        ledger.record(&record, &cost).unwrap()
    };
    let reopened = open();
    assert_eq!(reopened.records(TimeRange::ALL).unwrap(), [(id, record)]);
    assert_eq!(
        reopened.totals(TimeRange::ALL).unwrap().cost,
        cost.total_cost
    );
    reopened.check_integrity().unwrap();
}

pub(crate) fn counts_the_ledger_cannot_store_are_refused_by_name_and_nothing_is_written(
    ledger: &Ledger,
) {
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

/// Records with varied models, tools, labels and days.
pub(crate) fn record() -> impl Strategy<Value = UsageRecord> {
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

/// Writes `records` into the empty `ledger` and checks every SQL breakdown against the
/// in-memory tracker and the estimator's own sums.
pub(crate) fn sql_breakdowns_equal_the_in_memory_books(
    ledger: &Ledger,
    records: &[UsageRecord],
) -> Result<(), TestCaseError> {
    let estimator = CostEstimator::new();
    let tracker = UsageTracker::new();
    let mut costs = HistoryCost::default();
    for record in records {
        let cost = estimator.estimate_record(record);
        ledger.record(record, &cost).unwrap();
        tracker.record(record);
        costs.add(&cost);
    }
    let totals = ledger.totals(TimeRange::ALL).unwrap();
    prop_assert_eq!(totals.usage, tracker.summary().totals);
    prop_assert_eq!(totals.cost, costs.total_cost);
    prop_assert_eq!(totals.unpriced_tokens, costs.unpriced_tokens);

    let by_model: BTreeMap<String, TokenUsage> = ledger
        .by_model(TimeRange::ALL)
        .unwrap()
        .into_iter()
        .map(|(model, totals)| (model, totals.usage))
        .collect();
    let expected: BTreeMap<String, TokenUsage> = tracker
        .by_model()
        .into_iter()
        .map(|(model, usage)| (model.to_string(), usage))
        .collect();
    prop_assert_eq!(by_model, expected);
    for (model, totals) in ledger.by_model(TimeRange::ALL).unwrap() {
        prop_assert_eq!(totals.cost, costs.by_model[&model].total_cost);
    }

    let by_tool: BTreeMap<Option<String>, TokenUsage> = ledger
        .by_tool(TimeRange::ALL)
        .unwrap()
        .into_iter()
        .map(|(tool, totals)| (tool, totals.usage))
        .collect();
    let expected: BTreeMap<Option<String>, TokenUsage> = tracker
        .by_tool()
        .into_iter()
        .map(|(tool, usage)| (tool.map(|t| t.to_string()), usage))
        .collect();
    prop_assert_eq!(by_tool, expected);

    for key in ["user", "session", "team", "absent"] {
        let by_label: BTreeMap<Option<Arc<str>>, TokenUsage> = ledger
            .by_label(key, TimeRange::ALL)
            .unwrap()
            .into_iter()
            .map(|(value, totals)| (value.map(Arc::from), totals.usage))
            .collect();
        prop_assert_eq!(by_label, tracker.by_label(key), "label {}", key);
    }

    let mut by_day: BTreeMap<String, TokenUsage> = BTreeMap::new();
    for record in records {
        let day = (record
            .timestamp()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - 1_764_547_200)
            / 86_400;
        *by_day.entry(format!("2025-12-{:02}", day + 1)).or_default() +=
            TokenUsage::from_record(record);
    }
    let from_sql: BTreeMap<String, TokenUsage> = ledger
        .by_day(TimeRange::ALL)
        .unwrap()
        .into_iter()
        .map(|(day, totals)| (day, totals.usage))
        .collect();
    prop_assert_eq!(from_sql, by_day);

    // A window: the second day only.
    let window = TimeRange::between(at(1_764_547_200 + 86_400), at(1_764_547_200 + 2 * 86_400));
    let expected = totals_of(records.iter().filter(|r| window.contains(r.timestamp())));
    prop_assert_eq!(ledger.totals(window).unwrap().usage, expected);

    let back: Vec<UsageRecord> = ledger
        .records(TimeRange::ALL)
        .unwrap()
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    prop_assert_eq!(back.len(), records.len());
    prop_assert!(
        back.windows(2)
            .all(|pair| pair[0].timestamp() <= pair[1].timestamp()),
        "oldest first"
    );
    prop_assert_eq!(totals_of(back.iter()), totals_of(records.iter()));
    Ok(())
}

/// Waits (up to 30 s: this is about whether, not how fast) until `books` holds `count`
/// records, and checks it holds no more.
fn eventually(books: &Ledger, count: u64, never: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while books.len().unwrap() < count {
        assert!(std::time::Instant::now() < deadline, "{never}");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(books.len().unwrap(), count);
}

/// Batched mode: records wait until the batch is full, has waited its delay, is flushed, is
/// queried, or its ledger is dropped; then every one is there once, whatever the batch
/// repeated. `open` opens the ledger under test with the batching given; `books` is a plain
/// (write-through) ledger on the same database, which sees only what was committed.
pub(crate) fn batched_records_are_committed_by_size_delay_flush_query_and_drop(
    open: impl Fn(mamba_ledger::Batching) -> Ledger,
    books: &Ledger,
) {
    use mamba_ledger::Batching;
    use std::num::NonZeroUsize;
    let size = |n| NonZeroUsize::new(n).unwrap();
    let record = UsageRecord::new("gpt-4o", 1_000, 100);
    let cost = CostEstimator::new().estimate_record(&record);
    let hold = |ledger: &Ledger, id: RecordId| {
        assert_eq!(
            ledger.record_with_id(id, &record, &cost).unwrap(),
            Written::Batched
        );
    };

    let batched = open(Batching::new(size(5), Duration::from_secs(3_600)));
    let repeated = RecordId::new();
    hold(&batched, repeated);
    hold(&batched, repeated);
    for _ in 0..2 {
        hold(&batched, RecordId::new());
    }
    assert_eq!(
        books.len().unwrap(),
        0,
        "nothing is committed before a trigger"
    );
    hold(&batched, RecordId::new());
    eventually(books, 4, "a full batch was never written");

    hold(&batched, repeated);
    hold(&batched, RecordId::new());
    batched.flush().unwrap();
    assert_eq!(
        books.len().unwrap(),
        5,
        "flush writes; the repeated id counts once"
    );

    hold(&batched, RecordId::new());
    assert_eq!(
        batched.len().unwrap(),
        6,
        "a query sees every record recorded before it"
    );

    for _ in 0..3 {
        hold(&batched, RecordId::new());
    }
    drop(batched);
    assert_eq!(
        books.len().unwrap(),
        9,
        "dropping the last handle writes the last batch"
    );

    let prompt = open(Batching::new(size(1_000), Duration::from_millis(20)));
    hold(&prompt, RecordId::new());
    hold(&prompt, RecordId::new());
    eventually(books, 11, "a batch past its delay was never written");
    drop(prompt);

    // Many writers through one batched ledger: every record once, token sums exact.
    let shared = open(Batching::new(size(64), Duration::from_millis(5)));
    std::thread::scope(|scope| {
        for _ in 0..8 {
            let shared = shared.clone();
            let (record, cost) = (&record, &cost);
            scope.spawn(move || {
                for _ in 0..250 {
                    shared.record(record, cost).unwrap();
                }
            });
        }
    });
    drop(shared);
    let totals = books.totals(TimeRange::ALL).unwrap();
    assert_eq!(totals.usage.request_count, 2_011);
    assert_eq!(totals.usage.total_tokens, 2_011 * 1_100);
    assert_eq!(totals.cost, cost.total_cost * Decimal::from(2_011));
}
