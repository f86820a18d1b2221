//! Price files: LiteLLM's `model_prices_and_context_window.json`, and our own TOML format.
//!
//! Both are parsed from text (this crate never reads files; `mamba-settings` does), into
//! [`ModelPrice`]s without ever passing through `f64`: JSON numbers are read as their text,
//! TOML prices are decimal strings. A strict load fails on the first bad entry, naming the model
//! key and field; a lenient load skips bad entries and reports them. Each reader is behind a
//! feature of its name (`litellm`, `toml`; both on by default), so a user who prices from code
//! alone compiles neither parser.

use std::collections::BTreeMap;

#[cfg(feature = "litellm")]
mod litellm;
#[cfg(feature = "toml")]
mod price_toml;

#[cfg(feature = "litellm")]
#[cfg_attr(docsrs, doc(cfg(feature = "litellm")))]
pub use litellm::parse_litellm_json;
#[cfg(feature = "toml")]
#[cfg_attr(docsrs, doc(cfg(feature = "toml")))]
pub use price_toml::parse_price_toml;

use crate::{CostEstimator, ModelPrice, PricingError};

/// What to do with an entry that is not a valid price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LoadMode {
    /// Fail on the first bad entry (the default).
    #[default]
    Strict,
    /// Skip bad entries, load the rest, and report what was skipped.
    Lenient,
}

/// The prices read from a file.
///
/// ```
/// use mamba_pricing::{LoadMode, parse_price_toml};
///
/// let file = parse_price_toml("[models.my-model]\ninput = \"1.00\"\noutput = \"2.00\"\n", "prices.toml", LoadMode::Strict)?;
/// assert_eq!(file.prices.len(), 1);
/// assert!(file.skipped.is_empty());
/// # Ok::<(), mamba_pricing::PricingError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PriceFile {
    /// Prices by model key.
    pub prices: BTreeMap<String, ModelPrice>,
    /// Models marked local (`local = true`, TOML only).
    pub local_models: Vec<String>,
    /// Entries skipped by a lenient load, with why.
    pub skipped: Vec<PricingError>,
    /// Entries that carry no per-token price (image, audio or per-request models, LiteLLM's
    /// `sample_spec`): not errors, just nothing to load.
    pub ignored: Vec<String>,
    /// `(model, field)`: price fields of loaded entries that the reader does not understand
    /// (reasoning, audio or image prices, unknown service tiers), so they were not applied.
    pub unread: Vec<(String, String)>,
}

#[cfg_attr(not(any(feature = "litellm", feature = "toml")), allow(dead_code))]
fn syntax_error(source_name: &str, format: &'static str, reason: String) -> PricingError {
    PricingError::PriceFileSyntax {
        source_name: source_name.to_owned(),
        format,
        reason,
    }
}

#[cfg_attr(not(any(feature = "litellm", feature = "toml")), allow(dead_code))]
fn entry_error(source_name: &str, model: &str, field: &str, reason: String) -> PricingError {
    PricingError::PriceFileEntry {
        source_name: source_name.to_owned(),
        model: model.to_owned(),
        field: field.to_owned(),
        reason,
    }
}

impl CostEstimator {
    /// Adds every price (and local model) of `file`, over built-in and earlier prices.
    ///
    /// ```
    /// use mamba_pricing::{CostEstimator, LoadMode, parse_price_toml};
    /// use rust_decimal::Decimal;
    ///
    /// let file = parse_price_toml("[models.my-model]\ninput = \"1\"\noutput = \"2\"\n", "prices.toml", LoadMode::Strict)?;
    /// let mut estimator = CostEstimator::new();
    /// estimator.add_prices(&file)?;
    /// assert_eq!(estimator.estimate(1_000_000, 1_000_000, "my-model").total_cost, Decimal::new(3, 0));
    /// # Ok::<(), mamba_pricing::PricingError>(())
    /// ```
    ///
    /// # Errors
    /// [`PricingError::NegativePrice`] naming the model (prices from the parsers are already
    /// checked; this guards hand-built files).
    pub fn add_prices(&mut self, file: &PriceFile) -> Result<(), PricingError> {
        for (model, price) in &file.prices {
            self.set_price(model, price.clone())?;
        }
        for model in &file.local_models {
            self.mark_local(model);
        }
        Ok(())
    }
}
