//! The agent's books: every record goes to the tracker, is priced once with that request's
//! model, and is added to running totals, so `usage()` is O(1) and `cost()` O(models).

use std::sync::{Mutex, PoisonError, RwLock};

use mamba_pricing::{CostBreakdown, CostEstimator, HistoryCost, PriceSource, format_usd};
use mamba_settings::LogLevel;
use mamba_usage::{TokenUsage, UsageRecord, UsageTracker};

/// Running totals of the requests this agent (and its clones) made since the last reset.
#[derive(Debug, Clone, Default)]
pub(crate) struct Totals {
    pub(crate) usage: TokenUsage,
    pub(crate) cost: HistoryCost,
}

#[derive(Debug)]
pub(crate) struct Ledger {
    tracker: UsageTracker,
    estimator: RwLock<CostEstimator>,
    /// Models served by a local backend are free unless the user priced them.
    local_backend: bool,
    totals: Mutex<Totals>,
    log_level: LogLevel,
}

impl Ledger {
    pub(crate) fn new(
        tracker: UsageTracker,
        estimator: CostEstimator,
        local_backend: bool,
        log_level: LogLevel,
    ) -> Ledger {
        Ledger {
            tracker,
            estimator: RwLock::new(estimator),
            local_backend,
            totals: Mutex::new(Totals::default()),
            log_level,
        }
    }

    pub(crate) fn tracker(&self) -> &UsageTracker {
        &self.tracker
    }

    /// Runs `f` with the estimator.
    pub(crate) fn with_estimator<T>(&self, f: impl FnOnce(&CostEstimator) -> T) -> T {
        f(&self
            .estimator
            .read()
            .unwrap_or_else(PoisonError::into_inner))
    }

    /// Records one request and returns its cost.
    pub(crate) fn record(&self, record: &UsageRecord, request_model: &str) -> CostBreakdown {
        let cost = self.price(record);
        {
            // The tracker and the totals change under one lock, so a reset never separates them.
            let mut totals = self.totals.lock().unwrap_or_else(PoisonError::into_inner);
            self.tracker.record(record);
            totals.usage += TokenUsage::from_record(record);
            totals.cost.add(&cost);
        }
        self.log(record, request_model, &cost);
        cost
    }

    fn price(&self, record: &UsageRecord) -> CostBreakdown {
        let cost = self.with_estimator(|estimator| estimator.estimate_record(record));
        let explicitly_priced = matches!(cost.source, PriceSource::Custom | PriceSource::Local);
        if !self.local_backend || explicitly_priced {
            return cost;
        }
        // First request of this model from the local backend: mark it free from now on.
        let mut estimator = self
            .estimator
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        estimator.mark_local(record.model());
        estimator.estimate_record(record)
    }

    pub(crate) fn totals(&self) -> Totals {
        self.totals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The usage and total cost so far, without copying the per-model costs.
    pub(crate) fn spent(&self) -> (TokenUsage, rust_decimal::Decimal) {
        let totals = self.totals.lock().unwrap_or_else(PoisonError::into_inner);
        (totals.usage, totals.cost.total_cost)
    }

    pub(crate) fn usage(&self) -> TokenUsage {
        self.totals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .usage
    }

    pub(crate) fn reset(&self) {
        let mut totals = self.totals.lock().unwrap_or_else(PoisonError::into_inner);
        self.tracker.reset();
        *totals = Totals::default();
    }

    /// The per-request event: `Request completed: 45 tokens, $0.0001`, with OpenTelemetry
    /// GenAI fields.
    fn log(&self, record: &UsageRecord, request_model: &str, cost: &CostBreakdown) {
        let cost_text = || {
            if cost.is_fully_priced() {
                format_usd(cost.total_cost)
            } else {
                format!("cost unknown for {} tokens", cost.unpriced_tokens)
            }
        };
        // The message is formatted only when a subscriber wants the event.
        macro_rules! completed {
            ($level:expr) => {
                if tracing::enabled!($level) {
                    tracing::event!(
                    $level,
                    gen_ai.request.model = request_model,
                    gen_ai.response.model = record.model(),
                    gen_ai.usage.input_tokens = record.prompt_tokens(),
                    gen_ai.usage.output_tokens = record.completion_tokens(),
                    gen_ai.usage.cached_tokens = record.cached_tokens(),
                    gen_ai.usage.reasoning_tokens = record.reasoning_tokens(),
                    mamba.usage.estimated = record.is_estimated(),
                    mamba.cost.usd = %cost.total_cost,
                    mamba.cost.unpriced_tokens = cost.unpriced_tokens,
                    "Request completed: {} tokens, {}",
                    record.total_tokens(),
                    cost_text()
                )
                }
            };
        }
        match self.log_level {
            LogLevel::Off => {}
            LogLevel::Error => completed!(tracing::Level::ERROR),
            LogLevel::Warn => completed!(tracing::Level::WARN),
            LogLevel::Info => completed!(tracing::Level::INFO),
            LogLevel::Debug => completed!(tracing::Level::DEBUG),
            LogLevel::Trace => completed!(tracing::Level::TRACE),
        }
    }
}
