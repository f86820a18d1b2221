//! The SQLite ledger's speed: write-through commits per second (each record committed before
//! `record` returns, `Durability::Process` and `PowerLoss`), batched writes per second, and
//! totals by model, by day and by label over 1M records computed in SQL with the exact decimal
//! sum (by model and day from the daily totals).
//!
//! Targets (issue #17): write-through >= 10k records/s; batched >= 200k records/s on one
//! writer; totals by model and day over 1M records < 100 ms. Run with `cargo xtask bench`.
#![allow(missing_docs)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mamba_ledger::{Batching, Durability, Ledger, LedgerConfig, TimeRange};
use mamba_pricing::CostEstimator;

fn path(name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "mamba-ledger-bench-{name}-{}.db",
        std::process::id()
    ));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

fn write_through(c: &mut Criterion) {
    let estimator = CostEstimator::new();
    let records: Vec<_> = (0..1_000).map(common::record).collect();
    let costs: Vec<_> = records
        .iter()
        .map(|r| estimator.estimate_record(r))
        .collect();
    let mut group = c.benchmark_group("ledger write-through");
    group.throughput(Throughput::Elements(records.len() as u64));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for (name, durability) in [
        ("process", Durability::Process),
        ("power loss", Durability::PowerLoss),
    ] {
        group.bench_function(format!("1000 records, durable past {name}"), |b| {
            b.iter_batched(
                || {
                    let config = LedgerConfig::sqlite(path("write")).durability(durability);
                    Ledger::open(&config).ok()
                },
                |ledger| {
                    if let Some(ledger) = ledger {
                        for (record, cost) in records.iter().zip(&costs) {
                            let _ = black_box(ledger.record(record, cost));
                        }
                    }
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

fn batched(c: &mut Criterion) {
    let mut group = c.benchmark_group("ledger batched");
    group.throughput(Throughput::Elements(10_000));
    group.sample_size(10);
    let config = LedgerConfig::sqlite(path("batched")).batched(Batching::default());
    let Ok(ledger) = Ledger::open(&config) else {
        return;
    };
    group.bench_function("10000 records, batches of 1000, until committed", |b| {
        b.iter_batched_ref(
            || common::records(10_000),
            |records| common::write_all(&ledger, records),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn queries(c: &mut Criterion) {
    let estimator = CostEstimator::new();
    // A million records over 30 days, written in batches (the fastest way in).
    let config = LedgerConfig::sqlite(path("query")).batched(Batching::default());
    let Ok(ledger) = Ledger::open(&config) else {
        return;
    };
    let start = std::time::SystemTime::now() - Duration::from_secs(30 * 86_400);
    for i in 0..1_000_000_u64 {
        let mut record = common::record(i);
        let stamped = mamba_usage::UsageRecord::builder(record.model())
            .prompt_tokens(record.prompt_tokens())
            .cached_tokens(record.cached_tokens())
            .completion_tokens(record.completion_tokens())
            .labels(record.labels().clone())
            .timestamp(start + Duration::from_millis(i * 2_592))
            .build();
        if let Ok(stamped) = stamped {
            record = stamped;
        }
        let _ = ledger.record(&record, &estimator.estimate_record(&record));
    }
    let _ = ledger.flush();
    let mut group = c.benchmark_group("ledger over 1M records");
    group.sample_size(10);
    group.bench_function("totals by model", |b| {
        b.iter(|| black_box(ledger.by_model(TimeRange::ALL)))
    });
    group.bench_function("totals by day", |b| {
        b.iter(|| black_box(ledger.by_day(TimeRange::ALL)))
    });
    let last_week =
        TimeRange::since(std::time::SystemTime::now() - Duration::from_secs(7 * 86_400));
    group.bench_function(
        "totals by model, the last 7 days (partial days at the ends)",
        |b| b.iter(|| black_box(ledger.by_model(last_week))),
    );
    group.bench_function("totals by label user", |b| {
        b.iter(|| black_box(ledger.by_label("user", TimeRange::ALL)))
    });
    group.finish();
}

criterion_group!(benches, write_through, batched, queries);
criterion_main!(benches);
