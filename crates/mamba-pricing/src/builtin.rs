//! The built-in price table, embedded (no I/O).
//!
//! Every row is USD per 1M tokens as the provider publishes it, checked on the date given
//! against a second public source: the price data shipped in the PyPI package `litellm` 1.109.1
//! (`model_prices_and_context_window_backup.json`). The seed's rows (gpt-4o, gpt-4o-mini,
//! gpt-4-turbo, gpt-3.5-turbo, claude-3-5-sonnet, claude-3-opus, local models) are included
//! unchanged, now with their cache prices.

use rust_decimal::Decimal;

use crate::{ModelPrice, Price, Tier};

const CHECKED: &str = "2026-11-23";

/// `(name, input, cached input, cache write, output)`, in cents-of-a-dollar-per-1M with 3
/// implied decimals: `d(2_500)` is $2.50.
fn row(
    input: i64,
    cached: Option<i64>,
    write: Option<i64>,
    output: i64,
    source: &str,
) -> ModelPrice {
    let d = |milli_dollars: i64| Decimal::new(milli_dollars, 3);
    let mut price = Price::new(d(input), d(output));
    price.cached_input = cached.map(d);
    price.cache_write = write.map(d);
    ModelPrice {
        base: price,
        tier: None,
        checked: Some(CHECKED.to_owned()),
        source: source.to_owned(),
    }
}

/// The built-in table: `(model, price)`.
pub(crate) fn table() -> Vec<(&'static str, ModelPrice)> {
    const OPENAI: &str = "OpenAI API pricing; litellm 1.109.1";
    const ANTHROPIC: &str = "Anthropic API pricing; litellm 1.109.1";
    const GOOGLE: &str = "Gemini API pricing; litellm 1.109.1";
    // Retired snapshots litellm no longer lists: OpenAI's published legacy prices.
    const LEGACY: &str = "OpenAI API pricing (legacy models)";
    let gemini_pro = row(1_250, Some(125), None, 10_000, GOOGLE).with_tier(Tier {
        above_prompt_tokens: 200_000,
        price: Price::new(Decimal::new(2_500, 3), Decimal::new(15_000, 3))
            .with_cached_input(Decimal::new(250, 3)),
    });
    vec![
        // The seed's rows.
        ("gpt-4o", row(2_500, Some(1_250), None, 10_000, OPENAI)),
        ("gpt-4o-mini", row(150, Some(75), None, 600, OPENAI)),
        ("gpt-4-turbo", row(10_000, None, None, 30_000, OPENAI)),
        ("gpt-3.5-turbo", row(500, None, None, 1_500, OPENAI)),
        (
            "claude-3-5-sonnet",
            row(3_000, Some(300), Some(3_750), 15_000, ANTHROPIC),
        ),
        (
            "claude-3-opus",
            row(15_000, Some(1_500), Some(18_750), 75_000, ANTHROPIC),
        ),
        // Current models.
        ("gpt-4", row(30_000, None, None, 60_000, OPENAI)),
        ("gpt-4.1", row(2_000, Some(500), None, 8_000, OPENAI)),
        ("gpt-4.1-mini", row(400, Some(100), None, 1_600, OPENAI)),
        ("gpt-4.1-nano", row(100, Some(25), None, 400, OPENAI)),
        ("o1", row(15_000, Some(7_500), None, 60_000, OPENAI)),
        ("o3", row(2_000, Some(500), None, 8_000, OPENAI)),
        ("o3-mini", row(1_100, Some(550), None, 4_400, OPENAI)),
        ("o4-mini", row(1_100, Some(275), None, 4_400, OPENAI)),
        ("gpt-5", row(1_250, Some(125), None, 10_000, OPENAI)),
        ("gpt-5-mini", row(250, Some(25), None, 2_000, OPENAI)),
        ("gpt-5-nano", row(50, Some(5), None, 400, OPENAI)),
        (
            "claude-sonnet-4",
            row(3_000, Some(300), Some(3_750), 15_000, ANTHROPIC),
        ),
        (
            "claude-opus-4",
            row(15_000, Some(1_500), Some(18_750), 75_000, ANTHROPIC),
        ),
        (
            "claude-3-5-haiku",
            row(800, Some(80), Some(1_000), 4_000, ANTHROPIC),
        ),
        ("gemini-2.5-pro", gemini_pro),
        ("gemini-2.5-flash", row(300, Some(30), None, 2_500, GOOGLE)),
        // Dated snapshots whose list price differs from their undated model's: a dated name
        // falls back to the undated model only when it has no row of its own.
        ("gpt-4o-2024-05-13", row(5_000, None, None, 15_000, OPENAI)),
        ("gpt-3.5-turbo-1106", row(1_000, None, None, 2_000, OPENAI)),
        ("gpt-3.5-turbo-0613", row(1_500, None, None, 2_000, LEGACY)),
        ("gpt-3.5-turbo-0301", row(1_500, None, None, 2_000, LEGACY)),
    ]
}

/// Explicit aliases: other names providers use for a table entry. Never inferred.
pub(crate) const ALIASES: &[(&str, &str)] = &[
    ("gpt-4-turbo-preview", "gpt-4-turbo"),
    ("gpt-4-1106-preview", "gpt-4-turbo"),
    ("gpt-4-0125-preview", "gpt-4-turbo"),
    ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
    ("claude-3-opus-latest", "claude-3-opus"),
    ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
    ("claude-sonnet-4-0", "claude-sonnet-4"),
    ("claude-4-sonnet", "claude-sonnet-4"),
    ("claude-opus-4-0", "claude-opus-4"),
    ("claude-4-opus", "claude-opus-4"),
];

/// Name prefixes that mark a model as running locally, priced $0 unless priced explicitly.
pub(crate) const LOCAL_PREFIXES: &[&str] =
    &["local/", "ollama/", "lmstudio/", "llamacpp/", "vllm/"];
