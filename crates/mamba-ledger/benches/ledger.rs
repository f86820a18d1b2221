//! The SQLite ledger's speed: write-through commits per second (each record committed before
//! `record` returns, `Durability::Process` and `PowerLoss`), batched writes per second, and
//! totals by model and by day over 100k records computed in SQL with the exact decimal sum.
//!
//! Targets (issue #17): write-through >= 10k records/s; batched >= 200k records/s on one
//! writer; totals by model and day over 1M records < 100 ms (measured here on 100k; the query
//! is linear). Run with `cargo xtask bench`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mamba_ledger::{Batching, Durability, Ledger, LedgerConfig, TimeRange};
use mamba_pricing::CostEstimator;
use mamba_usage::{Labels, UsageRecord};

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

fn record(i: u64) -> UsageRecord {
    let models = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-6"];
    UsageRecord::builder(models[(i % 3) as usize])
        .prompt_tokens(1_000 + i % 100)
        .cached_tokens(512)
        .completion_tokens(200)
        .request_id(&format!("chatcmpl-{i:029}"))
        .labels(Labels::new().user(["alice", "bob"][(i % 2) as usize]))
        .build()
        .unwrap_or_else(|_| UsageRecord::new("gpt-4o", 1, 1))
}

fn write_through(c: &mut Criterion) {
    let estimator = CostEstimator::new();
    let records: Vec<_> = (0..1_000).map(record).collect();
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
    let estimator = CostEstimator::new();
    let mut group = c.benchmark_group("ledger batched");
    group.throughput(Throughput::Elements(10_000));
    group.sample_size(10);
    let config = LedgerConfig::sqlite(path("batched")).batched(Batching::default());
    let Ok(ledger) = Ledger::open(&config) else {
        return;
    };
    group.bench_function("10000 records, batches of 1000, until committed", |b| {
        b.iter_batched_ref(
            // Fresh records each time, stamped now as a service's are: the ledger's time index
            // then grows at its end, as it does in use.
            || {
                (0..10_000)
                    .map(|i| {
                        let record = record(i);
                        let cost = estimator.estimate_record(&record);
                        (record, cost)
                    })
                    .collect::<Vec<_>>()
            },
            |records| {
                for (record, cost) in records.iter() {
                    let _ = black_box(ledger.record(record, cost));
                }
                // Every record recorded is committed when `flush` returns.
                black_box(ledger.flush())
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn queries(c: &mut Criterion) {
    let estimator = CostEstimator::new();
    let Ok(ledger) = Ledger::open_sqlite(path("query")) else {
        return;
    };
    for i in 0..100_000 {
        let record = record(i);
        let _ = ledger.record(&record, &estimator.estimate_record(&record));
    }
    let mut group = c.benchmark_group("ledger over 100k records");
    group.sample_size(10);
    group.bench_function("totals by model", |b| {
        b.iter(|| black_box(ledger.by_model(TimeRange::ALL)))
    });
    group.bench_function("totals by day", |b| {
        b.iter(|| black_box(ledger.by_day(TimeRange::ALL)))
    });
    group.bench_function("totals by label user", |b| {
        b.iter(|| black_box(ledger.by_label("user", TimeRange::ALL)))
    });
    group.finish();
}

criterion_group!(benches, write_through, batched, queries);
criterion_main!(benches);
