//! The PostgreSQL ledger's speed on loopback: write-through commits per second (one
//! transaction per record) and batched writes per second (one multi-row insert per batch).
//!
//! Targets (issue #17): batched >= 50k records/s on loopback; a fleet budget's reserve +
//! settle round trip p99 <= 2 ms (criterion gives the mean; the p99 over 2,000 round trips is
//! printed as `fleet budget reserve + settle: p50 ... p99 ...`). `cargo xtask bench` starts the
//! pinned PostgreSQL and sets `MAMBA_BENCH_POSTGRES_URL` (a superuser URL); without it these
//! benchmarks say so and do nothing.
#![allow(missing_docs)]

mod common;

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mamba_ledger::{Batching, FleetBudgetSpec, Ledger, LedgerConfig, RecordId};
use mamba_pricing::{Spend, UsageLimits};

/// A fresh database on the benchmark server; its URL.
fn fresh_database() -> Option<String> {
    let Ok(server) = std::env::var("MAMBA_BENCH_POSTGRES_URL") else {
        eprintln!("skipped: set MAMBA_BENCH_POSTGRES_URL (cargo xtask bench does)");
        return None;
    };
    let database = format!("mamba_bench_{}", std::process::id());
    let mut admin = postgres::Client::connect(&server, postgres::NoTls).ok()?;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {database}"))
        .ok()?;
    admin
        .batch_execute(&format!("CREATE DATABASE {database}"))
        .ok()?;
    let (base, _) = server.rsplit_once('/')?;
    Some(format!("{base}/{database}"))
}

fn writes(c: &mut Criterion) {
    let Some(url) = fresh_database() else {
        return;
    };
    let Ok(config) = LedgerConfig::from_url(&url) else {
        return;
    };
    let mut group = c.benchmark_group("postgres ledger");
    group.sample_size(10);

    if let Ok(ledger) = Ledger::open(&config) {
        group.throughput(Throughput::Elements(200));
        group.bench_function("write-through, 200 records", |b| {
            b.iter_batched_ref(
                || common::records(200),
                |records| {
                    for (record, cost) in records.iter() {
                        let _ = black_box(ledger.record(record, cost));
                    }
                },
                BatchSize::PerIteration,
            )
        });
    }

    if let Ok(ledger) = Ledger::open(&config.clone().batched(Batching::default())) {
        group.throughput(Throughput::Elements(10_000));
        group.bench_function("batched, 10000 records, until committed", |b| {
            b.iter_batched_ref(
                || common::records(10_000),
                |records| common::write_all(&ledger, records),
                BatchSize::PerIteration,
            )
        });
    }
    if let Ok(ledger) = Ledger::open(&config) {
        budget_round_trips(&mut group, &ledger);
    }
    group.finish();
}

/// Reserve a worst case, then write the record that settles it: what each budgeted request
/// adds to its own latency.
fn budget_round_trips(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    ledger: &Ledger,
) {
    let spec = FleetBudgetSpec::new(
        "bench",
        UsageLimits::default().with_total_tokens(u64::MAX / 2),
    );
    let Ok(budget) = ledger.fleet_budget(spec) else {
        return;
    };
    let records = common::records(1);
    let (record, cost) = &records[0];
    let worst_case = Spend::default()
        .with_requests(1)
        .with_input_tokens(2_000)
        .with_output_tokens(1_000);
    let round_trip = || -> Option<()> {
        let hold = budget.reserve(worst_case).ok()?;
        ledger
            .record_settling(RecordId::new(), record, cost, vec![hold])
            .ok()
            .map(drop)
    };
    let mut latencies: Vec<std::time::Duration> = (0..2_000)
        .map(|_| {
            let start = std::time::Instant::now();
            let _ = round_trip();
            start.elapsed()
        })
        .collect();
    latencies.sort();
    eprintln!(
        "fleet budget reserve + settle: p50 {:?} p99 {:?} (2,000 round trips)",
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100]
    );
    group.throughput(Throughput::Elements(1));
    group.bench_function("fleet budget reserve + settle", |b| {
        b.iter(|| black_box(round_trip()))
    });
}

criterion_group!(benches, writes);
criterion_main!(benches);
