//! Every built-in row, every matching rule, and every pricing rule, with exact Decimal values.

use mamba_pricing::{CostEstimator, ModelPrice, Price, PriceSource, PricingError, Tier};
use mamba_usage::UsageRecord;
use rust_decimal::Decimal;

/// Dollars per 1M from a string, so the expectations read like the providers' price pages.
fn usd(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// (model, input, cached input, cache write, output), restated from the providers' pages.
type Row = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    &'static str,
);

const TABLE: &[Row] = &[
    ("gpt-4o", "2.50", Some("1.25"), None, "10.00"),
    ("gpt-4o-mini", "0.15", Some("0.075"), None, "0.60"),
    ("gpt-4-turbo", "10.00", None, None, "30.00"),
    ("gpt-3.5-turbo", "0.50", None, None, "1.50"),
    (
        "claude-3-5-sonnet",
        "3.00",
        Some("0.30"),
        Some("3.75"),
        "15.00",
    ),
    (
        "claude-3-opus",
        "15.00",
        Some("1.50"),
        Some("18.75"),
        "75.00",
    ),
    ("gpt-4", "30.00", None, None, "60.00"),
    ("gpt-4.1", "2.00", Some("0.50"), None, "8.00"),
    ("gpt-4.1-mini", "0.40", Some("0.10"), None, "1.60"),
    ("gpt-4.1-nano", "0.10", Some("0.025"), None, "0.40"),
    ("o1", "15.00", Some("7.50"), None, "60.00"),
    ("o3", "2.00", Some("0.50"), None, "8.00"),
    ("o3-mini", "1.10", Some("0.55"), None, "4.40"),
    ("o4-mini", "1.10", Some("0.275"), None, "4.40"),
    ("gpt-5", "1.25", Some("0.125"), None, "10.00"),
    ("gpt-5-mini", "0.25", Some("0.025"), None, "2.00"),
    ("gpt-5-nano", "0.05", Some("0.005"), None, "0.40"),
    (
        "claude-sonnet-4-0",
        "3.00",
        Some("0.30"),
        Some("3.75"),
        "15.00",
    ),
    (
        "claude-opus-4-0",
        "15.00",
        Some("1.50"),
        Some("18.75"),
        "75.00",
    ),
    (
        "claude-3-5-haiku",
        "0.80",
        Some("0.08"),
        Some("1.00"),
        "4.00",
    ),
    ("gemini-2.5-pro", "1.25", Some("0.125"), None, "10.00"),
    ("gemini-2.5-flash", "0.30", Some("0.03"), None, "2.50"),
    // Dated snapshots whose list price differs from their undated model's.
    ("gpt-4o-2024-05-13", "5.00", None, None, "15.00"),
    ("gpt-3.5-turbo-1106", "1.00", None, None, "2.00"),
    ("gpt-3.5-turbo-0613", "1.50", None, None, "2.00"),
    ("gpt-3.5-turbo-0301", "1.50", None, None, "2.00"),
];

#[test]
fn every_built_in_row_has_its_published_price() {
    let estimator = CostEstimator::new();
    for &(model, input, cached, write, output) in TABLE {
        let price = estimator.rate(model).unwrap();
        assert_eq!(price.base.input, usd(input), "{model} input");
        assert_eq!(price.base.cached_input, cached.map(usd), "{model} cached");
        assert_eq!(
            price.base.cache_write,
            write.map(usd),
            "{model} cache write"
        );
        assert_eq!(price.base.output, usd(output), "{model} output");
        assert_eq!(price.checked.as_deref(), Some("2026-12-01"), "{model}");
        // Generated from the pinned sources; retired snapshots neither lists keep OpenAI's
        // legacy price list.
        assert!(
            price
                .source
                .contains("genai-prices 0.2.3 and litellm 1.110.2")
                || price.source.contains("legacy models"),
            "{model}: {}",
            price.source
        );
        // A thousand of each kind costs exactly a thousandth of the listed prices (below any tier).
        let cost = estimator.estimate(1_000, 1_000, model);
        assert_eq!(
            cost.total_cost,
            (usd(input) + usd(output)) / Decimal::ONE_THOUSAND,
            "{model}"
        );
        assert_eq!(cost.priced_as.as_deref(), Some(model));
    }
    // The generated table covers far more than these rows (see generated.rs's header).
    assert!(estimator.all_rates().len() > 1_000);
}

#[test]
fn every_name_gets_its_own_price_never_a_prefix_s() {
    let cases = [
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4.1", "gpt-4.1"),
        ("gpt-4.1-mini", "gpt-4.1-mini"),
        ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
        ("gpt-4-turbo", "gpt-4-turbo"),
        ("gpt-4-turbo-2024-04-09", "gpt-4-turbo"),
        ("gpt-4-turbo-preview", "gpt-4-turbo"),
        ("gpt-4-0613", "gpt-4"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("o3-mini", "o3-mini"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4-0"),
        ("claude-sonnet-4", "claude-sonnet-4-0"),
        ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),
        ("openai/gpt-4o", "gpt-4o"),
        ("OpenAI/GPT-4o-Mini", "gpt-4o-mini"),
        ("anthropic/claude-3-opus-20240229", "claude-3-opus"),
        ("openrouter/google/gemini-2.5-flash", "gemini-2.5-flash"),
    ];
    let estimator = CostEstimator::new();
    for (model, expected) in cases {
        let cost = estimator.estimate(1_000, 1_000, model);
        assert_eq!(cost.priced_as.as_deref(), Some(expected), "{model}");
        assert_eq!(cost.source, PriceSource::BuiltIn, "{model}");
        assert_eq!(
            estimator.rate(model).unwrap(),
            estimator.rate(expected).unwrap(),
            "{model}"
        );
    }
}

#[test]
fn look_alike_names_stay_unpriced_instead_of_borrowing_a_price() {
    let estimator = CostEstimator::new();
    for model in [
        "gpt-4o-mini-turbo",
        "gpt-4.1-turbo",
        "my-gpt-4o",
        "gpt-4o1",
        "gpt4o",
        "gpt-4-33k",
        "claude-3-5",
        "",
    ] {
        let cost = estimator.estimate(1_000, 500, model);
        assert_eq!(
            (cost.source, cost.unpriced_tokens, cost.total_cost),
            (PriceSource::Unpriced, 1_500, Decimal::ZERO),
            "{model:?}"
        );
        assert!(
            matches!(
                estimator.rate(model),
                Err(PricingError::UnknownModel { .. })
            ),
            "{model:?}"
        );
    }
    assert_eq!(
        estimator.estimate(1_000, 500, "my-model").to_string(),
        "unknown cost for my-model: 1500 tokens unpriced"
    );
}

#[test]
fn a_model_its_maker_gives_away_is_not_free_through_another_provider() {
    let estimator = CostEstimator::new();
    // Google serves gemma-4-31b-it at no charge; LiteLLM's table says so.
    let free = estimator.estimate(1_000, 500, "gemma-4-31b-it");
    assert_eq!(
        (free.source, free.priced_as.as_deref(), free.total_cost),
        (PriceSource::BuiltIn, Some("gemma-4-31b-it"), Decimal::ZERO)
    );
    // Under a reseller's prefix it is unpriced (a warning, the tokens counted as unpriced),
    // never a silent $0; a priced model still gets its price through any prefix.
    for model in [
        "openrouter/google/gemma-4-31b-it",
        "aihubmix/gemma-4-31b-it",
    ] {
        let cost = estimator.estimate(1_000, 500, model);
        assert_eq!(
            (cost.source, cost.unpriced_tokens, cost.priced_as),
            (PriceSource::Unpriced, 1_500, None),
            "{model}"
        );
        assert!(
            matches!(
                estimator.rate(model),
                Err(PricingError::UnknownModel { .. })
            ),
            "{model}"
        );
    }
    let paid = estimator.estimate(1_000_000, 0, "openrouter/google/gemini-2.5-flash");
    assert_eq!(paid.source, PriceSource::BuiltIn);
    assert!(paid.total_cost > Decimal::ZERO);
}

#[test]
fn default_rate_local_models_and_custom_prices_follow_the_documented_order() {
    let mut estimator =
        CostEstimator::with_rates([("default", usd("0.001")), ("my-custom-model", usd("0.002"))])
            .unwrap();
    // Custom rate: blended per 1K tokens, in and out alike.
    assert_eq!(
        estimator
            .estimate(1_000, 1_000, "my-custom-model")
            .total_cost,
        usd("0.004")
    );
    // Default rate for unknown models, reported as such.
    let fallback = estimator.estimate(1_000, 1_000, "mystery");
    assert_eq!(
        (fallback.total_cost, fallback.source),
        (usd("0.002"), PriceSource::Default)
    );
    // Built-ins are not replaced by the default.
    assert_eq!(
        estimator.estimate(1_000, 0, "gpt-4o").total_cost,
        usd("0.0025")
    );
    // Local prefixes and marked models are free...
    for model in [
        "ollama/llama3.1",
        "LOCAL/qwen",
        "lmstudio/phi-4",
        "vllm/mistral",
    ] {
        let cost = estimator.estimate(1_000, 1_000, model);
        assert_eq!(
            (cost.total_cost, cost.source, cost.unpriced_tokens),
            (Decimal::ZERO, PriceSource::Local, 0),
            "{model}"
        );
    }
    estimator.mark_local("smollm2");
    assert_eq!(
        estimator.estimate(5, 5, "smollm2").source,
        PriceSource::Local
    );
    // ...unless priced explicitly, which wins over everything.
    estimator
        .set_rate("ollama/llama3.1", usd("0.0005"))
        .unwrap();
    assert_eq!(
        estimator
            .estimate(1_000, 1_000, "ollama/llama3.1")
            .total_cost,
        usd("0.001")
    );
    estimator
        .set_price(
            "gpt-4o",
            ModelPrice::new(Price::new(usd("1"), usd("1")), "contract"),
        )
        .unwrap();
    let custom = estimator.estimate(1_000_000, 0, "gpt-4o-2024-08-06");
    assert_eq!(
        (custom.total_cost, custom.source),
        (usd("1"), PriceSource::Custom)
    );
}

#[test]
fn negative_prices_are_rejected_with_model_field_and_value() {
    let err = CostEstimator::with_rates([("cheap", usd("-0.001"))]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "price `rate` of `cheap` is -0.001: prices must not be negative",
        "the value as given, per 1K, and the field set_rate has"
    );
    let tiered = ModelPrice::new(Price::new(usd("1"), usd("1")), "x")
        .with_tier(Tier::new(10, Price::new(usd("1"), usd("-2"))));
    let err = CostEstimator::new()
        .set_price("tiered", tiered)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "price `tier.output` of `tiered` is -2: prices must not be negative"
    );
}

#[test]
fn cache_reads_and_writes_have_their_own_prices() {
    let record = UsageRecord::builder("claude-sonnet-4-20250514")
        .prompt_tokens_excluding_cache(100_000, 400_000, 500_000)
        .completion_tokens(10_000)
        .reasoning_tokens(4_000)
        .build()
        .unwrap();
    let cost = CostEstimator::new().estimate_record(&record);
    assert_eq!(cost.input_cost, usd("0.30")); // 100k x $3.00
    assert_eq!(cost.cached_input_cost, usd("0.12")); // 400k x $0.30
    assert_eq!(cost.cache_write_cost, usd("1.875")); // 500k x $3.75
    assert_eq!(cost.prompt_cost, usd("2.295"));
    assert_eq!(cost.completion_cost, usd("0.15")); // 10k x $15 (reasoning is part of it)
    assert_eq!(cost.total_cost, usd("2.445"));
    // No published cache price: cached tokens cost the input price.
    let turbo = UsageRecord::builder("gpt-4-turbo")
        .prompt_tokens(1_000_000)
        .cached_tokens(600_000)
        .build()
        .unwrap();
    assert_eq!(
        CostEstimator::new().estimate_record(&turbo).total_cost,
        usd("10")
    );
}

#[test]
fn tiers_apply_to_the_whole_request_and_per_request() {
    let estimator = CostEstimator::new();
    let at_limit = estimator.estimate(200_000, 1_000, "gemini-2.5-pro");
    assert_eq!(at_limit.total_cost, usd("0.25") + usd("0.01"));
    let above = estimator.estimate(200_001, 1_000, "gemini-2.5-pro");
    assert_eq!(above.total_cost, usd("0.5000025") + usd("0.015"));

    // Two requests of 150k each are priced at the base rate; their summed usage would not be.
    let tracker = mamba_usage::UsageTracker::new();
    tracker.record_usage(150_000, 0, "gemini-2.5-pro");
    tracker.record_usage(150_000, 0, "gemini-2.5-pro");
    let history_cost = estimator.estimate_history(&tracker.history());
    assert_eq!(history_cost.total_cost, usd("0.375"));
    assert_eq!(
        estimator
            .estimate_usage(&tracker.usage(), "gemini-2.5-pro")
            .total_cost,
        usd("0.75")
    );
}

#[test]
fn history_cost_keeps_models_apart_and_counts_unpriced_tokens() {
    let tracker = mamba_usage::UsageTracker::new();
    tracker.record_usage(1_000, 500, "gpt-4o");
    tracker.record_usage(2_000, 1_000, "gpt-4o");
    tracker.record_usage(1_000, 500, "mystery-model");
    let cost = CostEstimator::new().estimate_history(&tracker.history());
    assert_eq!(cost.by_model["gpt-4o"].total_cost, usd("0.0225"));
    assert_eq!(cost.by_model["mystery-model"].unpriced_tokens, 1_500);
    assert_eq!(
        (cost.total_cost, cost.unpriced_tokens),
        (usd("0.0225"), 1_500)
    );
    assert_eq!(
        cost.by_model["gpt-4o"].to_string(),
        "$0.0225 for gpt-4o (prompt $0.0075, completion $0.0150)"
    );
}
