//! [`WorkflowRun`]: the engine a workflow drives (steps, iterations, limits, hooks, usage), and
//! the [`Workflow`] trait.

use std::fmt;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use mamba_tokens::{ChatMessage, ToolDefinition};
use mamba_usage::TokenUsage;
use rust_decimal::Decimal;

use super::hooks::HookKind;
use super::{
    HookError, StepKind, TerminationReason, WorkflowConfig, WorkflowHooks, WorkflowResult,
    WorkflowState, WorkflowStep,
};
use crate::context::CompactionResult;
use crate::result::{RunBooks, RunOptions};
use crate::{Agent, Completion};

/// A workflow: something that runs an input to a [`WorkflowResult`] and keeps the usage and
/// cost of its own runs. Implement it with a [`WorkflowRun`] doing the bookkeeping.
///
/// ```
/// use mamba_agent::TokenUsage;
/// use mamba_agent::workflows::{
///     StepKind, Workflow, WorkflowConfig, WorkflowHooks, WorkflowResult, WorkflowRun, WorkflowTotals,
/// };
/// use rust_decimal::Decimal;
///
/// /// Splits the input into words, one step each (a real workflow would call
/// /// `run.model_step(&agent, ...)` for steps that ask the model).
/// #[derive(Default)]
/// struct Words {
///     hooks: WorkflowHooks<Vec<String>>,
///     totals: WorkflowTotals,
/// }
///
/// impl Workflow for Words {
///     type Context = Vec<String>;
///
///     async fn run(&self, input: &str) -> WorkflowResult<Vec<String>> {
///         let mut run = WorkflowRun::start(WorkflowConfig::default(), &self.hooks, Vec::new()).await;
///         let mut outcome = Ok(String::new());
///         for word in input.split_whitespace() {
///             let step = run.record_step(StepKind::Custom("word".into()), "a word", None, word.to_owned());
///             if let Err(stop) = step.await {
///                 outcome = Err(stop);
///                 break;
///             }
///             run.context_mut().push(word.to_owned());
///         }
///         let outcome = outcome.map(|_| format!("{} words", run.state().context.len()));
///         let result = run.finish(outcome).await;
///         self.totals.add(&result);
///         result
///     }
///
///     fn token_usage(&self) -> TokenUsage {
///         self.totals.usage()
///     }
///
///     fn cost(&self) -> Decimal {
///         self.totals.cost()
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let result = Words::default().run("to be or not").await;
/// assert_eq!(result.output.as_deref(), Some("4 words"));
/// assert_eq!(result.state.steps.len(), 4);
/// # });
/// ```
pub trait Workflow: Send + Sync {
    /// The workflow's own data in [`WorkflowState::context`].
    type Context: Clone + Default + Send + Sync + 'static;

    /// Runs `input` to a result (which carries the usage spent, even on failure).
    fn run(&self, input: &str) -> impl Future<Output = WorkflowResult<Self::Context>> + Send;

    /// The usage of every run of this workflow (not of the agent's other runs).
    fn token_usage(&self) -> TokenUsage;

    /// The exact cost of every run of this workflow.
    fn cost(&self) -> Decimal;
}

/// Why a run stops early: returned by the [`WorkflowRun`] methods and passed to
/// [`WorkflowRun::finish`].
///
/// ```
/// use mamba_agent::workflows::{Stop, TerminationReason};
///
/// let stop = Stop::new(TerminationReason::Timeout, "too slow");
/// assert_eq!(stop.reason, TerminationReason::Timeout);
/// assert_eq!(stop.to_string(), "too slow");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
#[non_exhaustive]
pub struct Stop {
    /// The reason.
    pub reason: TerminationReason,
    /// What happened.
    pub message: String,
}

impl Stop {
    /// A stop for `reason`, saying what happened.
    pub fn new(reason: TerminationReason, message: impl Into<String>) -> Stop {
        Stop {
            reason,
            message: message.into(),
        }
    }
}

/// The running totals of a workflow's runs, for [`Workflow::token_usage`] and
/// [`Workflow::cost`].
///
/// ```
/// use mamba_agent::workflows::WorkflowTotals;
///
/// let totals = WorkflowTotals::default();
/// assert_eq!(totals.usage().request_count, 0);
/// assert!(totals.cost().is_zero());
/// ```
#[derive(Debug, Default)]
pub struct WorkflowTotals(Mutex<(TokenUsage, Decimal)>);

impl WorkflowTotals {
    /// Adds a run's usage and cost.
    pub fn add<C>(&self, result: &WorkflowResult<C>) {
        let mut totals = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        totals.0 += result.usage;
        totals.1 = totals.1.saturating_add(result.cost);
    }

    /// The usage of every run added.
    pub fn usage(&self) -> TokenUsage {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).0
    }

    /// The cost of every run added.
    pub fn cost(&self) -> Decimal {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).1
    }
}

/// One run of a workflow in progress: it numbers steps and iterations, enforces
/// [`WorkflowConfig`], attributes the usage and cost of model requests to their step, and
/// calls the hooks.
///
/// ```
/// use mamba_agent::workflows::{StepKind, TerminationReason, WorkflowConfig, WorkflowHooks, WorkflowRun};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let hooks = WorkflowHooks::new();
/// let config = WorkflowConfig::default().with_max_iterations(1);
/// let mut run = WorkflowRun::start(config, &hooks, ()).await;
/// assert_eq!(run.begin_iteration().await, Ok(1));
/// let work = async { Err::<String, String>("the tool is down".into()) };
/// let outcome = run.step(StepKind::Action, "call a tool", None, work).await;
/// assert_eq!(outcome, Ok(Err("the tool is down".to_owned())));
/// run.end_iteration().await;
/// let stop = run.begin_iteration().await.unwrap_err();
/// let result = run.finish(Err(stop)).await;
/// assert_eq!(result.termination, TerminationReason::MaxIterations);
/// assert_eq!(result.state.steps[0].error.as_deref(), Some("the tool is down"));
/// # });
/// ```
pub struct WorkflowRun<'h, C: Clone + Send + Sync + 'static> {
    state: WorkflowState<C>,
    config: WorkflowConfig,
    hooks: &'h WorkflowHooks<C>,
    started: Instant,
    hook_errors: Vec<HookError>,
    /// When the run's timeout ends it (tools and model requests alike).
    deadline: Option<tokio::time::Instant>,
    /// Whether `on_iteration_start` was called without its `on_iteration_complete` yet.
    iteration_open: bool,
    /// The run's model requests, so the agent's run limits apply to the whole workflow run
    /// (made with the first request, from its agent's run limits).
    books: Option<RunBooks>,
    /// How the run's model requests are made (their labels).
    options: RunOptions,
}

impl<'h, C: Clone + Send + Sync + 'static> WorkflowRun<'h, C> {
    /// Starts a run (calls `on_workflow_start`).
    pub async fn start(
        config: WorkflowConfig,
        hooks: &'h WorkflowHooks<C>,
        context: C,
    ) -> WorkflowRun<'h, C> {
        let mut run = WorkflowRun {
            state: WorkflowState {
                current_step: 0,
                iteration: 0,
                steps: Vec::new(),
                context,
                metadata: std::collections::BTreeMap::new(),
                usage: TokenUsage::ZERO,
                cost: Decimal::ZERO,
            },
            config,
            hooks,
            started: Instant::now(),
            hook_errors: Vec::new(),
            deadline: config
                .timeout
                .map(|limit| tokio::time::Instant::now() + limit),
            iteration_open: false,
            books: None,
            options: RunOptions::default(),
        };
        hooks
            .fire_workflow(
                HookKind::on_workflow_start,
                &run.state,
                &mut run.hook_errors,
            )
            .await;
        run
    }

    /// The state so far.
    pub fn state(&self) -> &WorkflowState<C> {
        &self.state
    }

    /// The workflow's own data, to update.
    pub fn context_mut(&mut self) -> &mut C {
        &mut self.state.context
    }

    fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(tokio::time::Instant::now()))
    }

    fn timed_out(&self) -> Stop {
        Stop {
            reason: TerminationReason::Timeout,
            message: format!(
                "the workflow timed out after {:?}",
                self.config.timeout.unwrap_or_default()
            ),
        }
    }

    /// Starts the next iteration (calls `on_iteration_start`).
    ///
    /// # Errors
    /// A [`Stop`] when `max_iterations` iterations are done or the timeout has passed.
    pub async fn begin_iteration(&mut self) -> Result<u32, Stop> {
        if self.state.iteration >= self.config.max_iterations {
            return Err(Stop {
                reason: TerminationReason::MaxIterations,
                message: format!(
                    "no answer after {} iterations (max_iterations)",
                    self.config.max_iterations
                ),
            });
        }
        if self.remaining().is_some_and(|left| left.is_zero()) {
            return Err(self.timed_out());
        }
        self.state.iteration += 1;
        self.iteration_open = true;
        self.hooks
            .fire_iteration(
                HookKind::on_iteration_start,
                &self.state,
                self.state.iteration,
                &mut self.hook_errors,
            )
            .await;
        Ok(self.state.iteration)
    }

    /// Ends the current iteration (calls `on_iteration_complete`). Every iteration that
    /// started is ended exactly once: if the run finishes inside one (an error, a timeout, a
    /// limit), [`finish`](Self::finish) ends it before the workflow's own hook.
    pub async fn end_iteration(&mut self) {
        if !std::mem::take(&mut self.iteration_open) {
            return;
        }
        self.hooks
            .fire_iteration(
                HookKind::on_iteration_complete,
                &self.state,
                self.state.iteration,
                &mut self.hook_errors,
            )
            .await;
    }

    async fn open_step(
        &mut self,
        kind: StepKind,
        description: &str,
        input: Option<String>,
    ) -> Result<WorkflowStep, Stop> {
        let number = u32::try_from(self.state.steps.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        if number > self.config.max_steps {
            return Err(Stop {
                reason: TerminationReason::MaxSteps,
                message: format!(
                    "no answer after {} steps (max_steps)",
                    self.config.max_steps
                ),
            });
        }
        let mut step = WorkflowStep::new(number, kind, description);
        step.input = input;
        self.state.current_step = number;
        self.hooks
            .fire_step(
                HookKind::on_step_start,
                &self.state,
                &step,
                &mut self.hook_errors,
            )
            .await;
        Ok(step)
    }

    async fn close_step(&mut self, mut step: WorkflowStep, outcome: Result<String, String>) {
        let now = SystemTime::now();
        step.duration = now.duration_since(step.started_at).ok();
        step.completed_at = Some(now);
        let kind = match outcome {
            Ok(output) => {
                step.output = Some(output);
                HookKind::on_step_complete
            }
            Err(error) => {
                step.error = Some(error);
                HookKind::on_step_error
            }
        };
        self.state.usage += step.usage;
        self.state.cost = self.state.cost.saturating_add(step.cost);
        self.state.steps.push(step.clone());
        self.hooks
            .fire_step(kind, &self.state, &step, &mut self.hook_errors)
            .await;
    }

    /// A step that does `work` (no model request of its own): its output, or its error's text,
    /// is recorded in the step, and the outcome is handed back with the error as it was. The
    /// run's timeout bounds the work too: when it passes, the work is dropped, the step fails
    /// and the run stops.
    ///
    /// # Errors
    /// A [`Stop`] when `max_steps` steps are done (the work is not started) or the timeout
    /// passed during the work.
    pub async fn step<E: fmt::Display>(
        &mut self,
        kind: StepKind,
        description: &str,
        input: Option<String>,
        work: impl Future<Output = Result<String, E>>,
    ) -> Result<Result<String, E>, Stop> {
        let step = self.open_step(kind, description, input).await?;
        let outcome = match self.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, work).await.ok(),
            None => Some(work.await),
        };
        let Some(outcome) = outcome else {
            let stop = self.timed_out();
            self.close_step(step, Err(stop.message.clone())).await;
            return Err(stop);
        };
        let recorded = match &outcome {
            Ok(output) => Ok(output.clone()),
            Err(error) => Err(error.to_string()),
        };
        self.close_step(step, recorded).await;
        Ok(outcome)
    }

    /// A step whose output is already known (an answer, an observation).
    ///
    /// # Errors
    /// A [`Stop`] when `max_steps` steps are done.
    pub async fn record_step(
        &mut self,
        kind: StepKind,
        description: &str,
        input: Option<String>,
        output: String,
    ) -> Result<(), Stop> {
        let step = self.open_step(kind, description, input).await?;
        self.close_step(step, Ok(output)).await;
        Ok(())
    }

    /// Sets how the run's model requests are made: their records carry `options.labels` over
    /// the agent's. Takes effect from the run's first model step.
    pub fn set_options(&mut self, options: RunOptions) {
        self.options = options;
    }

    /// A [`StepKind::Thought`] step: one model request through
    /// [`Agent::complete`](crate::Agent::complete), whose usage and cost are the step's.
    ///
    /// # Errors
    /// A [`Stop`] for `max_steps`, the timeout, or a failed request (limits included).
    pub async fn model_step(
        &mut self,
        agent: &Agent,
        description: &str,
        messages: &[ChatMessage],
        extra_tools: &[ToolDefinition],
    ) -> Result<Completion, Stop> {
        self.model_step_counted(agent, description, messages, extra_tools, None)
            .await
    }

    /// [`model_step`](Self::model_step) of a prompt whose count (with the agent's system
    /// prompt and tools, and `extra_tools`) is `prompt` when known, so it is not counted again.
    pub(crate) async fn model_step_counted(
        &mut self,
        agent: &Agent,
        description: &str,
        messages: &[ChatMessage],
        extra_tools: &[ToolDefinition],
        prompt: Option<u64>,
    ) -> Result<Completion, Stop> {
        let input = messages.last().map(|m| m.content.clone());
        let mut step = self
            .open_step(StepKind::Thought, description, input)
            .await?;
        let books = self
            .books
            .get_or_insert_with(|| agent.inner().run_books(&self.options));
        let records_before = books.result.records.len();
        let cost_before = books.result.cost.total_cost;
        let outcome = agent
            .complete_within(messages, extra_tools, prompt, books, self.deadline)
            .await;
        // Whatever happened, the requests made (a cut-off one included) are the step's.
        for record in &books.result.records[records_before..] {
            step.usage += TokenUsage::from_record(record);
        }
        step.cost = books.result.cost.total_cost.saturating_sub(cost_before);
        match outcome {
            Ok(completion) => {
                self.close_step(step, Ok(completion.content.clone())).await;
                Ok(completion)
            }
            Err(error) => {
                let stop = match &error {
                    crate::AgentError::Timeout(_)
                        if self.remaining().is_some_and(|l| l.is_zero()) =>
                    {
                        self.timed_out()
                    }
                    _ => Stop {
                        reason: TerminationReason::Error,
                        message: error.to_string(),
                    },
                };
                self.close_step(step, Err(stop.message.clone())).await;
                Err(stop)
            }
        }
    }

    /// The run's context was compacted: what the compaction's requests used and cost count
    /// in the run's, and `on_compaction` hooks are called.
    pub async fn compacted(&mut self, result: &CompactionResult) {
        self.state.usage += result.usage;
        self.state.cost += result.cost;
        self.hooks
            .fire_compaction(&self.state, result, &mut self.hook_errors)
            .await;
    }

    /// Ends the run with its answer or why there is none (calls `on_workflow_complete` or
    /// `on_workflow_error`).
    pub async fn finish(mut self, outcome: Result<String, Stop>) -> WorkflowResult<C> {
        self.end_iteration().await;
        let (success, output, error, termination) = match outcome {
            Ok(output) => (true, Some(output), None, TerminationReason::Completed),
            Err(stop) => (false, None, Some(stop.message), stop.reason),
        };
        match &error {
            None => {
                self.hooks
                    .fire_workflow(
                        HookKind::on_workflow_complete,
                        &self.state,
                        &mut self.hook_errors,
                    )
                    .await;
            }
            Some(message) => {
                self.hooks
                    .fire_error(&self.state, message, &mut self.hook_errors)
                    .await;
            }
        }
        WorkflowResult {
            success,
            output,
            usage: self.state.usage,
            cost: self.state.cost,
            state: self.state,
            error,
            duration: self.started.elapsed(),
            termination,
            hook_errors: self.hook_errors,
        }
    }
}
