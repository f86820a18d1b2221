//! Prices per million tokens, and the cost of one request under them.

use rust_decimal::Decimal;

use crate::PricingError;

/// One millionth: prices are quoted per million tokens.
const PER_MILLION: Decimal = Decimal::from_parts(1, 0, 0, false, 6);

/// USD per 1,000,000 tokens of each kind.
///
/// A missing cached-input or cache-write price falls back to the input price: a provider that
/// publishes no cache discount charges cached tokens as ordinary input.
///
/// ```
/// use mamba_pricing::Price;
/// use rust_decimal::Decimal;
///
/// let price = Price::new(Decimal::new(250, 2), Decimal::new(1000, 2)).with_cached_input(Decimal::new(125, 2));
/// assert_eq!(price.cached_input_or_input(), Decimal::new(125, 2));
/// assert_eq!(price.cache_write_or_input(), Decimal::new(250, 2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Price {
    /// Input (prompt) tokens that were not cache reads or writes.
    pub input: Decimal,
    /// Input tokens read from the prompt cache; `None`: the input price.
    pub cached_input: Option<Decimal>,
    /// Input tokens written to the prompt cache; `None`: the input price.
    pub cache_write: Option<Decimal>,
    /// Output (completion) tokens, reasoning included.
    pub output: Decimal,
}

impl Price {
    /// The largest price accepted, USD per 1M tokens ($1,000 a token). Far above any real
    /// price, and low enough that the cost of any request, at any token count a `u64` holds,
    /// is exact in a `Decimal`.
    pub const MAX_PER_MILLION: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

    /// Input and output prices per 1M tokens, no cache prices.
    pub const fn new(input: Decimal, output: Decimal) -> Price {
        Price {
            input,
            cached_input: None,
            cache_write: None,
            output,
        }
    }

    /// Free: local models.
    pub const FREE: Price = Price::new(Decimal::ZERO, Decimal::ZERO);

    /// Sets the cache-read price.
    #[must_use]
    pub const fn with_cached_input(mut self, price: Decimal) -> Price {
        self.cached_input = Some(price);
        self
    }

    /// Sets the cache-write price.
    #[must_use]
    pub const fn with_cache_write(mut self, price: Decimal) -> Price {
        self.cache_write = Some(price);
        self
    }

    /// The cache-read price, or the input price when none is set.
    pub fn cached_input_or_input(&self) -> Decimal {
        self.cached_input.unwrap_or(self.input)
    }

    /// The cache-write price, or the input price when none is set.
    pub fn cache_write_or_input(&self) -> Decimal {
        self.cache_write.unwrap_or(self.input)
    }

    /// One price for input and output, given per 1,000 tokens: the seed's `cost_rates` form.
    /// `None` when the rate per 1M would not fit a `Decimal` (a rate near 10^26).
    ///
    /// ```
    /// use mamba_pricing::Price;
    /// use rust_decimal::Decimal;
    ///
    /// let price = Price::blended_per_thousand(Decimal::new(1, 3)).unwrap(); // $0.001 per 1K
    /// assert_eq!((price.input, price.output), (Decimal::ONE, Decimal::ONE)); // $1 per 1M
    /// assert_eq!(Price::blended_per_thousand(Decimal::MAX), None);
    /// ```
    pub fn blended_per_thousand(rate: Decimal) -> Option<Price> {
        let per_million = rate.checked_mul(Decimal::ONE_THOUSAND)?;
        Some(Price::new(per_million, per_million))
    }

    fn validate(
        &self,
        model: &str,
        prefix: &'static [&'static str; 4],
    ) -> Result<(), PricingError> {
        let fields = [
            Some(self.input),
            self.cached_input,
            self.cache_write,
            Some(self.output),
        ];
        for (field, value) in prefix.iter().zip(fields) {
            let Some(value) = value else { continue };
            if value.is_sign_negative() && !value.is_zero() {
                return Err(PricingError::NegativePrice {
                    model: model.to_owned(),
                    field,
                    value,
                });
            }
            if value > Price::MAX_PER_MILLION {
                return Err(PricingError::PriceOutOfRange {
                    model: model.to_owned(),
                    field,
                    value,
                    max: Price::MAX_PER_MILLION,
                });
            }
        }
        Ok(())
    }
}

/// Different prices for requests whose prompt exceeds a size, applied to the whole request
/// (Gemini 2.5 Pro charges more for every token of a prompt above 200,000 tokens).
///
/// ```
/// use mamba_pricing::{Price, Tier};
/// use rust_decimal::Decimal;
///
/// let tier = Tier { above_prompt_tokens: 200_000, price: Price::new(Decimal::new(250, 2), Decimal::new(15, 0)) };
/// assert_eq!(tier.above_prompt_tokens, 200_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tier {
    /// The tier applies when a request's prompt tokens are strictly more than this.
    pub above_prompt_tokens: u64,
    /// The prices for such requests.
    pub price: Price,
}

/// The full price of a model: base prices, an optional tier, and where the numbers come from.
///
/// ```
/// use mamba_pricing::CostEstimator;
///
/// let gemini = CostEstimator::new().rate("gemini-2.5-pro")?;
/// assert_eq!(gemini.tier.map(|t| t.above_prompt_tokens), Some(200_000));
/// assert_eq!(gemini.checked.as_deref(), Some("2026-11-23"));
/// # Ok::<(), mamba_pricing::PricingError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelPrice {
    /// Prices for every request not in the tier.
    pub base: Price,
    /// Prices for large requests, if the provider tiers them.
    pub tier: Option<Tier>,
    /// When the price was last checked against the provider (`YYYY-MM-DD`), for built-ins.
    pub checked: Option<String>,
    /// Where the price comes from.
    pub source: String,
}

impl ModelPrice {
    /// A price from its base prices, with no tier and the given source note.
    pub fn new(base: Price, source: impl Into<String>) -> ModelPrice {
        ModelPrice {
            base,
            tier: None,
            checked: None,
            source: source.into(),
        }
    }

    /// Adds a tier.
    #[must_use]
    pub fn with_tier(mut self, tier: Tier) -> ModelPrice {
        self.tier = Some(tier);
        self
    }

    /// The prices that apply to a request with `prompt_tokens` of input.
    pub fn price_for(&self, prompt_tokens: u64) -> &Price {
        match &self.tier {
            Some(tier) if prompt_tokens > tier.above_prompt_tokens => &tier.price,
            _ => &self.base,
        }
    }

    /// Checks that no price is negative.
    ///
    /// # Errors
    /// [`PricingError::NegativePrice`] naming the model, the field and the value.
    pub fn validate(&self, model: &str) -> Result<(), PricingError> {
        self.base
            .validate(model, &["input", "cached_input", "cache_write", "output"])?;
        if let Some(tier) = &self.tier {
            tier.price.validate(
                model,
                &[
                    "tier.input",
                    "tier.cached_input",
                    "tier.cache_write",
                    "tier.output",
                ],
            )?;
        }
        Ok(())
    }
}

/// The token counts of one request that a price applies to (the meaning of `mamba_usage`'s
/// records: cached and cache-write tokens are part of the prompt).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RequestTokens {
    pub(crate) prompt: u64,
    pub(crate) cached: u64,
    pub(crate) cache_write: u64,
    pub(crate) completion: u64,
}

/// The parts of a request's cost, exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CostParts {
    pub(crate) input: Decimal,
    pub(crate) cached_input: Decimal,
    pub(crate) cache_write: Decimal,
    pub(crate) completion: Decimal,
}

impl RequestTokens {
    /// Cost = (prompt - cached - cache_write) x input + cached x cached_input
    ///        + cache_write x cache_write + completion x output, per million tokens.
    pub(crate) fn cost(&self, price: &ModelPrice) -> CostParts {
        let price = price.price_for(self.prompt);
        let uncached = self
            .prompt
            .saturating_sub(self.cached)
            .saturating_sub(self.cache_write);
        let per_token = |count: u64, per_million: Decimal| {
            // Exact: the product has the price's scale, and multiplying by 10^-6 only moves the
            // point. Beyond Decimal's ~7.9e28 range (impossible for real traffic) the cost
            // saturates instead of panicking.
            Decimal::from(count)
                .checked_mul(per_million)
                .and_then(|product| product.checked_mul(PER_MILLION))
                .unwrap_or(Decimal::MAX)
        };
        CostParts {
            input: per_token(uncached, price.input),
            cached_input: per_token(self.cached, price.cached_input_or_input()),
            cache_write: per_token(self.cache_write, price.cache_write_or_input()),
            completion: per_token(self.completion, price.output),
        }
    }
}
