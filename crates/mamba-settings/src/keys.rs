//! Every settings key, declared once: its path, its [`Form`], what an unset key means, its
//! documentation and its [`SettingsBuilder`] setter. The reader, the setters, the dump and
//! [`SettingKey::all`] (from which docs/configuration.md's table is checked) are all derived
//! from the one [`scalar_keys!`] table below, so a new key cannot drift between them.
//!
//! Keys under a model name (`cost_rates."model"`, `prices."model".*`,
//! `tokenizer.model_mapping."model"`) are tables rather than single values; their reader lives
//! in [`crate::read`] and their documentation in [`MAP_KEYS`].

use std::sync::Arc;

use config::Value;

use crate::forms::{
    EncodingName, FilePath, Flag, Float32, Form, Fraction, LEVEL, LedgerDurability, LedgerUrl,
    Optional, STRATEGY, Seconds, Secret, Text, Usd, plain, positive, whole_number,
};
use crate::layers::{KeyPath, OPENAI_FALLBACKS, env_var_name};
use crate::rates::COST_RATES_VAR;
use crate::read::{Reader, display_path};
use crate::values::{Parsed, Problem};
use crate::{
    AgentSettings, ApiKey, CompactionStrategy, LogLevel, Origin, SettingsBuilder, SettingsError,
};

/// One key mamba reads: its dotted path, the environment variables that set it, its default
/// and what it accepts. docs/configuration.md's key table lists exactly these.
///
/// ```
/// use mamba_settings::SettingKey;
///
/// let timeout = SettingKey::all().into_iter().find(|k| k.key == "model_backend.timeout").unwrap();
/// assert_eq!(timeout.variables, ["MAMBA_MODEL_BACKEND__TIMEOUT"]);
/// assert_eq!(timeout.default, "`1m`");
///
/// let base_url = SettingKey::all().into_iter().find(|k| k.key == "model_backend.base_url").unwrap();
/// assert_eq!(base_url.variables, ["MAMBA_MODEL_BACKEND__BASE_URL", "OPENAI_BASE_URL"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SettingKey {
    /// The dotted path; `"model"` stands for any model name (`cost_rates."model"`).
    pub key: String,
    /// The environment variables that set it, highest priority first (`OPENAI_*` stand-ins
    /// last); empty when only files and code can.
    pub variables: Vec<String>,
    /// The default, as it would be written in `config.toml` (in backticks), or what an unset
    /// key means (`server's`).
    pub default: String,
    /// What the key does and the values it takes.
    pub doc: &'static str,
}

impl SettingKey {
    /// Every key, in the order of the reference table.
    pub fn all() -> Vec<SettingKey> {
        let defaults = dump_scalars(&AgentSettings::default());
        let scalars = SCALARS.iter().zip(defaults).map(|(scalar, (_, _, value))| {
            let mut variables = vec![env_var_name(&[scalar.section, scalar.name])];
            variables.extend(
                OPENAI_FALLBACKS
                    .iter()
                    .filter(|(_, key)| scalar.section == "model_backend" && *key == scalar.name)
                    .map(|(var, _)| (*var).to_owned()),
            );
            SettingKey {
                key: format!("{}.{}", scalar.section, scalar.name),
                variables,
                default: value.map_or_else(
                    || scalar.unset.to_owned(),
                    |value| format!("`{}`", plain(&value)),
                ),
                doc: scalar.doc,
            }
        });
        let maps = MAP_KEYS.iter().map(|map| SettingKey {
            key: map.key.to_owned(),
            variables: map.variables.iter().map(|var| var()).collect(),
            default: map.default.to_owned(),
            doc: map.doc,
        });
        scalars.chain(maps).collect()
    }
}

/// A key holding one value.
struct Scalar {
    section: &'static str,
    name: &'static str,
    /// What an unset key means, when its default is unset.
    unset: &'static str,
    doc: &'static str,
}

/// A key under a model name, documented here and read in [`crate::read`].
struct MapKey {
    key: &'static str,
    variables: &'static [fn() -> String],
    default: &'static str,
    doc: &'static str,
}

/// A problem with a value set in code, at the key it concerns.
pub(crate) type CodeProblem = (KeyPath, Problem);

/// Checks a value set in code and applies it to loaded settings.
type Apply = dyn Fn(&mut AgentSettings) -> Result<(), CodeProblem> + Send + Sync;

/// A value set in code: its key, and how it is checked (by its key's form) and applied to the
/// loaded settings. It is typed all the way: a `Duration` set in code is never text.
#[derive(Clone)]
pub(crate) struct CodeValue {
    pub(crate) path: KeyPath,
    apply: Arc<Apply>,
}

impl CodeValue {
    /// A value for the key at `path`, whose problems are reported at that key.
    pub(crate) fn new(
        path: &[&str],
        apply: impl Fn(&mut AgentSettings) -> Parsed<()> + Send + Sync + 'static,
    ) -> CodeValue {
        let path = key_path(path);
        let at = path.clone();
        CodeValue::nested(path, move |settings| {
            apply(settings).map_err(|problem| (at.clone(), problem))
        })
    }

    /// A value for the table at `path` (a whole price), whose problems name the key below it.
    pub(crate) fn nested(
        path: KeyPath,
        apply: impl Fn(&mut AgentSettings) -> Result<(), CodeProblem> + Send + Sync + 'static,
    ) -> CodeValue {
        CodeValue {
            path,
            apply: Arc::new(apply),
        }
    }

    /// Checks the value and applies it to `settings`.
    pub(crate) fn apply(&self, settings: &mut AgentSettings) -> Result<(), SettingsError> {
        (self.apply)(settings).map_err(|(path, problem)| SettingsError::InvalidValue {
            key: display_path(&path),
            origin: Origin::Code,
            problem: problem.problem,
            expected: problem.expected,
        })
    }
}

/// A key path from its segments.
pub(crate) fn key_path(path: &[&str]) -> KeyPath {
    path.iter().map(|key| (*key).to_owned()).collect()
}

/// Whether `section` holds scalar keys.
pub(crate) fn is_scalar_section(section: &str) -> bool {
    SCALARS.iter().any(|scalar| scalar.section == section)
}

/// Declares the scalar keys: for each, `section.name: form`, what unset means (for keys whose
/// default is unset), its doc and optionally a builder setter `fn name(arg: Type) => value`.
macro_rules! scalar_keys {
    (@unset) => { "" };
    (@unset $unset:literal) => { $unset };
    ($(
        $section:ident . $name:ident : $form:expr,
            $(unset = $unset:literal,)?
            doc = $doc:literal
            $(, $vis:vis fn $setter:ident($arg:ident : $arg_ty:ty) => $value:expr)?;
    )+) => {
        /// The scalar keys, in the order of the reference table.
        const SCALARS: &[Scalar] = &[$(Scalar {
            section: stringify!($section),
            name: stringify!($name),
            unset: scalar_keys!(@unset $($unset)?),
            doc: $doc,
        }),+];

        /// Reads `value` into the scalar key at `path`; `Ok(false)` when `path` is no scalar key.
        pub(crate) fn read_scalar(
            reader: &Reader<'_>,
            path: &[String],
            value: &Value,
            settings: &mut AgentSettings,
        ) -> Result<bool, SettingsError> {
            let [section, name] = path else {
                return Ok(false);
            };
            match (section.as_str(), name.as_str()) {
                $((stringify!($section), stringify!($name)) => {
                    settings.$section.$name = reader.check(path, Form::read(&$form, value))?;
                })+
                _ => return Ok(false),
            }
            Ok(true)
        }

        /// Each scalar key's value as TOML (`None`: unset), in [`SCALARS`] order.
        pub(crate) fn dump_scalars(
            settings: &AgentSettings,
        ) -> Vec<(&'static str, &'static str, Option<toml::Value>)> {
            vec![$((
                stringify!($section),
                stringify!($name),
                Form::dump(&$form, &settings.$section.$name),
            )),+]
        }

        impl SettingsBuilder {$($(
            #[doc = concat!("Sets `", stringify!($section), ".", stringify!($name), "`: ", $doc, ".")]
            $vis fn $setter(self, $arg: $arg_ty) -> Self {
                let value = $value;
                self.in_code(CodeValue::new(
                    &[stringify!($section), stringify!($name)],
                    move |settings| {
                        Form::check(&$form, &value)?;
                        settings.$section.$name = value.clone();
                        Ok(())
                    },
                ))
            }
        )?)+}
    };
}

scalar_keys! {
    model_backend.model: Text,
        doc = "the model name sent with each request",
        pub fn model(model: impl Into<String>) => model.into();
    model_backend.base_url: Optional(Text),
        unset = "OpenAI's",
        doc = "the endpoint, `http://127.0.0.1:8080/v1`; empty clears it",
        pub fn base_url(url: impl Into<String>) => Some(url.into()).filter(|url: &String| !url.is_empty());
    model_backend.api_key: Optional(Secret),
        unset = "none",
        doc = "the API key, never printed: `Debug`, `Display`, dumps and errors show `[redacted]`",
        pub fn api_key(key: impl Into<String>) => Some(key.into()).filter(|key: &String| !key.is_empty()).map(ApiKey::new);
    model_backend.timeout: Seconds,
        doc = "seconds (`30`, `2.5`) or a duration (`\"1m 30s\"`): the deadline of one attempt, connecting, sending and the whole response (a stream's last chunk) included",
        pub fn timeout(timeout: std::time::Duration) => timeout;
    model_backend.max_retries: whole_number::<u32>("a whole number of retries, e.g. 3"),
        doc = "how many times a request that failed with 429, 5xx or a timeout is retried",
        pub fn max_retries(retries: u32) => retries;
    model_backend.temperature: Optional(Float32 { min: 0.0, max: 2.0, expected: "a number from 0 to 2" }),
        unset = "server's",
        doc = "the sampling temperature, 0 to 2",
        pub fn temperature(temperature: f32) => Some(temperature);
    model_backend.max_tokens: Optional(positive::<u32>("a positive whole number of tokens, e.g. 1024")),
        unset = "server's",
        doc = "the most tokens one completion may have, a positive whole number",
        pub fn max_tokens(tokens: u32) => Some(tokens);
    model_backend.local: Optional(Flag),
        unset = "inferred from `base_url`",
        doc = "whether the model is free because it runs locally. `true`: every model is free unless priced explicitly; unset with a loopback `base_url`: models the price table knows keep their price, unknown ones are free",
        pub fn local(local: bool) => Some(local);
    tokenizer.encoding: EncodingName,
        doc = "the encoding of models the counter does not know",
        pub fn encoding(encoding: mamba_tokens::Encoding) => encoding;
    tokenizer.safety_margin: Fraction {
            min: 0.0,
            max: mamba_tokens::TokenizerConfig::MAX_SAFETY_MARGIN,
            expected: "a fraction from 0.0 to 0.5 (0.1 adds 10%)",
        },
        doc = "the fraction added to estimated counts, 0.0 to 0.5",
        pub fn safety_margin(margin: f64) => margin;
    tracking.max_history_records: Optional(whole_number::<usize>("a whole number of records to keep, e.g. 10000")),
        unset = "keep all",
        doc = "how many per-request records to keep, a whole number; totals still count every request",
        pub fn max_history_records(records: usize) => Some(records);
    tracking.log_level: LEVEL,
        doc = "the level of the per-request event: `off`, `error`, `warn`, `info`, `debug`, `trace`",
        pub fn log_level(level: LogLevel) => level;
    tracking.sink_queue_capacity: positive::<u32>("a positive whole number of records, e.g. 1024"),
        doc = "how many records may wait for each optional usage sink before new ones are dropped for it (the tracker keeps every record)",
        pub fn sink_queue_capacity(records: u32) => records;
    context.strategy: STRATEGY,
        doc = "how a conversation past its trigger is compacted: `sliding_window` (drop the oldest turns), `summarize_older` (a model summarizes them), `selective_pruning` (completed tool calls become a line naming the tools), `importance_scoring` (a model rates the messages; the lowest go), `hybrid` (pruning, then the sliding window)",
        pub fn compaction_strategy(strategy: CompactionStrategy) => strategy;
    context.trigger_threshold_tokens: Optional(positive::<u64>("a positive whole number of tokens, e.g. 100000")),
        unset = "the model's input window less its largest answer, or 100000",
        doc = "compact when the conversation's prompt reaches this many tokens",
        pub fn compaction_trigger_tokens(tokens: u64) => Some(tokens);
    context.target_tokens: Optional(positive::<u64>("a positive whole number of tokens, e.g. 80000")),
        unset = "80% of the trigger",
        doc = "compact down to at most this many tokens; below the trigger (without a trigger set, below the model's, checked when an agent is built)",
        pub fn compaction_target_tokens(tokens: u64) => Some(tokens);
    context.preserve_recent_turns: whole_number::<u32>("a whole number of turns, e.g. 10"),
        doc = "how many of the latest turns (a user message and everything after it) are never compacted",
        pub fn preserve_recent_turns(turns: u32) => turns;
    context.preserve_system_prompt: Flag,
        doc = "whether system messages given to a context manager are kept aside as its system prompt, never compacted",
        pub fn preserve_system_prompt(on: bool) => on;
    context.summarization_model: Text,
        doc = "the model that writes summaries and importance scores; `same`: the agent's own",
        pub fn summarization_model(model: impl Into<String>) => model.into();
    context.auto_compact: Flag,
        doc = "whether an agent compacts its conversation by itself, after a run and before a request that would not fit",
        pub fn auto_compact(on: bool) => on;
    usage_limits.requests: Optional(whole_number::<u64>("a whole number, e.g. 100000")),
        unset = "unlimited",
        doc = "the most requests of one agent, a whole number",
        pub(crate) fn requests_limit(limit: Option<u64>) => limit;
    usage_limits.input_tokens: Optional(whole_number::<u64>("a whole number, e.g. 100000")),
        unset = "unlimited",
        doc = "the most input tokens, a whole number",
        pub(crate) fn input_tokens_limit(limit: Option<u64>) => limit;
    usage_limits.output_tokens: Optional(whole_number::<u64>("a whole number, e.g. 100000")),
        unset = "unlimited",
        doc = "the most output tokens, a whole number",
        pub(crate) fn output_tokens_limit(limit: Option<u64>) => limit;
    usage_limits.total_tokens: Optional(whole_number::<u64>("a whole number, e.g. 100000")),
        unset = "unlimited",
        doc = "the most input and output tokens together, a whole number",
        pub(crate) fn total_tokens_limit(limit: Option<u64>) => limit;
    usage_limits.cost: Optional(Usd { expected: "a non-negative decimal USD amount, e.g. 5.00", max: rust_decimal::Decimal::MAX }),
        unset = "unlimited",
        doc = "the most USD, a decimal",
        pub(crate) fn cost_limit(limit: Option<rust_decimal::Decimal>) => limit;
    ledger.url: Optional(LedgerUrl),
        unset = "no ledger",
        doc = "the durable usage ledger every record is committed to before its request returns, `sqlite://usage.db` or `postgres://user:password@host/db` (the password is never shown); empty clears it",
        pub fn ledger(config: mamba_ledger::LedgerConfig) => Some(config);
    ledger.durability: LedgerDurability,
        doc = "how durable each ledger commit is: `process` (survives the process being killed) or `power_loss` (an fsync per commit)",
        pub fn ledger_durability(durability: mamba_ledger::Durability) => durability;
    ledger.spill: Optional(FilePath),
        unset = "no spill file",
        doc = "a file records are appended to while the ledger's database cannot take them (down, unreachable, locked), written to it once it is back; empty clears it",
        pub fn ledger_spill(path: std::path::PathBuf) => Some(path);
    ledger.batch_records: Optional(positive::<u32>("a positive whole number of records, e.g. 1000")),
        unset = "write-through",
        doc = "batched writes: records wait in memory and are committed this many at a time (or after `batch_delay`, on flush and on shutdown), so a crash can lose the last two batches; unset, each record is committed before its request returns",
        pub fn ledger_batch_records(records: u32) => Some(records);
    ledger.batch_delay: Seconds,
        doc = "with `batch_records`, the longest a record waits in a batch before it is committed: seconds (`0.1`) or a duration (`\"100ms\"`)",
        pub fn ledger_batch_delay(delay: std::time::Duration) => delay;
}

/// The keys under a model name.
const MAP_KEYS: &[MapKey] = &[
    MapKey {
        key: "tokenizer.model_mapping.\"model\"",
        variables: &[|| env_var_name(&["tokenizer", "model_mapping", "model"])],
        default: "empty",
        doc: "the encoding name of a model",
    },
    MapKey {
        key: "cost_rates.\"model\"",
        variables: &[|| COST_RATES_VAR.to_owned()],
        default: "none",
        doc: "USD **per 1,000 tokens**, input and output alike; `default` prices unknown models",
    },
    MapKey {
        key: "prices.\"model\".input",
        variables: &[],
        default: "none",
        doc: "USD **per 1,000,000** input tokens; required",
    },
    MapKey {
        key: "prices.\"model\".cached_input",
        variables: &[],
        default: "`input`",
        doc: "USD per 1,000,000 input tokens read from the prompt cache",
    },
    MapKey {
        key: "prices.\"model\".cache_write",
        variables: &[],
        default: "`input`",
        doc: "USD per 1,000,000 input tokens written to the prompt cache",
    },
    MapKey {
        key: "prices.\"model\".cache_write_1h",
        variables: &[],
        default: "`cache_write`",
        doc: "USD per 1,000,000 input tokens written to the prompt cache with a one-hour lifetime",
    },
    MapKey {
        key: "prices.\"model\".output",
        variables: &[],
        default: "none",
        doc: "USD **per 1,000,000** output tokens; required",
    },
    MapKey {
        key: "prices.\"model\".tier.above_prompt_tokens",
        variables: &[],
        default: "none",
        doc: "with the tier's own `input`, `cached_input`, `cache_write`, `cache_write_1h` and `output`: the prices of requests whose prompt is larger",
    },
    MapKey {
        key: "prices.\"model\".tiers",
        variables: &[],
        default: "none",
        doc: "more tiers, as a list of tables like `tier` (`[[prices.\"model\".tiers]]`); the highest tier a prompt is above applies",
    },
    MapKey {
        key: "prices.\"model\".checked",
        variables: &[],
        default: "none",
        doc: "when the price was checked (`2026-11-30`)",
    },
    MapKey {
        key: "prices.\"model\".source",
        variables: &[],
        default: "the file or variable that set the price",
        doc: "where the price comes from",
    },
    MapKey {
        key: "ledger.budgets.\"name\".requests",
        variables: &[],
        default: "none",
        doc: "a fleet budget (in the ledger's database, shared by every process on it): the most requests; a budget sets at least one of `requests`, `input_tokens`, `output_tokens`, `total_tokens`, `cost`",
    },
    MapKey {
        key: "ledger.budgets.\"name\".input_tokens",
        variables: &[],
        default: "none",
        doc: "the most input tokens, a whole number",
    },
    MapKey {
        key: "ledger.budgets.\"name\".output_tokens",
        variables: &[],
        default: "none",
        doc: "the most output tokens, a whole number",
    },
    MapKey {
        key: "ledger.budgets.\"name\".total_tokens",
        variables: &[],
        default: "none",
        doc: "the most input and output tokens together, a whole number",
    },
    MapKey {
        key: "ledger.budgets.\"name\".cost",
        variables: &[],
        default: "none",
        doc: "the most USD, a decimal (`\"5.00\"`)",
    },
    MapKey {
        key: "ledger.budgets.\"name\".scope",
        variables: &[],
        default: "`all`",
        doc: "the records it counts: `all`, `model:NAME` or `label:KEY=VALUE` (`label:user=alice`)",
    },
    MapKey {
        key: "ledger.budgets.\"name\".period",
        variables: &[],
        default: "`total`",
        doc: "the window its limits apply to: `total`, `day` or `month` (UTC)",
    },
    MapKey {
        key: "ledger.budgets.\"name\".unpriced",
        variables: &[],
        default: "`refuse`",
        doc: "with a `cost` limit, what it does with a request it cannot price: `refuse` or `allow` (counted at $0)",
    },
    MapKey {
        key: "ledger.budgets.\"name\".hold_expiry",
        variables: &[],
        default: "`10m`",
        doc: "how long a request's hold lasts if its process dies before settling it: seconds or a duration; longer than the longest request",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_without_a_default_says_what_unset_means() {
        for key in SettingKey::all() {
            assert!(!key.default.is_empty(), "{}", key.key);
        }
    }
}
