//! The data of a workflow run: [`WorkflowState`], [`WorkflowStep`], [`WorkflowResult`] and
//! [`WorkflowConfig`].

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use mamba_usage::TokenUsage;
use rust_decimal::Decimal;
use serde_json::Value;

/// Limits of one workflow run.
///
/// ```
/// use mamba_agent::workflows::WorkflowConfig;
///
/// let config = WorkflowConfig::default().with_max_iterations(5);
/// assert_eq!((config.max_iterations, config.max_steps), (5, 50));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkflowConfig {
    /// The most steps in one run.
    pub max_steps: u32,
    /// The most iterations in one run.
    pub max_iterations: u32,
    /// The longest a run may take; `None`: no limit.
    pub timeout: Option<Duration>,
}

impl Default for WorkflowConfig {
    fn default() -> Self {
        WorkflowConfig {
            max_steps: 50,
            max_iterations: 10,
            timeout: None,
        }
    }
}

impl WorkflowConfig {
    /// At most `steps` steps in one run.
    #[must_use]
    pub const fn with_max_steps(mut self, steps: u32) -> WorkflowConfig {
        self.max_steps = steps;
        self
    }

    /// At most `iterations` iterations in one run.
    #[must_use]
    pub const fn with_max_iterations(mut self, iterations: u32) -> WorkflowConfig {
        self.max_iterations = iterations;
        self
    }

    /// A run ends after `timeout`.
    #[must_use]
    pub const fn with_timeout(mut self, timeout: Duration) -> WorkflowConfig {
        self.timeout = Some(timeout);
        self
    }
}

/// What a step did.
///
/// ```
/// use mamba_agent::workflows::StepKind;
///
/// assert_eq!(StepKind::FinalAnswer.to_string(), "final_answer");
/// assert_eq!(StepKind::Custom("summarise".into()).to_string(), "summarise");
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StepKind {
    /// The model reasoned (one model request).
    Thought,
    /// A tool was called.
    Action,
    /// A tool's result came back.
    Observation,
    /// The workflow's answer.
    FinalAnswer,
    /// A step of a custom workflow.
    Custom(String),
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepKind::Thought => f.write_str("thought"),
            StepKind::Action => f.write_str("action"),
            StepKind::Observation => f.write_str("observation"),
            StepKind::FinalAnswer => f.write_str("final_answer"),
            StepKind::Custom(name) => f.write_str(name),
        }
    }
}

/// One step of a run, with the usage and cost of the model requests made in it.
///
/// ```
/// use mamba_agent::workflows::{StepKind, WorkflowStep};
///
/// let step = WorkflowStep::new(1, StepKind::Thought, "reason about the task");
/// assert_eq!(step.number, 1);
/// assert!(step.usage.total_tokens == 0 && step.cost.is_zero());
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WorkflowStep {
    /// 1-based position in the run.
    pub number: u32,
    /// What the step did.
    pub kind: StepKind,
    /// A short description.
    pub description: String,
    /// What went in (a prompt, tool arguments).
    pub input: Option<String>,
    /// What came out (the model's text, a tool's result).
    pub output: Option<String>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// When it started.
    pub started_at: SystemTime,
    /// When it ended.
    pub completed_at: Option<SystemTime>,
    /// How long it took.
    pub duration: Option<Duration>,
    /// The usage of the model requests made in this step.
    pub usage: TokenUsage,
    /// Their exact cost.
    pub cost: Decimal,
}

impl WorkflowStep {
    /// A step that starts now.
    pub fn new(number: u32, kind: StepKind, description: impl Into<String>) -> WorkflowStep {
        WorkflowStep {
            number,
            kind,
            description: description.into(),
            input: None,
            output: None,
            error: None,
            started_at: SystemTime::now(),
            completed_at: None,
            duration: None,
            usage: TokenUsage::ZERO,
            cost: Decimal::ZERO,
        }
    }
}

/// The state of a run, as hooks see it: steps so far, the running usage and cost, a typed
/// context and free-form metadata.
///
/// ```
/// use mamba_agent::workflows::WorkflowState;
///
/// let state: WorkflowState<()> = WorkflowState::default();
/// // The seed's `log_usage` hook reads the running usage from the state.
/// println!("used {} tokens, ${}", state.usage.total_tokens, state.cost);
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct WorkflowState<C> {
    /// The number of the step in progress or last done (0 before the first).
    pub current_step: u32,
    /// The number of the iteration in progress or last done (0 before the first).
    pub iteration: u32,
    /// Every step so far.
    pub steps: Vec<WorkflowStep>,
    /// The workflow's own data (for [`ReActWorkflow`](super::ReActWorkflow), its scratchpad).
    pub context: C,
    /// Free-form data.
    pub metadata: BTreeMap<String, Value>,
    /// The usage of this run's model requests so far.
    pub usage: TokenUsage,
    /// Their exact cost so far.
    pub cost: Decimal,
}

/// Why a run ended.
///
/// ```
/// use mamba_agent::workflows::TerminationReason;
///
/// let reason = TerminationReason::MaxIterations;
/// assert_ne!(reason, TerminationReason::Completed);
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TerminationReason {
    /// The workflow produced its answer.
    Completed,
    /// `max_iterations` was reached without an answer.
    MaxIterations,
    /// `max_steps` was reached without an answer.
    MaxSteps,
    /// The timeout passed.
    Timeout,
    /// A model request failed (HTTP, limits, ...).
    Error,
}

/// The outcome of a run. Usage and cost are those of the run even when it failed.
///
/// See [`WorkflowRun`](super::WorkflowRun) for a run made and finished by hand.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WorkflowResult<C> {
    /// Whether the workflow produced its answer.
    pub success: bool,
    /// The answer.
    pub output: Option<String>,
    /// The final state, with every step.
    pub state: WorkflowState<C>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// The usage of the run's model requests.
    pub usage: TokenUsage,
    /// Their exact cost.
    pub cost: Decimal,
    /// How long the run took.
    pub duration: Duration,
    /// Why it ended.
    pub termination: TerminationReason,
    /// Hooks that failed or panicked (they never end a run).
    pub hook_errors: Vec<HookError>,
}

/// A hook that returned an error or panicked.
///
/// ```
/// use mamba_agent::workflows::HookError;
///
/// let error = HookError::new("on_step_complete", "disk full");
/// assert_eq!(error.to_string(), "on_step_complete hook failed: disk full");
/// let boxed: Box<dyn std::error::Error> = Box::new(error);
/// assert!(boxed.source().is_none());
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HookError {
    /// Which hook (`on_step_complete`, ...).
    pub hook: &'static str,
    /// Its error or panic message.
    pub message: String,
}

impl HookError {
    /// The `hook`'s failure, with its error or panic message.
    pub fn new(hook: &'static str, message: impl Into<String>) -> HookError {
        HookError {
            hook,
            message: message.into(),
        }
    }
}

impl std::error::Error for HookError {}

impl fmt::Display for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} hook failed: {}", self.hook, self.message)
    }
}
