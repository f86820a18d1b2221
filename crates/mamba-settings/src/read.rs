//! The merged settings tree read into [`AgentSettings`], section by section. Every value is
//! checked here, whatever its source, so one set of rules and messages covers files, `.env`
//! files, the environment and code.

use std::collections::BTreeMap;

use config::{Value, ValueKind};
use mamba_pricing::{ModelPrice, Price, Tier};
use mamba_tokens::TokenizerConfig;
use rust_decimal::Decimal;

use crate::forms::{EncodingName, Form, Seconds, Usd};
use crate::keys::{is_scalar_section, read_scalar};
use crate::layers::{KeyPath, Provenance, Tree};
use crate::values::{Parsed, Problem, shown, string, whole};
use crate::{AgentSettings, SettingsError, UnknownKey};

/// A `cost_rates` value: the largest per-1K rate is the largest price per 1M, a thousandth of it.
pub(crate) const RATE: Usd = Usd {
    expected: "a non-negative decimal USD rate per 1,000 tokens, e.g. 0.001",
    max: Decimal::from_parts(1_000_000, 0, 0, false, 0),
};
/// A fleet budget's `cost` limit.
pub(crate) const BUDGET_COST: Usd = Usd {
    expected: "a non-negative decimal USD amount, e.g. \"5.00\"",
    max: Decimal::MAX,
};
/// A `prices` value.
pub(crate) const PRICE: Usd = Usd {
    expected: "a non-negative decimal USD price per 1,000,000 tokens, e.g. \"2.50\"",
    max: Price::MAX_PER_MILLION,
};
/// The fields of `price` that are set, by their key names (those of [`Price::fields`]).
pub(crate) fn set_price_fields(price: &Price) -> impl Iterator<Item = (&'static str, Decimal)> {
    price
        .fields()
        .into_iter()
        .filter_map(|(name, value)| value.map(|value| (name, value)))
}

/// The dotted form of a key path; segments other than bare TOML keys are quoted
/// (`cost_rates."gpt-4.1"`).
pub(crate) fn display_path(path: &[String]) -> String {
    path.iter()
        .map(|key| {
            let bare = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if bare {
                key.clone()
            } else {
                format!("{key:?}")
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Reads a merged tree onto default settings, collecting unknown keys.
pub(crate) struct Reader<'a> {
    provenance: &'a Provenance,
    unknown: Vec<UnknownKey>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(provenance: &'a Provenance) -> Reader<'a> {
        Reader {
            provenance,
            unknown: Vec::new(),
        }
    }

    /// The unknown keys met, sorted.
    pub(crate) fn into_unknown(mut self) -> Vec<UnknownKey> {
        self.unknown.sort();
        self.unknown.dedup();
        self.unknown
    }

    fn error(&self, path: &[String], problem: Problem) -> SettingsError {
        SettingsError::InvalidValue {
            key: display_path(path),
            origin: self.provenance.origin_of(path),
            problem: problem.problem,
            expected: problem.expected,
        }
    }

    pub(crate) fn check<T>(&self, path: &[String], parsed: Parsed<T>) -> Result<T, SettingsError> {
        parsed.map_err(|problem| self.error(path, problem))
    }

    fn unknown(&mut self, path: &[String]) {
        self.unknown.push(UnknownKey {
            key: display_path(path),
            origin: self.provenance.origin_of(path),
        });
    }

    /// The entries of a table, sorted by key so errors come in a stable order.
    fn table(
        &self,
        path: &[String],
        value: Value,
    ) -> Result<BTreeMap<String, Value>, SettingsError> {
        match value.kind {
            ValueKind::Table(table) => Ok(table.into_iter().collect()),
            _ => Err(self.error(
                path,
                Problem {
                    problem: format!("{} is not a table", shown(&value)),
                    expected: "a table of keys".to_owned(),
                },
            )),
        }
    }

    pub(crate) fn read(
        &mut self,
        tree: Tree,
        settings: &mut AgentSettings,
    ) -> Result<(), SettingsError> {
        // Layers already spell the Python library's `[token_tracking]` as `[tokenizer]`.
        let sections: BTreeMap<String, Value> = tree.into_iter().collect();
        for (name, value) in sections {
            let path = vec![name.clone()];
            match name.as_str() {
                "cost_rates" => {
                    for (model, rate) in self.table(&path, value)? {
                        let key = child(&path, &model);
                        let rate = self.check(&key, RATE.read(&rate))?;
                        settings.cost_rates.insert(model, rate);
                    }
                }
                "prices" => {
                    for (model, price) in self.table(&path, value)? {
                        let key = child(&path, &model);
                        let price = self.price(&key, price)?;
                        settings.prices.insert(model, price);
                    }
                }
                section if is_scalar_section(section) => {
                    for (name, value) in self.table(&path, value)? {
                        let key = child(&path, &name);
                        if key == ["tokenizer", "model_mapping"] {
                            self.model_mapping(&key, value, &mut settings.tokenizer)?;
                        } else if key == ["ledger", "budgets"] {
                            for (name, budget) in self.table(&key, value)? {
                                let path = child(&key, &name);
                                let spec = self.budget(&path, name.clone(), budget)?;
                                settings.ledger.budgets.insert(name, spec);
                            }
                        } else if !read_scalar(self, &key, &value, settings)? {
                            self.unknown(&key);
                        }
                    }
                }
                _ => self.unknown(&path),
            }
        }
        Ok(())
    }

    fn model_mapping(
        &mut self,
        path: &[String],
        value: Value,
        config: &mut TokenizerConfig,
    ) -> Result<(), SettingsError> {
        for (model, encoding) in self.table(path, value)? {
            let key = child(path, &model);
            let encoding = self.check(&key, EncodingName.read(&encoding))?;
            config.model_mapping.insert(model, encoding);
        }
        Ok(())
    }

    /// A full price table entry: `input` and `output` required; `cached_input`, `cache_write`,
    /// `cache_write_1h`, `checked`, `source`, a `tier` table and a `tiers` array of tier
    /// tables optional.
    fn price(&mut self, path: &[String], value: Value) -> Result<ModelPrice, SettingsError> {
        let mut fields = self.table(path, value)?;
        let mut tiers = Vec::new();
        if let Some(tier) = fields.remove("tier") {
            tiers.push((child(path, "tier"), tier));
        }
        if let Some(list) = fields.remove("tiers") {
            let list_path = child(path, "tiers");
            match list.kind {
                ValueKind::Array(items) => {
                    for (index, tier) in items.into_iter().enumerate() {
                        tiers.push((child(&list_path, &index.to_string()), tier));
                    }
                }
                _ => {
                    return Err(self.error(
                        &list_path,
                        Problem {
                            problem: format!("{} is not a list", shown(&list)),
                            expected: "a list of tier tables ([[prices.\"model\".tiers]])"
                                .to_owned(),
                        },
                    ));
                }
            }
        }
        let checked = fields.remove("checked");
        let source = fields.remove("source");
        let base = self.price_fields(path, fields)?;
        let source = match source {
            Some(value) => self.check(&child(path, "source"), string(&value))?,
            None => self.provenance.origin_of(path).to_string(),
        };
        let mut price = ModelPrice::new(base, source);
        if let Some(checked) = checked {
            price.checked = Some(self.check(&child(path, "checked"), string(&checked))?);
        }
        for (tier_path, tier) in tiers {
            let mut fields = self.table(&tier_path, tier)?;
            let above_path = child(&tier_path, "above_prompt_tokens");
            let above = match fields.remove("above_prompt_tokens") {
                Some(value) => self.check(
                    &above_path,
                    whole(&value, "a whole number of prompt tokens, e.g. 200000"),
                )?,
                None => return Err(self.missing(&above_path, "a whole number of prompt tokens")),
            };
            let tier_price = self.price_fields(&tier_path, fields)?;
            price = price.with_tier(Tier::new(above, tier_price));
        }
        Ok(price)
    }

    fn price_fields(
        &mut self,
        path: &[String],
        fields: BTreeMap<String, Value>,
    ) -> Result<Price, SettingsError> {
        let names = Price::FREE.fields().map(|(name, _)| name);
        let mut price = [None; 5];
        for (name, value) in fields {
            let key = child(path, &name);
            match names.iter().position(|known| *known == name) {
                Some(i) => price[i] = Some(self.check(&key, PRICE.read(&value))?),
                None => self.unknown(&key),
            }
        }
        let [input, cached_input, cache_write, cache_write_1h, output] = price;
        let required = |price: Option<Decimal>, name| {
            price.ok_or_else(|| self.missing(&child(path, name), PRICE.expected))
        };
        let input = required(input, "input")?;
        let output = required(output, "output")?;
        let mut price = Price::new(input, output);
        price.cached_input = cached_input;
        price.cache_write = cache_write;
        price.cache_write_1h = cache_write_1h;
        Ok(price)
    }

    /// A `[ledger.budgets.NAME]` table: at least one limit (`requests`, `input_tokens`,
    /// `output_tokens`, `total_tokens`, `cost`), and optionally `scope`, `period`,
    /// `unpriced` and `hold_expiry`.
    fn budget(
        &mut self,
        path: &[String],
        name: String,
        value: Value,
    ) -> Result<mamba_ledger::FleetBudgetSpec, SettingsError> {
        use mamba_ledger::{BudgetPeriod, BudgetScope, FleetBudgetSpec, UnpricedPolicy};
        let mut limits = mamba_pricing::UsageLimits::default();
        let mut scope = BudgetScope::All;
        let mut period = BudgetPeriod::Total;
        let mut unpriced = UnpricedPolicy::Refuse;
        let mut hold_expiry = None;
        let count = "a whole number, e.g. 100000";
        for (field, value) in self.table(path, value)? {
            let key = child(path, &field);
            match field.as_str() {
                "requests" => limits.requests = Some(self.check(&key, whole(&value, count))?),
                "input_tokens" => {
                    limits.input_tokens = Some(self.check(&key, whole(&value, count))?);
                }
                "output_tokens" => {
                    limits.output_tokens = Some(self.check(&key, whole(&value, count))?);
                }
                "total_tokens" => {
                    limits.total_tokens = Some(self.check(&key, whole(&value, count))?);
                }
                "cost" => limits.cost = Some(self.check(&key, BUDGET_COST.read(&value))?),
                "scope" => {
                    let text = self.check(&key, string(&value))?;
                    scope = BudgetScope::parse(&text).map_err(|_| {
                        self.error(
                            &key,
                            Problem {
                                problem: format!("`{text}` is not a budget scope"),
                                expected: "`all`, `model:NAME` or `label:KEY=VALUE`".to_owned(),
                            },
                        )
                    })?;
                }
                "period" => {
                    let text = self.check(&key, string(&value))?;
                    period = BudgetPeriod::from_name(&text).ok_or_else(|| {
                        self.error(
                            &key,
                            Problem {
                                problem: format!("`{text}` is not a budget period"),
                                expected: "`total`, `day` or `month`".to_owned(),
                            },
                        )
                    })?;
                }
                "unpriced" => {
                    let text = self.check(&key, string(&value))?;
                    unpriced = UnpricedPolicy::from_name(&text).ok_or_else(|| {
                        self.error(
                            &key,
                            Problem {
                                problem: format!("`{text}` is not a policy for unpriced models"),
                                expected: "`refuse` or `allow`".to_owned(),
                            },
                        )
                    })?;
                }
                "hold_expiry" => hold_expiry = Some(self.check(&key, Seconds.read(&value))?),
                _ => self.unknown(&key),
            }
        }
        if limits.is_unlimited() {
            return Err(self.error(
                path,
                Problem {
                    problem: "no limit is set".to_owned(),
                    expected: "at least one of `requests`, `input_tokens`, `output_tokens`, \
                               `total_tokens`, `cost`"
                        .to_owned(),
                },
            ));
        }
        let mut spec = FleetBudgetSpec::new(name, limits)
            .scope(scope)
            .period(period)
            .unpriced(unpriced);
        if let Some(expiry) = hold_expiry {
            spec = spec.hold_expiry(expiry);
        }
        Ok(spec)
    }

    fn missing(&self, path: &[String], expected: &str) -> SettingsError {
        let parent = &path[..path.len().saturating_sub(1)];
        SettingsError::InvalidValue {
            key: display_path(path),
            origin: self.provenance.origin_of(parent),
            problem: "it is missing".to_owned(),
            expected: expected.to_owned(),
        }
    }
}

fn child(path: &[String], key: &str) -> KeyPath {
    let mut path = path.to_vec();
    path.push(key.to_owned());
    path
}
