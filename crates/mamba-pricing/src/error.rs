//! The one error type of this crate.

use rust_decimal::Decimal;
use thiserror::Error;

/// Everything that can go wrong when looking up or setting prices.
///
/// Estimating never fails: an unknown model gives a [`CostBreakdown`](crate::CostBreakdown)
/// that says which tokens it could not price. Errors come from strict lookups and bad prices,
/// and each message names the model and the value.
///
/// ```
/// use mamba_pricing::{CostEstimator, PricingError};
///
/// let err = CostEstimator::new().rate("gpt-4o-mni").unwrap_err();
/// assert!(matches!(err, PricingError::UnknownModel { .. }));
/// assert_eq!(err.to_string(), "no price for model `gpt-4o-mni`; closest known: gpt-4o-mini, gpt-4.1-mini, gpt-5-mini");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PricingError {
    /// No price matches the model, and no default rate is set.
    #[error("no price for model `{model}`; closest known: {}", closest.join(", "))]
    UnknownModel {
        /// The model that was asked for.
        model: String,
        /// Up to three known names closest to it.
        closest: Vec<String>,
    },
    /// A price file is not valid JSON or TOML.
    #[error("{source_name} is not a valid {format} price file: {reason}")]
    PriceFileSyntax {
        /// Where the text came from (a path, or what the caller passed).
        source_name: String,
        /// `"LiteLLM JSON"` or `"TOML"`.
        format: &'static str,
        /// The parser's message, with the line where it has one.
        reason: String,
    },
    /// An entry of a price file has a field that is not a valid price.
    #[error("{source_name}: model `{model}`, field `{field}`: {reason}")]
    PriceFileEntry {
        /// Where the text came from.
        source_name: String,
        /// The model key of the entry.
        model: String,
        /// The field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A price is larger than [`Price::MAX_PER_MILLION`](crate::Price::MAX_PER_MILLION) (or,
    /// for a per-1K `rate`, its thousandth).
    #[error("price `{field}` of `{model}` is {value}: at most {max} is accepted")]
    PriceOutOfRange {
        /// The model the price was for.
        model: String,
        /// Which price (`input`, `tier.output`, `flex.input`, ..., or `rate` for a blended
        /// per-1K rate).
        field: String,
        /// The value as given.
        value: Decimal,
        /// The largest value accepted, in the same unit.
        max: Decimal,
    },
    /// A price is negative.
    #[error("price `{field}` of `{model}` is {value}: prices must not be negative")]
    NegativePrice {
        /// The model the price was for.
        model: String,
        /// Which price (`input`, `cached_input`, `cache_write`, `cache_write_1h`, `output`,
        /// a tier's (`tier.input`), a service tier's (`flex.input`), or `rate` for a blended
        /// per-1K rate).
        field: String,
        /// The value as given.
        value: Decimal,
    },
    /// A price history with no price in it.
    #[error("the price history of `{model}` is empty")]
    EmptyHistory {
        /// The model.
        model: String,
    },
    /// A model's long-context tiers are not in strictly ascending order of threshold.
    #[error("the tiers of `{model}` are out of order: a tier above {} prompt tokens comes before one above {}", thresholds[0], thresholds[1])]
    TiersOutOfOrder {
        /// The model.
        model: String,
        /// The two thresholds out of order, as they come.
        thresholds: [u64; 2],
    },
}
