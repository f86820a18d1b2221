//! Provider usage JSON into our token semantics: one reader per shape ([`UsageFormat`]) into
//! [`ProviderUsage`], which becomes a [`UsageRecord`] in one call.
//!
//! Every shape is normalised to the meaning of our records: the prompt includes cache reads
//! and writes, the completion includes reasoning. Anthropic reports input without its cache
//! reads and writes, and Gemini reports thinking and tool-use prompt tokens beside its prompt
//! and candidates; both are added here, so nothing downstream knows which provider it was.

use serde_json::Value;

use crate::{UsageError, UsageRecord, UsageRecordBuilder};

/// The usage shapes providers report.
///
/// ```
/// use mamba_usage::UsageFormat;
///
/// assert_eq!(UsageFormat::Anthropic.name(), "Anthropic Messages");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UsageFormat {
    /// OpenAI Chat Completions `usage` (also its final stream chunk, and OpenAI-compatible
    /// servers; the Anthropic cache fields LiteLLM adds beside it are read too).
    OpenAiChat,
    /// OpenAI Responses API `usage`.
    OpenAiResponses,
    /// Anthropic Messages `usage` (also the `message_start` and `message_delta` stream events).
    Anthropic,
    /// Gemini `usageMetadata`.
    Gemini,
}

impl UsageFormat {
    /// The shape's name, as errors say it.
    pub const fn name(self) -> &'static str {
        match self {
            UsageFormat::OpenAiChat => "OpenAI Chat Completions",
            UsageFormat::OpenAiResponses => "OpenAI Responses",
            UsageFormat::Anthropic => "Anthropic Messages",
            UsageFormat::Gemini => "Gemini",
        }
    }

    /// The key a whole response (or stream event) holds its usage under.
    fn usage_key(self) -> &'static str {
        match self {
            UsageFormat::Gemini => "usageMetadata",
            _ => "usage",
        }
    }
}

/// A provider's usage in our token semantics. The two totals are `None` when the provider did
/// not report them (a stream cut before its usage, `"usage": {}`): such usage is not
/// [measured](ProviderUsage::is_measured), and a record of it must be estimated.
///
/// ```
/// use mamba_usage::{ProviderUsage, UsageFormat};
///
/// let body = r#"{"id": "msg_01", "model": "claude-sonnet-4-6", "usage": {
///     "input_tokens": 50, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 200,
///     "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 200},
///     "output_tokens": 80}}"#;
/// let usage = ProviderUsage::parse_str(UsageFormat::Anthropic, body)?;
/// let record = usage.to_record("claude-sonnet-4-6")?;
/// assert_eq!(record.prompt_tokens(), 1_250); // input excludes the cache: added back
/// assert_eq!((record.cached_tokens(), record.cache_write_tokens()), (1_000, 200));
/// assert_eq!(record.cache_write_1h_tokens(), 200);
/// assert_eq!(record.completion_tokens(), 80);
/// # Ok::<(), mamba_usage::UsageError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderUsage {
    /// All input tokens, cache reads and writes included.
    pub prompt_tokens: Option<u64>,
    /// All output tokens, reasoning included.
    pub completion_tokens: Option<u64>,
    /// Cache reads (part of the prompt).
    pub cached_tokens: u64,
    /// Cache writes (part of the prompt).
    pub cache_write_tokens: u64,
    /// One-hour cache writes (part of the cache writes).
    pub cache_write_1h_tokens: u64,
    /// Reasoning tokens (part of the completion).
    pub reasoning_tokens: u64,
    /// The provider's own total, when it gave one.
    pub provider_total_tokens: Option<u64>,
}

/// What a provider reported of a request's two totals ([`ProviderUsage::totals`]).
///
/// ```
/// use mamba_usage::{ProviderUsage, ReportedTotals, UsageFormat};
///
/// let usage = ProviderUsage::parse_str(UsageFormat::Gemini,
///     r#"{"usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 4}}"#)?;
/// assert_eq!(usage.totals(), ReportedTotals::Measured { prompt_tokens: 10, completion_tokens: 4 });
/// # Ok::<(), mamba_usage::UsageError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportedTotals {
    /// Both totals were reported: a record of them is measured.
    Measured {
        /// All input tokens.
        prompt_tokens: u64,
        /// All output tokens.
        completion_tokens: u64,
    },
    /// At least one total is missing: a record must estimate it and be marked estimated.
    Missing {
        /// The input tokens, if reported.
        prompt_tokens: Option<u64>,
        /// The output tokens, if reported.
        completion_tokens: Option<u64>,
    },
}

impl ProviderUsage {
    /// Reads a usage object, or a whole response or stream event holding one (under `usage`,
    /// Gemini's `usageMetadata`, or Anthropic's `message_start` `message.usage`).
    ///
    /// # Errors
    /// [`UsageError::ProviderUsage`] naming the field whose value is not a whole number of
    /// tokens, or a usage that is not an object.
    pub fn parse(format: UsageFormat, value: &Value) -> Result<ProviderUsage, UsageError> {
        let (usage, path) = locate(format, value);
        let reader = Reader {
            format,
            usage,
            path,
        };
        if !usage.is_object() {
            return Err(reader.error(String::new(), format!("{} is not an object", shown(usage))));
        }
        match format {
            UsageFormat::OpenAiChat => reader.openai_chat(),
            UsageFormat::OpenAiResponses => reader.openai_responses(),
            UsageFormat::Anthropic => reader.anthropic(),
            UsageFormat::Gemini => reader.gemini(),
        }
    }

    /// [`parse`](Self::parse) from JSON text.
    ///
    /// # Errors
    /// As `parse`, and [`UsageError::ProviderUsage`] for text that is not JSON.
    pub fn parse_str(format: UsageFormat, text: &str) -> Result<ProviderUsage, UsageError> {
        let value: Value = serde_json::from_str(text).map_err(|e| UsageError::ProviderUsage {
            format: format.name(),
            field: String::new(),
            problem: format!("the text is not JSON: {e}"),
        })?;
        ProviderUsage::parse(format, &value)
    }

    /// [`parse`](Self::parse) from a typed value: the response (or usage) struct your client
    /// library deserialized, such as async-openai's `CreateChatCompletionResponse` or an
    /// Anthropic SDK's `Message`, or a struct of your own.
    ///
    /// ```
    /// use mamba_usage::{ProviderUsage, UsageFormat};
    ///
    /// /// The part of a Responses API answer a client kept.
    /// #[derive(serde::Serialize)]
    /// struct Usage { input_tokens: u64, output_tokens: u64, output_tokens_details: Details }
    /// #[derive(serde::Serialize)]
    /// struct Details { reasoning_tokens: u64 }
    ///
    /// let usage = Usage { input_tokens: 328, output_tokens: 1_052,
    ///     output_tokens_details: Details { reasoning_tokens: 896 } };
    /// let record = ProviderUsage::parse_serialized(UsageFormat::OpenAiResponses, &usage)?
    ///     .to_record("o3")?;
    /// assert_eq!((record.completion_tokens(), record.reasoning_tokens()), (1_052, 896));
    /// # Ok::<(), mamba_usage::UsageError>(())
    /// ```
    ///
    /// # Errors
    /// As `parse`, and [`UsageError::ProviderUsage`] for a value that does not serialize to
    /// JSON (a map with non-string keys).
    pub fn parse_serialized<T: serde::Serialize + ?Sized>(
        format: UsageFormat,
        value: &T,
    ) -> Result<ProviderUsage, UsageError> {
        let value = serde_json::to_value(value).map_err(|e| UsageError::ProviderUsage {
            format: format.name(),
            field: String::new(),
            problem: format!("the value does not serialize to JSON: {e}"),
        })?;
        ProviderUsage::parse(format, &value)
    }

    /// Whether the provider reported both the prompt and the completion: a record of it is
    /// measured, not estimated.
    pub fn is_measured(&self) -> bool {
        matches!(self.totals(), ReportedTotals::Measured { .. })
    }

    /// The two totals as reported: both (the record is measured) or not (what is missing must
    /// be estimated, and the record says so).
    ///
    /// ```
    /// use mamba_usage::{ProviderUsage, ReportedTotals, UsageFormat};
    ///
    /// // A usage object without its completion count (a server's bug, a cut stream).
    /// let usage = ProviderUsage::parse_str(UsageFormat::OpenAiChat, r#"{"prompt_tokens": 12}"#)?;
    /// assert_eq!(
    ///     usage.totals(),
    ///     ReportedTotals::Missing { prompt_tokens: Some(12), completion_tokens: None }
    /// );
    /// # Ok::<(), mamba_usage::UsageError>(())
    /// ```
    pub fn totals(&self) -> ReportedTotals {
        match (self.prompt_tokens, self.completion_tokens) {
            (Some(prompt_tokens), Some(completion_tokens)) => ReportedTotals::Measured {
                prompt_tokens,
                completion_tokens,
            },
            (prompt_tokens, completion_tokens) => ReportedTotals::Missing {
                prompt_tokens,
                completion_tokens,
            },
        }
    }

    /// Combines a stream's usage events, `later` winning where it reports a count: Anthropic's
    /// `message_start` carries the input and cache counts, `message_delta` the final output.
    ///
    /// ```
    /// use mamba_usage::{ProviderUsage, UsageFormat};
    ///
    /// let start = ProviderUsage::parse_str(UsageFormat::Anthropic, r#"{"type": "message_start",
    ///     "message": {"usage": {"input_tokens": 25, "output_tokens": 1}}}"#)?;
    /// let delta = ProviderUsage::parse_str(UsageFormat::Anthropic, r#"{"type": "message_delta",
    ///     "usage": {"output_tokens": 15}}"#)?;
    /// let usage = start.merge(delta);
    /// assert_eq!((usage.prompt_tokens, usage.completion_tokens), (Some(25), Some(15)));
    /// # Ok::<(), mamba_usage::UsageError>(())
    /// ```
    #[must_use]
    pub fn merge(self, later: ProviderUsage) -> ProviderUsage {
        let max_or = |a: u64, b: u64| if b > 0 { b } else { a };
        ProviderUsage {
            prompt_tokens: later.prompt_tokens.or(self.prompt_tokens),
            completion_tokens: later.completion_tokens.or(self.completion_tokens),
            cached_tokens: max_or(self.cached_tokens, later.cached_tokens),
            cache_write_tokens: max_or(self.cache_write_tokens, later.cache_write_tokens),
            cache_write_1h_tokens: max_or(self.cache_write_1h_tokens, later.cache_write_1h_tokens),
            reasoning_tokens: max_or(self.reasoning_tokens, later.reasoning_tokens),
            provider_total_tokens: later.provider_total_tokens.or(self.provider_total_tokens),
        }
    }

    /// Sets these counts on `builder`: the totals where reported, every detail.
    pub fn apply(&self, mut builder: UsageRecordBuilder) -> UsageRecordBuilder {
        if let Some(prompt) = self.prompt_tokens {
            builder = builder.prompt_tokens(prompt);
        }
        if let Some(completion) = self.completion_tokens {
            builder = builder.completion_tokens(completion);
        }
        if let Some(total) = self.provider_total_tokens {
            builder = builder.provider_total_tokens(total);
        }
        builder
            .cached_tokens(self.cached_tokens)
            .cache_write_tokens(self.cache_write_tokens)
            .cache_write_1h_tokens(self.cache_write_1h_tokens)
            .reasoning_tokens(self.reasoning_tokens)
    }

    /// A record of this usage for `model`, timestamped now; add a request id, latency or tier
    /// with [`apply`](Self::apply) on your own builder instead.
    ///
    /// # Errors
    /// [`UsageError::ProviderUsage`] when the usage is not measured (a count is missing), and
    /// [`UsageError::SubsetExceedsTotal`] for details larger than their totals.
    pub fn to_record(&self, model: &str) -> Result<UsageRecord, UsageError> {
        if !self.is_measured() {
            let missing = if self.prompt_tokens.is_none() {
                "the prompt count"
            } else {
                "the completion count"
            };
            return Err(UsageError::ProviderUsage {
                format: "provider",
                field: String::new(),
                problem: format!("{missing} is missing, so the usage is not measured"),
            });
        }
        self.apply(UsageRecord::builder(model)).build()
    }
}

/// Where the usage object is in `value`, and its path for errors.
fn locate(format: UsageFormat, value: &Value) -> (&Value, &'static str) {
    let key = format.usage_key();
    if let Some(usage) = value.get(key) {
        return (usage, key);
    }
    if let Some(usage) = value
        .get("message")
        .and_then(|message| message.get("usage"))
    {
        return (usage, "message.usage");
    }
    (value, "")
}

fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 40 {
        format!(
            "{}...",
            &text[..text.char_indices().nth(40).map_or(text.len(), |(i, _)| i)]
        )
    } else {
        text
    }
}

/// Reads the counts of one usage object.
struct Reader<'a> {
    format: UsageFormat,
    usage: &'a Value,
    path: &'static str,
}

impl Reader<'_> {
    fn error(&self, field: String, problem: String) -> UsageError {
        UsageError::ProviderUsage {
            format: self.format.name(),
            field,
            problem,
        }
    }

    /// The count at `path` (dot-separated under the usage object): `None` when absent or
    /// null, an error naming the field when it is not a whole number of tokens.
    fn count(&self, path: &str) -> Result<Option<u64>, UsageError> {
        let mut value = self.usage;
        for key in path.split('.') {
            match value.get(key) {
                Some(inner) => value = inner,
                None => return Ok(None),
            }
        }
        if value.is_null() {
            return Ok(None);
        }
        value.as_u64().map(Some).ok_or_else(|| {
            let field = if self.path.is_empty() {
                path.to_owned()
            } else {
                format!("{}.{path}", self.path)
            };
            self.error(
                field,
                format!("{} is not a whole number of tokens", shown(value)),
            )
        })
    }

    fn zero(&self, path: &str) -> Result<u64, UsageError> {
        Ok(self.count(path)?.unwrap_or(0))
    }

    /// Anthropic-style cache writes: the total, or the sum of its lifetimes.
    fn cache_creation(&self) -> Result<(u64, u64), UsageError> {
        let five = self.count("cache_creation.ephemeral_5m_input_tokens")?;
        let hour = self.count("cache_creation.ephemeral_1h_input_tokens")?;
        let split = five.unwrap_or(0).saturating_add(hour.unwrap_or(0));
        let total = self.count("cache_creation_input_tokens")?.unwrap_or(split);
        Ok((total, hour.unwrap_or(0)))
    }

    fn openai_chat(&self) -> Result<ProviderUsage, UsageError> {
        let (creation, one_hour) = self.cache_creation()?;
        Ok(ProviderUsage {
            prompt_tokens: self.count("prompt_tokens")?,
            completion_tokens: self.count("completion_tokens")?,
            cached_tokens: match self.count("prompt_tokens_details.cached_tokens")? {
                Some(cached) => cached,
                None => self.zero("cache_read_input_tokens")?,
            },
            cache_write_tokens: self
                .count("prompt_tokens_details.cache_write_tokens")?
                .unwrap_or(creation),
            cache_write_1h_tokens: one_hour,
            reasoning_tokens: self.zero("completion_tokens_details.reasoning_tokens")?,
            provider_total_tokens: self.count("total_tokens")?,
        })
    }

    fn openai_responses(&self) -> Result<ProviderUsage, UsageError> {
        Ok(ProviderUsage {
            prompt_tokens: self.count("input_tokens")?,
            completion_tokens: self.count("output_tokens")?,
            cached_tokens: self.zero("input_tokens_details.cached_tokens")?,
            cache_write_tokens: 0,
            cache_write_1h_tokens: 0,
            reasoning_tokens: self.zero("output_tokens_details.reasoning_tokens")?,
            provider_total_tokens: self.count("total_tokens")?,
        })
    }

    fn anthropic(&self) -> Result<ProviderUsage, UsageError> {
        let uncached = self.count("input_tokens")?;
        let cached = self.zero("cache_read_input_tokens")?;
        let (creation, one_hour) = self.cache_creation()?;
        Ok(ProviderUsage {
            // Anthropic's input excludes cache reads and writes; ours includes them.
            prompt_tokens: uncached
                .map(|uncached| uncached.saturating_add(cached).saturating_add(creation)),
            completion_tokens: self.count("output_tokens")?,
            cached_tokens: cached,
            cache_write_tokens: creation,
            cache_write_1h_tokens: one_hour,
            reasoning_tokens: 0,
            provider_total_tokens: None,
        })
    }

    fn gemini(&self) -> Result<ProviderUsage, UsageError> {
        let prompt = self.count("promptTokenCount")?;
        let tool_use = self.zero("toolUsePromptTokenCount")?;
        let candidates = self.count("candidatesTokenCount")?;
        let thoughts = self.zero("thoughtsTokenCount")?;
        // A response with no text (only a function call, or a block) may leave out its
        // candidates count: with thoughts or a prompt reported, the output is what was said.
        let completion = match (candidates, prompt) {
            (Some(candidates), _) => Some(candidates.saturating_add(thoughts)),
            (None, Some(_)) => Some(thoughts),
            (None, None) => None,
        };
        Ok(ProviderUsage {
            // Tool-use prompts are billed as input beside the prompt.
            prompt_tokens: prompt.map(|prompt| prompt.saturating_add(tool_use)),
            // Thinking is billed as output and is not inside the candidates count.
            completion_tokens: completion,
            cached_tokens: self.zero("cachedContentTokenCount")?,
            cache_write_tokens: 0,
            cache_write_1h_tokens: 0,
            reasoning_tokens: thoughts,
            provider_total_tokens: self.count("totalTokenCount")?,
        })
    }
}
