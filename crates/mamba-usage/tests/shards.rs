//! Records from many threads land in different shards; history must still list them in exact
//! recording order, `last()` must be the newest, and retention must keep exactly the newest N.

use std::thread;

use mamba_usage::{TokenUsage, TrackerConfig, UsageTracker};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn history_merges_shards_in_recording_order(
        batches in prop::collection::vec(1u64..40, 1..24),
        limit in prop::option::of(0usize..120),
    ) {
        let mut config = TrackerConfig::default();
        config.max_history_records = limit;
        let tracker = UsageTracker::with_config(config);
        let mut recorded = Vec::new();
        let mut next = 0u64;
        // Each batch runs on a new thread; threads are dealt to shards round-robin, so batches
        // interleave across shards while their order is known.
        for size in batches {
            let range = next..next + size;
            next += size;
            let worker = tracker.clone();
            let batch = range.clone();
            thread::spawn(move || batch.for_each(|n| worker.record_usage(n, 1, &format!("m{}", n % 3))))
                .join()
                .unwrap();
            recorded.extend(range);
        }
        let kept = limit.map_or(recorded.len(), |limit| recorded.len().min(limit));
        let expected = &recorded[recorded.len() - kept..];
        let history = tracker.history();
        let order: Vec<u64> = history.iter().map(|record| record.prompt_tokens()).collect();
        prop_assert_eq!(&order, expected);
        prop_assert_eq!(history.last().map(|r| r.prompt_tokens()), expected.last().copied());
        let summary = history.summary();
        prop_assert_eq!(summary.totals.request_count, recorded.len() as u64);
        prop_assert_eq!(summary.dropped_records, (recorded.len() - kept) as u64);
        let visible: TokenUsage = history.iter().map(|r| TokenUsage::from(&r)).sum();
        prop_assert_eq!(history.usage(), visible);
        prop_assert_eq!(tracker.by_model().values().sum::<TokenUsage>(), summary.totals);
    }
}
