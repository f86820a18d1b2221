//! Context management: [`ContextManager`] keeps a conversation, counts its prompt tokens
//! incrementally (each message once), and compacts it with a [`CompactionStrategy`] when it
//! grows past its trigger. The seed page's "Next Steps: Context Management".
//!
//! | Python (mamba-agents) | Rust |
//! |---|---|
//! | `CompactionConfig(strategy=..., ...)` | [`CompactionConfig`] (`[context]` in settings) |
//! | `ContextManager(config, token_counter)` | [`ContextManager::new(config, counter)`](ContextManager::new) |
//! | `add_messages` / `get_messages` / `get_token_count` | [`add_messages`](ContextManager::add_messages) / [`messages`](ContextManager::messages) / [`token_count`](ContextManager::token_count) |
//! | `should_compact()` / `await compact()` | [`should_compact`](ContextManager::should_compact) / [`compact().await`](ContextManager::compact) |
//! | `get_context_state()` / `get_compaction_history()` / `clear()` | [`context_state`](ContextManager::context_state) / [`compaction_history`](ContextManager::compaction_history) / [`clear`](ContextManager::clear) |
//!
//! Where it differs from the Python library, on purpose:
//! * a turn is a user message and everything after it, not one message;
//! * no strategy separates a tool call from its results (OpenAI rejects a tool message
//!   without its call);
//! * `summarize_older` and `importance_scoring` ask a real model (the
//!   [`with_model`](ContextManager::with_model) agent), recorded and priced like every
//!   request and labelled `operation=compaction`; without a model they fail rather than fall
//!   back to a heuristic;
//! * the summary is one user message at the start of the conversation, not a system message;
//! * counts use the manager's counter, the same one the agent bills its limits with.

mod agent;
pub(crate) use agent::check_compaction_target;
mod strategies;
mod units;

use mamba_pricing::ContextWindow;
pub use mamba_settings::{CompactionConfig, CompactionStrategy};
use mamba_tokens::{ChatMessage, Role, TokenCounter, ToolDefinition};
use mamba_usage::{Labels, TokenUsage, UsageRecord};
use thiserror::Error;

use rust_decimal::Decimal;

use crate::{Agent, AgentError, Completion, RunOptions};
use strategies::Counted;

/// A model's window as [`CompactionConfig::thresholds`] takes it: its input and output sizes,
/// when the input size is known (no output size: none is set aside for the answer).
fn window_sizes(window: Option<ContextWindow>) -> Option<(u64, u64)> {
    let window = window?;
    Some((
        window.max_input_tokens?,
        window.max_output_tokens.unwrap_or(0),
    ))
}

/// Where the trigger of `config` comes from, for a model whose window is `sizes` (input,
/// output): set, the window, or the default.
fn trigger_origin(config: &CompactionConfig, sizes: Option<(u64, u64)>) -> String {
    match (config.trigger_threshold_tokens, sizes) {
        (Some(_), _) => "as set".to_owned(),
        (None, Some((input, output))) if input > output => {
            format!(
                "the model's input window of {input} tokens less its largest answer of {output}"
            )
        }
        _ => "the default trigger, as no usable context window is known".to_owned(),
    }
}

/// What one compaction did.
///
/// ```
/// use mamba_agent::context::{CompactionConfig, ContextManager};
/// use mamba_agent::{ChatMessage, tokens::TokenCounter};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let config = CompactionConfig::default().with_thresholds(40, 30).with_preserve_recent_turns(1);
/// let mut context = ContextManager::new(config, TokenCounter::for_model("gpt-4o"));
/// context.add_messages([
///     ChatMessage::user("What is the capital of France?"),
///     ChatMessage::assistant("Paris."),
///     ChatMessage::user("And of Italy?"),
///     ChatMessage::assistant("Rome."),
/// ]);
/// let result = context.compact().await.unwrap();
/// assert_eq!((result.removed_count, result.tokens_before, result.tokens_after), (2, 34, 17));
/// assert_eq!(result.strategy, "sliding_window");
/// # });
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CompactionResult {
    /// The conversation after compaction (without the system prompt).
    pub messages: Vec<ChatMessage>,
    /// How many of the earlier messages were taken out (dropped, or replaced by a summary or
    /// a line naming the tools).
    pub removed_count: usize,
    /// The prompt's tokens before (system prompt and messages).
    pub tokens_before: u64,
    /// The prompt's tokens after.
    pub tokens_after: u64,
    /// The strategy's name; `hybrid(selective_pruning+sliding_window)` names the steps a
    /// hybrid compaction took.
    pub strategy: String,
    /// The model requests the compaction made (a summary, scores), each recorded in the
    /// model agent's books with the label `operation=compaction`.
    pub records: Vec<UsageRecord>,
    /// The sum of `records`.
    pub usage: TokenUsage,
    /// The cost of `records`, in USD.
    pub cost: Decimal,
}

/// The state of a context: its size, its system prompt and what compaction did so far.
///
/// ```
/// use mamba_agent::context::{CompactionConfig, ContextManager};
/// use mamba_agent::{ChatMessage, tokens::TokenCounter};
///
/// let mut context = ContextManager::new(CompactionConfig::default(), TokenCounter::for_model("gpt-4o"));
/// context.add_messages([ChatMessage::system("Be brief."), ChatMessage::user("Hi")]);
/// let state = context.context_state();
/// assert_eq!((state.token_count, state.message_count), (15, 1));
/// assert_eq!(state.system_prompt.as_deref(), Some("Be brief."));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ContextState {
    /// The prompt's tokens (system prompt and messages).
    pub token_count: u64,
    /// The messages, without the system prompt.
    pub message_count: usize,
    /// The system prompt kept aside, if any.
    pub system_prompt: Option<String>,
    /// Every compaction so far, oldest first.
    pub compaction_history: Vec<CompactionResult>,
}

/// Why a compaction could not be made. The conversation is left as it was.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ContextError {
    /// The target is not below the trigger, so no compaction could bring the conversation
    /// back under the trigger: it would stay due after every compaction.
    #[error(
        "the compaction target ({target} tokens) is not below the trigger ({trigger} tokens: \
         {origin}); set a lower target, or a trigger above it"
    )]
    TargetNotBelowTrigger {
        /// The target.
        target: u64,
        /// The trigger.
        trigger: u64,
        /// Where the trigger comes from: set, the model's window, or the default.
        origin: String,
    },
    /// The strategy asks a model, and the manager has none.
    #[error(
        "the `{strategy}` strategy needs a model to ask: give the context manager one with \
         `with_model(agent)`"
    )]
    NeedsModel {
        /// The strategy.
        strategy: CompactionStrategy,
    },
    /// The model request failed (its usage, if billed, is in the agent's books).
    #[error("the compaction request failed: {0}")]
    Model(#[source] AgentError),
    /// The model answered without the text asked for (no text, or tool calls).
    #[error("the model's answer to the {asked} request was unusable: {reason}")]
    UnusableAnswer {
        /// `summary` or `importance scores`.
        asked: &'static str,
        /// What was wrong, quoting the answer.
        reason: String,
    },
}

/// A conversation with its token count kept up to date, compacted on demand.
///
/// Each message is counted once, when it is added, so [`token_count`](Self::token_count) is
/// O(1) however long the conversation is; the count is exactly
/// `counter.count_messages(system prompt + messages)`.
///
/// ```
/// use mamba_agent::context::{CompactionConfig, CompactionStrategy, ContextManager};
/// use mamba_agent::{ChatMessage, ToolCall, tokens::TokenCounter};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let config = CompactionConfig::default()
///     .with_strategy(CompactionStrategy::SelectivePruning)
///     .with_thresholds(60, 45)
///     .with_preserve_recent_turns(1);
/// let mut context = ContextManager::new(config, TokenCounter::for_model("gpt-4o"));
/// context.add_messages([
///     ChatMessage::user("Weather in Paris?"),
///     ChatMessage::assistant("").with_tool_calls([ToolCall::new("call_1", "get_weather", r#"{"city":"Paris"}"#)]),
///     ChatMessage::tool("call_1", "Sunny, 24 degrees, light wind from the west, no rain expected today"),
///     ChatMessage::assistant("Sunny and 24 degrees."),
///     ChatMessage::user("Thanks!"),
/// ]);
/// assert!(context.should_compact());
/// let result = context.compact().await.unwrap();
/// assert_eq!(result.messages[1].content, "[Called tools: get_weather]");
/// assert!(result.tokens_after <= 45);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct ContextManager {
    config: CompactionConfig,
    counter: TokenCounter,
    window: Option<ContextWindow>,
    system_prompt: Option<String>,
    /// The system prompt's tokens as one message.
    system_tokens: u64,
    /// The tokens of the tool definitions sent with every request.
    tool_tokens: u64,
    /// What a turn is.
    segmentation: units::Segmentation,
    messages: Vec<ChatMessage>,
    /// Each message's tokens, as [`TokenCounter::count_messages`] counts it in a prompt.
    counts: Vec<u64>,
    /// The sum of `counts`.
    message_tokens: u64,
    model: Option<Agent>,
    history: Vec<CompactionResult>,
}

impl ContextManager {
    /// An empty context compacted by `config`, counted with `counter` (use the agent's, so
    /// the counts are the ones its limits reserve).
    pub fn new(config: CompactionConfig, counter: TokenCounter) -> ContextManager {
        ContextManager {
            config,
            counter,
            window: None,
            system_prompt: None,
            system_tokens: 0,
            tool_tokens: 0,
            segmentation: units::Segmentation::UserTurns,
            messages: Vec::new(),
            counts: Vec::new(),
            message_tokens: 0,
            model: None,
            history: Vec::new(),
        }
    }

    /// With the model's context window, from which unset thresholds follow (see
    /// [`CompactionConfig::thresholds`]).
    #[must_use]
    pub fn with_context_window(mut self, window: ContextWindow) -> ContextManager {
        self.window = Some(window);
        self
    }

    /// With `agent` asked for summaries and importance scores; its requests are recorded in
    /// its books with the label `operation=compaction`, and count towards its limits.
    #[must_use]
    pub fn with_model(mut self, agent: Agent) -> ContextManager {
        self.model = Some(agent);
        self
    }

    /// Counting the definitions of the tools sent with every request into the prompt, as
    /// [`TokenCounter::count_tools`] counts them.
    ///
    /// ```
    /// use mamba_agent::context::{CompactionConfig, ContextManager};
    /// use mamba_agent::tokens::{TokenCounter, ToolDefinition};
    ///
    /// let weather = ToolDefinition::new("get_weather", "Current weather of a city", serde_json::json!({
    ///     "type": "object",
    ///     "properties": { "city": { "type": "string", "description": "The city." } },
    /// }));
    /// let counter = TokenCounter::for_model("gpt-4o");
    /// let context = ContextManager::new(CompactionConfig::default(), counter.clone())
    ///     .with_tools(&[weather.clone()]);
    /// assert_eq!(context.token_count(), 3 + counter.count_tools(&[weather]));
    /// ```
    #[must_use]
    pub fn with_tools(mut self, tools: &[ToolDefinition]) -> ContextManager {
        self.tool_tokens = self.counter.count_tools(tools);
        self
    }

    /// Counting `tokens` more into every prompt: messages before these that are never
    /// compacted (a workflow's task).
    pub(crate) fn with_fixed_tokens(mut self, tokens: u64) -> ContextManager {
        self.tool_tokens = self.tool_tokens.saturating_add(tokens);
        self
    }

    /// Counting each step (a thought, a tool call with its results) as a turn: a
    /// workflow's scratchpad after its one task message.
    pub(crate) fn with_steps_as_turns(mut self) -> ContextManager {
        self.segmentation = units::Segmentation::Units;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &CompactionConfig {
        &self.config
    }

    /// The trigger and the target, in tokens.
    pub fn thresholds(&self) -> (u64, u64) {
        self.config.thresholds(window_sizes(self.window))
    }

    /// Adds messages at the end. With `preserve_system_prompt`, a system message becomes the
    /// system prompt (replacing an earlier one) instead of a message.
    pub fn add_messages(&mut self, messages: impl IntoIterator<Item = ChatMessage>) {
        for message in messages {
            if message.role == Role::System && self.config.preserve_system_prompt {
                self.set_system_prompt(message.content);
            } else {
                let tokens = self.message_tokens_of(&message);
                self.message_tokens = self.message_tokens.saturating_add(tokens);
                self.counts.push(tokens);
                self.messages.push(message);
            }
        }
    }

    /// Adds messages at the end as they are, system messages included (the agent keeps its
    /// system prompt apart itself).
    pub(crate) fn push_messages(&mut self, messages: &[ChatMessage]) {
        for message in messages {
            let tokens = self.message_tokens_of(message);
            self.message_tokens = self.message_tokens.saturating_add(tokens);
            self.counts.push(tokens);
            self.messages.push(message.clone());
        }
    }

    /// Replaces the messages with `messages`, adding `compactions` (made on a copy) to the
    /// history.
    pub(crate) fn replace_messages(
        &mut self,
        messages: &[ChatMessage],
        compactions: Vec<CompactionResult>,
    ) {
        self.messages.clear();
        self.counts.clear();
        self.message_tokens = 0;
        self.push_messages(messages);
        self.history.extend(compactions);
    }

    /// Forgets the messages and the compaction history; keeps the system prompt and tools.
    pub(crate) fn clear_messages(&mut self) {
        self.messages.clear();
        self.counts.clear();
        self.message_tokens = 0;
        self.history.clear();
    }

    /// The messages, without the system prompt.
    pub fn messages(&self) -> &[ChatMessage] {
        &self.messages
    }

    /// The system prompt kept aside, if any.
    pub fn system_prompt(&self) -> Option<&str> {
        self.system_prompt.as_deref()
    }

    /// Sets the system prompt.
    pub fn set_system_prompt(&mut self, prompt: impl Into<String>) {
        let prompt = prompt.into();
        self.system_tokens = self.message_tokens_of(&ChatMessage::system(prompt.clone()));
        self.system_prompt = Some(prompt);
    }

    /// The prompt's tokens: the system prompt and the messages, with the reply priming,
    /// exactly as `count_messages` counts them. O(1).
    pub fn token_count(&self) -> u64 {
        self.fixed_tokens().saturating_add(self.message_tokens)
    }

    /// Whether the prompt has reached the trigger.
    pub fn should_compact(&self) -> bool {
        self.token_count() >= self.thresholds().0
    }

    /// Compacts the conversation towards the target with the configured strategy, and keeps
    /// the result in the history when it changed something or asked a model. Below the
    /// target, nothing changes.
    ///
    /// # Errors
    /// A [`ContextError`], leaving the conversation as it was: the target is not below the
    /// trigger, the strategy needs a model and there is none, the model request failed, or its
    /// answer was unusable.
    pub async fn compact(&mut self) -> Result<CompactionResult, ContextError> {
        let (trigger, target) = self.thresholds();
        if target >= trigger {
            return Err(ContextError::TargetNotBelowTrigger {
                target,
                trigger,
                origin: trigger_origin(&self.config, window_sizes(self.window)),
            });
        }
        let tokens_before = self.token_count();
        let mut counted = Counted {
            messages: self.messages.clone(),
            counts: self.counts.clone(),
            fixed: self.fixed_tokens(),
            segmentation: self.segmentation,
        };
        let mut asked = Vec::new();
        let mut removed_count = 0;
        let mut strategy = self.config.strategy.name().to_owned();
        if tokens_before > target {
            let turns = self.config.preserve_recent_turns;
            let count = |message: &ChatMessage| self.message_tokens_of(message);
            match self.config.strategy {
                CompactionStrategy::SelectivePruning => {
                    removed_count =
                        strategies::selective_pruning(&mut counted, turns, target, &count);
                }
                CompactionStrategy::Hybrid => {
                    let mut steps = vec![CompactionStrategy::SelectivePruning.name()];
                    removed_count =
                        strategies::selective_pruning(&mut counted, turns, target, &count);
                    if counted.total() > target {
                        steps.push(CompactionStrategy::SlidingWindow.name());
                        removed_count += strategies::sliding_window(&mut counted, turns, target);
                    }
                    strategy = format!("hybrid({})", steps.join("+"));
                }
                CompactionStrategy::SummarizeOlder => {
                    let preserved = self.segmentation.preserved_start(&counted.messages, turns);
                    if preserved > 0 {
                        let (summary, record) =
                            self.ask_summary(&counted.messages[..preserved]).await?;
                        asked.push(record);
                        removed_count =
                            strategies::summarized(&mut counted, turns, &summary, &count);
                    }
                }
                CompactionStrategy::ImportanceScoring => {
                    let scorable = strategies::scorable_units(&counted, turns);
                    if !scorable.is_empty() {
                        let (scores, record) =
                            self.ask_scores(&counted.messages, &scorable).await?;
                        asked.push(record);
                        let scored: Vec<_> = scorable.into_iter().zip(scores).collect();
                        removed_count =
                            strategies::drop_least_important(&mut counted, &scored, target);
                    }
                }
                // `SlidingWindow`; the enum is non-exhaustive, and a strategy this version does
                // not know falls back to the default one.
                _ => {
                    removed_count = strategies::sliding_window(&mut counted, turns, target);
                }
            }
        }
        let tokens_after = counted.total();
        self.message_tokens = counted.counts.iter().sum();
        self.messages = counted.messages;
        self.counts = counted.counts;
        let usage = asked
            .iter()
            .map(|c| TokenUsage::from_record(&c.record))
            .sum();
        let cost = asked.iter().map(|c| c.cost.total_cost).sum();
        let result = CompactionResult {
            messages: self.messages.clone(),
            removed_count,
            tokens_before,
            tokens_after,
            strategy,
            records: asked.into_iter().map(|c| c.record).collect(),
            usage,
            cost,
        };
        // A compaction that changed nothing and asked nothing is not history: an agent past
        // its trigger with nothing left to cut would otherwise add one after every run.
        if result.removed_count > 0 || !result.records.is_empty() {
            self.history.push(result.clone());
        }
        Ok(result)
    }

    /// The size, system prompt and compaction history.
    pub fn context_state(&self) -> ContextState {
        ContextState {
            token_count: self.token_count(),
            message_count: self.messages.len(),
            system_prompt: self.system_prompt.clone(),
            compaction_history: self.history.clone(),
        }
    }

    /// Every compaction so far, oldest first.
    pub fn compaction_history(&self) -> &[CompactionResult] {
        &self.history
    }

    /// Forgets the messages, the system prompt and the compaction history.
    pub fn clear(&mut self) {
        self.system_prompt = None;
        self.system_tokens = 0;
        self.clear_messages();
    }

    /// The reply priming, the system prompt and the tools.
    fn fixed_tokens(&self) -> u64 {
        self.counter
            .count_messages::<ChatMessage>(&[])
            .saturating_add(self.system_tokens)
            .saturating_add(self.tool_tokens)
    }

    /// One message's tokens in a prompt: what it adds to `count_messages`.
    fn message_tokens_of(&self, message: &ChatMessage) -> u64 {
        let alone = self.counter.count_messages(std::slice::from_ref(message));
        alone.saturating_sub(self.counter.count_messages::<ChatMessage>(&[]))
    }

    fn model(&self) -> Result<&Agent, ContextError> {
        self.model.as_ref().ok_or(ContextError::NeedsModel {
            strategy: self.config.strategy,
        })
    }

    /// One request to the model agent with `prompt`, labelled as compaction usage.
    async fn ask(
        &self,
        prompt: String,
        asked: &'static str,
    ) -> Result<(String, Completion), ContextError> {
        let agent = self.model()?;
        let labels = Labels::new()
            .tag("operation", "compaction")
            .map_err(|error| ContextError::Model(AgentError::Client(error.to_string().into())))?;
        let completion = agent
            .complete_bare(
                &[ChatMessage::user(prompt)],
                RunOptions::new().labels(labels),
            )
            .await
            .map_err(ContextError::Model)?;
        if !completion.tool_calls.is_empty() {
            let names: Vec<&str> = completion
                .tool_calls
                .iter()
                .map(|call| call.name.as_str())
                .collect();
            return Err(ContextError::UnusableAnswer {
                asked,
                reason: format!(
                    "it called tools ({}) instead of answering",
                    names.join(", ")
                ),
            });
        }
        if completion.content.trim().is_empty() {
            return Err(ContextError::UnusableAnswer {
                asked,
                reason: "it was empty".to_owned(),
            });
        }
        Ok((completion.content.clone(), completion))
    }

    async fn ask_summary(
        &self,
        older: &[ChatMessage],
    ) -> Result<(String, Completion), ContextError> {
        let prompt = format!(
            "Summarize the conversation below so that it can be continued without it: keep \
             names, numbers, decisions, tool results that matter and open questions. Reply \
             with the summary only.\n\n{}",
            strategies::transcript(older)
        );
        self.ask(prompt, "summary").await
    }

    async fn ask_scores(
        &self,
        messages: &[ChatMessage],
        units: &[std::ops::Range<usize>],
    ) -> Result<(Vec<f64>, Completion), ContextError> {
        let mut listing = String::new();
        for (number, unit) in units.iter().enumerate() {
            listing.push_str(&format!(
                "[{}]\n{}\n",
                number + 1,
                strategies::transcript(&messages[unit.clone()])
            ));
        }
        let prompt = format!(
            "Rate how important each numbered part of the conversation below is for \
             continuing it, from 0 (not needed) to 10 (essential). Reply with one line per \
             part, its number, a colon and the score, such as `1: 7`, and nothing else.\n\n\
             {listing}"
        );
        let (reply, record) = self.ask(prompt, "importance scores").await?;
        let scores =
            parse_scores(&reply, units.len()).map_err(|reason| ContextError::UnusableAnswer {
                asked: "importance scores",
                reason,
            })?;
        Ok((scores, record))
    }
}

/// The scores of parts 1 to `parts` from lines `N: score` (scores from 0 to 10; blank lines
/// and surrounding text on a line are not accepted, so a rambling answer is an error rather
/// than a guess).
fn parse_scores(reply: &str, parts: usize) -> Result<Vec<f64>, String> {
    let mut scores: Vec<Option<f64>> = vec![None; parts];
    for line in reply.lines().map(str::trim).filter(|line| !line.is_empty()) {
        let bad = || {
            format!(
                "the line `{line}` is not `number: score` for a part from 1 to {parts} and a score from 0 to 10"
            )
        };
        let (number, score) = line.split_once(':').ok_or_else(bad)?;
        let number: usize = number
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| bad())?;
        let score: f64 = score.trim().parse().map_err(|_| bad())?;
        if !(1..=parts).contains(&number) || !(0.0..=10.0).contains(&score) {
            return Err(bad());
        }
        scores[number - 1] = Some(score);
    }
    scores
        .iter()
        .enumerate()
        .map(|(index, score)| score.ok_or_else(|| format!("part {} has no score", index + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_read_line_by_line_and_every_part_needs_one() {
        assert_eq!(
            parse_scores("1: 7\n2: 0\n\n3: 9.5\n", 3),
            Ok(vec![7.0, 0.0, 9.5])
        );
        assert_eq!(parse_scores("[2]: 3\n[1]: 4", 2), Ok(vec![4.0, 3.0]));
        assert_eq!(
            parse_scores("1: 7", 2),
            Err("part 2 has no score".to_owned())
        );
        assert_eq!(
            parse_scores("Sure! 1: 7", 1),
            Err("the line `Sure! 1: 7` is not `number: score` for a part from 1 to 1 and a score from 0 to 10".to_owned())
        );
        assert!(parse_scores("1: 11", 1).is_err());
        assert!(parse_scores("4: 1", 3).is_err());
    }
}
