//! LiteLLM's `model_prices_and_context_window.json` (USD per token), read into prices per 1M.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::value::RawValue;

use mamba_usage::ServiceTier;

use super::{LoadMode, PriceFile, entry_error, syntax_error};
use crate::{ContextWindow, ModelPrice, Price, PricingError, Tier, TieredPrice};

/// Reads LiteLLM's `model_prices_and_context_window.json` (USD per token) into prices per 1M.
///
/// Reads every per-token price LiteLLM writes for text: `input_cost_per_token`,
/// `cache_read_input_token_cost`, `cache_creation_input_token_cost` (five-minute writes),
/// `cache_creation_input_token_cost_above_1hr` (one-hour writes) and `output_cost_per_token`;
/// each with any `_above_<N>k_tokens` tier (a price for requests whose prompt is above
/// N x 1,000 tokens, the threshold itself priced below it) and any `_flex`, `_priority` or
/// `_batches` service-tier variant; and `max_input_tokens` / `max_output_tokens`. A tier or
/// service tier that leaves a price out takes it from the prices below it (the service tier's
/// base, then the standard price at that tier, then the standard base).
///
/// A price field it does not understand (`output_cost_per_reasoning_token`,
/// `input_cost_per_token_ultrafast`, audio and image prices) is never dropped silently: it is
/// listed in [`PriceFile::unread`]. Entries with neither an input nor an output token price are
/// ignored; an entry with an output price but no input price, or one that is not an object
/// (`"bad": 5`), is a bad entry (skipped and listed when lenient, an error naming it when
/// strict). An entry with only an input price (an embedding model) bills no output.
///
/// # Errors
/// [`PricingError::PriceFileSyntax`] for text that is not a JSON object of objects;
/// [`PricingError::PriceFileEntry`] naming the model key and field of a bad value (strict mode).
///
/// ```
/// use mamba_pricing::{LoadMode, parse_litellm_json};
/// use mamba_usage::ServiceTier;
/// use rust_decimal::Decimal;
///
/// let json = r#"{"gpt-5.5": {"input_cost_per_token": 5e-06, "output_cost_per_token": 3e-05,
///     "cache_read_input_token_cost": 5e-07, "input_cost_per_token_above_272k_tokens": 1e-05,
///     "output_cost_per_token_above_272k_tokens": 4.5e-05, "input_cost_per_token_flex": 2.5e-06,
///     "output_cost_per_token_flex": 1.5e-05, "max_output_tokens": 128000,
///     "output_cost_per_reasoning_token": 3e-05}}"#;
/// let file = parse_litellm_json(json, "prices.json", LoadMode::Strict)?;
/// let price = &file.prices["gpt-5.5"];
/// assert_eq!((price.base.input, price.base.output), (Decimal::new(5, 0), Decimal::new(30, 0)));
/// assert_eq!(price.tiers[0].above_prompt_tokens, 272_000);
/// assert_eq!(price.tiers[0].price.cached_input, Some(Decimal::new(5, 1)));
/// assert_eq!(price.service_tiers[&ServiceTier::Flex].base.input, Decimal::new(25, 1));
/// assert_eq!(price.context_window.unwrap().max_output_tokens, Some(128_000));
/// assert_eq!(file.unread, [("gpt-5.5".to_owned(), "output_cost_per_reasoning_token".to_owned())]);
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
        match read_litellm_entry(source_name, &model, &fields) {
            Ok((price, unread)) => {
                match price {
                    Some(price) => {
                        file.prices.insert(model.clone(), price);
                    }
                    None => file.ignored.push(model.clone()),
                }
                file.unread
                    .extend(unread.into_iter().map(|field| (model.clone(), field)));
            }
            Err(error) if mode == LoadMode::Lenient => file.skipped.push(error),
            Err(error) => return Err(error),
        }
    }
    Ok(file)
}

/// A per-token price component of a LiteLLM field name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Component {
    Input,
    CachedInput,
    CacheWrite,
    CacheWrite1h,
    Output,
}

/// The five components of one price, in [`Component`] order.
type Components = [Option<Decimal>; 5];

/// What a LiteLLM price field prices: a component, a tier threshold, a service tier.
type FieldKey = (Component, Option<u64>, Option<ServiceTier>);

/// Reads `input_cost_per_token_above_272k_tokens_flex` as (input, above 272,000, flex).
fn litellm_price_field(name: &str) -> Option<FieldKey> {
    let services = [
        ("_flex", ServiceTier::Flex),
        ("_priority", ServiceTier::Priority),
        ("_batches", ServiceTier::Batch),
    ];
    let (rest, service) = services
        .iter()
        .find_map(|(suffix, tier)| Some((name.strip_suffix(suffix)?, Some(*tier))))
        .unwrap_or((name, None));
    let (rest, threshold) = match rest
        .strip_suffix("k_tokens")
        .and_then(|r| r.rsplit_once("_above_"))
    {
        Some((head, thousands))
            if !thousands.is_empty() && thousands.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (
                head,
                Some(thousands.parse::<u64>().ok()?.checked_mul(1_000)?),
            )
        }
        _ => (rest, None),
    };
    let component = match rest {
        "input_cost_per_token" => Component::Input,
        "cache_read_input_token_cost" => Component::CachedInput,
        "cache_creation_input_token_cost" => Component::CacheWrite,
        "cache_creation_input_token_cost_above_1hr" => Component::CacheWrite1h,
        "output_cost_per_token" => Component::Output,
        _ => return None,
    };
    Some((component, threshold, service))
}

/// One LiteLLM entry: its price (`None`: it prices no tokens) and the price fields it has that
/// this reader does not understand.
fn read_litellm_entry(
    source_name: &str,
    model: &str,
    fields: &BTreeMap<String, Box<RawValue>>,
) -> Result<(Option<ModelPrice>, Vec<String>), PricingError> {
    let error = |field: &str, reason: String| entry_error(source_name, model, field, reason);
    // (service tier, tier threshold) -> the five components, in `Component` order.
    let mut values: BTreeMap<(Option<ServiceTier>, Option<u64>), Components> = BTreeMap::new();
    let mut unread = Vec::new();
    for (name, raw) in fields {
        let text = raw.get();
        let Some((component, threshold, service)) = litellm_price_field(name) else {
            // Every other field that names a cost is a price this reader cannot apply.
            if name.contains("cost") && text != "null" {
                unread.push(name.clone());
            }
            continue;
        };
        if text == "null" {
            continue;
        }
        let value = parse_json_number(text)
            .ok_or_else(|| error(name, format!("`{text}` is not a number")))?;
        if value.is_sign_negative() && !value.is_zero() {
            return Err(error(name, format!("{value} is negative")));
        }
        // USD per token -> per 1M tokens: exact in Decimal.
        let per_million = value
            .checked_mul(Decimal::from(1_000_000))
            .filter(|per_million| *per_million <= Price::MAX_PER_MILLION)
            .ok_or_else(|| error(name, format!("{value} per token is too large")))?
            .normalize();
        values.entry((service, threshold)).or_default()[component as usize] = Some(per_million);
    }
    let standard = values.get(&(None, None)).copied().unwrap_or_default();
    let input = match (
        standard[Component::Input as usize],
        standard[Component::Output as usize],
    ) {
        (None, None) => return Ok((None, unread)),
        (Some(input), _) => input,
        // An output price without an input price would make every prompt free.
        (None, Some(_)) => {
            return Err(error(
                "input_cost_per_token",
                "missing: an entry with an output price needs an input price".to_owned(),
            ));
        }
    };
    // Input-only entries (embeddings) bill no output.
    let fallback = Price {
        input,
        cached_input: standard[Component::CachedInput as usize],
        cache_write: standard[Component::CacheWrite as usize],
        cache_write_1h: standard[Component::CacheWrite1h as usize],
        output: standard[Component::Output as usize].unwrap_or_default(),
    };
    let overlay = |below: &Price, given: &Components| Price {
        input: given[Component::Input as usize].unwrap_or(below.input),
        cached_input: given[Component::CachedInput as usize].or(below.cached_input),
        cache_write: given[Component::CacheWrite as usize].or(below.cache_write),
        cache_write_1h: given[Component::CacheWrite1h as usize].or(below.cache_write_1h),
        output: given[Component::Output as usize].unwrap_or(below.output),
    };
    let mut price = ModelPrice::new(fallback, format!("{source_name} (LiteLLM format)"));
    for ((service, threshold), given) in &values {
        match (service, threshold) {
            (None, None) => {}
            (None, Some(above)) => {
                price = price.with_tier(Tier {
                    above_prompt_tokens: *above,
                    price: overlay(&fallback, given),
                });
            }
            (Some(service), None) => {
                let priced = price
                    .service_tiers
                    .entry(*service)
                    .or_insert_with(|| TieredPrice::new(fallback));
                priced.base = overlay(&fallback, given);
            }
            (Some(_), Some(_)) => {}
        }
    }
    // Service-tier long-context tiers last, over their service tier's base (then the standard
    // price at the same threshold).
    for ((service, threshold), given) in &values {
        if let (Some(service), Some(above)) = (service, threshold) {
            let standard_tier = *price.price_for(above.saturating_add(1));
            let priced = price
                .service_tiers
                .entry(*service)
                .or_insert_with(|| TieredPrice::new(fallback));
            let service_base = priced.base;
            let below = Price {
                input: service_base.input,
                cached_input: service_base.cached_input.or(standard_tier.cached_input),
                cache_write: service_base.cache_write.or(standard_tier.cache_write),
                cache_write_1h: service_base.cache_write_1h.or(standard_tier.cache_write_1h),
                output: service_base.output,
            };
            crate::price::insert_tier(
                &mut priced.tiers,
                Tier {
                    above_prompt_tokens: *above,
                    price: overlay(&below, given),
                },
            );
        }
    }
    let window = |name: &str| {
        fields
            .get(name)
            .and_then(|raw| raw.get().parse::<u64>().ok())
    };
    let context = ContextWindow {
        max_input_tokens: window("max_input_tokens"),
        max_output_tokens: window("max_output_tokens"),
    };
    if context != ContextWindow::default() {
        price.context_window = Some(context);
    }
    Ok((Some(price), unread))
}

/// A JSON number's text as an exact decimal (`2.5e-06`, `0.000003`, `1`).
fn parse_json_number(text: &str) -> Option<Decimal> {
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).ok()
    } else {
        text.parse().ok()
    }
}
