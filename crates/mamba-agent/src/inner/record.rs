//! The one place a response becomes a [`UsageRecord`]: the provider's counts where it
//! reported both totals, the counter's estimate (marked) for a total it left out.

use std::time::Duration;

use mamba_tokens::ToolCall;
use mamba_usage::{Labels, ProviderUsage, ReportedTotals, ServiceTier, UsageRecord};

use super::Inner;

/// What came back from one request, before it is recorded.
pub(crate) struct Reply<'a> {
    pub(crate) model: Option<String>,
    pub(crate) id: Option<String>,
    /// The provider's usage, read at the edge; `None` when it sent none (or none readable).
    pub(crate) usage: Option<ProviderUsage>,
    /// The service tier the response says served it.
    pub(crate) service_tier: Option<String>,
    pub(crate) content: &'a str,
    pub(crate) calls: &'a [ToolCall],
    pub(crate) latency: Duration,
    /// The response never completed (cancelled, timed out, dropped).
    pub(crate) cut_off: bool,
}

impl Reply<'_> {
    /// A billed request with nothing usable from the server: its record is the estimate.
    pub(crate) fn estimate(latency: Duration, cut_off: bool) -> Reply<'static> {
        Reply {
            model: None,
            id: None,
            usage: None,
            service_tier: None,
            content: "",
            calls: &[],
            latency,
            cut_off,
        }
    }
}

impl Inner {
    /// The record of one response, carrying `labels`: the provider's counts where it sent
    /// them; where it sent none (no `usage`, `"usage": {}`, a count left out), the counter's
    /// estimate, marked estimated. `prompt_estimate` is called only then.
    pub(crate) fn build_record(
        &self,
        reply: Reply<'_>,
        labels: &Labels,
        prompt_estimate: &mut dyn FnMut() -> u64,
    ) -> UsageRecord {
        let model = reply
            .model
            .filter(|model| !model.is_empty())
            .unwrap_or_else(|| self.model.clone());
        let tools: Vec<&str> = reply.calls.iter().map(|call| call.name.as_str()).collect();
        let mut builder = UsageRecord::builder(&model)
            .latency(reply.latency)
            .cut_off(reply.cut_off)
            .labels(labels.clone());
        if let Some(id) = reply.id.as_deref().filter(|id| !id.is_empty()) {
            builder = builder.request_id(id);
        }
        if !tools.is_empty() {
            builder = builder.tool_name(&tools.join(","));
        }
        let usage = reply.usage.unwrap_or_default();
        let (prompt, completion) = match usage.totals() {
            ReportedTotals::Measured {
                prompt_tokens,
                completion_tokens,
            } => (prompt_tokens, completion_tokens),
            ReportedTotals::Missing {
                prompt_tokens,
                completion_tokens,
            } => {
                builder = builder.estimated(true);
                (
                    prompt_tokens.unwrap_or_else(prompt_estimate),
                    completion_tokens
                        .unwrap_or_else(|| self.completion_estimate(reply.content, reply.calls)),
                )
            }
        };
        let (cached, cache_write, cache_write_1h) = (
            usage.cached_tokens,
            usage.cache_write_tokens,
            usage.cache_write_1h_tokens,
        );
        if let Some(tier) = reply.service_tier.as_deref() {
            match tier.parse::<ServiceTier>() {
                Ok(tier) => builder = builder.service_tier(tier),
                // `auto`, `scale` or a tier of tomorrow: priced at the standard prices.
                Err(_) => tracing::debug!(
                    service_tier = tier,
                    "unknown service tier; standard prices apply"
                ),
            }
        }
        let reasoning = usage.reasoning_tokens;
        let mut builder = builder.prompt_tokens(prompt).completion_tokens(completion);
        if let Some(total) = usage.provider_total_tokens {
            builder = builder.provider_total_tokens(total);
        }
        let exact = builder
            .clone()
            .cached_tokens(cached)
            .cache_write_tokens(cache_write)
            .cache_write_1h_tokens(cache_write_1h)
            .reasoning_tokens(reasoning);
        exact.build().unwrap_or_else(|error| {
            // A provider's details larger than its totals: keep the totals, clamp the
            // details, and say so.
            tracing::warn!(%error, model = %model, "inconsistent usage details from the provider; clamped");
            let cached = cached.min(prompt);
            let cache_write = cache_write.min(prompt - cached);
            builder
                .cached_tokens(cached)
                .cache_write_tokens(cache_write)
                .cache_write_1h_tokens(cache_write_1h.min(cache_write))
                .reasoning_tokens(reasoning.min(completion))
                .build()
                .unwrap_or_else(|_| UsageRecord::new(prompt, completion, &model))
        })
    }

    pub(crate) fn completion_estimate(&self, content: &str, calls: &[ToolCall]) -> u64 {
        calls.iter().fold(self.counter.count(content), |sum, call| {
            sum.saturating_add(self.counter.count(&call.name))
                .saturating_add(self.counter.count(&call.arguments))
        })
    }
}
