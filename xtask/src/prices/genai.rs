//! genai-prices' data (as `genai_prices.py` writes it to JSON) turned into price periods.

use std::collections::BTreeSet;
use std::str::FromStr;

use anyhow::{Context, Result, anyhow};
use mamba_pricing::{ModelPrice, Price, PriceDate, Tier, TieredPrice};
use mamba_usage::ServiceTier;
use rust_decimal::Decimal;
use serde_json::Value;

/// One model of one provider: its names and its price periods, oldest first.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub(crate) provider: String,
    pub(crate) id: String,
    /// Other exact names of the model (`ClauseEquals` in its match), lowercase.
    pub(crate) aliases: Vec<String>,
    pub(crate) periods: Vec<ModelPrice>,
    pub(crate) context_window: Option<u64>,
    /// What the data holds that our price model does not (price kinds, time-of-day prices).
    pub(crate) unread: Vec<String>,
}

/// A price component and its long-context tiers: `(base, [(above, price)])`.
#[derive(Debug, Clone, PartialEq)]
struct Tiered {
    base: Decimal,
    tiers: Vec<(u64, Decimal)>,
}

impl Tiered {
    /// The price of a request whose prompt is just above `threshold` (tiers apply when the
    /// prompt is strictly above their start).
    fn above(&self, threshold: u64) -> Decimal {
        self.tiers
            .iter()
            .rev()
            .find(|(start, _)| *start <= threshold)
            .map_or(self.base, |(_, price)| *price)
    }
}

/// Input, cache read, cache write (5 minutes), cache write (1 hour), output.
type Components = [Option<Tiered>; 5];

const COMPONENT_KEYS: [&str; 5] = [
    "input_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "cache_write_1h_mtok",
    "output_mtok",
];

/// The models of the providers named in `providers`, from the converted data.
pub(crate) fn models(data: &Value, providers: &[&str]) -> Result<Vec<Model>> {
    let mut models = Vec::new();
    let list = data["providers"]
        .as_array()
        .ok_or_else(|| anyhow!("genai-prices data has no provider list"))?;
    for provider in list {
        let provider_id = provider["id"].as_str().unwrap_or_default();
        if !providers.contains(&provider_id) {
            continue;
        }
        for model in provider["models"].as_array().into_iter().flatten() {
            let id = model["id"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let read = read_model(provider_id, &id, model)
                .with_context(|| format!("genai-prices model {provider_id}/{id}"))?;
            models.extend(read);
        }
    }
    Ok(models)
}

fn read_model(provider: &str, id: &str, model: &Value) -> Result<Option<Model>> {
    let mut unread = Vec::new();
    let mut aliases = Vec::new();
    equals_names(&model["match"], &mut aliases);
    aliases.retain(|name| name != id);
    aliases.sort();
    aliases.dedup();
    let mut base_periods: Vec<(Option<PriceDate>, Components)> = Vec::new();
    match &model["prices"] {
        Value::Array(conditional) => {
            for entry in conditional {
                let constraint = &entry["constraint"];
                let since = match constraint["_type"].as_str() {
                    None => None,
                    Some("StartDateConstraint") => Some(date(&constraint["start_date"])?),
                    Some(other) => {
                        unread.push(format!("a {other} price"));
                        continue;
                    }
                };
                base_periods.push((since, components(&entry["prices"], &mut unread)?));
            }
        }
        prices => base_periods.push((None, components(prices, &mut unread)?)),
    }
    let mut variants: Vec<(ServiceTier, Option<PriceDate>, Components)> = Vec::new();
    for variant in model["price_variants"].as_array().into_iter().flatten() {
        let when = &variant["when"];
        let tier = match (when["service_tier"].as_str(), when["processing"].as_str()) {
            (Some("default"), None) => continue,
            (Some("flex"), None) => ServiceTier::Flex,
            (Some("priority"), None) => ServiceTier::Priority,
            (None, Some("batch")) => ServiceTier::Batch,
            _ => {
                unread.push(format!("the variant {when}"));
                continue;
            }
        };
        let constraint = &variant["constraint"];
        let since = match constraint["_type"].as_str() {
            None => None,
            Some("StartDateConstraint") => Some(date(&constraint["start_date"])?),
            Some(other) => {
                unread.push(format!("a {other} {} price", tier.name()));
                continue;
            }
        };
        variants.push((tier, since, components(&variant["prices"], &mut unread)?));
    }
    let dates: BTreeSet<Option<PriceDate>> = base_periods
        .iter()
        .map(|(since, _)| *since)
        .chain(variants.iter().map(|(_, since, _)| *since))
        .collect();
    let mut periods: Vec<ModelPrice> = Vec::new();
    for day in dates {
        let Some((_, standard)) = base_periods.iter().rev().find(|(since, _)| *since <= day) else {
            continue;
        };
        let Some((base, tiers)) = price_and_tiers(standard) else {
            continue;
        };
        let mut price = ModelPrice::new(base, "");
        price.tiers = tiers;
        for tier in ServiceTier::ALL {
            let Some((_, _, partial)) = variants
                .iter()
                .rev()
                .find(|(t, since, _)| *t == tier && *since <= day)
            else {
                continue;
            };
            let merged: Components =
                std::array::from_fn(|i| partial[i].clone().or_else(|| standard[i].clone()));
            if let Some((base, tiers)) = price_and_tiers(&merged) {
                price.service_tiers.insert(
                    tier,
                    tiers
                        .into_iter()
                        .fold(TieredPrice::new(base), TieredPrice::with_tier),
                );
            }
        }
        price.since = day;
        let same_as_last = periods.last().is_some_and(|last| {
            (&last.base, &last.tiers, &last.service_tiers)
                == (&price.base, &price.tiers, &price.service_tiers)
        });
        if !same_as_last {
            periods.push(price);
        }
    }
    if periods.is_empty() {
        return Ok(None);
    }
    // The oldest period is in force since before any record.
    periods[0].since = None;
    Ok(Some(Model {
        provider: provider.to_owned(),
        id: id.to_owned(),
        aliases,
        periods,
        context_window: model["context_window"].as_u64(),
        unread,
    }))
}

/// Every `ClauseEquals` name under a match clause, lowercase.
fn equals_names(clause: &Value, names: &mut Vec<String>) {
    match clause["_type"].as_str() {
        Some("ClauseEquals") => {
            if let Some(name) = clause["equals"].as_str() {
                names.push(name.to_ascii_lowercase());
            }
        }
        Some("ClauseOr") => {
            for inner in clause["or_"].as_array().into_iter().flatten() {
                equals_names(inner, names);
            }
        }
        _ => {}
    }
}

fn date(value: &Value) -> Result<PriceDate> {
    let text = value.as_str().unwrap_or_default();
    PriceDate::from_str(text).map_err(|e| anyhow!(e))
}

fn decimal(value: &Value) -> Result<Decimal> {
    let text = value["_decimal"]
        .as_str()
        .ok_or_else(|| anyhow!("{value} is not a decimal"))?;
    Decimal::from_str(text).with_context(|| format!("`{text}` is not a decimal"))
}

fn components(prices: &Value, unread: &mut Vec<String>) -> Result<Components> {
    let mut components: Components = Default::default();
    for (key, value) in prices.as_object().into_iter().flatten() {
        if key.starts_with('_') || value.is_null() {
            continue;
        }
        let Some(index) = COMPONENT_KEYS.iter().position(|k| k == key) else {
            unread.push(key.clone());
            continue;
        };
        components[index] = Some(if value["_type"] == "TieredPrices" {
            let mut tiers = Vec::new();
            for tier in value["tiers"].as_array().into_iter().flatten() {
                let start = tier["start"]
                    .as_u64()
                    .ok_or_else(|| anyhow!("tier start {} is not a whole number", tier["start"]))?;
                tiers.push((start, decimal(&tier["price"])?));
            }
            tiers.sort_by_key(|(start, _)| *start);
            Tiered {
                base: decimal(&value["base"])?,
                tiers,
            }
        } else {
            Tiered {
                base: decimal(value)?,
                tiers: Vec::new(),
            }
        });
    }
    Ok(components)
}

/// Per-component tiers as whole-request tiers: one tier at every threshold any component has.
/// `None` when there is no input price.
fn price_and_tiers(components: &Components) -> Option<(Price, Vec<Tier>)> {
    let input = components[0].as_ref()?;
    let at = |index: usize, threshold: Option<u64>| {
        components[index]
            .as_ref()
            .map(|c| threshold.map_or(c.base, |t| c.above(t)))
    };
    let price = |threshold: Option<u64>| {
        let mut price = Price::new(
            threshold.map_or(input.base, |t| input.above(t)),
            at(4, threshold).unwrap_or_default(),
        );
        price.cached_input = at(1, threshold);
        price.cache_write = at(2, threshold);
        price.cache_write_1h = at(3, threshold);
        price
    };
    let thresholds: BTreeSet<u64> = components
        .iter()
        .flatten()
        .flat_map(|c| c.tiers.iter().map(|(start, _)| *start))
        .collect();
    let tiers = thresholds
        .into_iter()
        .map(|above| Tier::new(above, price(Some(above))))
        .collect();
    Some((price(None), tiers))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The built-in rows genai-prices prices equal what this conversion makes of a committed
    /// extract of the source (`fixtures/genai_extract.json`): periods, start days, tiers and
    /// service tiers.
    #[test]
    fn built_in_rows_equal_the_committed_extract_of_genai_prices() {
        let data: Value =
            serde_json::from_str(include_str!("fixtures/genai_extract.json")).unwrap();
        let providers: Vec<&str> = super::super::merge::PROVIDERS
            .iter()
            .map(|(id, _, _)| *id)
            .collect();
        let models = models(&data, &providers).unwrap();
        assert_eq!(models.len(), 8);
        let estimator = mamba_pricing::CostEstimator::new();
        for model in &models {
            let built_in = estimator.price_history(&model.id);
            assert_eq!(built_in.len(), model.periods.len(), "{}", model.id);
            for (ours, theirs) in built_in.iter().zip(&model.periods) {
                assert_eq!(ours.since, theirs.since, "{}", model.id);
                assert_eq!(ours.base, theirs.base, "{}", model.id);
                assert_eq!(ours.tiers, theirs.tiers, "{}", model.id);
                assert_eq!(ours.service_tiers, theirs.service_tiers, "{}", model.id);
            }
        }
    }

    fn d(text: &str) -> Value {
        serde_json::json!({ "_decimal": text })
    }

    #[test]
    fn history_variants_and_component_tiers_become_periods() {
        let data = serde_json::json!({"providers": [{"id": "openai", "models": [{
            "id": "O3",
            "match": {"_type": "ClauseOr", "or_": [
                {"_type": "ClauseEquals", "equals": "o3"},
                {"_type": "ClauseEquals", "equals": "o3-2025-04-16"},
                {"_type": "ClauseRegex", "regex": "^o3-.*$"}]},
            "context_window": 200000,
            "prices": [
                {"_type": "ConditionalPrice", "prices": {"input_mtok": d("10"), "output_mtok": d("40"), "web_searches_kcount": d("10")}},
                {"_type": "ConditionalPrice", "constraint": {"_type": "StartDateConstraint", "start_date": "2025-06-10"},
                 "prices": {"input_mtok": {"_type": "TieredPrices", "base": d("2"), "tiers": [{"start": 200000, "price": d("4")}]},
                            "cache_read_mtok": d("0.5"), "output_mtok": d("8")}},
                {"_type": "ConditionalPrice", "constraint": {"_type": "TimeOfDateConstraint"}, "prices": {"input_mtok": d("1")}}
            ],
            "price_variants": [
                {"when": {"service_tier": "flex"}, "prices": {"input_mtok": d("1")},
                 "constraint": {"_type": "StartDateConstraint", "start_date": "2026-10-12"}},
                {"when": {"service_tier": "fast"}, "prices": {"input_mtok": d("9")}}
            ]
        }]}, {"id": "elsewhere", "models": []}]});
        let models = models(&data, &["openai"]).unwrap();
        assert_eq!(models.len(), 1);
        let o3 = &models[0];
        assert_eq!(o3.id, "o3");
        assert_eq!(o3.aliases, ["o3-2025-04-16"]);
        assert_eq!(o3.context_window, Some(200_000));
        assert_eq!(o3.periods.len(), 3);
        let dec = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(o3.periods[0].since, None);
        assert_eq!(o3.periods[0].base, Price::new(dec("10"), dec("40")));
        assert_eq!(o3.periods[1].since.unwrap().to_string(), "2025-06-10");
        assert_eq!(o3.periods[1].base.cached_input, Some(dec("0.5")));
        assert_eq!(o3.periods[1].tiers[0].above_prompt_tokens, 200_000);
        assert_eq!(o3.periods[1].tiers[0].price.input, dec("4"));
        // Components without tiers keep their price above the threshold.
        assert_eq!(o3.periods[1].tiers[0].price.output, dec("8"));
        let flex = &o3.periods[2].service_tiers[&ServiceTier::Flex];
        assert_eq!(o3.periods[2].since.unwrap().to_string(), "2026-10-12");
        assert_eq!(flex.base.input, dec("1"));
        // A partial variant takes what it leaves out from the standard price; what it gives
        // replaces the standard component with its tiers, so this flex input is flat.
        assert_eq!(flex.base.output, dec("8"));
        assert_eq!(flex.base.cached_input, Some(dec("0.5")));
        assert!(flex.tiers.is_empty());
        assert!(o3.periods[1].service_tiers.is_empty());
        assert_eq!(
            o3.unread,
            [
                "web_searches_kcount".to_owned(),
                "a TimeOfDateConstraint price".to_owned(),
                "the variant {\"service_tier\":\"fast\"}".to_owned()
            ]
        );
    }
}
