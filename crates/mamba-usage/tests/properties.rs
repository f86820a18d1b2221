//! Invariants for any sequence of records: totals equal the sum of history, breakdowns sum to the
//! totals, retention keeps the newest records and counts the rest, export -> import round-trips.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use mamba_usage::{Labels, ServiceTier, TokenUsage, TrackerConfig, UsageRecord, UsageTracker};
use proptest::prelude::*;

/// Records with every field exercised, including counts and latencies too wide for the compact
/// form and names that need CSV quoting.
fn record() -> impl Strategy<Value = UsageRecord> {
    // The full range: small counts, the edge of the compact form, and saturation at u64::MAX.
    let count = prop_oneof![
        8 => 0u64..5_000,
        1 => (u64::from(u32::MAX) - 2)..(u64::from(u32::MAX) + 3),
        1 => (u64::MAX - 2)..=u64::MAX,
    ];
    (
        (
            prop::sample::select(vec![
                "gpt-4o",
                "gpt-4o-mini",
                "o3",
                "claude-sonnet-4",
                "a,\"b\"",
            ]),
            count.clone(),
            count,
        ),
        (0u64..=100, 0u64..=100, 0u64..=100),
        (
            prop::option::of(prop::sample::select(vec!["search", "calc", "x\ny"])),
            any::<bool>(),
            any::<bool>(),
        ),
        (
            prop::option::of("[a-z0-9-]{1,12}"),
            prop::option::of(
                prop_oneof![0u64..10_000_000_000, any::<u64>(),]
                    .prop_flat_map(|secs_or_nanos| (Just(secs_or_nanos), 0u32..1_000_000_000)),
            ),
            prop::option::of(0u64..10),
        ),
        0u64..4_000_000_000_000_000_000,
        (
            0u64..=100,
            prop::option::of(prop::sample::select(ServiceTier::ALL.to_vec())),
            0usize..5,
        ),
    )
        .prop_map(
            |(
                (model, prompt, completion),
                (cached_pct, write_pct, reasoning_pct),
                (tool, estimated, cut_off),
                (id, latency_ns, total_delta),
                nanos,
                (one_hour_pct, service_tier, labels),
            )| {
                let share = |n: u64, pct: u64, of: u64| {
                    u64::try_from(u128::from(n) * u128::from(pct) / u128::from(of)).unwrap()
                };
                let cached = share(prompt, cached_pct, 200);
                let cache_write = share(prompt, write_pct, 200);
                let mut builder = UsageRecord::builder(model)
                    .timestamp(UNIX_EPOCH + Duration::from_nanos(nanos))
                    .prompt_tokens(prompt)
                    .completion_tokens(completion)
                    .cached_tokens(cached)
                    .cache_write_tokens(cache_write)
                    .cache_write_1h_tokens(share(cache_write, one_hour_pct, 100))
                    .reasoning_tokens(share(completion, reasoning_pct, 100))
                    .estimated(estimated)
                    .cut_off(cut_off);
                if let Some(tool) = tool {
                    builder = builder.tool_name(tool);
                }
                if let Some(tier) = service_tier {
                    builder = builder.service_tier(tier);
                }
                builder = builder.labels(label_pool()[labels].clone());
                if let Some(id) = id {
                    builder = builder.request_id(&id);
                }
                if let Some((whole, nanos)) = latency_ns {
                    // Sub-microsecond, wide (more than u32 microseconds) and Duration::MAX-like.
                    builder = builder.latency(Duration::new(whole % (u64::MAX / 2), nanos));
                }
                if let Some(delta) = total_delta {
                    builder = builder.provider_total_tokens(
                        prompt.saturating_add(completion).saturating_add(delta),
                    );
                }
                builder.build().unwrap()
            },
        )
}

/// Label sets shared by many records (as an agent's are), with values that need escaping.
fn label_pool() -> [Labels; 5] {
    [
        Labels::new(),
        Labels::new().user("alice"),
        Labels::new().user("bob").session("s;1"),
        Labels::new().session("s;1").tag("team", "100%").unwrap(),
        Labels::new()
            .user("alice")
            .tag("feature", "a,\"b\"")
            .unwrap(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn history_keeps_every_record_and_totals_are_its_sum(records in prop::collection::vec(record(), 0..300)) {
        let tracker = UsageTracker::new();
        for record in &records {
            tracker.record(record);
        }
        let history = tracker.history();
        prop_assert_eq!(history.to_vec(), records.clone());
        let folded: TokenUsage = records.iter().sum();
        prop_assert_eq!(tracker.summary().totals, folded);
        prop_assert_eq!(history.summary().totals, folded);
        prop_assert_eq!(history.usage(), folded);
        prop_assert_eq!(history.len(), records.len());
    }

    #[test]
    fn breakdowns_sum_to_the_totals(records in prop::collection::vec(record(), 0..200)) {
        let tracker = UsageTracker::new();
        for record in &records {
            tracker.record(record);
        }
        let totals = tracker.summary().totals;
        prop_assert_eq!(tracker.by_model().values().sum::<TokenUsage>(), totals);
        prop_assert_eq!(tracker.by_tool().values().sum::<TokenUsage>(), totals);
        let mut expected: BTreeMap<Arc<str>, TokenUsage> = BTreeMap::new();
        for record in &records {
            *expected.entry(record.model().into()).or_default() += TokenUsage::from(record);
        }
        prop_assert_eq!(tracker.by_model(), expected);
        for key in ["user", "session", "team", "feature", "absent"] {
            let mut expected: BTreeMap<Option<Arc<str>>, TokenUsage> = BTreeMap::new();
            for record in &records {
                *expected.entry(record.labels().get(key).map(Arc::from)).or_default() +=
                    TokenUsage::from(record);
            }
            prop_assert_eq!(tracker.by_label(key), expected.clone(), "tracker, {}", key);
            prop_assert_eq!(tracker.history().by_label(key), expected, "history, {}", key);
        }
        let buckets = tracker.history().usage_per_bucket(Duration::from_secs(3600));
        prop_assert_eq!(buckets.values().sum::<TokenUsage>(), totals);
    }

    #[test]
    fn retention_keeps_the_newest_and_totals_keep_everything(
        records in prop::collection::vec(record(), 0..300),
        limit in 0usize..50,
    ) {
        let tracker = UsageTracker::with_config(TrackerConfig::default().with_max_history_records(limit));
        for record in &records {
            tracker.record(record);
        }
        let kept = records.len().min(limit);
        let history = tracker.history();
        prop_assert_eq!(history.to_vec(), records[records.len() - kept..].to_vec());
        let summary = history.summary();
        prop_assert_eq!(summary.totals, records.iter().sum::<TokenUsage>());
        prop_assert_eq!(summary.retained_records, kept as u64);
        prop_assert_eq!(summary.dropped_records, (records.len() - kept) as u64);
    }

    #[test]
    #[cfg(feature = "serde")]
    fn jsonl_export_imports_back_to_the_same_records(records in prop::collection::vec(record(), 0..100)) {
        let tracker = UsageTracker::new();
        for record in &records {
            tracker.record(record);
        }
        let mut jsonl = Vec::new();
        tracker.history().write_jsonl(&mut jsonl).unwrap();
        let imported = UsageTracker::new();
        prop_assert_eq!(imported.import_jsonl(jsonl.as_slice(), "export.jsonl").unwrap(), records.len());
        // Every field, latency to the nanosecond and saturated totals included.
        prop_assert_eq!(imported.history().to_vec(), records);
        prop_assert_eq!(imported.summary().totals, tracker.summary().totals);
    }

    #[test]
    fn csv_has_a_header_and_one_row_per_record(records in prop::collection::vec(record(), 0..50)) {
        let tracker = UsageTracker::new();
        for record in &records {
            tracker.record(record);
        }
        let mut csv = Vec::new();
        tracker.history().write_csv(&mut csv).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        prop_assert!(csv.starts_with(mamba_usage::CSV_HEADER));
        // Quoted fields may hold line breaks; count records by their leading timestamp instead.
        let rows = csv.lines().skip(1).filter(|line| line.len() > 4 && line[..4].chars().all(|c| c.is_ascii_digit())).count();
        prop_assert_eq!(rows, records.len());
    }
}
