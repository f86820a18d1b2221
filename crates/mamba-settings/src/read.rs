//! The merged settings tree read into [`AgentSettings`], section by section. Every value is
//! checked here, whatever its source, so one set of rules and messages covers files, `.env`
//! files, the environment and code.

use std::collections::BTreeMap;

use config::{Value, ValueKind};
use mamba_pricing::{ModelPrice, Price, Tier};
use mamba_tokens::{Encoding, TokenizerConfig};
use rust_decimal::Decimal;

use crate::layers::{KeyPath, Provenance, Tree};
use crate::values::{
    Parsed, Problem, boolean, bounded_decimal, duration, float_in, is_nil, non_negative_decimal,
    shown, string, whole,
};
use crate::{AgentSettings, ApiKey, LogLevel, SettingsError, UnknownKey};

const RATE: &str = "a non-negative decimal USD rate per 1,000 tokens, e.g. 0.001";
/// The largest per-1K rate: the largest price per 1M, a thousandth of it.
const MAX_RATE: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);
const PRICE: &str = "a non-negative decimal USD price per 1,000,000 tokens, e.g. \"2.50\"";

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

    fn check<T>(&self, path: &[String], parsed: Parsed<T>) -> Result<T, SettingsError> {
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
                "model_backend" => self.model_backend(&path, value, settings)?,
                "tokenizer" => {
                    self.tokenizer(&path, value, &mut settings.tokenizer)?;
                }
                "tracking" => self.tracking(&path, value, settings)?,
                "cost_rates" => {
                    for (model, rate) in self.table(&path, value)? {
                        let key = child(&path, &model);
                        if is_nil(&rate) {
                            settings.cost_rates.remove(&model);
                            continue;
                        }
                        let rate = self.check(&key, bounded_decimal(&rate, RATE, MAX_RATE))?;
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
                "usage_limits" => self.usage_limits(&path, value, settings)?,
                _ => self.unknown(&path),
            }
        }
        Ok(())
    }

    fn model_backend(
        &mut self,
        path: &[String],
        value: Value,
        settings: &mut AgentSettings,
    ) -> Result<(), SettingsError> {
        let backend = &mut settings.model_backend;
        for (name, value) in self.table(path, value)? {
            let key = child(path, &name);
            // An empty string clears an optional value (`MAMBA_MODEL_BACKEND__BASE_URL=`).
            let optional =
                |parsed: Parsed<String>| parsed.map(|s| Some(s).filter(|s| !s.is_empty()));
            match name.as_str() {
                "model" => backend.model = self.check(&key, string(&value))?,
                "base_url" => backend.base_url = self.check(&key, optional(string(&value)))?,
                "api_key" => {
                    // Never quote the value: it is a secret.
                    let key_text = self.check(
                        &key,
                        string(&value).map_err(|_| Problem {
                            problem: "the value is not a string".to_owned(),
                            expected: "a string".to_owned(),
                        }),
                    )?;
                    backend.api_key = Some(key_text).filter(|k| !k.is_empty()).map(ApiKey::new);
                }
                "timeout" => backend.timeout = self.check(&key, duration(&value))?,
                "max_retries" => {
                    backend.max_retries =
                        self.check(&key, whole(&value, "a whole number of retries, e.g. 3"))?;
                }
                "temperature" if is_nil(&value) => backend.temperature = None,
                "temperature" => {
                    let t = self.check(&key, float_in(&value, 0.0, 2.0, "a number from 0 to 2"))?;
                    backend.temperature = Some(t as f32);
                }
                "max_tokens" if is_nil(&value) => backend.max_tokens = None,
                "max_tokens" => {
                    let expected = "a positive whole number of tokens, e.g. 1024";
                    let n: u32 = self.check(&key, whole(&value, expected))?;
                    if n == 0 {
                        return Err(self.error(
                            &key,
                            Problem {
                                problem: "0 is not positive".to_owned(),
                                expected: expected.to_owned(),
                            },
                        ));
                    }
                    backend.max_tokens = Some(n);
                }
                "local" if is_nil(&value) => backend.local = None,
                "local" => backend.local = Some(self.check(&key, boolean(&value))?),
                _ => self.unknown(&key),
            }
        }
        Ok(())
    }

    fn tokenizer(
        &mut self,
        path: &[String],
        value: Value,
        config: &mut TokenizerConfig,
    ) -> Result<(), SettingsError> {
        for (name, value) in self.table(path, value)? {
            let key = child(path, &name);
            match name.as_str() {
                "encoding" => config.encoding = self.encoding(&key, &value)?,
                "model_mapping" => {
                    for (model, encoding) in self.table(&key, value)? {
                        let key = child(&key, &model);
                        let encoding = self.encoding(&key, &encoding)?;
                        config.model_mapping.insert(model, encoding);
                    }
                }
                "safety_margin" => {
                    config.safety_margin = self.check(
                        &key,
                        float_in(
                            &value,
                            0.0,
                            TokenizerConfig::MAX_SAFETY_MARGIN,
                            "a fraction from 0.0 to 0.5 (0.1 adds 10%)",
                        ),
                    )?;
                }
                _ => self.unknown(&key),
            }
        }
        Ok(())
    }

    fn encoding(&self, path: &[String], value: &Value) -> Result<Encoding, SettingsError> {
        let expected = || {
            Encoding::ALL
                .iter()
                .map(|e| e.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let name = self.check(path, string(value))?;
        name.parse().map_err(|_| {
            self.error(
                path,
                Problem {
                    problem: format!("`{name}` is not a known encoding"),
                    expected: format!("one of {}", expected()),
                },
            )
        })
    }

    fn tracking(
        &mut self,
        path: &[String],
        value: Value,
        settings: &mut AgentSettings,
    ) -> Result<(), SettingsError> {
        for (name, value) in self.table(path, value)? {
            let key = child(path, &name);
            match name.as_str() {
                "max_history_records" if is_nil(&value) => {
                    settings.tracking.max_history_records = None;
                }
                "max_history_records" => {
                    settings.tracking.max_history_records = Some(self.check(
                        &key,
                        whole(&value, "a whole number of records to keep, e.g. 10000"),
                    )?);
                }
                "log_level" => {
                    let text = self.check(&key, string(&value))?;
                    settings.tracking.log_level = text.parse::<LogLevel>().map_err(|problem| {
                        self.error(
                            &key,
                            Problem {
                                problem,
                                expected: "one of off, error, warn, info, debug, trace".to_owned(),
                            },
                        )
                    })?;
                }
                _ => self.unknown(&key),
            }
        }
        Ok(())
    }

    fn usage_limits(
        &mut self,
        path: &[String],
        value: Value,
        settings: &mut AgentSettings,
    ) -> Result<(), SettingsError> {
        let limits = &mut settings.usage_limits;
        for (name, value) in self.table(path, value)? {
            let key = child(path, &name);
            let count = |reader: &Self, value: &Value| -> Result<Option<u64>, SettingsError> {
                if is_nil(value) {
                    return Ok(None);
                }
                reader
                    .check(&key, whole(value, "a whole number, e.g. 100000"))
                    .map(Some)
            };
            match name.as_str() {
                "requests" => limits.requests = count(self, &value)?,
                "input_tokens" => limits.input_tokens = count(self, &value)?,
                "output_tokens" => limits.output_tokens = count(self, &value)?,
                "total_tokens" => limits.total_tokens = count(self, &value)?,
                "cost" if is_nil(&value) => limits.cost = None,
                "cost" => {
                    limits.cost = Some(self.check(
                        &key,
                        non_negative_decimal(
                            &value,
                            "a non-negative decimal USD amount, e.g. 5.00",
                        ),
                    )?);
                }
                _ => self.unknown(&key),
            }
        }
        Ok(())
    }

    /// A full price table entry: `input` and `output` required; `cached_input`, `cache_write`,
    /// `checked`, `source` and a `tier` optional.
    fn price(&mut self, path: &[String], value: Value) -> Result<ModelPrice, SettingsError> {
        let mut fields = self.table(path, value)?;
        let tier = fields.remove("tier");
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
        if let Some(tier) = tier {
            let tier_path = child(path, "tier");
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
            price = price.with_tier(Tier {
                above_prompt_tokens: above,
                price: tier_price,
            });
        }
        Ok(price)
    }

    fn price_fields(
        &mut self,
        path: &[String],
        fields: BTreeMap<String, Value>,
    ) -> Result<Price, SettingsError> {
        let mut price = [None, None, None, None];
        const NAMES: [&str; 4] = ["input", "cached_input", "cache_write", "output"];
        for (name, value) in fields {
            let key = child(path, &name);
            match NAMES.iter().position(|known| *known == name) {
                Some(i) => {
                    price[i] = Some(
                        self.check(&key, bounded_decimal(&value, PRICE, Price::MAX_PER_MILLION))?,
                    );
                }
                None => self.unknown(&key),
            }
        }
        let [input, cached_input, cache_write, output] = price;
        let input = input.ok_or_else(|| self.missing(&child(path, "input"), PRICE))?;
        let output = output.ok_or_else(|| self.missing(&child(path, "output"), PRICE))?;
        Ok(Price {
            input,
            cached_input,
            cache_write,
            output,
        })
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
