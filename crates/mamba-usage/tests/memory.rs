//! History memory per record, counted by the allocator: the promises in the crate docs (56 bytes
//! for a bare record, at most 104 for a typical agent record, 16 more for shared labels) as
//! exact upper bounds. The benchmark `cargo bench -p mamba-usage --bench memory` prints the same figures for a million.
//!
//! This file holds one test, so no other test allocates while it counts.

use std::alloc::System;
use std::time::Duration;

use mamba_usage::{Labels, UsageRecord, UsageTracker};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// 64 chunks of 1024 records: the per-chunk bookkeeping is averaged in, as in a long run.
const RECORDS: usize = 64 * 1024;

/// Bytes per record still allocated after recording `RECORDS` records with `record`.
fn bytes_per_record(record: impl Fn(&UsageTracker, usize)) -> f64 {
    let tracker = UsageTracker::new();
    // The first record pays for the shard and interner, which are not per-record costs.
    record(&tracker, 0);
    let region = Region::new(GLOBAL);
    for i in 1..=RECORDS {
        record(&tracker, i);
    }
    let change = region.change();
    // stats_alloc already counts a realloc's growth as allocated and its shrinking as
    // deallocated; `bytes_reallocated` is the same change again, so it is not added.
    let net = change.bytes_allocated as isize - change.bytes_deallocated as isize;
    assert_eq!(tracker.history().len(), RECORDS + 1);
    net as f64 / RECORDS as f64
}

/// An OpenAI chat completion id: `chatcmpl-` and 29 characters, 38 bytes.
fn request_id(i: usize) -> String {
    format!("chatcmpl-{i:029}")
}

#[test]
fn history_records_stay_within_their_documented_size() {
    let bare = bytes_per_record(|tracker, _| tracker.record_usage(100, 50, "gpt-4o"));
    let agent = bytes_per_record(|tracker, i| {
        let record = UsageRecord::builder("gpt-4o-2024-08-06")
            .prompt_tokens(1_200)
            .cached_tokens(1_024)
            .completion_tokens(300)
            .reasoning_tokens(100)
            .latency(Duration::from_nanos(850_123_457))
            .request_id(&request_id(i))
            .build()
            .unwrap();
        tracker.record(&record);
    });
    // A run's labels are shared by all its records: each pays for its place in the chunk's
    // label list, not for a copy of the labels.
    let labels = Labels::new()
        .user("user-0123456789")
        .session("session-0123456789")
        .tag("team", "search")
        .unwrap();
    let labelled = bytes_per_record(|tracker, _| {
        let record = UsageRecord::builder("gpt-4o")
            .prompt_tokens(100)
            .completion_tokens(50)
            .labels(labels.clone())
            .build()
            .unwrap();
        tracker.record(&record);
    });
    assert_eq!(request_id(7).len(), 38);
    assert!(bare <= 56.5, "a bare record takes {bare:.1} B");
    assert!(agent <= 104.0, "a typical agent record takes {agent:.1} B");
    assert!(
        labelled <= bare + 16.5,
        "a labelled record takes {labelled:.1} B"
    );
}
