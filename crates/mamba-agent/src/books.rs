//! The agent's books: every record is priced once with that request's model, added to the
//! agent's running totals (so `usage()` is O(1) and `cost()` O(models)), and then handed to
//! the sinks (the tracker first), with no lock of the books held.

use std::sync::{Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use mamba_pricing::{CostBreakdown, CostEstimator, HistoryCost, PriceSource, format_usd};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::AgentError;
use mamba_settings::LogLevel;
use mamba_usage::{QueueStats, ServiceTier, SinkError, TokenUsage, UsageRecord, UsageTracker};

use crate::inner::FleetHolds;
use crate::result::tally;
use crate::sinks::{Delivery, Outlets};

/// Running totals of the requests this agent (and its clones) made since the last reset.
#[derive(Debug, Clone, Default)]
pub(crate) struct Totals {
    pub(crate) usage: TokenUsage,
    pub(crate) cost: HistoryCost,
}

/// The counts of one of this agent's own requests that pricing needs (its prompt size selects
/// a tier): kept apart from the tracker, which may be shared or bounded, so that re-pricing
/// covers exactly what [`Totals`] covers. 64 bytes a request.
#[derive(Debug, Clone, Copy)]
struct OwnRequest {
    prompt: u64,
    cached: u64,
    cache_write: u64,
    cache_write_1h: u64,
    completion: u64,
    service_tier: Option<ServiceTier>,
    timestamp: SystemTime,
}

/// Whether the backend's models are free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Locality {
    /// The user declared the backend local (`local = true`): every model is $0, unless the user
    /// priced it.
    Declared,
    /// The backend is on a loopback address: a model the price table knows is priced as usual
    /// (a LiteLLM proxy on localhost serving gpt-4o bills gpt-4o); an unknown one is local, $0.
    Loopback,
    /// A remote backend: everything is priced.
    Remote,
}

#[derive(Debug, Default)]
struct Books {
    totals: Totals,
    own: Vec<OwnRequest>,
}

#[derive(Debug)]
pub(crate) struct AgentBooks {
    /// The tracker and the other sinks.
    outlets: Outlets,
    /// Whether the tracker was made for this agent (then a reset clears it) or given to it,
    /// maybe shared with other agents (then a reset leaves it alone).
    owns_tracker: bool,
    estimator: RwLock<CostEstimator>,
    locality: Locality,
    books: Mutex<Books>,
    log_level: LogLevel,
    /// `gen_ai.provider.name` of the backend (see [`provider_name`]).
    provider: String,
}

/// The OpenTelemetry GenAI `gen_ai.provider.name` of a backend: the conventions' name for a
/// provider's own API host, otherwise the host itself (a proxy or a local server is no
/// provider the conventions name). OpenAI's when no base URL is set.
pub(crate) fn provider_name(base_url: Option<&str>) -> String {
    const KNOWN: &[(&str, &str)] = &[
        ("api.openai.com", "openai"),
        ("api.anthropic.com", "anthropic"),
        ("generativelanguage.googleapis.com", "gcp.gemini"),
        ("api.x.ai", "x_ai"),
        ("api.deepseek.com", "deepseek"),
        ("api.mistral.ai", "mistral_ai"),
        ("api.groq.com", "groq"),
        ("api.moonshot.ai", "moonshot"),
    ];
    let Some(url) = base_url else {
        return "openai".to_owned();
    };
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Never a user name or password in telemetry.
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    }
    .to_ascii_lowercase();
    KNOWN
        .iter()
        .find(|(known, _)| host == *known)
        .map_or(host.clone(), |(_, name)| (*name).to_owned())
}

impl AgentBooks {
    pub(crate) fn new(
        outlets: Outlets,
        owns_tracker: bool,
        estimator: CostEstimator,
        locality: Locality,
        log_level: LogLevel,
        provider: String,
    ) -> AgentBooks {
        AgentBooks {
            outlets,
            owns_tracker,
            estimator: RwLock::new(estimator),
            locality,
            books: Mutex::default(),
            log_level,
            provider,
        }
    }

    pub(crate) fn tracker(&self) -> &UsageTracker {
        self.outlets.tracker()
    }

    /// The backend's `gen_ai.provider.name`.
    pub(crate) fn provider(&self) -> &str {
        &self.provider
    }

    pub(crate) fn queue_stats(&self) -> Vec<QueueStats> {
        self.outlets.queue_stats()
    }

    /// Flushes every sink (blocking).
    pub(crate) fn flush(&self) -> Result<(), SinkError> {
        self.outlets.flush()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` with the estimator, after applying the local rule to `model`.
    fn with_estimator<T>(&self, model: &str, f: impl FnOnce(&CostEstimator) -> T) -> T {
        let estimator = self
            .estimator
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        // A remote backend (the common case) resolves the name once, in `f`.
        let free = match self.locality {
            Locality::Remote => false,
            Locality::Declared => !matches!(
                estimator.price_source(model),
                PriceSource::Custom | PriceSource::Local
            ),
            Locality::Loopback => matches!(
                estimator.price_source(model),
                PriceSource::Unpriced | PriceSource::Default
            ),
        };
        if !free {
            return f(&estimator);
        }
        drop(estimator);
        // First request of this model: mark it free from now on.
        let mut estimator = self
            .estimator
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        estimator.mark_local(model);
        f(&estimator)
    }

    /// The most output tokens one request of `model` can produce, from its price data.
    pub(crate) fn max_output_tokens(&self, model: &str) -> Option<u64> {
        self.context_window(model)
            .and_then(|window| window.max_output_tokens)
    }

    /// The context window of `model`, from its price data.
    pub(crate) fn context_window(&self, model: &str) -> Option<mamba_pricing::ContextWindow> {
        self.with_estimator(model, |estimator| estimator.context_window(model))
    }

    /// The cost of a request of `input` and `output` tokens of `model`, for a reservation.
    ///
    /// # Errors
    /// [`AgentError::Unpriced`] when the model has no price (and is not local).
    pub(crate) fn quote(
        &self,
        input: u64,
        output: u64,
        model: &str,
    ) -> Result<Decimal, AgentError> {
        let cost = self.with_estimator(model, |estimator| estimator.estimate(input, output, model));
        if cost.is_fully_priced() {
            Ok(cost.total_cost)
        } else {
            Err(AgentError::Unpriced {
                model: model.to_owned(),
            })
        }
    }

    /// Records one request: prices it, adds it to the totals, hands it to the sinks; returns
    /// its cost and the required sinks' delivery.
    pub(crate) fn record(
        &self,
        record: &UsageRecord,
        request_model: &str,
        fleet: FleetHolds,
    ) -> (CostBreakdown, Delivery) {
        let cost = self.with_estimator(record.model(), |estimator| {
            estimator.estimate_record(record)
        });
        {
            let mut books = self.lock();
            let totals = &mut books.totals;
            tally(&mut totals.usage, &mut totals.cost, record, &cost);
            books.own.push(OwnRequest {
                prompt: record.prompt_tokens(),
                cached: record.cached_tokens(),
                cache_write: record.cache_write_tokens(),
                cache_write_1h: record.cache_write_1h_tokens(),
                completion: record.completion_tokens(),
                service_tier: record.service_tier(),
                timestamp: record.timestamp(),
            });
        }
        // After the books' lock is released: a sink never holds up a reader of the totals. (A
        // reset racing this request may clear the books before the tracker gets the record.)
        let delivery = self.outlets.deliver(record, &cost, fleet);
        self.log(record, request_model, &cost);
        (cost, delivery)
    }

    /// This agent's requests since its last reset, each priced as `model`.
    pub(crate) fn cost_for(&self, model: &str) -> CostBreakdown {
        let own = self.lock().own.clone();
        self.with_estimator(model, |estimator| {
            if own.is_empty() {
                return estimator.estimate(0, 0, model);
            }
            let mut total = HistoryCost::default();
            for request in own {
                // The request as if `model` had served it: same counts, tier and time.
                let mut record = UsageRecord::builder(model)
                    .timestamp(request.timestamp)
                    .prompt_tokens(request.prompt)
                    .cached_tokens(request.cached)
                    .cache_write_tokens(request.cache_write)
                    .cache_write_1h_tokens(request.cache_write_1h)
                    .completion_tokens(request.completion);
                if let Some(tier) = request.service_tier {
                    record = record.service_tier(tier);
                }
                // The counts come from a record that was valid, so this one is too.
                match record.build() {
                    Ok(record) => total.add(&estimator.estimate_record(&record)),
                    Err(_) => {
                        total.add(&estimator.estimate(request.prompt, request.completion, model))
                    }
                }
            }
            total.combined()
        })
    }

    pub(crate) fn totals(&self) -> Totals {
        self.lock().totals.clone()
    }

    /// The total cost so far, without copying the per-model costs.
    pub(crate) fn total_cost(&self) -> Decimal {
        self.lock().totals.cost.total_cost
    }

    pub(crate) fn usage(&self) -> TokenUsage {
        self.lock().totals.usage
    }

    /// Forgets this agent's totals, and the tracker's history if the tracker is its own.
    pub(crate) fn reset(&self) {
        let mut books = self.lock();
        if self.owns_tracker {
            self.outlets.tracker().reset();
        }
        *books = Books::default();
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
                        gen_ai.operation.name = "chat",
                        gen_ai.provider.name = self.provider.as_str(),
                        gen_ai.request.model = request_model,
                        gen_ai.response.model = record.model(),
                        gen_ai.response.id = record.request_id().unwrap_or_default(),
                        gen_ai.usage.input_tokens = record.prompt_tokens(),
                        gen_ai.usage.output_tokens = record.completion_tokens(),
                        gen_ai.usage.cache_read.input_tokens = record.cached_tokens(),
                        gen_ai.usage.cache_write.input_tokens = record.cache_write_tokens(),
                        gen_ai.usage.reasoning.output_tokens = record.reasoning_tokens(),
                        mamba.usage.estimated = record.is_estimated(),
                        mamba.user = record.labels().get(mamba_usage::USER).unwrap_or_default(),
                        mamba.session = record.labels().get(mamba_usage::SESSION).unwrap_or_default(),
                        mamba.labels = %record.labels(),
                        // Telemetry carries a number; the books keep the exact Decimal.
                        mamba.cost.usd = cost.total_cost.to_f64().unwrap_or(f64::NAN),
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
            // A level added to the settings later logs at info until this crate learns it.
            _ => completed!(tracing::Level::INFO),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::provider_name;

    #[test]
    fn provider_names_follow_the_genai_conventions_and_never_show_credentials() {
        let cases = [
            (None, "openai"),
            (Some("https://api.openai.com/v1"), "openai"),
            (Some("https://API.anthropic.com/v1/"), "anthropic"),
            (
                Some("https://generativelanguage.googleapis.com/v1beta/openai"),
                "gcp.gemini",
            ),
            (Some("http://127.0.0.1:8080/v1"), "127.0.0.1"),
            (
                Some("http://user:secret@proxy.internal:4000/v1"),
                "proxy.internal",
            ),
            (Some("http://[::1]:8000/v1"), "::1"),
        ];
        for (url, expected) in cases {
            assert_eq!(provider_name(url), expected, "{url:?}");
        }
    }
}
