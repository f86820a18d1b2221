//! [`TokenizerConfig`]: the plain settings a [`TokenCounter`](crate::TokenCounter) is built from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Accuracy, ModelEncoding, known_encoding};
use crate::{Encoding, TokensError};

/// How to count: the fallback encoding, per-model overrides and a safety margin.
///
/// The Rust counterpart of the Python library's `TokenizerConfig`. This crate never reads files
/// or the environment; `mamba-settings` maps `config.toml` and `MAMBA_TOKENIZER__*` variables onto
/// this struct.
///
/// * `encoding` counts models that neither `model_mapping` nor the built-in table know
///   (default [`Encoding::DEFAULT`], o200k_base).
/// * `model_mapping` overrides the built-in model table, by exact model name.
/// * `safety_margin` is the fraction added by
///   [`count_with_margin`](crate::TokenCounter::count_with_margin), from 0.0 to 0.5 (default 0.1).
///
/// ```
/// use mamba_tokens::{Encoding, TokenCounter, TokenizerConfig};
///
/// let mut config = TokenizerConfig::default();
/// config.model_mapping.insert("my-finetune".into(), Encoding::Cl100kBase);
/// config.safety_margin = 0.2;
///
/// let counter = TokenCounter::for_model_with_config("my-finetune", &config)?;
/// assert_eq!(counter.encoding(), Encoding::Cl100kBase);
/// assert_eq!(counter.count_with_margin("Hello, world!"), 5); // ceil(4 * 1.2)
///
/// config.safety_margin = 0.7;
/// assert!(config.validate().is_err());
/// # Ok::<(), mamba_tokens::TokensError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct TokenizerConfig {
    /// The encoding for models nobody mapped.
    pub encoding: Encoding,
    /// Model name -> encoding, checked before the built-in table.
    pub model_mapping: BTreeMap<String, Encoding>,
    /// Fraction added to counts by `count_with_margin` and `fits_context`, from 0.0 to 0.5.
    pub safety_margin: f64,
}

impl TokenizerConfig {
    /// The default safety margin: 10%.
    pub const DEFAULT_SAFETY_MARGIN: f64 = 0.1;

    /// The defaults, counting unmapped models with `encoding`.
    #[must_use]
    pub fn with_encoding(mut self, encoding: Encoding) -> TokenizerConfig {
        self.encoding = encoding;
        self
    }

    /// With `model` counted with `encoding`, over the built-in table.
    #[must_use]
    pub fn with_model(mut self, model: impl Into<String>, encoding: Encoding) -> TokenizerConfig {
        self.model_mapping.insert(model.into(), encoding);
        self
    }

    /// With a safety margin of `margin` (checked by [`validate`](Self::validate)).
    #[must_use]
    pub fn with_safety_margin(mut self, margin: f64) -> TokenizerConfig {
        self.safety_margin = margin;
        self
    }

    /// The largest accepted safety margin: 50%.
    pub const MAX_SAFETY_MARGIN: f64 = 0.5;

    /// Checks that the margin is a number from 0.0 to 0.5.
    ///
    /// # Errors
    /// [`TokensError::InvalidSafetyMargin`] naming the margin (NaN included).
    ///
    /// ```
    /// use mamba_tokens::TokenizerConfig;
    ///
    /// let config = TokenizerConfig::default().with_safety_margin(f64::NAN);
    /// assert_eq!(
    ///     config.validate().unwrap_err().to_string(),
    ///     "safety margin NaN is out of range: expected a fraction from 0.0 to 0.5 (0.1 adds 10%)"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), TokensError> {
        validate_margin(self.safety_margin)
    }

    /// The encoding for `model`: `model_mapping` first, then the built-in table, then `encoding`.
    ///
    /// The result is [`Accuracy::Exact`] only when the built-in table knows the model and the
    /// chosen encoding is the one it lists.
    ///
    /// ```
    /// use mamba_tokens::{Accuracy, Encoding, TokenizerConfig};
    ///
    /// let config = TokenizerConfig::default().with_encoding(Encoding::Cl100kBase);
    /// let unknown = config.encoding_for_model("mistral-large");
    /// assert_eq!((unknown.encoding, unknown.accuracy), (Encoding::Cl100kBase, Accuracy::Approximate));
    /// assert_eq!(config.encoding_for_model("gpt-4o").accuracy, Accuracy::Exact);
    /// ```
    pub fn encoding_for_model(&self, model: &str) -> ModelEncoding {
        let known = known_encoding(model);
        let encoding = self
            .model_mapping
            .get(model)
            .copied()
            .or(known)
            .unwrap_or(self.encoding);
        let accuracy = if known == Some(encoding) {
            Accuracy::Exact
        } else {
            Accuracy::Approximate
        };
        ModelEncoding { encoding, accuracy }
    }
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        TokenizerConfig {
            encoding: Encoding::DEFAULT,
            model_mapping: BTreeMap::new(),
            safety_margin: Self::DEFAULT_SAFETY_MARGIN,
        }
    }
}

/// Accepts margins from 0.0 to 0.5 inclusive; rejects NaN and infinities.
pub(crate) fn validate_margin(margin: f64) -> Result<(), TokensError> {
    if (0.0..=TokenizerConfig::MAX_SAFETY_MARGIN).contains(&margin) {
        Ok(())
    } else {
        Err(TokensError::InvalidSafetyMargin { margin })
    }
}
