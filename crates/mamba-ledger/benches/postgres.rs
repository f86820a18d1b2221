//! The PostgreSQL ledger's speed on loopback: write-through commits per second (one
//! transaction per record) and batched writes per second (one multi-row insert per batch).
//!
//! Target (issue #17): batched >= 50k records/s on loopback. `cargo xtask bench` starts the
//! pinned PostgreSQL and sets `MAMBA_BENCH_POSTGRES_URL` (a superuser URL); without it these
//! benchmarks say so and do nothing.
#![allow(missing_docs)]

mod common;

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mamba_ledger::{Batching, Ledger, LedgerConfig};

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
    group.finish();
}

criterion_group!(benches, writes);
criterion_main!(benches);
