//! Price files: LiteLLM's `model_prices_and_context_window.json`, and our own TOML format.
//!
//! Both are parsed from text (this crate never reads files; `mamba-settings` does), into
//! [`ModelPrice`]s without ever passing through `f64`: JSON numbers are read as their text,
//! TOML prices are decimal strings. A strict load fails on the first bad entry, naming the model
//! key and field; a lenient load skips bad entries and reports them.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::value::RawValue;

use crate::{CostEstimator, ModelPrice, Price, PricingError, Tier};

/// What to do with an entry that is not a valid price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadMode {
    /// Fail on the first bad entry (the default).
    #[default]
    Strict,
    /// Skip bad entries, load the rest, and report what was skipped.
    Lenient,
}

/// The prices read from a file.
///
/// ```
/// use mamba_pricing::{LoadMode, parse_price_toml};
///
/// let file = parse_price_toml("[models.my-model]\ninput = \"1.00\"\noutput = \"2.00\"\n", "prices.toml", LoadMode::Strict)?;
/// assert_eq!(file.prices.len(), 1);
/// assert!(file.skipped.is_empty());
/// # Ok::<(), mamba_pricing::PricingError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PriceFile {
    /// Prices by model key.
    pub prices: BTreeMap<String, ModelPrice>,
    /// Models marked local (`local = true`, TOML only).
    pub local_models: Vec<String>,
    /// Entries skipped by a lenient load, with why.
    pub skipped: Vec<PricingError>,
    /// Entries that carry no per-token price (image, audio or per-request models, LiteLLM's
    /// `sample_spec`): not errors, just nothing to load.
    pub ignored: Vec<String>,
}

/// Reads LiteLLM's `model_prices_and_context_window.json` (USD per token) into prices per 1M.
///
/// Uses `input_cost_per_token`, `output_cost_per_token`, `cache_read_input_token_cost`,
/// `cache_creation_input_token_cost` and their `*_above_200k_tokens` variants (a tier above
/// 200,000 prompt tokens). Entries with neither an input nor an output token price are ignored;
/// an entry with an output price but no input price, or one that is not an object (`"bad": 5`),
/// is a bad entry (skipped and listed when lenient, an error naming it when strict). An entry
/// with only an input price (an embedding model) bills no output.
///
/// # Errors
/// [`PricingError::PriceFileSyntax`] for text that is not a JSON object of objects;
/// [`PricingError::PriceFileEntry`] naming the model key and field of a bad value (strict mode).
///
/// ```
/// use mamba_pricing::{LoadMode, parse_litellm_json};
/// use rust_decimal::Decimal;
///
/// let json = r#"{"gpt-4o": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
///                           "cache_read_input_token_cost": 1.25e-06}}"#;
/// let file = parse_litellm_json(json, "prices.json", LoadMode::Strict)?;
/// let price = &file.prices["gpt-4o"].base;
/// assert_eq!((price.input, price.output), (Decimal::new(25, 1), Decimal::new(10, 0)));
/// assert_eq!(price.cached_input, Some(Decimal::new(125, 2)));
/// # Ok::<(), mamba_pricing::PricingError>(())
/// ```
pub fn parse_litellm_json(
    text: &str,
    source_name: &str,
    mode: LoadMode,
) -> Result<PriceFile, PricingError> {
    let syntax = |reason| syntax_error(source_name, "LiteLLM JSON", reason);
    let entries: BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(text).map_err(|e| syntax(e.to_string()))?;
    let mut file = PriceFile::default();
    for (model, entry) in entries {
        // LiteLLM documents its schema in an entry of its own; it prices nothing.
        if model == "sample_spec" {
            file.ignored.push(model);
            continue;
        }
        let fields: BTreeMap<String, Box<RawValue>> = match serde_json::from_str(entry.get()) {
            Ok(fields) => fields,
            Err(_) => {
                let shown: String = entry.get().chars().take(40).collect();
                let error = entry_error(
                    source_name,
                    &model,
                    "(entry)",
                    format!("`{shown}` is not an object of fields"),
                );
                match mode {
                    LoadMode::Lenient => {
                        file.skipped.push(error);
                        continue;
                    }
                    LoadMode::Strict => return Err(error),
                }
            }
        };
        let per_token = |field: &str| -> Result<Option<Decimal>, PricingError> {
            let Some(raw) = fields.get(field) else {
                return Ok(None);
            };
            let text = raw.get();
            if text == "null" {
                return Ok(None);
            }
            let value = parse_json_number(text).ok_or_else(|| {
                entry_error(
                    source_name,
                    &model,
                    field,
                    format!("`{text}` is not a number"),
                )
            })?;
            if value.is_sign_negative() && !value.is_zero() {
                return Err(entry_error(
                    source_name,
                    &model,
                    field,
                    format!("{value} is negative"),
                ));
            }
            // USD per token -> per 1M tokens: exact in Decimal.
            value
                .checked_mul(Decimal::from(1_000_000))
                .map(|per_million| Some(per_million.normalize()))
                .ok_or_else(|| {
                    entry_error(source_name, &model, field, format!("{value} is too large"))
                })
        };
        let read = || -> Result<Option<ModelPrice>, PricingError> {
            let (input, output) = (
                per_token("input_cost_per_token")?,
                per_token("output_cost_per_token")?,
            );
            let input = match (input, output) {
                (None, None) => return Ok(None),
                (Some(input), _) => input,
                // An output price without an input price would make every prompt free.
                (None, Some(_)) => {
                    return Err(entry_error(
                        source_name,
                        &model,
                        "input_cost_per_token",
                        "missing: an entry with an output price needs an input price".to_owned(),
                    ));
                }
            };
            // Input-only entries (embeddings) bill no output.
            let mut base = Price::new(input, output.unwrap_or_default());
            base.cached_input = per_token("cache_read_input_token_cost")?;
            base.cache_write = per_token("cache_creation_input_token_cost")?;
            let above = (
                per_token("input_cost_per_token_above_200k_tokens")?,
                per_token("cache_read_input_token_cost_above_200k_tokens")?,
                per_token("cache_creation_input_token_cost_above_200k_tokens")?,
                per_token("output_cost_per_token_above_200k_tokens")?,
            );
            let mut price = ModelPrice::new(base, format!("{source_name} (LiteLLM format)"));
            if above.0.is_some() || above.1.is_some() || above.2.is_some() || above.3.is_some() {
                let tier = Price {
                    input: above.0.unwrap_or(base.input),
                    cached_input: above.1.or(base.cached_input),
                    cache_write: above.2.or(base.cache_write),
                    output: above.3.unwrap_or(base.output),
                };
                price = price.with_tier(Tier {
                    above_prompt_tokens: 200_000,
                    price: tier,
                });
            }
            Ok(Some(price))
        };
        match read() {
            Ok(Some(price)) => {
                file.prices.insert(model, price);
            }
            Ok(None) => file.ignored.push(model),
            Err(error) if mode == LoadMode::Lenient => file.skipped.push(error),
            Err(error) => return Err(error),
        }
    }
    Ok(file)
}

/// Reads our TOML price format: one `[models."name"]` table per model, prices in USD per 1M
/// tokens as decimal strings (`"2.50"`) or integers, so they stay exact:
///
/// ```toml
/// [models."gpt-4o"]
/// input = "2.50"
/// cached_input = "1.25"     # optional; default: the input price
/// cache_write = "3.75"      # optional; default: the input price
/// output = "10.00"
/// checked = "2026-11-23"    # optional
/// source = "our contract"   # optional
///
/// [models."gemini-2.5-pro".tier]   # optional: prices for prompts above a size
/// above_prompt_tokens = 200000
/// input = "2.50"
/// output = "15.00"
///
/// [models."smollm2"]
/// local = true              # a local model: free
/// ```
///
/// # Errors
/// [`PricingError::PriceFileSyntax`] for invalid TOML (with the line);
/// [`PricingError::PriceFileEntry`] naming the model and field of a bad value (strict mode).
///
/// ```
/// use mamba_pricing::{LoadMode, parse_price_toml};
///
/// let err = parse_price_toml("[models.m]\ninput = 2.5\noutput = \"1\"\n", "prices.toml", LoadMode::Strict).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "prices.toml: model `m`, field `input`: 2.5 is a float; write prices as decimal strings \
///      (\"2.50\") or integers so they stay exact"
/// );
/// ```
pub fn parse_price_toml(
    text: &str,
    source_name: &str,
    mode: LoadMode,
) -> Result<PriceFile, PricingError> {
    let syntax = |reason| syntax_error(source_name, "TOML", reason);
    let document: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| syntax(e.to_string().trim().to_owned()))?;
    let mut file = PriceFile::default();
    for (key, value) in &document {
        if key != "models" {
            let error = syntax(format!(
                "unknown top-level key `{key}`; expected only [models.\"name\"] tables"
            ));
            return Err(error);
        }
        let Some(models) = value.as_table() else {
            return Err(syntax(
                "`models` must be a table of [models.\"name\"] tables".to_owned(),
            ));
        };
        for (model, entry) in models {
            match read_toml_entry(source_name, model, entry) {
                Ok(TomlEntry::Price(price)) => {
                    file.prices.insert(model.clone(), *price);
                }
                Ok(TomlEntry::Local) => file.local_models.push(model.clone()),
                Err(error) if mode == LoadMode::Lenient => file.skipped.push(error),
                Err(error) => return Err(error),
            }
        }
    }
    Ok(file)
}

enum TomlEntry {
    Price(Box<ModelPrice>),
    Local,
}

fn read_toml_entry(
    source_name: &str,
    model: &str,
    entry: &toml::Value,
) -> Result<TomlEntry, PricingError> {
    let error = |field: &str, reason: String| entry_error(source_name, model, field, reason);
    let Some(table) = entry.as_table() else {
        return Err(error("", "must be a table".to_owned()));
    };
    const FIELDS: [&str; 8] = [
        "input",
        "cached_input",
        "cache_write",
        "output",
        "checked",
        "source",
        "tier",
        "local",
    ];
    if let Some(unknown) = table.keys().find(|key| !FIELDS.contains(&key.as_str())) {
        return Err(error(
            unknown,
            format!("unknown field; expected one of {}", FIELDS.join(", ")),
        ));
    }
    if table.get("local").and_then(toml::Value::as_bool) == Some(true) {
        return Ok(TomlEntry::Local);
    }
    let price = |table: &toml::Table, prefix: &str| -> Result<Price, PricingError> {
        let field = |name: &str| -> Result<Option<Decimal>, PricingError> {
            let full = format!("{prefix}{name}");
            table
                .get(name)
                .map(|value| toml_decimal(value).map_err(|reason| error(&full, reason)))
                .transpose()
        };
        let required = |name: &str| {
            field(name)?.ok_or_else(|| error(&format!("{prefix}{name}"), "is missing".to_owned()))
        };
        Ok(Price {
            input: required("input")?,
            cached_input: field("cached_input")?,
            cache_write: field("cache_write")?,
            output: required("output")?,
        })
    };
    let text = |name: &str| {
        table
            .get(name)
            .and_then(toml::Value::as_str)
            .map(str::to_owned)
    };
    let mut result = ModelPrice::new(
        price(table, "")?,
        text("source").unwrap_or_else(|| source_name.to_owned()),
    );
    result.checked = text("checked");
    if let Some(tier) = table.get("tier") {
        let Some(tier) = tier.as_table() else {
            return Err(error("tier", "must be a table".to_owned()));
        };
        let above = tier
            .get("above_prompt_tokens")
            .and_then(toml::Value::as_integer)
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| {
                error(
                    "tier.above_prompt_tokens",
                    "must be a non-negative integer".to_owned(),
                )
            })?;
        result = result.with_tier(Tier {
            above_prompt_tokens: above,
            price: price(tier, "tier.")?,
        });
    }
    result.validate(model).map_err(|e| match e {
        PricingError::NegativePrice { field, value, .. } => {
            error(field, format!("{value} is negative"))
        }
        other => other,
    })?;
    Ok(TomlEntry::Price(Box::new(result)))
}

/// A TOML price: a decimal string or an integer; floats are refused because they are inexact.
fn toml_decimal(value: &toml::Value) -> Result<Decimal, String> {
    match value {
        toml::Value::String(text) => text
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not a decimal number")),
        toml::Value::Integer(n) => Ok(Decimal::from(*n)),
        toml::Value::Float(f) => Err(format!(
            "{f} is a float; write prices as decimal strings (\"2.50\") or integers so they stay exact"
        )),
        other => Err(format!(
            "a {} is not a price; write a decimal string such as \"2.50\"",
            other.type_str()
        )),
    }
}

/// A JSON number's text as an exact decimal (`2.5e-06`, `0.000003`, `1`).
fn parse_json_number(text: &str) -> Option<Decimal> {
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).ok()
    } else {
        text.parse().ok()
    }
}

fn syntax_error(source_name: &str, format: &'static str, reason: String) -> PricingError {
    PricingError::PriceFileSyntax {
        source_name: source_name.to_owned(),
        format,
        reason,
    }
}

fn entry_error(source_name: &str, model: &str, field: &str, reason: String) -> PricingError {
    PricingError::PriceFileEntry {
        source_name: source_name.to_owned(),
        model: model.to_owned(),
        field: field.to_owned(),
        reason,
    }
}

impl CostEstimator {
    /// Adds every price (and local model) of `file`, over built-in and earlier prices.
    ///
    /// ```
    /// use mamba_pricing::{CostEstimator, LoadMode, parse_price_toml};
    /// use rust_decimal::Decimal;
    ///
    /// let file = parse_price_toml("[models.my-model]\ninput = \"1\"\noutput = \"2\"\n", "prices.toml", LoadMode::Strict)?;
    /// let mut estimator = CostEstimator::new();
    /// estimator.add_prices(&file)?;
    /// assert_eq!(estimator.estimate(1_000_000, 1_000_000, "my-model").total_cost, Decimal::new(3, 0));
    /// # Ok::<(), mamba_pricing::PricingError>(())
    /// ```
    ///
    /// # Errors
    /// [`PricingError::NegativePrice`] naming the model (prices from the parsers are already
    /// checked; this guards hand-built files).
    pub fn add_prices(&mut self, file: &PriceFile) -> Result<(), PricingError> {
        for (model, price) in &file.prices {
            self.set_price(model, price.clone())?;
        }
        for model in &file.local_models {
            self.mark_local(model);
        }
        Ok(())
    }
}
