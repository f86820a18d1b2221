//! [`CostBreakdown`]: what a request (or many) cost, part by part, and how money is printed.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::price::CostParts;

/// Where the price of a breakdown came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum PriceSource {
    /// The built-in table.
    BuiltIn,
    /// A price or rate the user set for this model.
    Custom,
    /// The user's `"default"` rate, used because nothing matched the model.
    Default,
    /// A local model (marked local, or named with a local prefix such as `ollama/`): free.
    Local,
    /// Nothing: the tokens are in [`CostBreakdown::unpriced_tokens`], not in the cost.
    Unpriced,
    /// A sum over models priced from different sources (or over no model at all), as made by
    /// [`HistoryCost::combined`](crate::HistoryCost::combined).
    Mixed,
}

/// The cost of a request (or a sum of requests of one model), exact, part by part.
///
/// The seed's `CostBreakdown` (`prompt_cost`, `completion_cost`, `total_cost`, `model`), plus the
/// parts the Python version ignores: cache reads and writes are priced at their own rates, and
/// tokens that could not be priced are counted in `unpriced_tokens` instead of costing a silent
/// $0.
///
/// ```
/// use mamba_pricing::CostEstimator;
/// use rust_decimal::Decimal;
///
/// let cost = CostEstimator::new().estimate(1_000, 500, "gpt-4o");
/// assert_eq!(cost.prompt_cost, Decimal::new(25, 4));      // 1000 x $2.50 / 1M
/// assert_eq!(cost.completion_cost, Decimal::new(50, 4));  // 500 x $10.00 / 1M
/// assert_eq!(cost.total_cost, Decimal::new(75, 4));
/// assert_eq!(cost.to_string(), "$0.0075 for gpt-4o (prompt $0.0025, completion $0.0050)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct CostBreakdown {
    /// The model as asked for.
    pub model: String,
    /// The table entry it was priced as (`None` for the default rate, local and unpriced).
    pub priced_as: Option<String>,
    /// Where the price came from.
    pub source: PriceSource,
    /// Input tokens that were neither cache reads nor writes.
    pub input_cost: Decimal,
    /// Cache reads.
    pub cached_input_cost: Decimal,
    /// Cache writes.
    pub cache_write_cost: Decimal,
    /// `input_cost + cached_input_cost + cache_write_cost`.
    pub prompt_cost: Decimal,
    /// Output tokens, reasoning included.
    pub completion_cost: Decimal,
    /// `prompt_cost + completion_cost`.
    pub total_cost: Decimal,
    /// Tokens that no price covered (unknown model, no default rate).
    pub unpriced_tokens: u64,
}

impl CostBreakdown {
    pub(crate) fn priced(
        model: &str,
        priced_as: Option<&str>,
        source: PriceSource,
        parts: CostParts,
    ) -> CostBreakdown {
        let prompt_cost = add(add(parts.input, parts.cached_input), parts.cache_write);
        CostBreakdown {
            model: model.to_owned(),
            priced_as: priced_as.map(str::to_owned),
            source,
            input_cost: parts.input,
            cached_input_cost: parts.cached_input,
            cache_write_cost: parts.cache_write,
            prompt_cost,
            completion_cost: parts.completion,
            total_cost: add(prompt_cost, parts.completion),
            unpriced_tokens: 0,
        }
    }

    pub(crate) fn unpriced(model: &str, tokens: u64) -> CostBreakdown {
        CostBreakdown {
            unpriced_tokens: tokens,
            ..CostBreakdown::priced(model, None, PriceSource::Unpriced, CostParts::default())
        }
    }

    /// Whether every token was priced (`unpriced_tokens == 0`).
    ///
    /// ```
    /// use mamba_pricing::CostEstimator;
    ///
    /// assert!(CostEstimator::new().estimate(10, 10, "gpt-4o").is_fully_priced());
    /// assert!(!CostEstimator::new().estimate(10, 10, "my-model").is_fully_priced());
    /// ```
    pub fn is_fully_priced(&self) -> bool {
        self.unpriced_tokens == 0
    }

    /// Adds another breakdown's costs and unpriced tokens into this one (same model; its price
    /// source and table entry are kept from the first request).
    pub(crate) fn accumulate(&mut self, other: &CostBreakdown) {
        self.input_cost = add(self.input_cost, other.input_cost);
        self.cached_input_cost = add(self.cached_input_cost, other.cached_input_cost);
        self.cache_write_cost = add(self.cache_write_cost, other.cache_write_cost);
        self.prompt_cost = add(self.prompt_cost, other.prompt_cost);
        self.completion_cost = add(self.completion_cost, other.completion_cost);
        self.total_cost = add(self.total_cost, other.total_cost);
        self.unpriced_tokens = self.unpriced_tokens.saturating_add(other.unpriced_tokens);
    }
}

/// `$0.0075 for gpt-4o (prompt $0.0025, completion $0.0050)`; with unpriced tokens:
/// `unknown cost for my-model: 1500 tokens unpriced`, or the partial cost and the unpriced count.
impl fmt::Display for CostBreakdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unpriced_tokens > 0 && self.total_cost.is_zero() {
            return write!(
                f,
                "unknown cost for {}: {} tokens unpriced",
                self.model, self.unpriced_tokens
            );
        }
        write!(
            f,
            "{} for {} (prompt {}, completion {})",
            format_usd(self.total_cost),
            self.model,
            format_usd(self.prompt_cost),
            format_usd(self.completion_cost)
        )?;
        if self.unpriced_tokens > 0 {
            write!(f, ", plus {} tokens unpriced", self.unpriced_tokens)?;
        }
        Ok(())
    }
}

/// Adds money, saturating at `Decimal::MAX` instead of panicking (unreachable for real costs).
pub(crate) fn add(a: Decimal, b: Decimal) -> Decimal {
    // Most parts of a request's cost are zero (no cache reads or writes); adding a zero would
    // still align the scales, which costs more than the rest of pricing.
    if b.is_zero() {
        return a;
    }
    if a.is_zero() {
        return b;
    }
    a.checked_add(b).unwrap_or(Decimal::MAX)
}

/// Formats USD for people, rounded half away from zero to at most 6 decimals: sub-dollar
/// amounts show at least 4 decimals (`$0.0050`, like the seed's `:.4f`), larger ones at least 2
/// (`$12.50`). A non-zero amount below $0.000001 prints as `<$0.000001`, never as a zero.
///
/// ```
/// use mamba_pricing::format_usd;
/// use rust_decimal::Decimal;
///
/// assert_eq!(format_usd(Decimal::new(75, 4)), "$0.0075");
/// assert_eq!(format_usd(Decimal::new(5, 3)), "$0.0050");
/// assert_eq!(format_usd(Decimal::new(15, 6)), "$0.000015");
/// assert_eq!(format_usd(Decimal::new(1250, 2)), "$12.50");
/// assert_eq!(format_usd(Decimal::new(123_456_789, 8)), "$1.234568");
/// assert_eq!(format_usd(Decimal::new(1, 9)), "<$0.000001");
/// assert_eq!(format_usd(Decimal::ZERO), "$0.0000");
/// ```
pub fn format_usd(amount: Decimal) -> String {
    let rounded = amount.round_dp_with_strategy(6, RoundingStrategy::MidpointAwayFromZero);
    let sign = if amount.is_sign_negative() && !amount.is_zero() {
        "-"
    } else {
        ""
    };
    if rounded.is_zero() && !amount.is_zero() {
        return format!("{sign}<$0.000001");
    }
    let mut shown = rounded.abs().normalize();
    let min_scale = if shown < Decimal::ONE { 4 } else { 2 };
    if shown.scale() < min_scale {
        shown.rescale(min_scale);
    }
    format!("{sign}${shown}")
}
