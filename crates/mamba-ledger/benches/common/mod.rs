//! What the ledger benchmarks share: the records they write, stamped when they are made (as a
//! service's are, so the time index grows at its end), and one timed round of writes.
#![allow(dead_code)]

use std::hint::black_box;

use mamba_ledger::Ledger;
use mamba_pricing::{CostBreakdown, CostEstimator};
use mamba_usage::{Labels, UsageRecord};

/// The `i`-th record of a mixed workload: three models, two users, a cached prefix.
pub(crate) fn record(i: u64) -> UsageRecord {
    let models = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-6"];
    UsageRecord::builder(models[(i % 3) as usize])
        .prompt_tokens(1_000 + i % 100)
        .cached_tokens(512)
        .completion_tokens(200)
        .request_id(&format!("chatcmpl-{i:029}"))
        .labels(Labels::new().user(["alice", "bob"][(i % 2) as usize]))
        .build()
        .unwrap_or_else(|_| UsageRecord::new(1, 1, "gpt-4o"))
}

/// `n` fresh records with their costs.
pub(crate) fn records(n: u64) -> Vec<(UsageRecord, CostBreakdown)> {
    let estimator = CostEstimator::new();
    (0..n)
        .map(|i| {
            let record = record(i);
            let cost = estimator.estimate_record(&record);
            (record, cost)
        })
        .collect()
}

/// Writes `records` to `ledger`, then flushes, so every one is committed when it returns.
pub(crate) fn write_all(ledger: &Ledger, records: &[(UsageRecord, CostBreakdown)]) {
    for (record, cost) in records {
        let _ = black_box(ledger.record(record, cost));
    }
    let _ = black_box(ledger.flush());
}
