//! Our own TOML price format: decimal strings per 1M tokens, so prices stay exact.

use rust_decimal::Decimal;

use super::{LoadMode, PriceFile, entry_error, syntax_error};
use crate::{ModelPrice, Price, PricingError, Tier};

/// Reads our TOML price format: one `[models."name"]` table per model, prices in USD per 1M
/// tokens as decimal strings (`"2.50"`) or integers, so they stay exact:
///
/// ```toml
/// [models."gpt-4o"]
/// input = "2.50"
/// cached_input = "1.25"     # optional; default: the input price
/// cache_write = "3.75"      # optional; default: the input price
/// cache_write_1h = "6.00"   # optional; one-hour cache writes; default: cache_write
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
    const FIELDS: [&str; 9] = [
        "input",
        "cached_input",
        "cache_write",
        "cache_write_1h",
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
            cache_write_1h: field("cache_write_1h")?,
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
            error(&field, format!("{value} is negative"))
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
