//! Reader latency under saturating writers: two threads record flat out while the main thread
//! times each `summary()` and `history()` call; prints p50, p99 and max per call, and the
//! writers' throughput. Target (issue #14): p99 under 1 ms, recording still at least 10M
//! records/s on one thread (see the `tracker` bench). Run with `cargo xtask bench`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use mamba_usage::UsageTracker;

const WRITERS: usize = 2;
const READS: usize = 2_000;

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    sorted[index]
}

fn measure(name: &str, read: impl Fn(&UsageTracker)) {
    // Retention keeps history snapshots the same size whatever the writers did.
    let tracker = UsageTracker::with_config(
        mamba_usage::TrackerConfig::default().with_max_history_records(10_000),
    );
    let stop = AtomicBool::new(false);
    let written = AtomicU64::new(0);
    let mut latencies = Vec::with_capacity(READS);
    let elapsed = thread::scope(|scope| {
        for writer in 0..WRITERS {
            let (tracker, stop, written) = (tracker.clone(), &stop, &written);
            scope.spawn(move || {
                let model = ["gpt-4o", "gpt-4o-mini"][writer % 2];
                let mut count = 0_u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..256 {
                        tracker.record_usage(black_box(100), black_box(50), model);
                    }
                    count += 256;
                }
                written.fetch_add(count, Ordering::Relaxed);
            });
        }
        // Let the writers reach full speed.
        thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        for _ in 0..READS {
            let call = Instant::now();
            read(&tracker);
            latencies.push(call.elapsed());
            thread::sleep(Duration::from_micros(200));
        }
        let elapsed = started.elapsed() + Duration::from_millis(100);
        stop.store(true, Ordering::Relaxed);
        elapsed
    });
    latencies.sort();
    #[allow(clippy::cast_precision_loss)]
    let rate = written.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64() / 1e6;
    println!(
        "readers/{name:<8} under {WRITERS} writers: p50 {:>9.1?}  p99 {:>9.1?}  max {:>9.1?}  (writers {rate:.1}M records/s)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1],
    );
}

fn main() {
    measure("summary", |tracker| {
        black_box(tracker.summary());
    });
    measure("history", |tracker| {
        black_box(tracker.history());
    });
}
