//! [`CostEstimator`]: prices by model name, and the cost of requests and histories.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex, OnceLock, PoisonError};
use std::time::SystemTime;

use mamba_usage::{TokenUsage, UsageHistory, UsageRecord};
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use crate::breakdown::add;
use crate::builtin::{Entry, LOCAL_PREFIXES};
use crate::matching::{closest, fold, name_forms};
use crate::price::{CostParts, RequestTokens};
use crate::{
    ContextWindow, CostBreakdown, ModelPrice, Price, PriceDate, PriceSource, PricingError,
};

/// The built-in table, indexed once per process. A name's prices are built the first time it
/// is looked up, so start-up costs one index, not 1,350 price conversions.
struct BuiltIn {
    index: FxHashMap<&'static str, usize>,
    entries: Vec<(&'static str, Entry, OnceLock<Vec<ModelPrice>>)>,
}

static BUILT_IN: LazyLock<BuiltIn> = LazyLock::new(|| {
    let entries: Vec<_> = crate::builtin::entries()
        .map(|(name, entry)| (name, entry, OnceLock::new()))
        .collect();
    let index = entries
        .iter()
        .enumerate()
        .map(|(position, (name, _, _))| (*name, position))
        .collect();
    BuiltIn { index, entries }
});

impl BuiltIn {
    /// The name as the table spells it and its price periods, oldest first.
    fn get(&'static self, name: &str) -> Option<(&'static str, &'static [ModelPrice])> {
        let position = *self.index.get(name)?;
        let (name, entry, periods) = self.entries.get(position)?;
        Some((*name, periods.get_or_init(|| entry.periods()).as_slice()))
    }

    fn names(&'static self) -> impl Iterator<Item = &'static str> {
        self.entries.iter().map(|(name, _, _)| *name)
    }
}

/// The built-in entry the first of `forms` (see [`name_forms`]) that has one names.
fn built_in_entry(forms: &[&str]) -> Option<(&'static str, &'static [ModelPrice])> {
    let prefixed = forms.first().is_some_and(|name| name.contains('/'));
    forms
        .iter()
        .enumerate()
        .filter_map(|(index, form)| Some((index, BUILT_IN.get(form)?)))
        // A model its maker gives away (every price zero) is not free from whoever serves it
        // under another provider's prefix (`openrouter/google/gemma-...`): a silent $0 there
        // would be wrong, so such a name is left unpriced instead.
        .find(|(index, (name, periods))| {
            *index == 0 || !prefixed || name.contains('/') || !is_free(periods)
        })
        .map(|(_, entry)| entry)
}

/// Whether every price of every period is zero.
fn is_free(periods: &[ModelPrice]) -> bool {
    let zero = |price: &Price| {
        price
            .fields()
            .iter()
            .all(|(_, value)| value.is_none_or(|v| v.is_zero()))
    };
    periods.iter().all(|period| {
        zero(&period.base)
            && period.tiers.iter().all(|tier| zero(&tier.price))
            && period.service_tiers.values().all(|tiered| {
                zero(&tiered.base) && tiered.tiers.iter().all(|tier| zero(&tier.price))
            })
    })
}

/// The period of `periods` (oldest first, never empty) in force at `at` (`None`: now). A time
/// before every period's start is priced at the oldest period: the earliest price known.
fn in_force(periods: &[ModelPrice], at: Option<SystemTime>) -> Option<&ModelPrice> {
    /// The UTC day of the first lookup: a price that started by then is in force now, so
    /// pricing a request made now needs no clock unless a price change is still ahead.
    static FIRST_LOOKUP_DAY: LazyLock<PriceDate> =
        LazyLock::new(|| PriceDate::of(SystemTime::now()));
    if let [only] = periods {
        return Some(only);
    }
    let last = periods.last()?;
    if at.is_none() && last.since.is_none_or(|since| since <= *FIRST_LOOKUP_DAY) {
        return Some(last);
    }
    let day = PriceDate::of(at.unwrap_or_else(SystemTime::now));
    periods
        .iter()
        .rev()
        .find(|price| price.since.is_none_or(|since| since <= day))
        .or_else(|| periods.first())
}

/// The key of the seed's `cost_rates` that prices every model nothing else matches.
pub const DEFAULT_RATE_KEY: &str = "default";

/// Estimates costs in exact decimals from token counts and a model name.
///
/// The Rust counterpart of the seed's `CostEstimator`, right where the Python one is wrong:
/// input, cached input, cache writes and output have their own prices; matching never falls back
/// to a substring (gpt-4o-mini never gets gpt-4o's or gpt-4's price); an unknown model is never
/// silently $0 (its tokens are reported as unpriced, and a warning is logged once per model);
/// money is `Decimal`, never `f64`.
///
/// A model's price is found in this order: prices set with [`set_rate`](Self::set_rate) /
/// [`set_price`](Self::set_price); local models ([`mark_local`](Self::mark_local) or a
/// `local/`, `ollama/`, `lmstudio/`, `llamacpp/` or `vllm/` prefix: $0); the built-in table by
/// exact name, then by normalised name (case, `provider/` prefix and a snapshot date such as
/// `-2024-08-06` or `-20241022` removed), then by an explicit alias table; then the `"default"`
/// rate if one is set.
///
/// ```
/// use mamba_pricing::CostEstimator;
/// use rust_decimal::Decimal;
///
/// let mut estimator = CostEstimator::new();
/// let cost = estimator.estimate(1_000, 500, "gpt-4o");
/// println!("Cost: {}", mamba_pricing::format_usd(cost.total_cost));
/// assert_eq!(cost.total_cost, Decimal::new(75, 4));
///
/// let rate = estimator.rate("gpt-4o")?;
/// assert_eq!(rate.base.input, Decimal::new(250, 2));
///
/// estimator.set_rate("my-model", Decimal::new(2, 3))?; // $0.002 per 1K tokens, in and out
/// assert_eq!(estimator.estimate(1_000, 1_000, "my-model").total_cost, Decimal::new(4, 3));
/// assert!(estimator.all_rates().contains_key("my-model"));
/// # Ok::<(), mamba_pricing::PricingError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct CostEstimator {
    /// The user's prices by case-folded name, each a list of periods, oldest first.
    custom: FxHashMap<String, Vec<ModelPrice>>,
    /// The built-in model each custom name resolves to -> that custom name.
    custom_models: FxHashMap<&'static str, String>,
    local: HashSet<String>,
    default: Option<Vec<ModelPrice>>,
    warned: Arc<Mutex<HashSet<String>>>,
}

/// What a model name resolved to.
struct Resolved<'a> {
    priced_as: Option<&'a str>,
    /// The price periods, oldest first.
    periods: Option<&'a [ModelPrice]>,
    source: PriceSource,
}

impl<'a> Resolved<'a> {
    /// The price in force at `at` (`None`: now).
    fn price_at(&self, at: Option<SystemTime>) -> Option<&'a ModelPrice> {
        self.periods.and_then(|periods| in_force(periods, at))
    }
}

/// The cost of many requests: per-request costs summed, per model and in total.
///
/// Build it all at once with [`CostEstimator::estimate_history`], or keep it up to date as
/// requests happen with [`add`](Self::add), O(log models) per request with the total always at
/// hand, so a running agent never re-prices its history.
///
/// ```
/// use mamba_pricing::CostEstimator;
/// use mamba_usage::UsageTracker;
/// use rust_decimal::Decimal;
///
/// let tracker = UsageTracker::new();
/// tracker.record_usage(1_000, 500, "gpt-4o");
/// tracker.record_usage(1_000, 500, "gpt-4o-mini");
/// let cost = CostEstimator::new().estimate_history(&tracker.history());
/// assert_eq!(cost.total_cost, Decimal::new(75, 4) + Decimal::new(45, 5));
/// assert_eq!(cost.by_model["gpt-4o-mini"].total_cost, Decimal::new(45, 5));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct HistoryCost {
    /// The sum of every priced request.
    pub total_cost: Decimal,
    /// Tokens of requests no price covered.
    pub unpriced_tokens: u64,
    /// Costs per model name as recorded.
    pub by_model: BTreeMap<String, CostBreakdown>,
}

impl HistoryCost {
    /// Adds one request's cost.
    ///
    /// ```
    /// use mamba_pricing::{CostEstimator, HistoryCost};
    /// use rust_decimal::Decimal;
    ///
    /// let estimator = CostEstimator::new();
    /// let mut running = HistoryCost::default();
    /// running.add(&estimator.estimate(1_000, 500, "gpt-4o"));
    /// running.add(&estimator.estimate(1_000, 500, "gpt-4o"));
    /// assert_eq!(running.total_cost, Decimal::new(150, 4));
    /// assert_eq!(running.by_model["gpt-4o"].total_cost, Decimal::new(150, 4));
    /// ```
    pub fn add(&mut self, request: &CostBreakdown) {
        self.total_cost = add(self.total_cost, request.total_cost);
        self.unpriced_tokens = self.unpriced_tokens.saturating_add(request.unpriced_tokens);
        match self.by_model.get_mut(&request.model) {
            Some(sum) => sum.accumulate(request),
            None => {
                self.by_model.insert(request.model.clone(), request.clone());
            }
        }
    }
}

impl HistoryCost {
    /// Every model's cost summed into one breakdown: `model` lists the models (comma
    /// separated), `source` is theirs if they share one and [`PriceSource::Mixed`] otherwise.
    ///
    /// ```
    /// use mamba_pricing::{CostEstimator, HistoryCost, PriceSource};
    /// use rust_decimal::Decimal;
    ///
    /// let estimator = CostEstimator::new();
    /// let mut running = HistoryCost::default();
    /// running.add(&estimator.estimate(1_000_000, 0, "gpt-4o"));
    /// running.add(&estimator.estimate(0, 1_000_000, "gpt-4o-mini"));
    /// let all = running.combined();
    /// assert_eq!(all.model, "gpt-4o, gpt-4o-mini");
    /// assert_eq!((all.prompt_cost, all.completion_cost), (Decimal::new(25, 1), Decimal::new(6, 1)));
    /// assert_eq!(all.total_cost, running.total_cost);
    /// assert_eq!(all.source, PriceSource::BuiltIn);
    /// ```
    pub fn combined(&self) -> CostBreakdown {
        let mut models = self.by_model.values();
        let Some(first) = models.next() else {
            return CostBreakdown::priced("", None, PriceSource::Mixed, CostParts::default());
        };
        let mut sum = first.clone();
        for other in models {
            sum.accumulate(other);
            sum.model = format!("{}, {}", sum.model, other.model);
            if sum.source != other.source {
                sum.source = PriceSource::Mixed;
            }
            if sum.priced_as != other.priced_as {
                sum.priced_as = None;
            }
        }
        sum
    }
}

impl CostEstimator {
    /// An estimator with the built-in price table.
    ///
    /// ```
    /// let estimator = mamba_pricing::CostEstimator::new();
    /// assert!(estimator.rate("claude-3-opus").is_ok());
    /// ```
    pub fn new() -> CostEstimator {
        CostEstimator::default()
    }

    /// An estimator with the built-in table plus the seed's blended per-1,000-token rates
    /// (`{"my-custom-model": 0.001}`); the key `"default"` prices every model nothing else
    /// matches.
    ///
    /// # Errors
    /// [`PricingError::NegativePrice`] naming the model and rate.
    ///
    /// ```
    /// use mamba_pricing::CostEstimator;
    /// use rust_decimal::Decimal;
    ///
    /// let estimator = CostEstimator::with_rates([
    ///     ("my-custom-model", Decimal::new(1, 3)),
    ///     ("default", Decimal::new(2, 3)),
    /// ])?;
    /// assert_eq!(estimator.estimate(1_000, 0, "my-custom-model").total_cost, Decimal::new(1, 3));
    /// assert_eq!(estimator.estimate(1_000, 0, "anything-else").total_cost, Decimal::new(2, 3));
    /// # Ok::<(), mamba_pricing::PricingError>(())
    /// ```
    pub fn with_rates<K: AsRef<str>>(
        rates: impl IntoIterator<Item = (K, Decimal)>,
    ) -> Result<CostEstimator, PricingError> {
        let mut estimator = CostEstimator::new();
        for (model, rate) in rates {
            estimator.set_rate(model.as_ref(), rate)?;
        }
        Ok(estimator)
    }

    /// Sets a blended rate per 1,000 tokens (input and output alike) for `model`: the seed's
    /// `set_rate("my-model", 0.002)`. The model `"default"` sets the rate for unknown models.
    ///
    /// # Errors
    /// [`PricingError::NegativePrice`] or [`PricingError::PriceOutOfRange`] naming the model
    /// and the rate as given (field `rate`, per 1K tokens).
    ///
    /// ```
    /// use mamba_pricing::CostEstimator;
    /// use rust_decimal::Decimal;
    ///
    /// let mut estimator = CostEstimator::new();
    /// let err = estimator.set_rate("m", Decimal::new(-1, 3)).unwrap_err();
    /// assert_eq!(err.to_string(), "price `rate` of `m` is -0.001: prices must not be negative");
    /// ```
    pub fn set_rate(
        &mut self,
        model: &str,
        per_thousand_tokens: Decimal,
    ) -> Result<(), PricingError> {
        let given = |error: PricingError| match error {
            PricingError::NegativePrice { .. } => PricingError::NegativePrice {
                model: model.to_owned(),
                field: "rate".to_owned(),
                value: per_thousand_tokens,
            },
            PricingError::PriceOutOfRange { max, .. } => PricingError::PriceOutOfRange {
                model: model.to_owned(),
                field: "rate".to_owned(),
                value: per_thousand_tokens,
                max: max / Decimal::ONE_THOUSAND,
            },
            other => other,
        };
        let out_of_range = PricingError::PriceOutOfRange {
            model: model.to_owned(),
            field: "rate".to_owned(),
            value: per_thousand_tokens,
            max: Price::MAX_PER_MILLION / Decimal::ONE_THOUSAND,
        };
        let blended = Price::blended_per_thousand(per_thousand_tokens).ok_or(out_of_range)?;
        let price = ModelPrice::new(blended, "custom blended rate per 1K tokens");
        self.set_price(model, price).map_err(given)
    }

    /// Sets a full price for `model` (per 1M tokens, with cache prices and tiers), overriding
    /// any built-in one (and its history) for every request, whenever made: the price's
    /// `since` is ignored. For prices that changed over time, use
    /// [`set_price_history`](Self::set_price_history). The model `"default"` sets the price for
    /// unknown models.
    ///
    /// # Errors
    /// [`PricingError::NegativePrice`] naming the model, field and value.
    ///
    /// ```
    /// use mamba_pricing::{CostEstimator, ModelPrice, Price};
    /// use rust_decimal::Decimal;
    ///
    /// let mut estimator = CostEstimator::new();
    /// let negotiated = Price::new(Decimal::new(2, 0), Decimal::new(8, 0)).with_cached_input(Decimal::new(1, 0));
    /// estimator.set_price("gpt-4o", ModelPrice::new(negotiated, "our contract"))?;
    /// assert_eq!(estimator.estimate(1_000_000, 0, "gpt-4o").total_cost, Decimal::new(2, 0));
    /// let bad = ModelPrice::new(Price::new(Decimal::new(-1, 0), Decimal::ZERO), "typo");
    /// assert!(estimator.set_price("x", bad).is_err());
    /// # Ok::<(), mamba_pricing::PricingError>(())
    /// ```
    pub fn set_price(&mut self, model: &str, price: ModelPrice) -> Result<(), PricingError> {
        // One price for every time: whatever `since` it carries, nothing came before it.
        let price = ModelPrice {
            since: None,
            ..price
        };
        self.set_price_history(model, vec![price])
    }

    /// Sets a price history for `model`: prices with the days they came into force
    /// ([`ModelPrice::since`]), so each request is priced at the price in force when it was
    /// made; a request older than every period gets the oldest. The model `"default"` takes
    /// the history too.
    ///
    /// # Errors
    /// As [`set_price`](Self::set_price), and [`PricingError::EmptyHistory`] for no prices.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mamba_pricing::{CostEstimator, ModelPrice, Price, PriceDate};
    /// use mamba_usage::UsageRecord;
    /// use rust_decimal::Decimal;
    ///
    /// let mut estimator = CostEstimator::new();
    /// let old = ModelPrice::new(Price::new(Decimal::TEN, Decimal::TEN), "contract v1");
    /// let new = ModelPrice::new(Price::new(Decimal::ONE, Decimal::ONE), "contract v2")
    ///     .since("2026-01-01".parse::<PriceDate>()?);
    /// estimator.set_price_history("our-model", vec![old, new])?;
    /// let at = |day: &str| day.parse::<PriceDate>().unwrap().start() + Duration::from_secs(60);
    /// let record = |day| UsageRecord::builder("our-model").prompt_tokens(1_000_000).timestamp(at(day)).build().unwrap();
    /// assert_eq!(estimator.estimate_record(&record("2025-12-31")).total_cost, Decimal::TEN);
    /// assert_eq!(estimator.estimate_record(&record("2026-01-01")).total_cost, Decimal::ONE);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_price_history(
        &mut self,
        model: &str,
        mut periods: Vec<ModelPrice>,
    ) -> Result<(), PricingError> {
        if periods.is_empty() {
            return Err(PricingError::EmptyHistory {
                model: model.to_owned(),
            });
        }
        for price in &periods {
            price.validate(model)?;
        }
        periods.sort_by_key(|price| price.since);
        // Names are kept as they compare: case-folded and trimmed (provider and date kept, so a
        // price for `azure/gpt-4o` or for one snapshot stays that specific).
        let key = model.trim().to_ascii_lowercase();
        if key == DEFAULT_RATE_KEY {
            self.default = Some(periods);
        } else {
            if let Some((name, _)) = built_in_entry(name_forms(&key).as_slice()) {
                self.custom_models.insert(name, key.clone());
            }
            self.custom.insert(key, periods);
        }
        Ok(())
    }

    /// Marks `model` as running locally: free, unless a price was set for it explicitly.
    ///
    /// ```
    /// use mamba_pricing::{CostEstimator, PriceSource};
    ///
    /// let mut estimator = CostEstimator::new();
    /// estimator.mark_local("smollm2");
    /// let cost = estimator.estimate(1_000, 1_000, "smollm2");
    /// assert!(cost.total_cost.is_zero() && cost.is_fully_priced());
    /// assert_eq!(cost.source, PriceSource::Local);
    /// assert_eq!(estimator.estimate(1, 1, "ollama/llama3.1").source, PriceSource::Local);
    /// ```
    pub fn mark_local(&mut self, model: &str) {
        self.local.insert(model.trim().to_ascii_lowercase());
    }

    /// The price of `model`, strictly.
    ///
    /// # Errors
    /// [`PricingError::UnknownModel`] naming the model and the closest known names, when no
    /// price matches and no default rate is set.
    pub fn rate(&self, model: &str) -> Result<ModelPrice, PricingError> {
        self.rate_at(model, SystemTime::now())
    }

    /// The price of `model` in force at `at`, strictly.
    ///
    /// # Errors
    /// As [`rate`](Self::rate).
    ///
    /// ```
    /// use mamba_pricing::{CostEstimator, PriceDate};
    /// use rust_decimal::Decimal;
    ///
    /// let estimator = CostEstimator::new();
    /// let before = "2025-06-09".parse::<PriceDate>()?.start();
    /// assert_eq!(estimator.rate_at("o3", before)?.base.input, Decimal::new(10, 0));
    /// assert_eq!(estimator.rate("o3")?.base.input, Decimal::new(2, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rate_at(&self, model: &str, at: SystemTime) -> Result<ModelPrice, PricingError> {
        let resolved = self.resolve(model);
        match (resolved.source, resolved.price_at(Some(at))) {
            (PriceSource::Local, _) => Ok(ModelPrice::new(Price::FREE, "local model")),
            (_, Some(price)) => Ok(price.clone()),
            (_, None) => Err(PricingError::UnknownModel {
                model: model.to_owned(),
                closest: closest(
                    model,
                    self.custom
                        .keys()
                        .map(String::as_str)
                        .chain(BUILT_IN.names().map(|name| -> &str { name })),
                    3,
                ),
            }),
        }
    }

    /// Where the price of `model` would come from, without pricing anything (and without the
    /// unpriced-model warning).
    ///
    /// ```
    /// use mamba_pricing::{CostEstimator, PriceSource};
    ///
    /// let estimator = CostEstimator::new();
    /// assert_eq!(estimator.price_source("openai/gpt-4o-2024-08-06"), PriceSource::BuiltIn);
    /// assert_eq!(estimator.price_source("my-finetune"), PriceSource::Unpriced);
    /// ```
    pub fn price_source(&self, model: &str) -> PriceSource {
        self.resolve(model).source
    }

    /// Every price period of `model`, oldest first (empty for an unpriced or local model).
    ///
    /// ```
    /// let history = mamba_pricing::CostEstimator::new().price_history("o3");
    /// // 10/40 at launch, 2/8 from 2025-06-10, then flex, priority and batch prices added.
    /// let starts: Vec<String> = history.iter().filter_map(|p| p.since.map(|d| d.to_string())).collect();
    /// assert_eq!(starts, ["2025-06-10", "2026-10-12", "2026-10-14"]);
    /// ```
    pub fn price_history(&self, model: &str) -> Vec<ModelPrice> {
        self.resolve(model)
            .periods
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    }

    /// The context window of `model` from its current price data, if known.
    pub fn context_window(&self, model: &str) -> Option<ContextWindow> {
        self.resolve(model)
            .price_at(None)
            .and_then(|price| price.context_window)
    }

    /// Every price this estimator knows: the built-in table with custom prices over it, and the
    /// `"default"` rate if set.
    pub fn all_rates(&self) -> BTreeMap<String, ModelPrice> {
        let current = |periods: &[ModelPrice]| in_force(periods, None).cloned();
        let mut rates: BTreeMap<String, ModelPrice> = BUILT_IN
            .names()
            .filter_map(|name| {
                let (name, periods) = BUILT_IN.get(name)?;
                Some((name.to_owned(), current(periods)?))
            })
            .collect();
        rates.extend(
            self.custom
                .iter()
                .filter_map(|(name, periods)| Some((name.clone(), current(periods)?))),
        );
        if let Some(default) = self.default.as_deref().and_then(current) {
            rates.insert(DEFAULT_RATE_KEY.to_owned(), default);
        }
        rates
    }

    /// The cost of one request of `input_tokens` in and `output_tokens` out (no cache): the
    /// seed's `estimate(input_tokens=1000, output_tokens=500, model="gpt-4o")`.
    pub fn estimate(&self, input_tokens: u64, output_tokens: u64, model: &str) -> CostBreakdown {
        let tokens = RequestTokens {
            prompt: input_tokens,
            completion: output_tokens,
            ..RequestTokens::default()
        };
        self.estimate_tokens(tokens, model, None)
    }

    /// The cost of one recorded request, with its cache reads and writes at their own prices.
    ///
    /// ```
    /// use mamba_pricing::CostEstimator;
    /// use mamba_usage::UsageRecord;
    /// use rust_decimal::Decimal;
    ///
    /// let record = UsageRecord::builder("gpt-4o").prompt_tokens(2_000).cached_tokens(1_000)
    ///     .completion_tokens(100).build().unwrap();
    /// let cost = CostEstimator::new().estimate_record(&record);
    /// // 1000 x $2.50 + 1000 x $1.25 (cached) + 100 x $10.00, per 1M.
    /// assert_eq!(cost.total_cost, Decimal::new(4_750, 6));
    /// assert_eq!(cost.cached_input_cost, Decimal::new(125, 5));
    /// ```
    pub fn estimate_record(&self, record: &UsageRecord) -> CostBreakdown {
        let tokens = RequestTokens {
            prompt: record.prompt_tokens(),
            cached: record.cached_tokens(),
            cache_write: record.cache_write_tokens(),
            cache_write_1h: record.cache_write_1h_tokens(),
            completion: record.completion_tokens(),
            service_tier: record.service_tier(),
        };
        self.estimate_tokens(tokens, record.model(), Some(record.timestamp()))
    }

    /// The cost of `usage` priced as **one request** of `model` (a tier applies if its whole
    /// prompt is above the tier). To price many requests, use
    /// [`estimate_history`](Self::estimate_history): tiers make the cost of a sum differ from
    /// the sum of costs.
    pub fn estimate_usage(&self, usage: &TokenUsage, model: &str) -> CostBreakdown {
        let tokens = RequestTokens {
            prompt: usage.prompt_tokens,
            cached: usage.cached_tokens,
            cache_write: usage.cache_write_tokens,
            completion: usage.completion_tokens,
            ..RequestTokens::default()
        };
        self.estimate_tokens(tokens, model, None)
    }

    /// The cost of every request in `history`, each priced on its own with its own model.
    pub fn estimate_history(&self, history: &UsageHistory) -> HistoryCost {
        let mut cost = HistoryCost::default();
        for record in history {
            cost.add(&self.estimate_record(&record));
        }
        cost
    }

    /// Prices `tokens` of `model` at the price in force at `at` (`None`: now).
    fn estimate_tokens(
        &self,
        tokens: RequestTokens,
        model: &str,
        at: Option<SystemTime>,
    ) -> CostBreakdown {
        let resolved = self.resolve(model);
        match resolved.price_at(at) {
            Some(price) => CostBreakdown::priced(
                model,
                resolved.priced_as,
                resolved.source,
                tokens.cost(price),
            ),
            None if resolved.source == PriceSource::Local => {
                CostBreakdown::priced(model, None, PriceSource::Local, CostParts::default())
            }
            None => {
                self.warn_once(model);
                CostBreakdown::unpriced(model, tokens.prompt.saturating_add(tokens.completion))
            }
        }
    }

    /// Resolves the name first (case, `provider/` prefix, snapshot date, aliases), then
    /// prefers the user's price for any form of it over the built-in one: a user's price for
    /// `claude-sonnet-4` covers `claude-sonnet-4-0`, `anthropic/Claude-Sonnet-4-20250514` and
    /// the rest. A dated snapshot with a built-in row of its own (`gpt-4o-2024-05-13`) keeps
    /// it; others fall back to their undated model.
    fn resolve<'a>(&'a self, model: &str) -> Resolved<'a> {
        let found = |priced_as: &'a str, periods: &'a [ModelPrice], source| Resolved {
            priced_as: Some(priced_as),
            periods: Some(periods),
            source,
        };
        // Fast path: nothing of the user's can apply, and the name is a table key.
        if self.custom.is_empty()
            && self.local.is_empty()
            && let Some((name, price)) = BUILT_IN.get(model)
        {
            return found(name, price, PriceSource::BuiltIn);
        }
        let folded = fold(model);
        let forms = name_forms(&folded);
        let forms = forms.as_slice();
        if !self.custom.is_empty() {
            for form in forms {
                if let Some((name, price)) = self.custom.get_key_value(*form) {
                    return found(name, price, PriceSource::Custom);
                }
            }
        }
        let built_in = built_in_entry(forms);
        // A user's price for another name of the same built-in model (`claude-sonnet-4` for
        // `claude-sonnet-4-0`) covers this name too.
        if let Some((name, _)) = built_in
            && let Some(key) = self.custom_models.get(name)
            && let Some((key, price)) = self.custom.get_key_value(key.as_str())
        {
            return found(key, price, PriceSource::Custom);
        }
        if self.is_local(forms[0]) {
            return Resolved {
                priced_as: None,
                periods: None,
                source: PriceSource::Local,
            };
        }
        if let Some((name, price)) = built_in {
            return found(name, price, PriceSource::BuiltIn);
        }
        match &self.default {
            Some(periods) => Resolved {
                priced_as: None,
                periods: Some(periods),
                source: PriceSource::Default,
            },
            None => Resolved {
                priced_as: None,
                periods: None,
                source: PriceSource::Unpriced,
            },
        }
    }

    /// Whether `lower` (a lower-cased name) is local: a local prefix, or marked.
    fn is_local(&self, lower: &str) -> bool {
        LOCAL_PREFIXES
            .iter()
            .any(|prefix| lower.starts_with(prefix))
            || (!self.local.is_empty() && self.local.contains(lower))
    }

    fn warn_once(&self, model: &str) {
        let mut warned = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
        if warned.insert(model.to_owned()) {
            tracing::warn!(
                model,
                "no price for model `{model}`: its tokens are reported as unpriced, not as $0; \
                 set a price with set_rate/set_price or a \"default\" rate"
            );
        }
    }
}
