//! The cost of pricing one request, lookup included. Target (issue #4): <= 150 ns; the Python
//! seed's estimate takes ~760 ns and rust_decimal's raw arithmetic ~78 ns on these machines.
//! Run with `cargo xtask bench`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mamba_pricing::CostEstimator;
use mamba_usage::UsageRecord;

fn estimate(c: &mut Criterion) {
    let estimator = CostEstimator::new();
    let mut group = c.benchmark_group("price one request");
    group.bench_function("estimate, exact name (gpt-4o)", |b| {
        b.iter(|| estimator.estimate(black_box(1_000), black_box(500), black_box("gpt-4o")))
    });
    group.bench_function("estimate, snapshot name (gpt-4o-mini-2024-07-18)", |b| {
        b.iter(|| {
            estimator.estimate(
                black_box(1_000),
                black_box(500),
                black_box("gpt-4o-mini-2024-07-18"),
            )
        })
    });
    let record = UsageRecord::builder("claude-sonnet-4")
        .prompt_tokens(12_000)
        .cached_tokens(8_000)
        .cache_write_tokens(2_000)
        .completion_tokens(900)
        .build()
        .unwrap();
    group.bench_function("estimate_record with cache (claude-sonnet-4)", |b| {
        b.iter(|| estimator.estimate_record(black_box(&record)))
    });
    group.finish();
}

criterion_group!(benches, estimate);
criterion_main!(benches);
