//! [`TokenCounter`]: counts text, chat messages and tool definitions for one encoding.

use std::sync::Arc;

use crate::config::validate_margin;
use crate::engine::{self, CountingEngine};
use crate::message::{MessagePart, TokenizedMessage};
use crate::model::{Accuracy, encoding_for_model};
use crate::tools::TokenizedTool;
use crate::{Encoding, TokenizerConfig, TokensError};

/// Counts tokens exactly as OpenAI's tiktoken does, for one encoding.
///
/// The Rust counterpart of the Python library's `TokenCounter`. Cheap to clone (the encoder is
/// built once per process and shared), `Send + Sync`, and counting never fails or panics: any
/// `&str` gets a count, special-token strings such as `<|endoftext|>` count as ordinary text.
///
/// ```
/// use mamba_tokens::{Accuracy, ChatMessage, Encoding, TokenCounter};
///
/// let counter = TokenCounter::new("cl100k_base")?;
/// assert_eq!(counter.count("Hello, world!"), 4);
///
/// let gpt4o = TokenCounter::for_model("gpt-4o-2024-08-06");
/// assert_eq!(gpt4o.encoding(), Encoding::O200kBase);
/// assert_eq!(gpt4o.accuracy(), Accuracy::Exact);
///
/// let messages = [ChatMessage::user("Hello"), ChatMessage::assistant("Hi there!")];
/// assert_eq!(gpt4o.count_messages(&messages), 3 + 2 + 3 + 4 + 3);
/// # Ok::<(), mamba_tokens::TokensError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TokenCounter {
    encoding: Encoding,
    engine: CountingEngine,
    model: Option<Arc<str>>,
    accuracy: Accuracy,
    safety_margin: f64,
}

impl TokenCounter {
    /// A counter for the encoding called `encoding` (tiktoken's names: `"o200k_base"`,
    /// `"cl100k_base"`, ...). Its counts are exact for that encoding.
    ///
    /// # Errors
    /// [`TokensError::UnknownEncoding`] naming the value and listing the valid names.
    ///
    /// ```
    /// use mamba_tokens::TokenCounter;
    ///
    /// let counter = TokenCounter::new("p50k_base")?;
    /// assert_eq!(counter.count("def main():"), 3);
    /// assert!(TokenCounter::new("p50k").is_err());
    /// # Ok::<(), mamba_tokens::TokensError>(())
    /// ```
    pub fn new(encoding: &str) -> Result<Self, TokensError> {
        Ok(TokenCounter::from_encoding(encoding.parse()?))
    }

    /// A counter for an [`Encoding`].
    ///
    /// ```
    /// use mamba_tokens::{Encoding, TokenCounter};
    ///
    /// let counter = TokenCounter::from_encoding(Encoding::R50kBase);
    /// assert_eq!(counter.encoding(), Encoding::R50kBase);
    /// ```
    pub fn from_encoding(encoding: Encoding) -> Self {
        TokenCounter {
            encoding,
            engine: CountingEngine::default_for(encoding),
            model: None,
            accuracy: Accuracy::Exact,
            safety_margin: TokenizerConfig::DEFAULT_SAFETY_MARGIN,
        }
    }

    /// A counter for `model`, with the encoding from [`encoding_for_model`]. Unknown and
    /// non-OpenAI models get o200k_base and [`Accuracy::Approximate`].
    ///
    /// ```
    /// use mamba_tokens::{Accuracy, Encoding, TokenCounter};
    ///
    /// let counter = TokenCounter::for_model("gpt-3.5-turbo");
    /// assert_eq!(counter.encoding(), Encoding::Cl100kBase);
    /// assert_eq!(counter.model(), Some("gpt-3.5-turbo"));
    /// assert_eq!(TokenCounter::for_model("claude-3-opus").accuracy(), Accuracy::Approximate);
    /// ```
    pub fn for_model(model: &str) -> Self {
        let choice = encoding_for_model(model);
        TokenCounter {
            model: Some(model.into()),
            accuracy: choice.accuracy,
            ..TokenCounter::from_encoding(choice.encoding)
        }
    }

    /// A counter for the config's fallback encoding and safety margin.
    ///
    /// # Errors
    /// [`TokensError::InvalidSafetyMargin`] if the margin is outside 0.0..=0.5.
    ///
    /// ```
    /// use mamba_tokens::{Encoding, TokenCounter, TokenizerConfig};
    ///
    /// let config = TokenizerConfig::default().with_encoding(Encoding::Cl100kBase);
    /// assert_eq!(TokenCounter::from_config(&config)?.encoding(), Encoding::Cl100kBase);
    /// # Ok::<(), mamba_tokens::TokensError>(())
    /// ```
    pub fn from_config(config: &TokenizerConfig) -> Result<Self, TokensError> {
        config.validate()?;
        Ok(TokenCounter::from_encoding(config.encoding)
            .with_safety_margin_unchecked(config.safety_margin))
    }

    /// A counter for `model` using the config's mapping, fallback encoding and safety margin
    /// (see [`TokenizerConfig::encoding_for_model`]).
    ///
    /// # Errors
    /// [`TokensError::InvalidSafetyMargin`] if the margin is outside 0.0..=0.5.
    ///
    /// ```
    /// use mamba_tokens::{Accuracy, TokenCounter, TokenizerConfig};
    ///
    /// let counter = TokenCounter::for_model_with_config("gpt-4.1-mini", &TokenizerConfig::default())?;
    /// assert_eq!(counter.accuracy(), Accuracy::Exact);
    /// # Ok::<(), mamba_tokens::TokensError>(())
    /// ```
    pub fn for_model_with_config(
        model: &str,
        config: &TokenizerConfig,
    ) -> Result<Self, TokensError> {
        config.validate()?;
        let choice = config.encoding_for_model(model);
        Ok(TokenCounter {
            model: Some(model.into()),
            accuracy: choice.accuracy,
            ..TokenCounter::from_encoding(choice.encoding)
        }
        .with_safety_margin_unchecked(config.safety_margin))
    }

    /// Sets the safety margin used by [`count_with_margin`](Self::count_with_margin) and
    /// [`fits_context`](Self::fits_context).
    ///
    /// # Errors
    /// [`TokensError::InvalidSafetyMargin`] if `margin` is outside 0.0..=0.5 or NaN.
    ///
    /// ```
    /// use mamba_tokens::TokenCounter;
    ///
    /// let counter = TokenCounter::for_model("gpt-4o").with_safety_margin(0.25)?;
    /// assert_eq!(counter.safety_margin(), 0.25);
    /// assert!(TokenCounter::for_model("gpt-4o").with_safety_margin(-0.1).is_err());
    /// # Ok::<(), mamba_tokens::TokensError>(())
    /// ```
    pub fn with_safety_margin(self, margin: f64) -> Result<Self, TokensError> {
        validate_margin(margin)?;
        Ok(self.with_safety_margin_unchecked(margin))
    }

    fn with_safety_margin_unchecked(mut self, margin: f64) -> Self {
        self.safety_margin = margin;
        self
    }

    /// Counts with `engine` instead of the default one. Counts do not change, only speed: every
    /// engine matches tiktoken, and one that does not support this encoding falls back to
    /// tiktoken-rs.
    ///
    /// ```
    /// use mamba_tokens::{CountingEngine, TokenCounter};
    ///
    /// let counter = TokenCounter::for_model("gpt-4o").with_engine(CountingEngine::TiktokenRs);
    /// assert_eq!(counter.count("tiktoken"), 3);
    /// ```
    #[must_use]
    pub fn with_engine(mut self, engine: CountingEngine) -> Self {
        self.engine = engine.resolve(self.encoding);
        self
    }

    /// The encoding this counter counts with.
    ///
    /// ```
    /// use mamba_tokens::{Encoding, TokenCounter};
    ///
    /// assert_eq!(TokenCounter::for_model("gpt-4").encoding(), Encoding::Cl100kBase);
    /// ```
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The engine that does the counting.
    ///
    /// ```
    /// use mamba_tokens::{CountingEngine, Encoding, TokenCounter};
    ///
    /// let counter = TokenCounter::from_encoding(Encoding::P50kBase);
    /// assert_eq!(counter.engine(), CountingEngine::TiktokenRs);
    /// ```
    pub fn engine(&self) -> CountingEngine {
        self.engine
    }

    /// The model this counter was made for, if any.
    ///
    /// ```
    /// use mamba_tokens::TokenCounter;
    ///
    /// assert_eq!(TokenCounter::for_model("gpt-4o").model(), Some("gpt-4o"));
    /// assert_eq!(TokenCounter::new("o200k_base")?.model(), None);
    /// # Ok::<(), mamba_tokens::TokensError>(())
    /// ```
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// Whether counts are exact for [`model`](Self::model) (always exact for a counter made from
    /// an encoding).
    ///
    /// ```
    /// use mamba_tokens::{Accuracy, TokenCounter};
    ///
    /// assert_eq!(TokenCounter::for_model("gemini-2.5-pro").accuracy(), Accuracy::Approximate);
    /// assert_eq!(TokenCounter::new("cl100k_base")?.accuracy(), Accuracy::Exact);
    /// # Ok::<(), mamba_tokens::TokensError>(())
    /// ```
    pub fn accuracy(&self) -> Accuracy {
        self.accuracy
    }

    /// `true` when [`accuracy`](Self::accuracy) is [`Accuracy::Exact`].
    ///
    /// ```
    /// use mamba_tokens::TokenCounter;
    ///
    /// assert!(TokenCounter::for_model("o3-mini").is_exact());
    /// assert!(!TokenCounter::for_model("claude-3-opus").is_exact());
    /// ```
    pub fn is_exact(&self) -> bool {
        self.accuracy == Accuracy::Exact
    }

    /// The fraction [`count_with_margin`](Self::count_with_margin) adds.
    ///
    /// ```
    /// use mamba_tokens::{TokenCounter, TokenizerConfig};
    ///
    /// assert_eq!(TokenCounter::default().safety_margin(), TokenizerConfig::DEFAULT_SAFETY_MARGIN);
    /// ```
    pub fn safety_margin(&self) -> f64 {
        self.safety_margin
    }

    /// The number of tokens in `text`, identical to tiktoken's `len(encode_ordinary(text))`.
    ///
    /// ```
    /// use mamba_tokens::TokenCounter;
    ///
    /// let counter = TokenCounter::for_model("gpt-4o");
    /// assert_eq!(counter.count(""), 0);
    /// assert_eq!(counter.count("Hello, how are you today?"), 7);
    /// // Special-token strings are ordinary text, not an error or a single token.
    /// assert_eq!(counter.count("<|endoftext|>"), 7);
    /// ```
    pub fn count(&self, text: &str) -> u64 {
        to_u64(engine::count(self.engine, self.encoding, text))
    }

    /// [`count`](Self::count) plus the safety margin, rounded up: a budget-safe estimate.
    ///
    /// ```
    /// use mamba_tokens::TokenCounter;
    ///
    /// let counter = TokenCounter::new("cl100k_base")?; // default margin 0.1
    /// assert_eq!(counter.count("Hello, world!"), 4);
    /// assert_eq!(counter.count_with_margin("Hello, world!"), 5); // ceil(4.4)
    /// # Ok::<(), mamba_tokens::TokensError>(())
    /// ```
    pub fn count_with_margin(&self, text: &str) -> u64 {
        self.add_margin(self.count(text))
    }

    /// Whether `text`, with the safety margin, fits in `max_tokens`.
    ///
    /// ```
    /// use mamba_tokens::TokenCounter;
    ///
    /// let counter = TokenCounter::new("cl100k_base")?;
    /// assert!(counter.fits_context("Hello, world!", 5));
    /// assert!(!counter.fits_context("Hello, world!", 4));
    /// # Ok::<(), mamba_tokens::TokensError>(())
    /// ```
    pub fn fits_context(&self, text: &str, max_tokens: u64) -> bool {
        self.count_with_margin(text) <= max_tokens
    }

    /// Tokens of a chat request's messages, by the OpenAI cookbook formula: per message 3 tokens
    /// plus its fields' tokens, +1 per `name`, +3 once to prime the reply. Exact for OpenAI chat
    /// models (the cookbook's example counts 129 with gpt-4 and 124 with gpt-4o, as the API does);
    /// tool calls inside messages are an estimate (see [`crate::message`]).
    ///
    /// Takes [`ChatMessage`](crate::ChatMessage)s, OpenAI-shaped [`serde_json::Value`]s, or any
    /// [`TokenizedMessage`].
    ///
    /// ```
    /// use mamba_tokens::TokenCounter;
    /// use serde_json::json;
    ///
    /// let messages = [
    ///     json!({"role": "user", "content": "Hello"}),
    ///     json!({"role": "assistant", "content": "Hi there!"}),
    /// ];
    /// let counter = TokenCounter::for_model("gpt-4o");
    /// assert_eq!(counter.count_messages(&messages), 15);
    /// assert_eq!(counter.count_messages::<serde_json::Value>(&[]), 3);
    /// ```
    pub fn count_messages<M: TokenizedMessage>(&self, messages: &[M]) -> u64 {
        let format = ChatFormat::for_model(self.model());
        let mut total = REPLY_PRIMING;
        for message in messages {
            total = total.saturating_add(format.tokens_per_message);
            message.visit_parts(&mut |part| {
                total = match part {
                    MessagePart::Text(text) => total.saturating_add(self.count(text)),
                    MessagePart::Name(name) => total
                        .saturating_add(self.count(name))
                        .saturating_add_signed(format.tokens_per_name),
                };
            });
        }
        total
    }

    /// Tokens that tool definitions add to a request, by the OpenAI cookbook's
    /// `num_tokens_for_tools` (the part after the messages; add
    /// [`count_messages`](Self::count_messages) for the whole prompt). No tools cost nothing.
    ///
    /// Per tool: an opening overhead, the tokens of `name:description` (one trailing period
    /// dropped), and for a non-empty parameter list an overhead plus, per property, its own
    /// overhead, `name:type:description` and any enum values; then a closing overhead once.
    /// The overheads are the cookbook's: 7 per tool for o200k models, 10 for cl100k ones.
    ///
    /// ```
    /// use mamba_tokens::{TokenCounter, ToolDefinition};
    ///
    /// let counter = TokenCounter::for_model("gpt-4o");
    /// assert_eq!(counter.count_tools::<ToolDefinition>(&[]), 0);
    /// ```
    pub fn count_tools<T: TokenizedTool>(&self, tools: &[T]) -> u64 {
        if tools.is_empty() {
            return 0;
        }
        let format = ToolFormat::for_encoding(self.encoding);
        let mut total = format.function_end;
        for tool in tools {
            let description = without_final_period(tool.tool_description());
            total = total
                .saturating_add(format.function_start)
                .saturating_add(self.count(&format!("{}:{description}", tool.tool_name())));
            let properties = tool.tool_properties();
            if properties.is_empty() {
                continue;
            }
            total = total.saturating_add(format.properties_start);
            for property in properties {
                total = total.saturating_add(format.property);
                if !property.enum_values.is_empty() {
                    total = total.saturating_add_signed(format.enum_start);
                    for value in &property.enum_values {
                        total = total
                            .saturating_add(format.enum_value)
                            .saturating_add(self.count(value));
                    }
                }
                let description = without_final_period(property.description);
                let line = format!("{}:{}:{description}", property.name, property.type_name);
                total = total.saturating_add(self.count(&line));
            }
        }
        total
    }

    /// `count` plus the safety margin, rounded up: the worst case to plan for when `count` came
    /// from this counter (e.g. a prompt counted before a budget reservation).
    ///
    /// ```
    /// use mamba_tokens::TokenCounter;
    ///
    /// let counter = TokenCounter::for_model("gpt-4o").with_safety_margin(0.1)?;
    /// assert_eq!(counter.add_margin(100), 111); // ceil(110.000...01): never below 10% more
    /// # Ok::<(), mamba_tokens::TokensError>(())
    /// ```
    pub fn add_margin(&self, count: u64) -> u64 {
        // Counts are far below 2^53, where f64 is exact; the margin is validated to 0.0..=0.5.
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let padded = (count as f64 * (1.0 + self.safety_margin)).ceil() as u64;
        padded.max(count)
    }
}

impl Default for TokenCounter {
    /// A counter for [`Encoding::DEFAULT`] (o200k_base).
    fn default() -> Self {
        TokenCounter::from_encoding(Encoding::DEFAULT)
    }
}

/// Tokens OpenAI adds once per request to prime the assistant's reply.
const REPLY_PRIMING: u64 = 3;

/// Per-message overheads of the chat format.
struct ChatFormat {
    tokens_per_message: u64,
    tokens_per_name: i64,
}

impl ChatFormat {
    fn for_model(model: Option<&str>) -> ChatFormat {
        // gpt-3.5-turbo-0301 framed messages differently: 4 per message, and a name replaced the
        // role (-1); every later chat model uses 3 and +1.
        if model.is_some_and(|m| m.ends_with("gpt-3.5-turbo-0301")) {
            ChatFormat {
                tokens_per_message: 4,
                tokens_per_name: -1,
            }
        } else {
            ChatFormat {
                tokens_per_message: 3,
                tokens_per_name: 1,
            }
        }
    }
}

/// The cookbook's overheads for rendering tool definitions.
struct ToolFormat {
    function_start: u64,
    properties_start: u64,
    property: u64,
    enum_start: i64,
    enum_value: u64,
    function_end: u64,
}

impl ToolFormat {
    fn for_encoding(encoding: Encoding) -> ToolFormat {
        // The cookbook measured 7 for gpt-4o/gpt-4o-mini and 10 for gpt-4/gpt-3.5-turbo; the
        // rest is shared. Other encodings have no chat models and use the cl100k numbers.
        let function_start = match encoding {
            Encoding::O200kBase | Encoding::O200kHarmony => 7,
            _ => 10,
        };
        ToolFormat {
            function_start,
            properties_start: 3,
            property: 3,
            enum_start: -3,
            enum_value: 3,
            function_end: 12,
        }
    }
}

fn without_final_period(text: &str) -> &str {
    text.strip_suffix('.').unwrap_or(text)
}

fn to_u64(count: usize) -> u64 {
    u64::try_from(count).unwrap_or(u64::MAX)
}
