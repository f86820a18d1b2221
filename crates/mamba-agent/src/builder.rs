//! [`AgentBuilder`]: settings, system prompt, tools, limits, a shared tracker, prices.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use mamba_pricing::{CostEstimator, LocalBudget};
use mamba_settings::{AgentSettings, UsageLimits};
use mamba_tokens::{ChatMessage, TokenCounter};
use mamba_usage::UsageTracker;

use crate::agent::{Agent, Inner};
use crate::ledger::{Ledger, Locality};
use crate::transport::Transport;
use crate::{AgentError, Tool};

/// Builds an [`Agent`].
///
/// ```
/// use mamba_agent::{Agent, UsageTracker};
/// use mamba_agent::settings::{AgentSettings, UsageLimits};
///
/// let settings = AgentSettings::builder()
///     .defaults_only()
///     .base_url("http://127.0.0.1:8080/v1")
///     .build()?;
/// let shared = UsageTracker::new();
/// let agent = Agent::builder("smollm2")
///     .settings(settings)
///     .system_prompt("You are terse.")
///     .usage_limits(UsageLimits::default().with_requests(100))
///     .tracker(shared.clone())
///     .max_turns(4)
///     .build()?;
/// assert_eq!(agent.model(), "smollm2");
/// assert_eq!(agent.context_token_count(), 11); // the system prompt, as the model sees it
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct AgentBuilder {
    model: String,
    settings: Option<AgentSettings>,
    system_prompt: Option<String>,
    tools: Vec<Tool>,
    usage_limits: Option<UsageLimits>,
    run_limits: UsageLimits,
    tracker: Option<UsageTracker>,
    estimator: Option<CostEstimator>,
    max_turns: u32,
    retry_backoff: Duration,
    conversation: Vec<ChatMessage>,
    stream_usage: bool,
}

impl AgentBuilder {
    /// How many model requests one run may make by default (tool loops included).
    pub const DEFAULT_MAX_TURNS: u32 = 10;
    /// The wait before the first retry by default; doubled for each later one.
    pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_millis(500);

    pub(crate) fn new(model: &str) -> AgentBuilder {
        AgentBuilder {
            model: model.to_owned(),
            settings: None,
            system_prompt: None,
            tools: Vec::new(),
            usage_limits: None,
            run_limits: UsageLimits::default(),
            tracker: None,
            estimator: None,
            max_turns: Self::DEFAULT_MAX_TURNS,
            retry_backoff: Self::DEFAULT_RETRY_BACKOFF,
            conversation: Vec::new(),
            stream_usage: true,
        }
    }

    /// The settings to use instead of [`AgentSettings::load`]; the builder's model wins over
    /// `model_backend.model`.
    pub fn settings(mut self, settings: AgentSettings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// A system prompt sent before the conversation with every request.
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.system_prompt = Some(prompt.into());
        self
    }

    /// Registers a tool.
    pub fn tool(mut self, tool: Tool) -> Self {
        self.tools.push(tool);
        self
    }

    /// Limits for the agent and its clones until [`Agent::reset_tracking`]; default: the
    /// settings' `usage_limits`.
    pub fn usage_limits(mut self, limits: UsageLimits) -> Self {
        self.usage_limits = Some(limits);
        self
    }

    /// Limits for each run; default: none.
    pub fn run_limits(mut self, limits: UsageLimits) -> Self {
        self.run_limits = limits;
        self
    }

    /// Records into this tracker instead of a new one, e.g. to see several agents' requests
    /// in one history. The agent does not own it: [`Agent::reset_tracking`](crate::Agent::reset_tracking)
    /// resets the agent's totals and leaves the tracker's history alone.
    pub fn tracker(mut self, tracker: UsageTracker) -> Self {
        self.tracker = Some(tracker);
        self
    }

    /// Prices with this estimator instead of the one the settings make.
    pub fn prices(mut self, estimator: CostEstimator) -> Self {
        self.estimator = Some(estimator);
        self
    }

    /// The most model requests in one run.
    pub fn max_turns(mut self, turns: u32) -> Self {
        self.max_turns = turns;
        self
    }

    /// The wait before the first retry of a failed request (then doubled each time).
    pub fn retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    /// Starts from this conversation (without the system prompt): to resume a saved one, or to
    /// show a small model an example exchange.
    pub fn conversation(mut self, messages: Vec<ChatMessage>) -> Self {
        self.conversation = messages;
        self
    }

    /// Whether streamed requests ask for the usage chunk (`stream_options.include_usage`,
    /// on by default). Turn it off only for servers that reject `stream_options`; streamed
    /// usage is then estimated with the token counter and marked estimated.
    pub fn stream_usage(mut self, include_usage: bool) -> Self {
        self.stream_usage = include_usage;
        self
    }

    /// Builds the agent.
    ///
    /// # Errors
    /// [`AgentError::Settings`] when no settings were given and loading them fails, or their
    /// prices are invalid; [`AgentError::Tokens`] for invalid tokenizer settings;
    /// [`AgentError::InvalidTool`] for two tools with one name; [`AgentError::Client`] when the
    /// HTTP client cannot be made.
    pub fn build(self) -> Result<Agent, AgentError> {
        let mut settings = match self.settings {
            Some(settings) => settings,
            None => AgentSettings::load()?,
        };
        settings.model_backend.model.clone_from(&self.model);
        let mut names = HashSet::new();
        if let Some(duplicate) = self.tools.iter().find(|tool| !names.insert(tool.name())) {
            return Err(AgentError::InvalidTool {
                name: duplicate.name().to_owned(),
                reason: "another tool has this name".to_owned(),
            });
        }
        let counter = TokenCounter::for_model_with_config(&self.model, &settings.tokenizer)?;
        let estimator = match self.estimator {
            Some(estimator) => estimator,
            None => settings.cost_estimator()?,
        };
        let owns_tracker = self.tracker.is_none();
        let tracker = self
            .tracker
            .unwrap_or_else(|| UsageTracker::with_config(settings.tracker_config()));
        let backend = &settings.model_backend;
        let locality = match backend.local {
            Some(true) => Locality::Declared,
            None if backend.is_local() => Locality::Loopback,
            _ => Locality::Remote,
        };
        let ledger = Ledger::new(
            tracker,
            owns_tracker,
            estimator,
            locality,
            settings.tracking.log_level,
            crate::ledger::provider_name(backend.base_url.as_deref()),
        );
        let transport = Transport::new(&settings.model_backend, self.retry_backoff)?;
        let tool_definitions = self.tools.iter().map(|t| t.definition().clone()).collect();
        Ok(Agent::from_inner(Inner {
            model: self.model,
            transport,
            counter,
            system_prompt: self.system_prompt,
            tools: self.tools,
            tool_definitions,
            max_turns: self.max_turns,
            agent_budget: LocalBudget::new(self.usage_limits.unwrap_or(settings.usage_limits)),
            run_limits: self.run_limits,
            ledger,
            conversation: Mutex::new(self.conversation),
            stream_usage: self.stream_usage,
            settings,
        }))
    }
}
