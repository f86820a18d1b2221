//! With the `serde` feature, cost results serialize with every amount as exact decimal text,
//! and read back to the same value.

use mamba_pricing::{CostBreakdown, CostEstimator, HistoryCost};
use mamba_usage::UsageTracker;

#[test]
fn a_breakdown_serializes_its_amounts_as_exact_text_and_reads_back() {
    let cost = CostEstimator::new().estimate(1_000, 500, "gpt-4o");
    let json = serde_json::to_value(&cost).unwrap();
    assert_eq!(json["model"], "gpt-4o");
    assert_eq!(json["source"], "built_in");
    // The decimal as computed, scale included (1,000 x 2.50 / 1M + 500 x 10.00 / 1M).
    assert_eq!(json["total_cost"], "0.0075000");
    assert_eq!(json["prompt_cost"], "0.0025000");
    assert_eq!(json["unpriced_tokens"], 0);
    let back: CostBreakdown = serde_json::from_value(json).unwrap();
    assert_eq!(back, cost);
}

#[test]
fn a_history_cost_reads_back_to_the_same_value() {
    let tracker = UsageTracker::new();
    tracker.record_usage(1_000, 500, "gpt-4o");
    tracker.record_usage(2_000, 0, "gpt-4o-mini");
    tracker.record_usage(10, 10, "my-finetune");
    let cost = CostEstimator::new().estimate_history(&tracker.history());
    let text = serde_json::to_string(&cost).unwrap();
    let back: HistoryCost = serde_json::from_str(&text).unwrap();
    assert_eq!(back, cost);
    assert_eq!(back.unpriced_tokens, 20);
    assert!(text.contains("\"total_cost\":\"0.00780000\""), "{text}");
}
