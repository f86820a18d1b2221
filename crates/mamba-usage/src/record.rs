//! [`UsageRecord`]: what one model request used.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{Labels, ServiceTier, UsageError};

/// The usage of one model request (one HTTP call), with one meaning everywhere:
///
/// * `prompt_tokens` are all input tokens of the request, **including** cache reads
///   (`cached_tokens`) and cache writes (`cache_write_tokens`), which are subsets of it;
///   `cache_write_1h_tokens` are the cache writes with a one-hour lifetime (Anthropic bills
///   them above five-minute writes), a subset of `cache_write_tokens`.
/// * `completion_tokens` are all output tokens, **including** `reasoning_tokens` (a subset).
/// * `total_tokens` is always `prompt_tokens + completion_tokens`. A provider that reports a
///   different total keeps its number in [`provider_total_tokens`](Self::provider_total_tokens),
///   so the disagreement stays visible instead of being silently fixed.
/// * `service_tier` is the tier the provider says served the request (flex, priority and batch
///   have their own prices); `None` when it did not say.
/// * `estimated` marks usage computed by a token counter because the provider reported none.
/// * `cut_off` marks a request that reached the server but whose response never completed
///   (cancelled by the caller, timed out, or a dropped connection): it was billed, and its
///   counts are the provider's if they arrived, otherwise an estimate.
///
/// Fields are private so these rules always hold: build records with [`UsageRecord::new`] or
/// [`UsageRecord::builder`], which rejects subsets larger than their totals.
///
/// ```
/// use std::time::Duration;
/// use mamba_usage::UsageRecord;
///
/// let record = UsageRecord::builder("gpt-4o")
///     .prompt_tokens(1_200)
///     .cached_tokens(1_024)
///     .completion_tokens(300)
///     .reasoning_tokens(120)
///     .tool_name("search")
///     .latency(Duration::from_millis(850))
///     .build()?;
/// assert_eq!(record.total_tokens(), 1_500);
/// assert_eq!(record.uncached_prompt_tokens(), 176);
/// assert_eq!(record.tool_name(), Some("search"));
/// # Ok::<(), mamba_usage::UsageError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRecord {
    pub(crate) timestamp: SystemTime,
    pub(crate) model: Arc<str>,
    pub(crate) prompt_tokens: u64,
    pub(crate) completion_tokens: u64,
    pub(crate) cached_tokens: u64,
    pub(crate) cache_write_tokens: u64,
    pub(crate) cache_write_1h_tokens: u64,
    pub(crate) reasoning_tokens: u64,
    pub(crate) tool_name: Option<Arc<str>>,
    pub(crate) estimated: bool,
    pub(crate) cut_off: bool,
    pub(crate) request_id: Option<Arc<str>>,
    pub(crate) latency: Option<Duration>,
    pub(crate) provider_total_tokens: Option<u64>,
    pub(crate) service_tier: Option<ServiceTier>,
    pub(crate) labels: Labels,
}

impl UsageRecord {
    /// A record of `prompt_tokens` in and `completion_tokens` out for `model`, timestamped now.
    ///
    /// Token counts come first and the model last, as in
    /// [`UsageTracker::record_usage`](crate::UsageTracker::record_usage) and the pricing crate's
    /// `estimate`.
    ///
    /// ```
    /// use mamba_usage::UsageRecord;
    ///
    /// let record = UsageRecord::new(100, 50, "gpt-4o");
    /// assert_eq!((record.model(), record.total_tokens()), ("gpt-4o", 150));
    /// ```
    pub fn new(prompt_tokens: u64, completion_tokens: u64, model: &str) -> Self {
        UsageRecord {
            timestamp: SystemTime::now(),
            model: model.into(),
            prompt_tokens,
            completion_tokens,
            cached_tokens: 0,
            cache_write_tokens: 0,
            cache_write_1h_tokens: 0,
            reasoning_tokens: 0,
            tool_name: None,
            estimated: false,
            cut_off: false,
            request_id: None,
            latency: None,
            provider_total_tokens: None,
            service_tier: None,
            labels: Labels::new(),
        }
    }

    /// A builder for a record with more detail (see the type's example).
    pub fn builder(model: &str) -> UsageRecordBuilder {
        UsageRecordBuilder {
            record: UsageRecord::new(0, 0, model),
        }
    }

    /// When the request completed (UTC).
    pub fn timestamp(&self) -> SystemTime {
        self.timestamp
    }

    /// The model, as the provider reported it.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// All input tokens, cache reads and writes included.
    pub fn prompt_tokens(&self) -> u64 {
        self.prompt_tokens
    }

    /// All output tokens, reasoning included.
    pub fn completion_tokens(&self) -> u64 {
        self.completion_tokens
    }

    /// `prompt_tokens + completion_tokens` (saturating).
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }

    /// Input tokens read from the provider's prompt cache (part of `prompt_tokens`).
    pub fn cached_tokens(&self) -> u64 {
        self.cached_tokens
    }

    /// Input tokens written to the provider's prompt cache (part of `prompt_tokens`).
    pub fn cache_write_tokens(&self) -> u64 {
        self.cache_write_tokens
    }

    /// Cache writes with a one-hour lifetime (part of `cache_write_tokens`); the rest were
    /// five-minute writes.
    ///
    /// ```
    /// let record = mamba_usage::UsageRecord::builder("claude-sonnet-4-6")
    ///     .prompt_tokens(1_000).cache_write_tokens(800).cache_write_1h_tokens(500).build()?;
    /// assert_eq!(record.cache_write_1h_tokens(), 500);
    /// # Ok::<(), mamba_usage::UsageError>(())
    /// ```
    pub fn cache_write_1h_tokens(&self) -> u64 {
        self.cache_write_1h_tokens
    }

    /// The service tier that served the request, if the provider said.
    ///
    /// ```
    /// use mamba_usage::{ServiceTier, UsageRecord};
    ///
    /// let record = UsageRecord::builder("gpt-5").service_tier(ServiceTier::Flex).build()?;
    /// assert_eq!(record.service_tier(), Some(ServiceTier::Flex));
    /// # Ok::<(), mamba_usage::UsageError>(())
    /// ```
    pub fn service_tier(&self) -> Option<ServiceTier> {
        self.service_tier
    }

    /// The attribution labels (user, session, tags) of the request; empty when it has none.
    ///
    /// ```
    /// use mamba_usage::{Labels, UsageRecord};
    ///
    /// let record = UsageRecord::builder("gpt-4o").labels(Labels::new().user("alice")).build()?;
    /// assert_eq!(record.labels().get("user"), Some("alice"));
    /// assert!(UsageRecord::new(1, 1, "gpt-4o").labels().is_empty());
    /// # Ok::<(), mamba_usage::UsageError>(())
    /// ```
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// Input tokens that were neither cache reads nor cache writes.
    ///
    /// ```
    /// let record = mamba_usage::UsageRecord::builder("claude-sonnet-4")
    ///     .prompt_tokens(1_000).cached_tokens(600).cache_write_tokens(300).build()?;
    /// assert_eq!(record.uncached_prompt_tokens(), 100);
    /// # Ok::<(), mamba_usage::UsageError>(())
    /// ```
    pub fn uncached_prompt_tokens(&self) -> u64 {
        self.prompt_tokens
            .saturating_sub(self.cached_tokens)
            .saturating_sub(self.cache_write_tokens)
    }

    /// Output tokens spent on hidden reasoning (part of `completion_tokens`).
    pub fn reasoning_tokens(&self) -> u64 {
        self.reasoning_tokens
    }

    /// The tool the model called in this response, if any.
    pub fn tool_name(&self) -> Option<&str> {
        self.tool_name.as_deref()
    }

    /// Whether the counts were estimated by a token counter rather than reported by the provider.
    pub fn is_estimated(&self) -> bool {
        self.estimated
    }

    /// Whether the response was cut off before it completed (a cancellation, a timeout or a
    /// dropped connection after the request was sent). Such a request is billed by the
    /// provider, so it is recorded; its counts are estimated unless the provider's usage
    /// arrived before the cut.
    ///
    /// ```
    /// let record = mamba_usage::UsageRecord::builder("gpt-4o")
    ///     .prompt_tokens(120).estimated(true).cut_off(true).build()?;
    /// assert!(record.is_cut_off() && record.is_estimated());
    /// # Ok::<(), mamba_usage::UsageError>(())
    /// ```
    pub fn is_cut_off(&self) -> bool {
        self.cut_off
    }

    /// The provider's request id, if known.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// How long the request took, if measured.
    pub fn latency(&self) -> Option<Duration> {
        self.latency
    }

    /// The provider's own total, kept only when it disagreed with `prompt + completion`.
    ///
    /// ```
    /// let record = mamba_usage::UsageRecord::builder("gpt-4o")
    ///     .prompt_tokens(100).completion_tokens(50).provider_total_tokens(151).build()?;
    /// assert_eq!((record.total_tokens(), record.provider_total_tokens()), (150, Some(151)));
    /// # Ok::<(), mamba_usage::UsageError>(())
    /// ```
    pub fn provider_total_tokens(&self) -> Option<u64> {
        self.provider_total_tokens
    }

    /// Nanoseconds since the Unix epoch, the form records are stored in.
    pub(crate) fn unix_nanos(&self) -> u64 {
        unix_nanos(self.timestamp).unwrap_or_default()
    }
}

/// Nanoseconds since 1970 for times records can hold (1970 to 2554), else `None`.
pub(crate) fn unix_nanos(time: SystemTime) -> Option<u64> {
    let since_epoch = time.duration_since(UNIX_EPOCH).ok()?;
    u64::try_from(since_epoch.as_nanos()).ok()
}

/// Builds a [`UsageRecord`], checking the token semantics on [`build`](Self::build).
///
/// ```
/// use mamba_usage::UsageRecord;
///
/// // Anthropic reports input without cache; normalise it on the way in.
/// let record = UsageRecord::builder("claude-sonnet-4")
///     .prompt_tokens_excluding_cache(50, 1_000, 200)
///     .completion_tokens(80)
///     .build()?;
/// assert_eq!((record.prompt_tokens(), record.cached_tokens()), (1_250, 1_000));
/// # Ok::<(), mamba_usage::UsageError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct UsageRecordBuilder {
    record: UsageRecord,
}

impl UsageRecordBuilder {
    /// When the request completed (default: when the builder was made).
    pub fn timestamp(mut self, timestamp: SystemTime) -> Self {
        self.record.timestamp = timestamp;
        self
    }

    /// All input tokens, including cache reads and writes (OpenAI style).
    pub fn prompt_tokens(mut self, tokens: u64) -> Self {
        self.record.prompt_tokens = tokens;
        self
    }

    /// Input given as Anthropic reports it: uncached input, cache reads and cache writes apart.
    /// Sets `prompt_tokens` to their sum (saturating), `cached_tokens` and `cache_write_tokens`.
    pub fn prompt_tokens_excluding_cache(
        mut self,
        uncached: u64,
        cache_read: u64,
        cache_write: u64,
    ) -> Self {
        self.record.prompt_tokens = uncached
            .saturating_add(cache_read)
            .saturating_add(cache_write);
        self.record.cached_tokens = cache_read;
        self.record.cache_write_tokens = cache_write;
        self
    }

    /// All output tokens, including reasoning.
    pub fn completion_tokens(mut self, tokens: u64) -> Self {
        self.record.completion_tokens = tokens;
        self
    }

    /// Cache reads (part of the prompt).
    pub fn cached_tokens(mut self, tokens: u64) -> Self {
        self.record.cached_tokens = tokens;
        self
    }

    /// Cache writes (part of the prompt).
    pub fn cache_write_tokens(mut self, tokens: u64) -> Self {
        self.record.cache_write_tokens = tokens;
        self
    }

    /// One-hour cache writes (part of the cache writes).
    pub fn cache_write_1h_tokens(mut self, tokens: u64) -> Self {
        self.record.cache_write_1h_tokens = tokens;
        self
    }

    /// The service tier that served the request.
    pub fn service_tier(mut self, tier: ServiceTier) -> Self {
        self.record.service_tier = Some(tier);
        self
    }

    /// The request's attribution labels (shared, not copied).
    pub fn labels(mut self, labels: Labels) -> Self {
        self.record.labels = labels;
        self
    }

    /// Reasoning tokens (part of the completion).
    pub fn reasoning_tokens(mut self, tokens: u64) -> Self {
        self.record.reasoning_tokens = tokens;
        self
    }

    /// The tool the model called.
    pub fn tool_name(mut self, tool: &str) -> Self {
        self.record.tool_name = Some(tool.into());
        self
    }

    /// Marks the response as cut off before it completed (see [`UsageRecord::is_cut_off`]).
    pub fn cut_off(mut self, cut_off: bool) -> Self {
        self.record.cut_off = cut_off;
        self
    }

    /// Marks the counts as estimated by a token counter.
    pub fn estimated(mut self, estimated: bool) -> Self {
        self.record.estimated = estimated;
        self
    }

    /// The provider's request id.
    pub fn request_id(mut self, id: &str) -> Self {
        self.record.request_id = Some(id.into());
        self
    }

    /// How long the request took.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.record.latency = Some(latency);
        self
    }

    /// The total the provider reported; kept only if it differs from prompt + completion.
    pub fn provider_total_tokens(mut self, total: u64) -> Self {
        self.record.provider_total_tokens = Some(total);
        self
    }

    /// The record, if its counts keep the token semantics.
    ///
    /// # Errors
    /// [`UsageError::SubsetExceedsTotal`] when cache reads + writes exceed the prompt,
    /// one-hour writes exceed the writes, or reasoning exceeds the completion;
    /// [`UsageError::TimestampOutOfRange`] for times before 1970 or after 2554.
    pub fn build(mut self) -> Result<UsageRecord, UsageError> {
        let r = &mut self.record;
        let cache = r.cached_tokens.checked_add(r.cache_write_tokens);
        if cache.is_none_or(|cache| cache > r.prompt_tokens) {
            return Err(UsageError::SubsetExceedsTotal {
                subset: format!(
                    "cached_tokens {} + cache_write_tokens {}",
                    r.cached_tokens, r.cache_write_tokens
                ),
                total_field: "prompt_tokens",
                total: r.prompt_tokens,
                why: "cache reads and writes are part of the prompt",
            });
        }
        if r.cache_write_1h_tokens > r.cache_write_tokens {
            return Err(UsageError::SubsetExceedsTotal {
                subset: format!("cache_write_1h_tokens {}", r.cache_write_1h_tokens),
                total_field: "cache_write_tokens",
                total: r.cache_write_tokens,
                why: "one-hour cache writes are part of the cache writes",
            });
        }
        if r.reasoning_tokens > r.completion_tokens {
            return Err(UsageError::SubsetExceedsTotal {
                subset: format!("reasoning_tokens {}", r.reasoning_tokens),
                total_field: "completion_tokens",
                total: r.completion_tokens,
                why: "reasoning is part of the completion",
            });
        }
        if unix_nanos(r.timestamp).is_none() {
            return Err(UsageError::TimestampOutOfRange {
                timestamp: format!("{:?}", r.timestamp),
            });
        }
        if r.provider_total_tokens == r.prompt_tokens.checked_add(r.completion_tokens) {
            r.provider_total_tokens = None;
        }
        Ok(self.record)
    }
}
