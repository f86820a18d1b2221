//! [`SettingsError`] and [`UnknownKey`]: what can go wrong loading settings, naming the key and
//! where its value came from.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

use crate::Origin;

/// A key no part of mamba reads, and where it was set.
///
/// ```
/// use mamba_settings::{Origin, UnknownKey};
///
/// let key = UnknownKey::new("model_backend.base_ulr", Origin::Code);
/// assert_eq!(key.to_string(), "`model_backend.base_ulr` (a value set in code)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct UnknownKey {
    /// The dotted key path, model names quoted (`cost_rates."gpt-4.1"`).
    pub key: String,
    /// Where it was set.
    pub origin: Origin,
}

impl UnknownKey {
    /// The dotted `key`, set at `origin`.
    pub fn new(key: impl Into<String>, origin: Origin) -> UnknownKey {
        UnknownKey {
            key: key.into(),
            origin,
        }
    }
}

impl fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` ({})", self.key, self.origin)
    }
}

/// Why settings could not be loaded. Every variant names the offending key or file and its
/// source; API keys never appear in a message.
///
/// ```
/// use mamba_settings::{AgentSettings, SettingsError};
///
/// let err = AgentSettings::builder()
///     .defaults_only()
///     .environment([("MAMBA_COST_RATES", "my-model=-0.5")])
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, SettingsError::InvalidValue { .. }));
/// assert_eq!(
///     err.to_string(),
///     "invalid `cost_rates.my-model` from environment variable MAMBA_COST_RATES: -0.5 is negative; \
///      expected a non-negative decimal USD rate per 1,000 tokens, e.g. 0.001"
/// );
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A value of the wrong type or out of range.
    #[error("invalid `{key}` from {origin}: {problem}; expected {expected}")]
    InvalidValue {
        /// The dotted key path.
        key: String,
        /// Where the value came from.
        origin: Origin,
        /// What is wrong with it (quoting the value, except for secrets).
        problem: String,
        /// The form the key takes.
        expected: String,
    },
    /// A settings file that was asked for does not exist.
    #[error("settings file {} not found", path.display())]
    FileNotFound {
        /// The path that was looked up.
        path: PathBuf,
    },
    /// A settings file that is not TOML.
    #[error("settings file {} is not a TOML file; expected a path ending in `.toml`", path.display())]
    UnsupportedFormat {
        /// The file's path.
        path: PathBuf,
    },
    /// A settings file that is not valid TOML.
    #[error("settings file {} is not valid TOML: {reason}", path.display())]
    MalformedToml {
        /// The file's path.
        path: PathBuf,
        /// The parser's message, with line and column.
        reason: String,
    },
    /// A `.env` file with a line that is not `NAME=value`.
    #[error(".env file {}: {reason}", path.display())]
    MalformedDotEnv {
        /// The file's path.
        path: PathBuf,
        /// Which line, without its text (it may hold a secret).
        reason: String,
    },
    /// A file that exists but cannot be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file's path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A price or rate that was changed in code after loading and is no longer valid.
    #[error("the price of model `{model}` in these settings is invalid")]
    InvalidPrice {
        /// The model key.
        model: String,
        /// What the price table said.
        #[source]
        source: mamba_pricing::PricingError,
    },
    /// Keys no part of mamba reads, refused by a [strict](crate::SettingsBuilder::strict) load.
    #[error("unknown settings keys: {}", list(keys))]
    UnknownKeys {
        /// The keys and where they were set, sorted.
        keys: Vec<UnknownKey>,
    },
}

fn list(keys: &[UnknownKey]) -> String {
    keys.iter()
        .map(UnknownKey::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
