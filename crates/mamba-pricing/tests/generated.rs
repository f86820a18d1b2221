//! The generated table against its sources and the price model case by case: a committed
//! extract of LiteLLM's data must give exactly the built-in rows LiteLLM prices, and every tier
//! boundary, cache lifetime, service tier and price period is priced to the exact `Decimal`.

use std::time::Duration;

use mamba_pricing::{CostEstimator, LoadMode, PriceDate, parse_litellm_json};
use mamba_usage::{ServiceTier, UsageRecord};
use rust_decimal::Decimal;

const EXTRACT: &str = include_str!("fixtures/litellm_extract.json");

fn usd(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// Rows LiteLLM prices (reseller keys as they are, a provider's own keys without the prefix)
/// equal what mamba-pricing's reader makes of the same entries.
#[test]
fn litellm_rows_equal_the_committed_extract_of_the_source() {
    let file = parse_litellm_json(EXTRACT, "extract", LoadMode::Strict).unwrap();
    assert!(file.skipped.is_empty());
    let estimator = CostEstimator::new();
    let own_prefixes = ["deepseek/", "gemini/", "mistral/"];
    assert_eq!(file.prices.len(), 9);
    for (key, expected) in &file.prices {
        let name = own_prefixes
            .iter()
            .find_map(|prefix| key.strip_prefix(prefix))
            .unwrap_or(key);
        let built_in = estimator.rate(name).unwrap();
        assert_eq!(built_in.base, expected.base, "{key}");
        assert_eq!(built_in.tiers, expected.tiers, "{key}");
        assert_eq!(built_in.service_tiers, expected.service_tiers, "{key}");
        assert_eq!(built_in.context_window, expected.context_window, "{key}");
        assert!(
            built_in.source.contains("LiteLLM"),
            "{key}: {}",
            built_in.source
        );
    }
}

/// `(model, prompt, cache write, of which 1h, completion, service tier, expected USD)`.
type Case = (
    &'static str,
    u64,
    u64,
    u64,
    u64,
    Option<ServiceTier>,
    &'static str,
);

#[test]
fn tiers_cache_lifetimes_and_service_tiers_are_priced_exactly() {
    let cases: &[Case] = &[
        // A threshold is priced below its tier; one token more prices the whole request above.
        ("gpt-5.5", 272_000, 0, 0, 0, None, "1.36"),
        ("gpt-5.5", 272_001, 0, 0, 0, None, "2.72001"),
        ("gpt-5.5", 272_001, 0, 0, 1_000, None, "2.76501"),
        ("gemini-3.1-pro-preview", 200_000, 0, 0, 0, None, "0.4"),
        (
            "gemini-3.1-pro-preview",
            200_001,
            0,
            0,
            1_000,
            None,
            "0.818004",
        ),
        // xAI bills 200,000 tokens and up at the higher rate: genai-prices' tier is >199,999.
        ("grok-4.7", 199_999, 0, 0, 0, None, "0.399998"),
        ("grok-4.7", 200_000, 0, 0, 0, None, "0.8"),
        // Five-minute writes at 1.25x input, one-hour writes at 2x.
        (
            "claude-sonnet-4-6",
            1_000_000,
            1_000_000,
            0,
            0,
            None,
            "3.75",
        ),
        (
            "claude-sonnet-4-6",
            1_000_000,
            1_000_000,
            1_000_000,
            0,
            None,
            "6",
        ),
        (
            "claude-sonnet-4-6",
            1_000_000,
            1_000_000,
            250_000,
            0,
            None,
            "4.3125",
        ),
        (
            "claude-haiku-4-5",
            1_000_000,
            1_000_000,
            1_000_000,
            0,
            None,
            "2",
        ),
        (
            "claude-opus-4-5",
            2_000_000,
            1_000_000,
            1_000_000,
            0,
            None,
            "15",
        ),
        // Service tiers: flex, priority and batch prices; a tier without prices is standard.
        ("gpt-5", 1_000_000, 0, 0, 1_000_000, None, "11.25"),
        (
            "gpt-5",
            1_000_000,
            0,
            0,
            1_000_000,
            Some(ServiceTier::Standard),
            "11.25",
        ),
        (
            "gpt-5",
            1_000_000,
            0,
            0,
            1_000_000,
            Some(ServiceTier::Flex),
            "5.625",
        ),
        (
            "gpt-5",
            1_000_000,
            0,
            0,
            1_000_000,
            Some(ServiceTier::Priority),
            "22.5",
        ),
        (
            "gpt-5",
            1_000_000,
            0,
            0,
            1_000_000,
            Some(ServiceTier::Batch),
            "5.625",
        ),
        (
            "gpt-5.5",
            1_000_000,
            0,
            0,
            0,
            Some(ServiceTier::Priority),
            "12.5",
        ),
        (
            "claude-3-opus",
            1_000_000,
            0,
            0,
            0,
            Some(ServiceTier::Flex),
            "15",
        ),
        (
            "claude-sonnet-4-6",
            1_000_000,
            0,
            0,
            0,
            Some(ServiceTier::Batch),
            "1.5",
        ),
    ];
    let estimator = CostEstimator::new();
    for &(model, prompt, write, write_1h, completion, tier, expected) in cases {
        let mut builder = UsageRecord::builder(model)
            .prompt_tokens(prompt)
            .cache_write_tokens(write)
            .cache_write_1h_tokens(write_1h)
            .completion_tokens(completion);
        if let Some(tier) = tier {
            builder = builder.service_tier(tier);
        }
        let cost = estimator.estimate_record(&builder.build().unwrap());
        assert_eq!(
            cost.total_cost.normalize(),
            usd(expected),
            "{model} {prompt} {write}/{write_1h} {completion} {tier:?}"
        );
    }
}

#[test]
fn each_record_is_priced_at_the_price_in_force_on_its_day() {
    let estimator = CostEstimator::new();
    let at = |day: &str, seconds: u64| {
        day.parse::<PriceDate>().unwrap().start() + Duration::from_secs(seconds)
    };
    // (model, when, service tier, 1M input tokens cost)
    let cases = [
        ("o3", at("2025-06-09", 86_399), None, "10"),
        ("o3", at("2025-06-10", 0), None, "2"),
        ("o3", at("2026-10-11", 0), Some(ServiceTier::Priority), "2"),
        (
            "o3",
            at("2026-10-12", 0),
            Some(ServiceTier::Priority),
            "3.5",
        ),
        ("o3", at("2026-10-13", 0), Some(ServiceTier::Batch), "2"),
        ("o3", at("2026-10-14", 0), Some(ServiceTier::Batch), "1"),
    ];
    for (model, when, tier, expected) in cases {
        let mut builder = UsageRecord::builder(model)
            .prompt_tokens(1_000_000)
            .timestamp(when);
        if let Some(tier) = tier {
            builder = builder.service_tier(tier);
        }
        let cost = estimator.estimate_record(&builder.build().unwrap());
        assert_eq!(
            cost.total_cost.normalize(),
            usd(expected),
            "{model} {tier:?}"
        );
        assert_eq!(
            estimator
                .rate_at(model, when)
                .unwrap()
                .price_for_request(1_000_000, tier)
                .input,
            usd(expected)
        );
    }
}

#[test]
fn context_windows_come_with_the_prices() {
    let estimator = CostEstimator::new();
    let cases = [
        ("gpt-5.5", Some(1_050_000), Some(128_000)),
        ("claude-sonnet-4-6", Some(1_000_000), Some(128_000)),
        ("gemini-3.1-pro-preview", Some(1_048_576), Some(65_536)),
    ];
    for (model, input, output) in cases {
        let window = estimator.context_window(model).unwrap();
        assert_eq!(
            (window.max_input_tokens, window.max_output_tokens),
            (input, output),
            "{model}"
        );
    }
    assert_eq!(estimator.context_window("my-finetune"), None);
}

#[test]
fn the_models_people_run_today_are_priced() {
    let estimator = CostEstimator::new();
    for model in [
        "gpt-5.5",
        "claude-sonnet-4-6",
        "claude-haiku-4-5",
        "gemini-3.1-pro-preview",
        "xai/grok-4.7",
        "kimi-k3",
        "openai/gpt-5.5",
        "anthropic/claude-sonnet-4-6",
        "azure/gpt-5.5",
    ] {
        let cost = estimator.estimate(1_000, 500, model);
        assert!(
            cost.is_fully_priced() && !cost.total_cost.is_zero(),
            "{model}"
        );
    }
}
