//! Adversarial inputs through the public API: legacy snapshots, user prices under every name of
//! a model, values out of range, malformed price files. Each case is data; each expected value
//! exact.

use mamba_pricing::{
    CostEstimator, LoadMode, ModelPrice, Price, PriceSource, PricingError, parse_litellm_json,
};
use rust_decimal::Decimal;

fn usd(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// 1M input tokens and 1M output tokens: input price + output price.
fn both(estimator: &CostEstimator, model: &str) -> Decimal {
    estimator.estimate(1_000_000, 1_000_000, model).total_cost
}

#[test]
fn dated_snapshots_keep_their_own_list_price_and_others_fall_back() {
    let estimator = CostEstimator::new();
    let cases = [
        ("gpt-4o-2024-05-13", "20"),        // 5 + 15, not gpt-4o's 2.50 + 10
        ("openai/GPT-4o-2024-05-13", "20"), // any spelling of it
        ("gpt-3.5-turbo-1106", "3"),        // 1 + 2
        ("gpt-3.5-turbo-0613", "3.5"),      // 1.50 + 2
        ("gpt-3.5-turbo-0301", "3.5"),
        ("gpt-4o-2024-08-06", "12.5"), // priced as gpt-4o
        ("gpt-4o-2024-11-20", "12.5"),
        ("gpt-3.5-turbo-0125", "2"), // priced as gpt-3.5-turbo: 0.50 + 1.50
        ("gpt-4o-mini-2024-07-18", "0.75"),
    ];
    for (model, cost) in cases {
        assert_eq!(both(&estimator, model), usd(cost), "{model}");
    }
}

#[test]
fn a_users_price_covers_every_name_of_the_model() {
    let mut estimator = CostEstimator::new();
    let price = ModelPrice::new(Price::new(Decimal::ONE, Decimal::new(5, 0)), "contract");
    estimator.set_price("claude-sonnet-4", price).unwrap();
    for name in [
        "claude-sonnet-4",
        "claude-sonnet-4-0",
        "claude-4-sonnet",
        "anthropic/Claude-Sonnet-4-20250514",
        "CLAUDE-SONNET-4",
    ] {
        let cost = estimator.estimate(1_000_000, 0, name);
        assert_eq!(
            (cost.total_cost, cost.source),
            (Decimal::ONE, PriceSource::Custom),
            "{name}"
        );
    }
    // The rate of the model says the same.
    assert_eq!(
        estimator.rate("claude-sonnet-4-0").unwrap().base.input,
        Decimal::ONE
    );

    let mut estimator = CostEstimator::new();
    estimator
        .set_price(
            "claude-3-5-sonnet",
            ModelPrice::new(Price::new(Decimal::TWO, Decimal::TWO), "x"),
        )
        .unwrap();
    assert_eq!(both(&estimator, "claude-3-5-sonnet-latest"), usd("4"));
    // The user's gpt-4o price covers its snapshots too, even one with a row of its own.
    estimator.set_rate("GPT-4o", Decimal::new(1, 3)).unwrap();
    for name in [
        "gpt-4o",
        "openai/gpt-4o",
        "gpt-4o-2024-08-06",
        "gpt-4o-2024-05-13",
    ] {
        assert_eq!(both(&estimator, name), usd("2"), "{name}");
    }
}

#[test]
fn custom_names_are_normalised_like_built_in_ones() {
    let mut estimator = CostEstimator::new();
    estimator.set_rate("My-Model", Decimal::new(2, 3)).unwrap();
    for name in [
        "my-model",
        "My-Model",
        " MY-MODEL ",
        "custom/my-model",
        "my-model-2025-01-01",
    ] {
        let cost = estimator.estimate(1_000, 0, name);
        assert_eq!(
            (cost.total_cost, cost.source),
            (usd("0.002"), PriceSource::Custom),
            "{name}"
        );
    }
    // A price for one provider's name stays that provider's.
    estimator
        .set_rate("azure/gpt-4o", Decimal::new(3, 3))
        .unwrap();
    assert_eq!(
        estimator.estimate(1_000, 0, "Azure/GPT-4o").total_cost,
        usd("0.003")
    );
    assert_eq!(
        estimator.estimate(1_000_000, 0, "gpt-4o").total_cost,
        usd("2.5")
    );
}

#[test]
fn values_out_of_range_are_errors_that_quote_them_never_panics() {
    let mut estimator = CostEstimator::new();
    let cases: [(Decimal, &str); 4] = [
        (
            usd("-0.001"),
            "price `rate` of `m` is -0.001: prices must not be negative",
        ),
        (
            Decimal::from_i128_with_scale(100_000_000_000_000_000_000_000_000, 0),
            "price `rate` of `m` is 100000000000000000000000000: at most 1000000 is accepted",
        ),
        (
            Decimal::MAX,
            "price `rate` of `m` is 79228162514264337593543950335: at most 1000000 is accepted",
        ),
        (
            usd("1000000.001"),
            "price `rate` of `m` is 1000000.001: at most 1000000 is accepted",
        ),
    ];
    for (rate, message) in cases {
        let error = estimator.set_rate("m", rate).unwrap_err();
        assert_eq!(error.to_string(), message);
        assert!(CostEstimator::with_rates([("m", rate)]).is_err());
    }
    assert!(
        estimator.set_rate("m", usd("1000000")).is_ok(),
        "the bound itself is accepted"
    );
    // The largest accepted price on the largest request stays exact and never panics.
    let cost = estimator.estimate(u64::MAX, u64::MAX, "m");
    assert_eq!(
        cost.total_cost,
        Decimal::from(u64::MAX) * Decimal::from(2_000)
    );
    let error = estimator
        .set_price(
            "p",
            ModelPrice::new(Price::new(Decimal::ONE, usd("1000000001")), "x"),
        )
        .unwrap_err();
    assert!(
        matches!(
            &error,
            PricingError::PriceOutOfRange { field, .. } if field == "output"
        ),
        "{error}"
    );
    assert_eq!(Price::blended_per_thousand(Decimal::MAX), None);
}

#[test]
fn bad_litellm_entries_are_named_skipped_when_lenient_and_errors_when_strict() {
    let json = r#"{
        "good": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
        "bad": 5,
        "list": [1, 2],
        "output-only": {"output_cost_per_token": 2e-06},
        "embedding": {"input_cost_per_token": 1e-07}
    }"#;
    let file = parse_litellm_json(json, "prices.json", LoadMode::Lenient).unwrap();
    assert_eq!(
        file.prices.keys().collect::<Vec<_>>(),
        ["embedding", "good"]
    );
    assert_eq!(file.prices["embedding"].base.output, Decimal::ZERO);
    let skipped: Vec<String> = file.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(
        skipped,
        [
            "prices.json: model `bad`, field `(entry)`: `5` is not an object of fields",
            "prices.json: model `list`, field `(entry)`: `[1, 2]` is not an object of fields",
            "prices.json: model `output-only`, field `input_cost_per_token`: missing: an entry \
             with an output price needs an input price",
        ]
    );
    let strict = parse_litellm_json(json, "prices.json", LoadMode::Strict).unwrap_err();
    assert_eq!(strict.to_string(), skipped[0]);
}
