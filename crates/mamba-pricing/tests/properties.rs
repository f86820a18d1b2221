//! For prices without tiers cost is linear: the cost of summed usage equals the sum of the
//! costs. With tiers it is not, and history pricing must then equal the sum of per-request costs.

use mamba_pricing::CostEstimator;
use mamba_usage::{TokenUsage, UsageRecord, UsageTracker};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn request() -> impl Strategy<Value = (u64, u64, u64, u64)> {
    (0u64..3_000_000, 0u64..=100, 0u64..=100, 0u64..500_000).prop_map(
        |(prompt, cached_pct, write_pct, completion)| {
            let cached = prompt * cached_pct / 200;
            let write = prompt * write_pct / 200;
            (prompt, cached, write, completion)
        },
    )
}

fn record(model: &str, (prompt, cached, write, completion): (u64, u64, u64, u64)) -> UsageRecord {
    UsageRecord::builder(model)
        .prompt_tokens(prompt)
        .cached_tokens(cached)
        .cache_write_tokens(write)
        .completion_tokens(completion)
        .build()
        .unwrap()
}

proptest! {
    #[test]
    fn linear_prices_cost_the_same_summed_or_apart(
        requests in prop::collection::vec(request(), 1..30),
        model in prop::sample::select(vec!["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "o4-mini", "gpt-5-nano"]),
    ) {
        let estimator = CostEstimator::new();
        let records: Vec<UsageRecord> = requests.into_iter().map(|r| record(model, r)).collect();
        let apart: Decimal = records.iter().map(|r| estimator.estimate_record(r).total_cost).sum();
        let summed: TokenUsage = records.iter().sum();
        prop_assert_eq!(estimator.estimate_usage(&summed, model).total_cost, apart);
    }

    #[test]
    fn history_cost_is_the_sum_of_per_request_costs_even_with_tiers(
        requests in prop::collection::vec((request(), prop::sample::select(vec!["gemini-2.5-pro", "gpt-4o", "unknown-x"])), 0..30),
    ) {
        let estimator = CostEstimator::new();
        let tracker = UsageTracker::new();
        let mut expected = Decimal::ZERO;
        let mut unpriced = 0;
        for (tokens, model) in requests {
            let record = record(model, tokens);
            let cost = estimator.estimate_record(&record);
            expected += cost.total_cost;
            unpriced += cost.unpriced_tokens;
            tracker.record(&record);
        }
        let history = estimator.estimate_history(&tracker.history());
        // Kept up to date request by request, the running cost equals the recomputed one.
        let mut running = mamba_pricing::HistoryCost::default();
        for record in &tracker.history() {
            running.add(&estimator.estimate_record(&record));
        }
        prop_assert_eq!(&running, &history);
        prop_assert_eq!(history.total_cost, expected);
        prop_assert_eq!(history.unpriced_tokens, unpriced);
        let by_model: Decimal = history.by_model.values().map(|c| c.total_cost).sum();
        prop_assert_eq!(by_model, expected);
    }
}
