//! Price files: LiteLLM JSON and our TOML, parsed exactly, strict and lenient.

use mamba_pricing::{
    CostEstimator, LoadMode, PriceSource, PricingError, parse_litellm_json, parse_price_toml,
};
use rust_decimal::Decimal;

const LITELLM: &str = include_str!("fixtures/litellm_sample.json");

fn usd(text: &str) -> Decimal {
    text.parse().unwrap()
}

#[test]
fn strict_litellm_load_names_the_bad_entry_and_field() {
    let err = parse_litellm_json(LITELLM, "litellm_sample.json", LoadMode::Strict).unwrap_err();
    assert_eq!(
        err.to_string(),
        "litellm_sample.json: model `broken-model`, field `input_cost_per_token`: `\"cheap\"` is not a number"
    );
}

#[test]
fn lenient_litellm_load_converts_per_token_floats_to_exact_per_million_prices() {
    let file = parse_litellm_json(LITELLM, "litellm_sample.json", LoadMode::Lenient).unwrap();
    assert_eq!(file.skipped.len(), 1);
    assert!(
        matches!(&file.skipped[0], PricingError::PriceFileEntry { model, .. } if model == "broken-model")
    );
    assert_eq!(file.ignored, ["dall-e-3", "sample_spec"]);
    // 1.5e-07 per token is exactly $0.15 per 1M: no 0.15000000000000002.
    let mini = &file.prices["gpt-4o-mini"].base;
    assert_eq!(
        (mini.input, mini.cached_input, mini.cache_write, mini.output),
        (usd("0.15"), Some(usd("0.075")), None, usd("0.6"))
    );
    assert_eq!(mini.input.to_string(), "0.15");
    let sonnet = &file.prices["claude-sonnet-4-20250514"].base;
    assert_eq!(
        (sonnet.cached_input, sonnet.cache_write),
        (Some(usd("0.30")), Some(usd("3.75")))
    );
    let gemini = &file.prices["gemini/gemini-2.5-pro"];
    let tier = gemini.tiers[0];
    assert_eq!(tier.above_prompt_tokens, 200_000);
    assert_eq!(
        (tier.price.input, tier.price.cached_input, tier.price.output),
        (usd("2.5"), Some(usd("0.25")), usd("15"))
    );
    assert!(!file.prices.contains_key("sample_spec"));
    assert_eq!(
        file.prices["text-embedding-3-small"].base.input,
        usd("0.02")
    );

    let mut estimator = CostEstimator::new();
    estimator.add_prices(&file).unwrap();
    let cost = estimator.estimate(250_000, 1_000, "gemini/gemini-2.5-pro");
    assert_eq!(
        (cost.total_cost, cost.source),
        (usd("0.625") + usd("0.015"), PriceSource::Custom)
    );
}

#[test]
fn invalid_json_is_a_syntax_error_with_its_position() {
    let err = parse_litellm_json(
        "{\"a\": {\"input_cost_per_token\": 1e-6,}}",
        "bad.json",
        LoadMode::Lenient,
    )
    .unwrap_err();
    assert!(matches!(err, PricingError::PriceFileSyntax { .. }));
    // The position of the stray comma's closing brace.
    assert_eq!(
        err.to_string(),
        "bad.json is not a valid LiteLLM JSON price file: key must be a string at line 1 column 37"
    );
}

const TOML: &str = r#"
[models."my-model"]
input = "1.10"
cached_input = "0.275"
output = "4.40"
checked = "2026-11-20"
source = "our contract"

[models."gemini-2.5-pro"]
input = "1.25"
output = 10

[models."gemini-2.5-pro".tier]
above_prompt_tokens = 200000
input = "2.50"
output = "15.00"

[models."smollm2"]
local = true
"#;

#[test]
fn toml_prices_load_exactly_with_tiers_and_local_models() {
    let file = parse_price_toml(TOML, "prices.toml", LoadMode::Strict).unwrap();
    let mine = &file.prices["my-model"];
    assert_eq!(
        (mine.base.input, mine.base.cached_input, mine.base.output),
        (usd("1.10"), Some(usd("0.275")), usd("4.40"))
    );
    assert_eq!(
        (mine.checked.as_deref(), mine.source.as_str()),
        (Some("2026-11-20"), "our contract")
    );
    assert_eq!(
        file.prices["gemini-2.5-pro"].tiers[0].price.output,
        usd("15")
    );
    assert_eq!(file.local_models, ["smollm2"]);

    let mut estimator = CostEstimator::new();
    estimator.add_prices(&file).unwrap();
    assert_eq!(
        estimator.estimate(1_000_000, 0, "my-model").total_cost,
        usd("1.10")
    );
    assert_eq!(
        estimator.estimate(1_000, 1_000, "smollm2").source,
        PriceSource::Local
    );
}

#[test]
fn bad_toml_entries_name_file_model_and_field() {
    let cases = [
        (
            "[models.m]\ninput = \"1\"\n",
            "prices.toml: model `m`, field `output`: is missing",
        ),
        (
            "[models.m]\ninput = \"-1\"\noutput = \"1\"\n",
            "prices.toml: model `m`, field `input`: -1 is negative",
        ),
        (
            "[models.m]\ninput = \"one\"\noutput = \"1\"\n",
            "prices.toml: model `m`, field `input`: `one` is not a decimal number",
        ),
        (
            "[models.m]\ninput = \"1\"\noutput = \"1\"\nouput = \"2\"\n",
            "prices.toml: model `m`, field `ouput`: unknown field; expected one of input, cached_input, cache_write, cache_write_1h, output, checked, source, tier, local",
        ),
        (
            "[models.m]\ninput = \"1\"\noutput = \"1\"\n[models.m.tier]\ninput = \"2\"\noutput = \"2\"\n",
            "prices.toml: model `m`, field `tier.above_prompt_tokens`: must be a non-negative integer",
        ),
        (
            "[models.m]\ninput = true\noutput = \"1\"\n",
            "prices.toml: model `m`, field `input`: a boolean is not a price; write a decimal string such as \"2.50\"",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(
            parse_price_toml(text, "prices.toml", LoadMode::Strict)
                .unwrap_err()
                .to_string(),
            expected
        );
        // Lenient: the bad entry is reported, the good one loads.
        let with_good = format!("{text}\n[models.good]\ninput = \"1\"\noutput = \"2\"\n");
        let file = parse_price_toml(&with_good, "prices.toml", LoadMode::Lenient).unwrap();
        assert_eq!((file.prices.len(), file.skipped.len()), (1, 1), "{text}");
    }
    let syntax = parse_price_toml("[models.m\n", "prices.toml", LoadMode::Lenient).unwrap_err();
    assert!(
        syntax
            .to_string()
            .starts_with("prices.toml is not a valid TOML price file: TOML parse error at line 1"),
        "{syntax}"
    );
    let top = parse_price_toml(
        "[prices.m]\ninput = \"1\"\n",
        "prices.toml",
        LoadMode::Lenient,
    )
    .unwrap_err();
    assert!(top.to_string().contains("unknown top-level key `prices`"));
}
