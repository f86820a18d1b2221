//! History memory per record, measured with a counting allocator: `UsageTracker` beside the
//! plain `Mutex<Vec>` baseline (timestamp, `Arc<str>` model, two counts). Targets: <= 64 bytes
//! for the bare record, <= 104 bytes for a typical agent record (a 38-byte request id, a
//! nanosecond latency, cached and reasoning counts); `tests/memory.rs` holds both bounds.
//! Run with `cargo xtask bench` (or `cargo bench -p mamba-usage --bench memory`).
#![allow(missing_docs, clippy::print_stdout)]

use std::alloc::System;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

#[path = "support/baseline.rs"]
mod baseline;

use baseline::BaselineRecord;
use mamba_usage::{UsageRecord, UsageTracker};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const RECORDS: usize = 1_000_000;

/// Bytes still allocated after `work` runs, minus what `work` frees before returning.
fn net_bytes<T>(work: impl FnOnce() -> T) -> (T, isize) {
    let region = Region::new(GLOBAL);
    let kept = work();
    let change = region.change();
    // stats_alloc already counts a realloc's growth as allocated and its shrinking as
    // deallocated; `bytes_reallocated` is the same change again, so it is not added.
    let net = change.bytes_allocated as isize - change.bytes_deallocated as isize;
    (kept, net)
}

fn main() {
    let models: Vec<Arc<str>> = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4"]
        .map(Arc::from)
        .to_vec();
    let (tracker, tracker_bytes) = net_bytes(|| {
        let tracker = UsageTracker::new();
        for i in 0..RECORDS {
            tracker.record_usage(100, 50, &models[i % 3]);
        }
        tracker
    });
    let (rich, rich_bytes) = net_bytes(|| {
        let tracker = UsageTracker::new();
        let record = UsageRecord::builder("gpt-4o")
            .prompt_tokens(1_200)
            .cached_tokens(1_024)
            .completion_tokens(300)
            .reasoning_tokens(100)
            .tool_name("search")
            .latency(std::time::Duration::from_millis(850))
            .build()
            .unwrap();
        for _ in 0..RECORDS {
            tracker.record(&record);
        }
        tracker
    });
    let (agent, agent_bytes) = net_bytes(|| {
        let tracker = UsageTracker::new();
        for i in 0..RECORDS {
            let record = UsageRecord::builder("gpt-4o-2024-08-06")
                .prompt_tokens(1_200)
                .cached_tokens(1_024)
                .completion_tokens(300)
                .reasoning_tokens(100)
                .latency(std::time::Duration::from_nanos(850_123_457))
                .request_id(&format!("chatcmpl-{i:029}"))
                .build()
                .unwrap();
            tracker.record(&record);
        }
        tracker
    });
    let (baseline, baseline_bytes) = net_bytes(|| {
        let records = Mutex::new(Vec::new());
        for i in 0..RECORDS {
            records.lock().unwrap().push(BaselineRecord {
                timestamp: SystemTime::now(),
                model: Arc::clone(&models[i % 3]),
                input_tokens: 100,
                output_tokens: 50,
            });
        }
        records
    });
    let per = |bytes: isize| bytes as f64 / RECORDS as f64;
    println!("history memory per record, {RECORDS} records (counting allocator):");
    println!(
        "  UsageTracker, record_usage:            {:6.1} B/record",
        per(tracker_bytes)
    );
    println!(
        "  UsageTracker, cached+reasoning+tool:   {:6.1} B/record",
        per(rich_bytes)
    );
    println!(
        "  UsageTracker, typical agent record:    {:6.1} B/record",
        per(agent_bytes)
    );
    println!(
        "  Mutex<Vec> baseline:                   {:6.1} B/record",
        per(baseline_bytes)
    );
    assert_eq!(tracker.summary().totals.request_count, RECORDS as u64);
    assert_eq!(rich.history().len(), RECORDS);
    assert_eq!(agent.history().len(), RECORDS);
    assert_eq!(baseline.lock().unwrap().len(), RECORDS);
}
