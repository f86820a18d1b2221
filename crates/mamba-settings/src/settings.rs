//! [`AgentSettings`]: everything an agent is configured with, and the lower crates' config
//! types made from it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use mamba_pricing::{CostEstimator, ModelPrice, Price, PriceSource};
use mamba_tokens::{TokenCounter, TokenizerConfig, TokensError};
use mamba_usage::TrackerConfig;
use rust_decimal::Decimal;

use crate::forms::toml_int;
use crate::keys::dump_scalars;
use crate::read::set_price_fields;
use crate::{
    CompactionConfig, LedgerSettings, ModelBackendSettings, SettingsBuilder, SettingsError,
    TrackingSettings, UsageLimits,
};

/// The settings of an agent, loaded from (lowest priority first) built-in defaults,
/// `config.toml` in the working directory, `.env` in the working directory, `~/mamba.env`, the
/// process environment (`MAMBA_` prefix, `__` between nesting levels), and values set in code.
///
/// `OPENAI_API_KEY` and `OPENAI_BASE_URL` are used when no source sets
/// `model_backend.api_key` / `model_backend.base_url`.
///
/// ```
/// use mamba_settings::AgentSettings;
/// use rust_decimal::Decimal;
///
/// // The seed's `AgentSettings(cost_rates={"my-custom-model": 0.001})`, per 1,000 tokens.
/// let settings = AgentSettings::builder()
///     .defaults_only() // ignore config.toml, .env and the environment in this example
///     .cost_rate("my-custom-model", Decimal::new(1, 3))
///     .build()?;
/// let estimator = settings.cost_estimator()?;
/// assert_eq!(estimator.estimate(1_000, 1_000, "my-custom-model").total_cost, Decimal::new(2, 3));
///
/// // The API key never shows.
/// let settings = AgentSettings::builder().defaults_only().api_key("sk-secret").build()?;
/// assert!(!format!("{settings:?} {settings}").contains("sk-secret"));
/// # Ok::<(), mamba_settings::SettingsError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct AgentSettings {
    /// `[model_backend]`: endpoint, key, model and request options.
    pub model_backend: ModelBackendSettings,
    /// `[tokenizer]` (or the Python library's `[token_tracking]`): how tokens are counted.
    pub tokenizer: TokenizerConfig,
    /// `[tracking]`: history retention and the per-request log level.
    pub tracking: TrackingSettings,
    /// `[cost_rates]`: blended USD rates **per 1,000 tokens** (input and output alike), the
    /// seed's form; the key `default` prices unknown models.
    pub cost_rates: BTreeMap<String, Decimal>,
    /// `[prices."model"]`: full USD prices **per 1,000,000 tokens** (input, cached input,
    /// cache write, output, optional tier); they win over `cost_rates` for the same model.
    pub prices: BTreeMap<String, ModelPrice>,
    /// `[usage_limits]`: default budgets of each agent.
    pub usage_limits: UsageLimits,
    /// `[ledger]`: the durable usage ledger, if any.
    pub ledger: LedgerSettings,
    /// `[context]`: when and how an agent compacts its conversation.
    pub context: CompactionConfig,
}

impl AgentSettings {
    /// Loads settings from every source; see the type's docs for their order.
    ///
    /// # Errors
    /// A [`SettingsError`] naming the bad key and its source.
    pub fn load() -> Result<AgentSettings, SettingsError> {
        SettingsBuilder::default().build()
    }

    /// Defaults overridden by one TOML file only (no `.env`, no environment). For a file plus
    /// the environment, use [`SettingsBuilder::config_file`].
    ///
    /// # Errors
    /// [`SettingsError::UnsupportedFormat`] for a path not ending in `.toml`,
    /// [`SettingsError::FileNotFound`] naming the path, [`SettingsError::MalformedToml`] with
    /// the line, or an invalid value naming the file and key.
    ///
    /// ```
    /// use mamba_settings::{AgentSettings, SettingsError};
    ///
    /// let err = AgentSettings::from_file("settings.yaml").unwrap_err();
    /// assert!(matches!(err, SettingsError::UnsupportedFormat { .. }));
    /// let err = AgentSettings::from_file("no/such/config.toml").unwrap_err();
    /// assert_eq!(err.to_string(), "settings file no/such/config.toml not found");
    /// ```
    pub fn from_file(path: impl AsRef<Path>) -> Result<AgentSettings, SettingsError> {
        SettingsBuilder::default()
            .defaults_only()
            .config_file(path)
            .build()
    }

    /// A builder: choose sources, set values in code, load.
    pub fn builder() -> SettingsBuilder {
        SettingsBuilder::default()
    }

    /// The tracker's config (history retention).
    pub fn tracker_config(&self) -> TrackerConfig {
        self.tracking.tracker_config()
    }

    /// A token counter for the configured model under the tokenizer settings.
    ///
    /// # Errors
    /// [`TokensError::InvalidSafetyMargin`] if `tokenizer.safety_margin` was set out of range
    /// in code after loading.
    pub fn token_counter(&self) -> Result<TokenCounter, TokensError> {
        TokenCounter::for_model_with_config(&self.model_backend.model, &self.tokenizer)
    }

    /// A cost estimator: the built-in table, overridden by `cost_rates`, then by `prices`; the
    /// configured model is free when the backend is declared local (`local = true`), or is
    /// local only by its loopback address and no price is known for the model. A model the
    /// user priced keeps its price either way.
    ///
    /// # Errors
    /// [`SettingsError::InvalidPrice`] naming the model, for a negative price set in code
    /// after loading.
    ///
    /// ```
    /// use mamba_settings::AgentSettings;
    /// use rust_decimal::Decimal;
    ///
    /// let settings = AgentSettings::builder()
    ///     .defaults_only()
    ///     .base_url("http://127.0.0.1:8080/v1")
    ///     .model("smollm2")
    ///     .build()?;
    /// let estimator = settings.cost_estimator()?;
    /// assert_eq!(estimator.estimate(1_000, 1_000, "smollm2").total_cost, Decimal::ZERO);
    /// assert_eq!(estimator.estimate(1_000_000, 0, "gpt-4o").total_cost, Decimal::new(25, 1));
    ///
    /// // A known model behind a loopback address (a proxy) keeps its price...
    /// let proxy = AgentSettings::builder().defaults_only()
    ///     .base_url("http://localhost:4000/v1").model("gpt-4o").build()?;
    /// let estimator = proxy.cost_estimator()?;
    /// assert_eq!(estimator.estimate(1_000_000, 0, "gpt-4o").total_cost, Decimal::new(25, 1));
    /// // ...unless the backend is declared local.
    /// let declared = AgentSettings::builder().defaults_only()
    ///     .base_url("http://localhost:4000/v1").model("gpt-4o").local(true).build()?;
    /// assert!(declared.cost_estimator()?.estimate(1_000_000, 0, "gpt-4o").total_cost.is_zero());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cost_estimator(&self) -> Result<CostEstimator, SettingsError> {
        let mut estimator = CostEstimator::new();
        let invalid = |model: &str| {
            let model = model.to_owned();
            move |source| SettingsError::InvalidPrice { model, source }
        };
        for (model, rate) in &self.cost_rates {
            estimator.set_rate(model, *rate).map_err(invalid(model))?;
        }
        for (model, price) in &self.prices {
            estimator
                .set_price(model, price.clone())
                .map_err(invalid(model))?;
        }
        // The local rule: a backend declared local makes its model free; one that is local only
        // by its loopback address frees the model only when no price is known for it (a
        // LiteLLM proxy on localhost serving gpt-4o bills gpt-4o).
        let model = &self.model_backend.model;
        let free = match self.model_backend.local {
            Some(declared) => declared,
            None => {
                self.model_backend.is_local()
                    && matches!(
                        estimator.price_source(model),
                        PriceSource::Unpriced | PriceSource::Default
                    )
            }
        };
        if free {
            estimator.mark_local(model);
        }
        Ok(estimator)
    }

    /// The settings as TOML, with the API key replaced by `[redacted]`: safe to log or show
    /// (the Python library's `model_dump_safe`). Loading the text back gives the same settings
    /// but for the key.
    ///
    /// ```
    /// use mamba_settings::AgentSettings;
    ///
    /// let settings = AgentSettings::builder().defaults_only().api_key("sk-secret").build()?;
    /// let dump = settings.dump_safe();
    /// assert!(dump.contains("api_key = \"[redacted]\""));
    /// assert!(!dump.contains("sk-secret"));
    /// # Ok::<(), mamba_settings::SettingsError>(())
    /// ```
    pub fn dump_safe(&self) -> String {
        let mut root = toml::Table::new();
        for (section, name, value) in dump_scalars(self) {
            let table = root
                .entry(section)
                .or_insert_with(|| toml::Table::new().into());
            if let (Some(value), toml::Value::Table(table)) = (value, table) {
                table.insert(name.to_owned(), value);
            }
        }
        let mapping: toml::Table = self
            .tokenizer
            .model_mapping
            .iter()
            .map(|(model, encoding)| (model.clone(), encoding.name().into()))
            .collect();
        if let Some(toml::Value::Table(tokenizer)) = root.get_mut("tokenizer") {
            tokenizer.insert("model_mapping".to_owned(), mapping.into());
        }
        let budgets: toml::Table = self
            .ledger
            .budgets
            .iter()
            .map(|(name, spec)| (name.clone(), budget_table(spec).into()))
            .collect();
        if let Some(toml::Value::Table(ledger)) = root.get_mut("ledger") {
            ledger.insert("budgets".to_owned(), budgets.into());
        }
        let rates: toml::Table = self
            .cost_rates
            .iter()
            .map(|(model, rate)| (model.clone(), rate.to_string().into()))
            .collect();
        root.insert("cost_rates".to_owned(), rates.into());
        let prices: toml::Table = self
            .prices
            .iter()
            .map(|(model, price)| (model.clone(), price_table(price).into()))
            .collect();
        root.insert("prices".to_owned(), prices.into());
        toml::to_string(&root).unwrap_or_default()
    }
}

/// A fleet budget as its `[ledger.budgets.NAME]` table.
fn budget_table(spec: &mamba_ledger::FleetBudgetSpec) -> toml::Table {
    let mut table = toml::Table::new();
    let limits = spec.limits();
    for (name, limit) in [
        ("requests", limits.requests),
        ("input_tokens", limits.input_tokens),
        ("output_tokens", limits.output_tokens),
        ("total_tokens", limits.total_tokens),
    ] {
        if let Some(limit) = limit {
            table.insert(name.to_owned(), toml_int(limit));
        }
    }
    if let Some(cost) = limits.cost {
        table.insert("cost".to_owned(), cost.to_string().into());
    }
    table.insert("scope".to_owned(), spec.budget_scope().to_string().into());
    table.insert("period".to_owned(), spec.budget_period().name().into());
    table.insert("unpriced".to_owned(), spec.unpriced_policy().name().into());
    table.insert(
        "hold_expiry".to_owned(),
        humantime::format_duration(spec.expiry()).to_string().into(),
    );
    table
}

fn price_fields(price: &Price, table: &mut toml::Table) {
    for (name, value) in set_price_fields(price) {
        table.insert(name.to_owned(), value.to_string().into());
    }
}

fn price_table(price: &ModelPrice) -> toml::Table {
    let mut table = toml::Table::new();
    price_fields(&price.base, &mut table);
    table.insert("source".to_owned(), price.source.clone().into());
    if let Some(checked) = &price.checked {
        table.insert("checked".to_owned(), checked.clone().into());
    }
    let tiers: Vec<toml::Value> = price
        .tiers
        .iter()
        .map(|tier| {
            let mut tier_table = toml::Table::new();
            tier_table.insert(
                "above_prompt_tokens".to_owned(),
                toml_int(tier.above_prompt_tokens),
            );
            price_fields(&tier.price, &mut tier_table);
            tier_table.into()
        })
        .collect();
    if !tiers.is_empty() {
        table.insert("tiers".to_owned(), tiers.into());
    }
    table
}

impl fmt::Display for AgentSettings {
    /// The [`dump_safe`](AgentSettings::dump_safe) text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.dump_safe())
    }
}
