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
        let record = UsageRecord::new(prompt, 0, "gpt-4o");
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
    let record = UsageRecord::new(1_000, 100, "gpt-4o-mini");
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
    let record = UsageRecord::new(u64::MAX, 1, "gpt-4o");
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
    // Windows with partial days at either end (whole days come from the daily totals, the
    // ends from the records), and one inside a single day.
    for (from, to) in [
        (86_400 / 2, 3 * 86_400 + 3_600),
        (7_200, 86_400 - 7_200),
        (86_400 + 1, 5 * 86_400),
    ] {
        let window = TimeRange::between(at(1_764_547_200 + from), at(1_764_547_200 + to));
        let inside: Vec<&UsageRecord> = records
            .iter()
            .filter(|r| window.contains(r.timestamp()))
            .collect();
        prop_assert_eq!(
            ledger.totals(window).unwrap().usage,
            totals_of(inside.iter().copied()),
            "{}..{}",
            from,
            to
        );
        let mut by_model: BTreeMap<String, TokenUsage> = BTreeMap::new();
        let mut cost_by_model: BTreeMap<String, Decimal> = BTreeMap::new();
        for record in &inside {
            *by_model.entry(record.model().to_owned()).or_default() +=
                TokenUsage::from_record(record);
            *cost_by_model.entry(record.model().to_owned()).or_default() +=
                estimator.estimate_record(record).total_cost;
        }
        let from_sql = ledger.by_model(window).unwrap();
        prop_assert_eq!(
            from_sql
                .iter()
                .map(|(model, totals)| (model.clone(), totals.usage))
                .collect::<BTreeMap<_, _>>(),
            by_model
        );
        prop_assert_eq!(
            from_sql
                .into_iter()
                .map(|(model, totals)| (model, totals.cost))
                .collect::<BTreeMap<_, _>>(),
            cost_by_model
        );
    }

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
    let record = UsageRecord::new(1_000, 100, "gpt-4o");
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

/// Fleet budgets: holds checked against what the window used and holds, settled by the
/// record's insert, released, expired; records counted by scope whether or not they
/// reserved; definitions shared by name; the unpriced policy explicit.
pub(crate) fn fleet_budgets_hold_settle_release_expire_and_count_by_scope(ledger: &Ledger) {
    use mamba_ledger::{BudgetPeriod, BudgetScope, FleetBudgetSpec, LedgerError, UnpricedPolicy};
    use mamba_pricing::{LimitKind, Spend, UsageLimits};
    let spend = |input: u64, output: u64| Spend::new(1, input, output, Decimal::ZERO);
    let estimator = CostEstimator::new();
    let alice = Labels::new().user("alice");
    let record_of = |model: &str, input: u64, output: u64, labels: &Labels| {
        UsageRecord::builder(model)
            .prompt_tokens(input)
            .completion_tokens(output)
            .labels(labels.clone())
            .build()
            .unwrap()
    };

    let tokens = ledger
        .fleet_budget(FleetBudgetSpec::new(
            "tokens",
            UsageLimits::default().with_total_tokens(10_000),
        ))
        .unwrap();
    let alice_daily = ledger
        .fleet_budget(
            FleetBudgetSpec::new("alice", UsageLimits::default().with_requests(3))
                .scope(BudgetScope::label("user", "alice"))
                .period(BudgetPeriod::Day),
        )
        .unwrap();

    // Hold, then settle with the record: used is the record's, nothing stays held.
    let hold = tokens.reserve(spend(4_000, 2_000)).unwrap();
    assert_eq!(tokens.usage().unwrap().reserved.input_tokens, 4_000);
    let refused = tokens.reserve(spend(3_000, 1_500)).unwrap_err();
    let LedgerError::BudgetExceeded { budget, exceeded } = &refused else {
        panic!("{refused:?}");
    };
    assert_eq!(budget, "tokens");
    assert_eq!(
        (
            exceeded.kind,
            exceeded.limit,
            exceeded.used,
            exceeded.reserved,
            exceeded.requested
        ),
        (
            LimitKind::TotalTokens,
            Decimal::from(10_000),
            Decimal::ZERO,
            Decimal::from(6_000),
            Decimal::from(4_500)
        )
    );
    let record = record_of("gpt-4o", 3_500, 700, &alice);
    let id = RecordId::new();
    let cost = estimator.estimate_record(&record);
    assert_eq!(
        ledger
            .record_settling(id, &record, &cost, vec![hold.clone()])
            .unwrap(),
        Written::Inserted
    );
    let usage = tokens.usage().unwrap();
    assert_eq!(
        (usage.used.input_tokens, usage.used.output_tokens),
        (3_500, 700)
    );
    assert_eq!(usage.used.cost, cost.total_cost);
    assert_eq!(usage.reserved, Spend::default());
    // A retried settle neither counts the record again nor gives the hold back twice.
    let other = tokens.reserve(spend(100, 100)).unwrap();
    assert_eq!(
        ledger
            .record_settling(id, &record, &cost, vec![hold])
            .unwrap(),
        Written::AlreadyThere
    );
    let usage = tokens.usage().unwrap();
    assert_eq!((usage.used.requests, usage.reserved.requests), (1, 1));
    tokens.release(other).unwrap();
    assert_eq!(tokens.usage().unwrap().reserved, Spend::default());

    // Records that reserved nothing count too, by scope: alice's budget saw both of hers.
    ledger
        .record(&record_of("gpt-4o", 10, 10, &alice), &cost)
        .unwrap();
    ledger
        .record(
            &record_of("gpt-4o", 10, 10, &Labels::new().user("bob")),
            &cost,
        )
        .unwrap();
    assert_eq!(alice_daily.usage().unwrap().used.requests, 2);
    assert_eq!(tokens.usage().unwrap().used.requests, 3);
    let left = alice_daily.remaining().unwrap();
    assert_eq!(left.get(LimitKind::Requests), Some(Decimal::ONE));
    let last = alice_daily.reserve(spend(1, 1)).unwrap();
    assert!(alice_daily.reserve(spend(1, 1)).is_err());
    alice_daily.release(last).unwrap();
    // A record stamped on another day counts in that day's window, not today's.
    let yesterday = UsageRecord::builder("gpt-4o")
        .prompt_tokens(1)
        .labels(alice.clone())
        .timestamp(std::time::SystemTime::now() - Duration::from_secs(86_400))
        .build()
        .unwrap();
    ledger.record(&yesterday, &cost).unwrap();
    assert_eq!(alice_daily.usage().unwrap().used.requests, 2);

    // One name, one definition, for every process.
    let error = ledger
        .fleet_budget(
            FleetBudgetSpec::new("alice", UsageLimits::default())
                .scope(BudgetScope::label("user", "bob")),
        )
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "fleet budget `alice`: the ledger already defines it as label user=alice, per day, not label user=bob, per total"
    );

    // The unpriced policy: refuse under a cost limit unless told to allow (cost held as 0).
    let money = UsageLimits::default().with_cost(Decimal::ONE);
    let strict = ledger
        .fleet_budget(FleetBudgetSpec::new("money", money))
        .unwrap();
    let error = strict
        .reserve_unpriced("my-model", spend(10, 10))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "fleet budget `money` limits cost and refuses requests it cannot price: `my-model` has no price"
    );
    let lenient = ledger
        .fleet_budget(FleetBudgetSpec::new("money-lenient", money).unpriced(UnpricedPolicy::Allow))
        .unwrap();
    let held = lenient
        .reserve_unpriced("my-model", spend(10, 10).with_cost(Decimal::TEN))
        .unwrap();
    assert_eq!(held.amount().cost, Decimal::ZERO);
    lenient.release(held).unwrap();

    // A hold whose process never came back expires, and its amount is given back.
    let short = ledger
        .fleet_budget(
            FleetBudgetSpec::new("short", UsageLimits::default().with_requests(1))
                .hold_expiry(Duration::from_millis(1)),
        )
        .unwrap();
    let abandoned = short.reserve(spend(1, 1)).unwrap();
    std::mem::forget(abandoned);
    std::thread::sleep(Duration::from_millis(20));
    let taken_over = short.reserve(spend(1, 1)).unwrap();
    assert_eq!(short.usage().unwrap().reserved.requests, 1);
    short.release(taken_over).unwrap();
}

/// Threads racing, each with its own connection (`open`), for a budget of `limit` requests:
/// exactly `limit` holds succeed, whatever the interleaving.
pub(crate) fn racing_holds_never_pass_the_limit(open: impl Fn() -> Ledger + Sync) {
    use mamba_ledger::FleetBudgetSpec;
    use mamba_pricing::{Spend, UsageLimits};
    let limit = 37;
    let spec = FleetBudgetSpec::new("race", UsageLimits::default().with_requests(limit));
    let held: u64 = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..8)
            .map(|_| {
                let spec = spec.clone();
                let open = &open;
                scope.spawn(move || {
                    let budget = open().fleet_budget(spec).unwrap();
                    let mut held = 0;
                    for _ in 0..20 {
                        let request = Spend::default().with_requests(1);
                        if budget.reserve(request).is_ok() {
                            held += 1;
                        }
                    }
                    held
                })
            })
            .collect();
        racers.into_iter().map(|racer| racer.join().unwrap()).sum()
    });
    assert_eq!(held, limit);
    let budget = open().fleet_budget(spec).unwrap();
    assert_eq!(budget.usage().unwrap().reserved.requests, limit);
}
