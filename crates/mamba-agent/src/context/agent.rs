//! The agent's own context management: [`Agent::should_compact`], [`Agent::compact`],
//! [`Agent::context_state`] and [`Agent::clear_context`], and the automatic compaction after a
//! run (`[context] auto_compact`).
//!
//! The conversation lives in a [`ContextManager`] behind the agent's lock, counted as it
//! grows. A compaction works on a copy, outside the lock (its model request may take seconds),
//! then puts the copy back with the turns other runs committed meanwhile appended; if the
//! conversation was cleared or compacted by someone else meanwhile, the copy is dropped.

use mamba_pricing::ContextWindow;
use mamba_settings::CompactionConfig;
use mamba_tokens::{ChatMessage, ToolDefinition};

use super::{
    CompactionResult, ContextError, ContextManager, ContextState, trigger_origin, window_sizes,
};
use crate::inner::Offer;
use crate::{Agent, AgentError};

/// Refuses a `[context] target_tokens` that is not below the trigger `model` gets: the one
/// set, or else the one from its `window` (or the default trigger without one). Compacting
/// "down to" more than the trigger leaves the conversation past the trigger, compacted after
/// every run. Settings read from files and the environment have their pair checked already;
/// settings made in code are checked only here.
pub(crate) fn check_compaction_target(
    config: &CompactionConfig,
    model: &str,
    window: Option<ContextWindow>,
) -> Result<(), AgentError> {
    if config.target_tokens.is_none() {
        return Ok(());
    }
    let sizes = window_sizes(window);
    let (trigger, target) = config.thresholds(sizes);
    if target < trigger {
        return Ok(());
    }
    Err(AgentError::CompactionTarget {
        model: model.to_owned(),
        target,
        trigger,
        derived: trigger_origin(config, sizes),
    })
}

impl Agent {
    /// Whether the conversation's prompt (system prompt, messages, tools) has reached the
    /// compaction trigger: `[context] trigger_threshold_tokens`, or the model's input window
    /// less its largest answer.
    pub fn should_compact(&self) -> bool {
        self.inner().lock_context().manager.should_compact()
    }

    /// Compacts the conversation with the `[context]` strategy. `summarize_older` and
    /// `importance_scoring` ask this agent (or the agent of `[context] summarization_model`,
    /// or the one given to [`AgentBuilder::compaction_model`](crate::AgentBuilder::compaction_model))
    /// with a request of the conversation alone, no system prompt and no tools, recorded and
    /// priced like every request and labelled `operation=compaction`. This agent's requests
    /// count in its [`usage`](Agent::usage), [`cost`](Agent::cost) and limits; another
    /// model's agent (built on the same settings, sharing the tracker) keeps them in its own
    /// totals, and they are in the shared tracker's history, the ledger and the result.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let agent = mamba_agent::Agent::new("gpt-4o")?;
    /// agent.run("Plan a week in Rome.").await?;
    /// if agent.should_compact() {
    ///     let result = agent.compact().await?;
    ///     println!("{} -> {} tokens", result.tokens_before, result.tokens_after);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// A [`ContextError`]; the conversation is then left as it was.
    pub async fn compact(&self) -> Result<CompactionResult, ContextError> {
        let (manager, generation, length) = {
            let context = self.inner().lock_context();
            (
                context.manager.clone(),
                context.generation,
                context.manager.messages().len(),
            )
        };
        let model = self
            .inner()
            .compaction_model()
            .cloned()
            .unwrap_or_else(|| self.clone());
        let mut manager = manager.with_model(model);
        let result = manager.compact().await?;
        // The stored manager must not hold an agent: that would be a cycle through the
        // agent's own state, which would never be freed.
        manager.take_model();
        let mut context = self.inner().lock_context();
        if context.generation == generation {
            let committed_meanwhile = context.manager.messages()[length..].to_vec();
            manager.push_messages(&committed_meanwhile);
            context.manager = manager;
            context.generation += 1;
        }
        Ok(result)
    }

    /// The conversation's size, the system prompt and every compaction so far.
    pub fn context_state(&self) -> ContextState {
        self.inner().lock_context().manager.context_state()
    }

    /// Forgets the conversation and its compaction history; keeps the system prompt, the
    /// usage and the cost.
    pub fn clear_context(&self) {
        let mut context = self.inner().lock_context();
        context.manager.clear_messages();
        context.generation += 1;
    }

    /// After a successful run: compacts when `[context] auto_compact` is on and the
    /// conversation has reached the trigger. A failed compaction does not fail the run that
    /// succeeded; it is logged, and the conversation stays as it was.
    pub(crate) async fn compact_if_due(&self) {
        if !self.inner().settings().context.auto_compact || !self.should_compact() {
            return;
        }
        if let Err(error) = self.compact().await {
            tracing::warn!(%error, "the conversation could not be compacted");
        }
    }
}

/// What [`Agent::compact_working`] found and did to a run's working messages.
pub(crate) struct Working {
    /// The compaction, when one was due.
    pub(crate) compaction: Option<Result<CompactionResult, ContextError>>,
    /// The prompt tokens of a request of the messages as they now are (with the agent's
    /// system prompt and tools, and the extra tools), when they were counted and have not
    /// changed since: the request's reservation takes this count rather than counting the
    /// same prompt again, which at 100k tokens is milliseconds a request.
    pub(crate) prompt: Option<u64>,
}

impl Working {
    const NOTHING: Working = Working {
        compaction: None,
        prompt: None,
    };
}

impl Agent {
    /// Compacts a run's working `messages` (what its next request sends after the system
    /// prompt, with `extra_tools`) when their prompt has reached `ratio` of the trigger and
    /// `[context] auto_compact` is on. The first `fixed` messages (a workflow's task) and the
    /// latest turn are never compacted; with `steps`, each step after them (a thought, a tool
    /// call with its results) is a turn, as in a workflow's scratchpad. No compaction when
    /// nothing was due.
    pub(crate) async fn compact_working(
        &self,
        messages: &mut Vec<ChatMessage>,
        fixed: usize,
        steps: bool,
        extra_tools: &[ToolDefinition],
        ratio: f64,
    ) -> Working {
        let inner = self.inner();
        let mut config = inner.settings().context.clone();
        if !config.auto_compact || fixed > messages.len() {
            return Working::NOTHING;
        }
        // The run's own turn is what the next request is about.
        config.preserve_recent_turns = config.preserve_recent_turns.max(1);
        let (trigger, _) = inner.lock_context().manager.thresholds();
        let prompt = inner.count_prompt(messages, extra_tools, Offer::Agent);
        if (prompt as f64) < trigger as f64 * ratio {
            return Working {
                compaction: None,
                prompt: Some(prompt),
            };
        }
        let model = inner
            .compaction_model()
            .cloned()
            .unwrap_or_else(|| self.clone());
        let mut tools: Vec<ToolDefinition> = inner
            .tools()
            .iter()
            .map(|t| t.definition().clone())
            .collect();
        tools.extend_from_slice(extra_tools);
        let mut manager = ContextManager::new(config, inner.counter().clone())
            .with_tools(&tools)
            .with_model(model);
        if let Some(window) = inner.ledger().context_window(inner.model()) {
            manager = manager.with_context_window(window);
        }
        if let Some(prompt) = inner.system_prompt() {
            manager.set_system_prompt(prompt);
        }
        let prefix_tokens = inner
            .counter()
            .count_messages(&messages[..fixed])
            .saturating_sub(inner.counter().count_messages::<ChatMessage>(&[]));
        manager = manager.with_fixed_tokens(prefix_tokens);
        if steps {
            manager = manager.with_steps_as_turns();
        }
        manager.push_messages(&messages[fixed..]);
        let result = manager.compact().await;
        // A failed compaction leaves the messages, and so their count, as they were.
        let prompt = match &result {
            Ok(result) => {
                messages.truncate(fixed);
                messages.extend_from_slice(&result.messages);
                None
            }
            Err(_) => Some(prompt),
        };
        Working {
            compaction: Some(result),
            prompt,
        }
    }
}

impl ContextManager {
    /// Drops the model agent.
    pub(crate) fn take_model(&mut self) {
        self.model = None;
    }
}
