//! Exact behaviour at the edges: validation messages, wide values, CSV quoting, import errors,
//! reset, and time buckets.

use std::time::{Duration, UNIX_EPOCH};

use mamba_usage::{TokenUsage, UsageError, UsageRecord, UsageTracker};

#[test]
fn builder_rejects_subsets_larger_than_their_totals() {
    let reasoning = UsageRecord::builder("o3")
        .completion_tokens(5)
        .reasoning_tokens(6)
        .build();
    assert_eq!(
        reasoning.unwrap_err().to_string(),
        "reasoning_tokens 6 exceed completion_tokens 5: reasoning is part of the completion"
    );
    let overflow = UsageRecord::builder("m")
        .prompt_tokens(10)
        .cached_tokens(u64::MAX)
        .cache_write_tokens(1)
        .build();
    assert!(matches!(
        overflow,
        Err(UsageError::SubsetExceedsTotal { total: 10, .. })
    ));
    let one_hour = UsageRecord::builder("claude-sonnet-4-6")
        .prompt_tokens(100)
        .cache_write_tokens(10)
        .cache_write_1h_tokens(11)
        .build();
    assert_eq!(
        one_hour.unwrap_err().to_string(),
        "cache_write_1h_tokens 11 exceed cache_write_tokens 10: one-hour cache writes are part \
         of the cache writes"
    );
    let early = UsageRecord::builder("m")
        .timestamp(UNIX_EPOCH - Duration::from_secs(1))
        .build();
    assert!(matches!(early, Err(UsageError::TimestampOutOfRange { .. })));
}

#[test]
fn seed_form_records_huge_counts_exactly() {
    let tracker = UsageTracker::new();
    tracker.record_usage(u64::from(u32::MAX) + 1, 7, "gpt-4o");
    let record = tracker.history().last().unwrap();
    assert_eq!(
        (record.prompt_tokens(), record.completion_tokens()),
        (u64::from(u32::MAX) + 1, 7)
    );
    assert_eq!(
        tracker.summary().totals.total_tokens,
        u64::from(u32::MAX) + 8
    );
}

#[test]
fn totals_saturate_instead_of_wrapping() {
    let tracker = UsageTracker::new();
    tracker.record_usage(u64::MAX, 0, "m");
    tracker.record_usage(u64::MAX, 0, "m");
    let totals = tracker.summary().totals;
    assert_eq!(
        (
            totals.prompt_tokens,
            totals.total_tokens,
            totals.request_count
        ),
        (u64::MAX, u64::MAX, 2)
    );
}

#[test]
fn csv_quotes_fields_that_need_it() {
    let tracker = UsageTracker::new();
    let record = UsageRecord::builder("org/model,v\"2\"")
        .timestamp(UNIX_EPOCH + Duration::from_nanos(1_764_000_000_123_456_789))
        .prompt_tokens(100)
        .completion_tokens(50)
        .cached_tokens(40)
        .tool_name("look\nup")
        .latency(Duration::from_millis(1_250))
        .provider_total_tokens(151)
        .estimated(true)
        .build()
        .unwrap();
    tracker.record(&record);
    let mut csv = Vec::new();
    tracker.history().write_csv(&mut csv).unwrap();
    assert_eq!(
        String::from_utf8(csv).unwrap(),
        format!(
            "{}\n2025-11-24T16:00:00.123456789Z,\"org/model,v\"\"2\"\"\",100,50,150,40,0,0,\"look\nup\",true,,1250000000,151,false,0,,\n",
            mamba_usage::CSV_HEADER
        )
    );
}

#[test]
#[cfg(feature = "serde")]
fn import_names_the_bad_line_and_keeps_earlier_records() {
    let good = r#"{"timestamp":"2026-11-23T22:10:03.5Z","model":"gpt-4o","prompt_tokens":100,"completion_tokens":50,"total_tokens":150}"#;
    let cases = [
        (
            r#"{"timestamp":"yesterday","model":"m","prompt_tokens":1,"completion_tokens":1,"total_tokens":2}"#,
            "timestamp `yesterday` is not RFC 3339 UTC",
        ),
        (
            r#"{"timestamp":"2026-11-23T22:10:03Z","model":"m","prompt_tokens":1,"completion_tokens":1,"total_tokens":3}"#,
            "total_tokens 3 is not prompt_tokens 1 + completion_tokens 1",
        ),
        (
            r#"{"timestamp":"2026-11-23T22:10:03Z","model":"m","prompt_tokens":1,"completion_tokens":1,"total_tokens":2,"cached_tokens":2}"#,
            "cached_tokens 2 + cache_write_tokens 0 exceed prompt_tokens 1",
        ),
        (
            r#"{"timestamp":"2026-11-23T22:10:03Z","model":"m","prompt_tokens":1,"completion_tokens":1,"total_tokens":2,"cost":0.1}"#,
            "unknown field `cost`",
        ),
        ("not json", "expected ident"),
    ];
    for (bad, reason) in cases {
        let tracker = UsageTracker::new();
        let data = format!("{good}\n\n{bad}\n{good}\n");
        let err = tracker
            .import_jsonl(data.as_bytes(), "usage.jsonl")
            .unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, UsageError::Import { line: 3, .. }),
            "{message}"
        );
        assert!(
            message.starts_with("line 3 of usage.jsonl: ") && message.contains(reason),
            "{message}"
        );
        assert_eq!(
            tracker.summary().totals.total_tokens,
            150,
            "line 1 stays recorded"
        );
    }
}

#[test]
fn reset_forgets_records_totals_and_breakdowns() {
    let tracker = UsageTracker::new();
    tracker.record_usage(100, 50, "gpt-4o");
    let before = tracker.history();
    tracker.reset();
    assert_eq!(tracker.summary().totals, TokenUsage::ZERO);
    assert!(
        tracker.history().is_empty()
            && tracker.by_model().is_empty()
            && tracker.by_tool().is_empty()
    );
    // A snapshot taken before the reset is unaffected.
    assert_eq!(before.len(), 1);
    tracker.record_usage(1, 1, "gpt-4o");
    assert_eq!(tracker.by_model()["gpt-4o"].total_tokens, 2);
}

#[test]
fn minute_buckets_start_on_the_minute() {
    let tracker = UsageTracker::new();
    let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
    for (secs, tokens) in [(120, 1), (150, 2), (179, 3), (180, 4), (3_600, 5)] {
        tracker.record(
            &UsageRecord::builder("m")
                .timestamp(at(secs))
                .prompt_tokens(tokens)
                .build()
                .unwrap(),
        );
    }
    let buckets: Vec<(u64, u64)> = tracker
        .history()
        .usage_per_bucket(Duration::from_secs(60))
        .into_iter()
        .map(|(start, usage)| {
            (
                start.duration_since(UNIX_EPOCH).unwrap().as_secs(),
                usage.prompt_tokens,
            )
        })
        .collect();
    assert_eq!(buckets, [(120, 6), (180, 4), (3_600, 5)]);
    assert_eq!(tracker.usage_between(at(150), at(180)).prompt_tokens, 5);
}

#[cfg(feature = "serde")]
#[test]
fn jsonl_export_imports_back_exactly_at_the_edges() {
    let cases = [
        // A latency the agent measures with `Instant`: nanoseconds, not whole microseconds.
        UsageRecord::builder("gpt-4o")
            .prompt_tokens(10)
            .completion_tokens(5)
            .latency(Duration::from_nanos(850_123_457))
            .build()
            .unwrap(),
        // A saturated total (u64::MAX + 1 saturates) and the longest latency.
        UsageRecord::builder("gpt-4o")
            .prompt_tokens(u64::MAX)
            .completion_tokens(1)
            .latency(Duration::MAX)
            .cut_off(true)
            .build()
            .unwrap(),
    ];
    let tracker = mamba_usage::UsageTracker::new();
    for record in &cases {
        tracker.record(record);
    }
    let mut jsonl = Vec::new();
    tracker.history().write_jsonl(&mut jsonl).unwrap();
    let imported = mamba_usage::UsageTracker::new();
    assert_eq!(
        imported
            .import_jsonl(jsonl.as_slice(), "edges.jsonl")
            .unwrap(),
        2
    );
    assert_eq!(imported.history().to_vec(), cases);
    assert_eq!(
        imported.history().to_vec()[0].latency(),
        Some(Duration::from_nanos(850_123_457))
    );
    // Files written before latency_ns still import (microseconds).
    let old = r#"{"timestamp":"2026-11-23T22:10:03Z","model":"gpt-4o","prompt_tokens":1,"completion_tokens":1,"total_tokens":2,"latency_us":1500}"#;
    let tracker = mamba_usage::UsageTracker::new();
    tracker.import_jsonl(old.as_bytes(), "old.jsonl").unwrap();
    assert_eq!(
        tracker.history().to_vec()[0].latency(),
        Some(Duration::from_micros(1_500))
    );
}

#[test]
fn csv_writes_labels_as_sorted_escaped_pairs() {
    let tracker = UsageTracker::new();
    let labels = mamba_usage::Labels::new()
        .user("a,b")
        .session("s;1")
        .tag("team", "100%")
        .unwrap();
    let record = UsageRecord::builder("gpt-4o")
        .timestamp(UNIX_EPOCH + Duration::from_secs(1_764_000_000))
        .prompt_tokens(3)
        .labels(labels)
        .build()
        .unwrap();
    tracker.record(&record);
    let mut csv = Vec::new();
    tracker.history().write_csv(&mut csv).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    let row = csv.lines().nth(1).unwrap();
    assert_eq!(
        row,
        "2025-11-24T16:00:00.000000000Z,gpt-4o,3,0,3,0,0,0,,false,,,,false,0,,\"session=s%3B1;team=100%25;user=a,b\""
    );
    let field = row.rsplit_once(",\"").unwrap().1.trim_end_matches('"');
    assert_eq!(mamba_usage::Labels::parse(field).unwrap(), *record.labels());
}

#[test]
#[cfg(feature = "serde")]
fn a_bad_label_in_an_import_names_the_line_and_the_key() {
    let line = r#"{"timestamp":"2025-11-24T16:00:00Z","model":"gpt-4o","prompt_tokens":1,"completion_tokens":0,"total_tokens":1,"labels":{"cost center":"x"}}"#;
    let error = UsageTracker::new()
        .import_jsonl(format!("{line}\n").as_bytes(), "usage.jsonl")
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 1 of usage.jsonl: label key `cost center` is not 1 to 64 ASCII letters, digits, `_`, `-` or `.`"
    );
}
