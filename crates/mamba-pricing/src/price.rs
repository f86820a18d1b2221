//! Prices per million tokens, and the cost of one request under them.

use std::collections::BTreeMap;

use mamba_usage::ServiceTier;
use rust_decimal::Decimal;

use crate::{PriceDate, PricingError};

/// One millionth: prices are quoted per million tokens.
const PER_MILLION: Decimal = Decimal::from_parts(1, 0, 0, false, 6);

/// USD per 1,000,000 tokens of each kind.
///
/// A missing cached-input or cache-write price falls back to the input price: a provider that
/// publishes no cache discount charges cached tokens as ordinary input. A missing one-hour
/// cache-write price falls back to the (five-minute) cache-write price.
///
/// ```
/// use mamba_pricing::Price;
/// use rust_decimal::Decimal;
///
/// let price = Price::new(Decimal::new(250, 2), Decimal::new(1000, 2)).with_cached_input(Decimal::new(125, 2));
/// assert_eq!(price.cached_input_or_input(), Decimal::new(125, 2));
/// assert_eq!(price.cache_write_or_input(), Decimal::new(250, 2));
/// assert_eq!(price.cache_write_1h_or_cache_write(), Decimal::new(250, 2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Price {
    /// Input (prompt) tokens that were not cache reads or writes.
    pub input: Decimal,
    /// Input tokens read from the prompt cache; `None`: the input price.
    pub cached_input: Option<Decimal>,
    /// Input tokens written to the prompt cache (Anthropic's five-minute lifetime, and every
    /// provider's only one); `None`: the input price.
    pub cache_write: Option<Decimal>,
    /// Input tokens written to the prompt cache with a one-hour lifetime; `None`: the
    /// `cache_write` price.
    pub cache_write_1h: Option<Decimal>,
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
            cache_write_1h: None,
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

    /// Sets the one-hour cache-write price.
    #[must_use]
    pub const fn with_cache_write_1h(mut self, price: Decimal) -> Price {
        self.cache_write_1h = Some(price);
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

    /// The one-hour cache-write price, or [`cache_write_or_input`](Self::cache_write_or_input).
    pub fn cache_write_1h_or_cache_write(&self) -> Decimal {
        self.cache_write_1h
            .unwrap_or_else(|| self.cache_write_or_input())
    }

    /// The fields with their names (as errors and price files spell them), `None` where
    /// unset.
    pub fn fields(&self) -> [(&'static str, Option<Decimal>); 5] {
        [
            ("input", Some(self.input)),
            ("cached_input", self.cached_input),
            ("cache_write", self.cache_write),
            ("cache_write_1h", self.cache_write_1h),
            ("output", Some(self.output)),
        ]
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

    fn validate(&self, model: &str, part: Part) -> Result<(), PricingError> {
        for (name, value) in self.fields() {
            let Some(value) = value else { continue };
            let field = part.field(name);
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

/// Which part of a [`ModelPrice`] a [`Price`] is, for naming its fields in errors.
#[derive(Clone, Copy)]
struct Part {
    service: Option<ServiceTier>,
    tiered: bool,
}

impl Part {
    /// The field's full name (`input`, `tier.input`, `flex.input`, `flex.tier.input`).
    fn field(self, name: &str) -> String {
        let mut full = String::new();
        if let Some(service) = self.service {
            full.push_str(service.name());
            full.push('.');
        }
        if self.tiered {
            full.push_str("tier.");
        }
        full.push_str(name);
        full
    }
}

/// Different prices for requests whose prompt exceeds a size, applied to the whole request
/// (Gemini 2.5 Pro charges more for every token of a prompt above 200,000 tokens).
///
/// ```
/// use mamba_pricing::{Price, Tier};
/// use rust_decimal::Decimal;
///
/// let tier = Tier::new(200_000, Price::new(Decimal::new(250, 2), Decimal::new(15, 0)));
/// assert_eq!(tier.above_prompt_tokens, 200_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Tier {
    /// The tier applies when a request's prompt tokens are strictly more than this: a prompt
    /// of exactly this many tokens is priced below it.
    pub above_prompt_tokens: u64,
    /// The prices for such requests.
    pub price: Price,
}

impl Tier {
    /// `price` for requests of more than `above_prompt_tokens` prompt tokens.
    pub const fn new(above_prompt_tokens: u64, price: Price) -> Tier {
        Tier {
            above_prompt_tokens,
            price,
        }
    }
}

/// Base prices and long-context tiers: the prices of one service tier.
///
/// ```
/// use mamba_pricing::{Price, TieredPrice};
/// use rust_decimal::Decimal;
///
/// let flex = TieredPrice::new(Price::new(Decimal::new(625, 3), Decimal::new(5, 0)));
/// assert_eq!(flex.price_for(1_000).input, Decimal::new(625, 3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TieredPrice {
    /// Prices for requests below every tier.
    pub base: Price,
    /// Tiers, ascending by threshold.
    pub tiers: Vec<Tier>,
}

impl TieredPrice {
    /// Base prices, no tiers.
    pub fn new(base: Price) -> TieredPrice {
        TieredPrice {
            base,
            tiers: Vec::new(),
        }
    }

    /// Adds a long-context tier, as [`ModelPrice::with_tier`] does.
    #[must_use]
    pub fn with_tier(mut self, tier: Tier) -> TieredPrice {
        insert_tier(&mut self.tiers, tier);
        self
    }

    /// The prices of a request with `prompt_tokens` of input: the highest tier it is above.
    pub fn price_for(&self, prompt_tokens: u64) -> &Price {
        self.tiers
            .iter()
            .rev()
            .find(|tier| prompt_tokens > tier.above_prompt_tokens)
            .map_or(&self.base, |tier| &tier.price)
    }
}

/// How much a model takes in and gives out in one request, as its price data says.
///
/// ```
/// use mamba_pricing::CostEstimator;
///
/// let window = CostEstimator::new().context_window("gpt-4o").unwrap();
/// assert_eq!(window.max_output_tokens, Some(16_384));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ContextWindow {
    /// The most input tokens of one request.
    pub max_input_tokens: Option<u64>,
    /// The most output tokens of one request.
    pub max_output_tokens: Option<u64>,
}

impl ContextWindow {
    /// A window of `max_input_tokens` in and `max_output_tokens` out (`None`: not known).
    pub const fn new(
        max_input_tokens: Option<u64>,
        max_output_tokens: Option<u64>,
    ) -> ContextWindow {
        ContextWindow {
            max_input_tokens,
            max_output_tokens,
        }
    }
}

/// The full price of a model in one period: base prices, long-context tiers, service-tier
/// prices, the day it came into force, its context window, and where the numbers come from.
///
/// ```
/// use mamba_pricing::CostEstimator;
///
/// let gemini = CostEstimator::new().rate("gemini-2.5-pro")?;
/// assert_eq!(gemini.tiers[0].above_prompt_tokens, 200_000);
/// assert!(gemini.checked.is_some());
/// # Ok::<(), mamba_pricing::PricingError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ModelPrice {
    /// Standard prices for every request not in a tier.
    pub base: Price,
    /// Standard prices for large requests, ascending by threshold (any number of tiers).
    pub tiers: Vec<Tier>,
    /// Prices of other service tiers (flex, priority, batch), each with its own tiers; a
    /// request served by a tier not listed is priced at the standard prices.
    pub service_tiers: BTreeMap<ServiceTier, TieredPrice>,
    /// The day this price came into force; `None`: always (or since before any record).
    pub since: Option<PriceDate>,
    /// The model's context window, when its price data gives one.
    pub context_window: Option<ContextWindow>,
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
            tiers: Vec::new(),
            service_tiers: BTreeMap::new(),
            since: None,
            context_window: None,
            checked: None,
            source: source.into(),
        }
    }

    /// Adds a long-context tier, keeping the tiers in ascending order (a tier with the same
    /// threshold as an earlier one replaces it).
    #[must_use]
    pub fn with_tier(mut self, tier: Tier) -> ModelPrice {
        insert_tier(&mut self.tiers, tier);
        self
    }

    /// Sets the prices of a service tier.
    #[must_use]
    pub fn with_service_tier(mut self, tier: ServiceTier, price: TieredPrice) -> ModelPrice {
        self.service_tiers.insert(tier, price);
        self
    }

    /// Sets the day the price came into force.
    #[must_use]
    pub fn since(mut self, day: PriceDate) -> ModelPrice {
        self.since = Some(day);
        self
    }

    /// The standard prices that apply to a request with `prompt_tokens` of input.
    pub fn price_for(&self, prompt_tokens: u64) -> &Price {
        tier_price(&self.base, &self.tiers, prompt_tokens)
    }

    /// The prices that apply to a request with `prompt_tokens` of input served by `service`:
    /// that tier's prices if this model has them, the standard prices otherwise.
    ///
    /// ```
    /// use mamba_pricing::CostEstimator;
    /// use mamba_usage::ServiceTier;
    /// use rust_decimal::Decimal;
    ///
    /// let gpt5 = CostEstimator::new().rate("gpt-5")?;
    /// assert_eq!(gpt5.price_for_request(1_000, Some(ServiceTier::Flex)).input, Decimal::new(625, 3));
    /// assert_eq!(gpt5.price_for_request(1_000, None).input, Decimal::new(125, 2));
    /// # Ok::<(), mamba_pricing::PricingError>(())
    /// ```
    pub fn price_for_request(&self, prompt_tokens: u64, service: Option<ServiceTier>) -> &Price {
        match service.and_then(|tier| self.service_tiers.get(&tier)) {
            Some(priced) => priced.price_for(prompt_tokens),
            None => self.price_for(prompt_tokens),
        }
    }

    /// Checks that no price is negative or out of range and that tiers ascend.
    ///
    /// # Errors
    /// [`PricingError::NegativePrice`] or [`PricingError::PriceOutOfRange`] naming the model,
    /// the field (`tier.input`, `flex.output`, ...) and the value;
    /// [`PricingError::TiersOutOfOrder`] for tiers not in strictly ascending order.
    pub fn validate(&self, model: &str) -> Result<(), PricingError> {
        let parts = std::iter::once((None, &self.base, &self.tiers)).chain(
            self.service_tiers
                .iter()
                .map(|(tier, priced)| (Some(*tier), &priced.base, &priced.tiers)),
        );
        for (service, base, tiers) in parts {
            base.validate(
                model,
                Part {
                    service,
                    tiered: false,
                },
            )?;
            for tier in tiers {
                tier.price.validate(
                    model,
                    Part {
                        service,
                        tiered: true,
                    },
                )?;
            }
            if let Some(pair) = tiers
                .windows(2)
                .find(|pair| pair[0].above_prompt_tokens >= pair[1].above_prompt_tokens)
            {
                return Err(PricingError::TiersOutOfOrder {
                    model: model.to_owned(),
                    thresholds: [pair[0].above_prompt_tokens, pair[1].above_prompt_tokens],
                });
            }
        }
        Ok(())
    }
}

/// Inserts `tier` in threshold order, replacing a tier with the same threshold.
pub(crate) fn insert_tier(tiers: &mut Vec<Tier>, tier: Tier) {
    match tiers.binary_search_by_key(&tier.above_prompt_tokens, |t| t.above_prompt_tokens) {
        Ok(index) => tiers[index] = tier,
        Err(index) => tiers.insert(index, tier),
    }
}

fn tier_price<'a>(base: &'a Price, tiers: &'a [Tier], prompt_tokens: u64) -> &'a Price {
    tiers
        .iter()
        .rev()
        .find(|tier| prompt_tokens > tier.above_prompt_tokens)
        .map_or(base, |tier| &tier.price)
}

/// The token counts of one request that a price applies to (the meaning of `mamba_usage`'s
/// records: cached and cache-write tokens are part of the prompt).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RequestTokens {
    pub(crate) prompt: u64,
    pub(crate) cached: u64,
    pub(crate) cache_write: u64,
    /// The part of `cache_write` with a one-hour lifetime.
    pub(crate) cache_write_1h: u64,
    pub(crate) completion: u64,
    pub(crate) service_tier: Option<ServiceTier>,
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
    ///        + (cache_write - cache_write_1h) x cache_write + cache_write_1h x cache_write_1h
    ///        + completion x output, per million tokens, at the prices of the request's service
    ///        tier and of the highest long-context tier its prompt is above.
    pub(crate) fn cost(&self, price: &ModelPrice) -> CostParts {
        let price = price.price_for_request(self.prompt, self.service_tier);
        let uncached = self
            .prompt
            .saturating_sub(self.cached)
            .saturating_sub(self.cache_write);
        let per_token = |count: u64, per_million: Decimal| {
            // Most requests have no cache reads or writes: no arithmetic for those.
            if count == 0 {
                return Decimal::ZERO;
            }
            // Exact: the product has the price's scale, and dividing by 10^6 only moves the
            // point (six more digits of scale while they fit, a multiplication after that).
            // Beyond Decimal's ~7.9e28 range (impossible for real traffic) the cost saturates
            // instead of panicking.
            Decimal::from(count)
                .checked_mul(per_million)
                .and_then(|mut product| {
                    let scale = product.scale() + 6;
                    if scale <= 28 {
                        product.set_scale(scale).ok()?;
                        Some(product)
                    } else {
                        product.checked_mul(PER_MILLION)
                    }
                })
                .unwrap_or(Decimal::MAX)
        };
        CostParts {
            input: per_token(uncached, price.input),
            cached_input: per_token(self.cached, price.cached_input_or_input()),
            cache_write: crate::breakdown::add(
                per_token(
                    self.cache_write.saturating_sub(self.cache_write_1h),
                    price.cache_write_or_input(),
                ),
                per_token(
                    self.cache_write_1h.min(self.cache_write),
                    price.cache_write_1h_or_cache_write(),
                ),
            ),
            completion: per_token(self.completion, price.output),
        }
    }
}
