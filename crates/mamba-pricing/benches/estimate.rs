//! The cost of pricing one request, lookup included, with the full generated table. Targets:
//! <= 100 ns for an exact name, <= 150 ns for a prefixed or dated one; the table is built once,
//! lazily, in <= 2 ms (printed before the benchmarks). The Python seed's estimate takes ~760 ns
//! and rust_decimal's raw arithmetic ~78 ns on these machines. Run with `cargo xtask bench`.
#![allow(missing_docs, clippy::print_stdout)]

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use mamba_pricing::CostEstimator;
use mamba_usage::UsageRecord;

fn estimate(c: &mut Criterion) {
    let estimator = CostEstimator::new();
    // The first lookup builds the built-in table.
    let started = Instant::now();
    black_box(estimator.estimate(1, 1, "gpt-4o"));
    println!(
        "built-in table initialisation: {:.2} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
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
    group.bench_function("estimate, exact name with one period (gpt-5.5)", |b| {
        b.iter(|| estimator.estimate(black_box(1_000), black_box(500), black_box("gpt-5.5")))
    });
    group.bench_function("estimate, prefixed name (openai/gpt-5.5)", |b| {
        b.iter(|| {
            estimator.estimate(
                black_box(1_000),
                black_box(500),
                black_box("openai/gpt-5.5"),
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
