//! The precedence rule: which source prices which name, and what the sources disagree on.
//!
//! 1. A provider's own model names (`gpt-5.5`, `claude-sonnet-4-6`, `grok-4.7`) take
//!    genai-prices' price for that provider: it keeps price history, service tiers and
//!    per-component tiers. Providers are taken in [`PROVIDERS`] order, so a name a later
//!    provider also lists (Vertex's `claude-*` under `google`) keeps the model owner's price.
//! 2. A name only LiteLLM lists for the provider's own API takes LiteLLM's price, under the
//!    name without its LiteLLM prefix (`xai/grok-4.7` -> `grok-4.7`; matching strips prefixes,
//!    so `xai/grok-4.7` still finds it).
//! 3. Reseller names (`azure/`, `azure_ai/`, `bedrock/`, Bedrock model ids, `vertex_ai/`,
//!    `groq/`, `together_ai/`) take LiteLLM's price under LiteLLM's own key: resellers bill their
//!    own prices.
//!
//! Where both sources price a provider's own model, they are compared (standard prices and
//! tiers in force today) and every difference is listed; the rule above decides, never
//! silently.

use std::collections::BTreeMap;

use mamba_pricing::{ModelPrice, PriceFile};
use serde_json::Value;

use super::genai::Model;

/// genai-prices providers taken, in precedence order, with the LiteLLM providers and key
/// prefixes of the same API.
pub(crate) const PROVIDERS: &[(&str, &[&str], &str)] = &[
    ("openai", &["openai"], "openai/"),
    ("anthropic", &["anthropic"], "anthropic/"),
    (
        "google",
        &["gemini", "vertex_ai-language-models"],
        "gemini/",
    ),
    ("x-ai", &["xai"], "xai/"),
    ("deepseek", &["deepseek"], "deepseek/"),
    ("mistral", &["mistral"], "mistral/"),
    ("moonshotai", &["moonshot"], "moonshot/"),
    ("zai", &["zai"], "zai/"),
    ("zhipuai", &[], "zhipuai/"),
];

/// Models a provider lists but does not make: genai-prices' `google` lists Vertex's resale of
/// Anthropic's models. They come last, for names neither the owner nor an alias covers
/// (retired models such as `claude-3-opus`, which Anthropic's own list drops).
const RESOLD: &[(&str, &str)] = &[("google", "claude")];

/// Explicit aliases the sources do not give (names providers answered to, kept from the
/// hand-written table this generator replaced); each applies only where no row has the name.
const EXTRA_ALIASES: &[(&str, &str)] = &[
    ("claude-4-sonnet", "claude-sonnet-4-0"),
    ("claude-4-opus", "claude-opus-4-0"),
    ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
    ("claude-3-opus-latest", "claude-3-opus"),
    ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
    ("gpt-4-turbo-preview", "gpt-4-turbo"),
    ("gpt-4-1106-preview", "gpt-4-turbo"),
    ("gpt-4-0125-preview", "gpt-4-turbo"),
];

/// LiteLLM providers whose keys are taken as they are (reseller prices).
const RESELLERS: &[&str] = &[
    "azure",
    "azure_ai",
    "bedrock",
    "bedrock_converse",
    "vertex_ai-anthropic_models",
    "vertex_ai-language-models",
    "vertex_ai-mistral_models",
    "groq",
    "together_ai",
    "openrouter",
];

/// LiteLLM modes that are billed per text token.
const TEXT_MODES: &[&str] = &["chat", "responses", "completion"];

/// Where a row's price comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// genai-prices, and LiteLLM agrees.
    Both,
    /// genai-prices; LiteLLM has no price for the name.
    GenaiOnly,
    /// genai-prices; LiteLLM disagrees (listed).
    GenaiOverLitellm,
    /// LiteLLM only, a provider's own API.
    LitellmOnly,
    /// LiteLLM, a reseller's key.
    Reseller,
}

/// The merged table.
#[derive(Debug, Default)]
pub(crate) struct Table {
    /// Name -> (origin, price periods oldest first).
    pub(crate) rows: BTreeMap<String, (Origin, Vec<ModelPrice>)>,
    /// Alias -> the row it names.
    pub(crate) aliases: BTreeMap<String, String>,
    /// `name: what differs`.
    pub(crate) disagreements: Vec<String>,
    /// `name: what the data holds that the price model does not`.
    pub(crate) unread: Vec<String>,
}

/// Merges genai-prices' models and a LiteLLM file (with its raw entries for provider and mode).
pub(crate) fn merge(models: &[Model], litellm: &PriceFile, raw: &BTreeMap<String, Value>) -> Table {
    let mut table = Table::default();
    let provider_of = |key: &str| raw.get(key).and_then(|e| e["litellm_provider"].as_str());
    let is_text = |key: &str| {
        raw.get(key)
            .and_then(|e| e["mode"].as_str())
            .is_none_or(|mode| TEXT_MODES.contains(&mode))
    };
    // The provider's own API in LiteLLM, by name without prefix; Vertex's Gemini prices only
    // where the Gemini API has none.
    let mut own: BTreeMap<String, &ModelPrice> = BTreeMap::new();
    for vertex_pass in [false, true] {
        for (key, price) in &litellm.prices {
            let Some(provider) = provider_of(key) else {
                continue;
            };
            let Some((_, _, prefix)) = PROVIDERS
                .iter()
                .find(|(_, litellm, _)| litellm.contains(&provider))
            else {
                continue;
            };
            if (provider == "vertex_ai-language-models") != vertex_pass || !is_text(key) {
                continue;
            }
            let name = key.strip_prefix(prefix).unwrap_or(key).to_ascii_lowercase();
            // A key still holding a `/` is a route through someone else.
            if !name.contains('/') {
                own.entry(name).or_insert(price);
            }
        }
    }
    let resold = |model: &Model| {
        RESOLD
            .iter()
            .any(|(p, family)| *p == model.provider && model.id.starts_with(family))
    };
    let mut order: Vec<&Model> = Vec::new();
    for (provider, _, _) in PROVIDERS {
        order.extend(
            models
                .iter()
                .filter(|m| m.provider == *provider && !resold(m)),
        );
    }
    let late: Vec<&Model> = models.iter().filter(|m| resold(m)).collect();
    for (pass, list) in [order, late].into_iter().enumerate() {
        if pass == 1 {
            add_aliases(&mut table, models);
        }
        for model in list {
            if table.rows.contains_key(&model.id) || table.aliases.contains_key(&model.id) {
                continue;
            }
            let mut periods = model.periods.clone();
            let litellm_price = own.get(&model.id).copied();
            let window = litellm_price.and_then(|p| p.context_window).or(model
                .context_window
                .map(|window| mamba_pricing::ContextWindow::new(Some(window), None)));
            for period in &mut periods {
                period.context_window = window;
            }
            let origin = match litellm_price {
                None => Origin::GenaiOnly,
                Some(other) => match differences(periods.last(), other) {
                    None => Origin::Both,
                    Some(difference) => {
                        table
                            .disagreements
                            .push(format!("{}: {difference}", model.id));
                        Origin::GenaiOverLitellm
                    }
                },
            };
            if !model.unread.is_empty() {
                table
                    .unread
                    .push(format!("{}: {}", model.id, model.unread.join(", ")));
            }
            table.rows.insert(model.id.clone(), (origin, periods));
        }
    }
    add_aliases(&mut table, models);
    for (name, price) in &own {
        if !table.rows.contains_key(name) && !table.aliases.contains_key(name) {
            table
                .rows
                .insert(name.clone(), (Origin::LitellmOnly, vec![(*price).clone()]));
        }
    }
    for (key, price) in &litellm.prices {
        let reseller = provider_of(key).is_some_and(|p| RESELLERS.contains(&p));
        let name = key.to_ascii_lowercase();
        if reseller && is_text(key) && !table.rows.contains_key(&name) {
            table
                .rows
                .insert(name, (Origin::Reseller, vec![price.clone()]));
        }
    }
    let mut unread_by_model: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (model, field) in &litellm.unread {
        if table.rows.contains_key(&model.to_ascii_lowercase()) {
            unread_by_model.entry(model).or_default().push(field);
        }
    }
    for (model, fields) in unread_by_model {
        table
            .unread
            .push(format!("{model} (LiteLLM): {}", fields.join(", ")));
    }
    table
}

/// genai-prices' other names of each row's model, and [`EXTRA_ALIASES`], where no row has the
/// name.
fn add_aliases(table: &mut Table, models: &[Model]) {
    for model in models {
        for alias in &model.aliases {
            if !table.rows.contains_key(alias) && table.rows.contains_key(&model.id) {
                table
                    .aliases
                    .entry(alias.clone())
                    .or_insert_with(|| model.id.clone());
            }
        }
    }
    for (alias, target) in EXTRA_ALIASES {
        if !table.rows.contains_key(*alias) && table.rows.contains_key(*target) {
            table
                .aliases
                .insert((*alias).to_owned(), (*target).to_owned());
        }
    }
}

/// What differs between genai-prices' current price and LiteLLM's, if anything.
fn differences(genai: Option<&ModelPrice>, litellm: &ModelPrice) -> Option<String> {
    let genai = genai?;
    let shown = |price: &ModelPrice| {
        let base = &price.base;
        let part = |value: Option<rust_decimal::Decimal>| {
            value.map_or_else(|| "-".to_owned(), |v| v.normalize().to_string())
        };
        let mut text = format!(
            "{}/{}/{}/{}",
            base.input.normalize(),
            part(base.cached_input),
            part(base.cache_write),
            base.output.normalize()
        );
        for tier in &price.tiers {
            text.push_str(&format!(
                " >{} {}/{}",
                tier.above_prompt_tokens,
                tier.price.input.normalize(),
                tier.price.output.normalize()
            ));
        }
        text
    };
    let (ours, theirs) = (shown(genai), shown(litellm));
    (ours != theirs).then(|| format!("genai-prices {ours} (taken), LiteLLM {theirs}"))
}
