//! `[context]`: how an agent keeps its conversation within the model's context window
//! ([`CompactionConfig`], [`CompactionStrategy`]). The plain settings live here, below the
//! agent, so that they are read and validated like every other section; the agent's
//! `context` module does the compacting.

/// How a conversation is made smaller when it grows past its trigger.
///
/// The names are the Python library's (`sliding_window`, ...), in settings and in
/// [`name`](CompactionStrategy::name).
///
/// ```
/// use mamba_settings::CompactionStrategy;
///
/// assert_eq!("summarize_older".parse(), Ok(CompactionStrategy::SummarizeOlder));
/// assert_eq!(CompactionStrategy::default(), CompactionStrategy::SlidingWindow);
/// assert_eq!(CompactionStrategy::Hybrid.name(), "hybrid");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum CompactionStrategy {
    /// Drops the oldest turns (the default).
    #[default]
    SlidingWindow,
    /// Replaces the older turns with a summary written by a model.
    SummarizeOlder,
    /// Replaces completed tool calls and their results with a line naming the tools.
    SelectivePruning,
    /// Drops the messages a model rates least important.
    ImportanceScoring,
    /// Selective pruning, then the sliding window if that was not enough.
    Hybrid,
}

impl CompactionStrategy {
    /// Every strategy, in the order an error lists their names.
    pub const ALL: [CompactionStrategy; 5] = [
        CompactionStrategy::SlidingWindow,
        CompactionStrategy::SummarizeOlder,
        CompactionStrategy::SelectivePruning,
        CompactionStrategy::ImportanceScoring,
        CompactionStrategy::Hybrid,
    ];

    /// The snake_case name used in settings.
    pub const fn name(self) -> &'static str {
        match self {
            CompactionStrategy::SlidingWindow => "sliding_window",
            CompactionStrategy::SummarizeOlder => "summarize_older",
            CompactionStrategy::SelectivePruning => "selective_pruning",
            CompactionStrategy::ImportanceScoring => "importance_scoring",
            CompactionStrategy::Hybrid => "hybrid",
        }
    }

    /// Whether the strategy asks a model (for a summary or for scores).
    pub const fn needs_model(self) -> bool {
        matches!(
            self,
            CompactionStrategy::SummarizeOlder | CompactionStrategy::ImportanceScoring
        )
    }
}

impl std::fmt::Display for CompactionStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for CompactionStrategy {
    type Err = String;

    /// Parses a strategy name, ignoring case and surrounding blanks.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        CompactionStrategy::ALL
            .into_iter()
            .find(|strategy| strategy.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| format!("`{name}` is not a compaction strategy"))
    }
}

/// `[context]`: when and how a conversation is compacted. The Python library's
/// `CompactionConfig`, with the thresholds optional: unset, they follow the model's context
/// window.
///
/// ```
/// use mamba_settings::{AgentSettings, CompactionStrategy};
///
/// let settings = AgentSettings::builder()
///     .defaults_only()
///     .environment([
///         ("MAMBA_CONTEXT__STRATEGY", "summarize_older"),
///         ("MAMBA_CONTEXT__TRIGGER_THRESHOLD_TOKENS", "50000"),
///     ])
///     .build()?;
/// let context = &settings.context;
/// assert_eq!(context.strategy, CompactionStrategy::SummarizeOlder);
/// assert_eq!(context.thresholds(None), (50_000, 40_000)); // the target: 80% of the trigger
/// assert_eq!(context.preserve_recent_turns, 10);
/// # Ok::<(), mamba_settings::SettingsError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompactionConfig {
    /// The strategy.
    pub strategy: CompactionStrategy,
    /// Compact when the conversation's prompt reaches this many tokens; `None`: the model's
    /// input window less its largest answer, or 100,000 without window data.
    pub trigger_threshold_tokens: Option<u64>,
    /// Compact down to at most this many tokens; `None`: 80% of the trigger.
    pub target_tokens: Option<u64>,
    /// How many of the latest turns (a user message and everything after it) are never
    /// compacted.
    pub preserve_recent_turns: u32,
    /// Whether system messages given to a context manager are kept aside as the system prompt
    /// (never compacted) rather than compacted like other messages.
    pub preserve_system_prompt: bool,
    /// The model that writes summaries and scores; `"same"`: the agent's own.
    pub summarization_model: String,
    /// Whether an agent compacts its conversation by itself: after a run that leaves it past
    /// the trigger, and before a request that would not fit.
    pub auto_compact: bool,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            strategy: CompactionStrategy::default(),
            trigger_threshold_tokens: None,
            target_tokens: None,
            preserve_recent_turns: CompactionConfig::DEFAULT_PRESERVE_RECENT_TURNS,
            preserve_system_prompt: true,
            summarization_model: CompactionConfig::SAME_MODEL.to_owned(),
            auto_compact: true,
        }
    }
}

impl CompactionConfig {
    /// The trigger without settings or window data (the Python library's default).
    pub const DEFAULT_TRIGGER_TOKENS: u64 = 100_000;
    /// The default of [`preserve_recent_turns`](Self::preserve_recent_turns).
    pub const DEFAULT_PRESERVE_RECENT_TURNS: u32 = 10;
    /// The [`summarization_model`](Self::summarization_model) that means the agent's own.
    pub const SAME_MODEL: &'static str = "same";

    /// With `strategy`.
    #[must_use]
    pub fn with_strategy(mut self, strategy: CompactionStrategy) -> CompactionConfig {
        self.strategy = strategy;
        self
    }

    /// With both thresholds set.
    #[must_use]
    pub fn with_thresholds(mut self, trigger: u64, target: u64) -> CompactionConfig {
        self.trigger_threshold_tokens = Some(trigger);
        self.target_tokens = Some(target);
        self
    }

    /// Preserving the latest `turns` turns.
    #[must_use]
    pub fn with_preserve_recent_turns(mut self, turns: u32) -> CompactionConfig {
        self.preserve_recent_turns = turns;
        self
    }

    /// With summaries and scores written by `model` (`"same"`: the agent's).
    #[must_use]
    pub fn with_summarization_model(mut self, model: impl Into<String>) -> CompactionConfig {
        self.summarization_model = model.into();
        self
    }

    /// With automatic compaction on or off.
    #[must_use]
    pub fn with_auto_compact(mut self, on: bool) -> CompactionConfig {
        self.auto_compact = on;
        self
    }

    /// The model that writes summaries, if not the agent's own.
    pub fn summarization_model(&self) -> Option<&str> {
        let model = self.summarization_model.trim();
        (!model.is_empty() && !model.eq_ignore_ascii_case(CompactionConfig::SAME_MODEL))
            .then_some(model)
    }

    /// The trigger and target in tokens, for a model whose window is `(max_input_tokens,
    /// max_output_tokens)` when known: the settings' values where set; else a trigger of the
    /// window's input less its output (or 100,000) and a target of 80% of the trigger.
    ///
    /// ```
    /// use mamba_settings::CompactionConfig;
    ///
    /// let config = CompactionConfig::default();
    /// // gpt-4o: 128,000 tokens in, at most 16,384 out.
    /// assert_eq!(config.thresholds(Some((128_000, 16_384))), (111_616, 89_292));
    /// assert_eq!(config.thresholds(None), (100_000, 80_000));
    /// ```
    pub fn thresholds(&self, window: Option<(u64, u64)>) -> (u64, u64) {
        let trigger = self.trigger_threshold_tokens.unwrap_or_else(|| {
            window
                .map(|(input, output)| input.saturating_sub(output))
                .filter(|&trigger| trigger > 0)
                .unwrap_or(CompactionConfig::DEFAULT_TRIGGER_TOKENS)
        });
        let target = self
            .target_tokens
            .unwrap_or_else(|| u64::try_from(u128::from(trigger) * 4 / 5).unwrap_or(trigger));
        (trigger, target)
    }

    /// A problem with the thresholds together: a target at or above the trigger.
    pub(crate) fn threshold_problem(&self) -> Option<(u64, u64)> {
        match (self.trigger_threshold_tokens, self.target_tokens) {
            (Some(trigger), Some(target)) if target >= trigger => Some((trigger, target)),
            _ => None,
        }
    }
}
