//! Recording throughput of `UsageTracker` beside a plain `Mutex<Vec>` baseline, on 1 and 2
//! threads, plus `summary()` and `history()` on a million records.
//!
//! Targets (issue #3): >= 5M records/s on 1 thread including the timestamp; 2 contending threads
//! no slower in total than 1; `summary()` O(1); a 1M-record snapshot without a 1M copy.
//! Run with `cargo xtask bench`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
#[path = "support/baseline.rs"]
mod baseline;

use baseline::BaselineRecord;
use mamba_usage::UsageTracker;

const RECORDS: u64 = 1_000_000;
const MODELS: [&str; 3] = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4"];

#[derive(Default, Clone)]
struct Baseline {
    records: Arc<Mutex<Vec<BaselineRecord>>>,
    names: Arc<Vec<Arc<str>>>,
}

impl Baseline {
    fn new() -> Baseline {
        Baseline {
            records: Arc::default(),
            names: Arc::new(MODELS.map(Arc::from).to_vec()),
        }
    }

    fn record_usage(&self, input_tokens: u64, output_tokens: u64, model: usize) {
        let record = BaselineRecord {
            timestamp: SystemTime::now(),
            model: Arc::clone(&self.names[model]),
            input_tokens,
            output_tokens,
        };
        self.records.lock().unwrap().push(record);
    }
}

/// Records `RECORDS` in total, split over `threads` threads each using its own model name.
fn fill_tracker(tracker: &UsageTracker, threads: u64) {
    thread::scope(|scope| {
        for t in 0..threads {
            let tracker = tracker.clone();
            scope.spawn(move || {
                let model = MODELS[t as usize % MODELS.len()];
                for i in 0..RECORDS / threads {
                    tracker.record_usage(black_box(100 + i % 7), black_box(50), model);
                }
            });
        }
    });
}

fn fill_baseline(baseline: &Baseline, threads: u64) {
    thread::scope(|scope| {
        for t in 0..threads {
            let baseline = baseline.clone();
            scope.spawn(move || {
                for i in 0..RECORDS / threads {
                    baseline.record_usage(
                        black_box(100 + i % 7),
                        black_box(50),
                        t as usize % MODELS.len(),
                    );
                }
            });
        }
    });
}

fn recording(c: &mut Criterion) {
    let mut group = c.benchmark_group("record 1M");
    group.throughput(Throughput::Elements(RECORDS));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    for threads in [1, 2] {
        group.bench_function(format!("UsageTracker, {threads} thread(s)"), |b| {
            b.iter_batched(
                UsageTracker::new,
                |tracker| fill_tracker(&tracker, threads),
                BatchSize::PerIteration,
            )
        });
        group.bench_function(format!("Mutex<Vec> baseline, {threads} thread(s)"), |b| {
            b.iter_batched(
                Baseline::new,
                |baseline| fill_baseline(&baseline, threads),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

fn reading(c: &mut Criterion) {
    let tracker = UsageTracker::new();
    fill_tracker(&tracker, 1);
    let mut group = c.benchmark_group("read 1M");
    group.bench_function("summary()", |b| b.iter(|| black_box(tracker.summary())));
    group.bench_function("history() snapshot", |b| {
        b.iter(|| black_box(tracker.history()))
    });
    group.bench_function("by_model()", |b| b.iter(|| black_box(tracker.by_model())));
    group.finish();
}

criterion_group!(benches, recording, reading);
criterion_main!(benches);
