//! What handing records to sinks costs: a record given to the tracker directly, beside the
//! same record given through a list of sinks holding only the tracker (the agent's case with
//! no other sink attached), and through a queued sink.
//!
//! Target (issue #16): the dispatch adds <= 50 ns per record. Run with `cargo xtask bench`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mamba_usage::{QueuedSink, UsageRecord, UsageSink, UsageTracker};

const RECORDS: u64 = 100_000;

/// A record as the agent makes it: cache and reasoning counts, latency and a request id.
fn agent_record() -> UsageRecord {
    UsageRecord::builder("gpt-4o-2024-08-06")
        .prompt_tokens(1_200)
        .cached_tokens(1_024)
        .completion_tokens(300)
        .reasoning_tokens(100)
        .latency(Duration::from_millis(850))
        .request_id("chatcmpl-0123456789abcdefghijklmnopqrs")
        .build()
        .unwrap_or_else(|_| UsageRecord::new(1_200, 300, "gpt-4o"))
}

fn dispatch(c: &mut Criterion) {
    let record = agent_record();
    let mut group = c.benchmark_group("record 100k");
    group.throughput(Throughput::Elements(RECORDS));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("tracker.record, direct", |b| {
        b.iter_batched(
            UsageTracker::new,
            |tracker| {
                for _ in 0..RECORDS {
                    tracker.record(black_box(&record));
                }
                tracker
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("through a sink list holding the tracker", |b| {
        b.iter_batched(
            || {
                let sinks: Vec<Box<dyn UsageSink<u64>>> = vec![Box::new(UsageTracker::new())];
                sinks
            },
            |sinks| {
                for _ in 0..RECORDS {
                    for sink in &sinks {
                        // The tracker never fails.
                        let _ = black_box(sink.record(black_box(&record), &7));
                    }
                }
                sinks
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("into a queued sink (capacity 1M)", |b| {
        b.iter_batched(
            || QueuedSink::new(UsageTracker::new(), 1 << 20).ok(),
            |queued| {
                if let Some(queued) = &queued {
                    for _ in 0..RECORDS {
                        let _ = black_box(queued.record(black_box(&record), &()));
                    }
                }
                // Dropping the queue waits for its worker; that is not the request path.
                std::mem::forget(queued);
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
