//! [`ReActWorkflow`]: Thought -> Action -> Observation with an agent, until it calls the
//! `final_answer` tool or runs out of iterations.

use mamba_tokens::{ChatMessage, ToolCall, ToolDefinition};
use mamba_usage::{Labels, TokenUsage};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::run::{Stop, Workflow, WorkflowRun, WorkflowTotals};
use super::{StepKind, WorkflowConfig, WorkflowHooks, WorkflowResult};
use crate::{Agent, RunOptions};

/// How a [`ReActWorkflow`] runs.
///
/// ```
/// use mamba_agent::workflows::ReActConfig;
///
/// let config = ReActConfig::default().with_max_iterations(5);
/// assert_eq!((config.max_iterations, config.final_answer_tool.as_str()), (5, "final_answer"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReActConfig {
    /// The most Thought -> Action -> Observation rounds.
    pub max_iterations: u32,
    /// The tool the model calls with its answer (registered by the workflow).
    pub final_answer_tool: String,
    /// How thoughts are written in the scratchpad.
    pub thought_prefix: String,
    /// How actions are written in the scratchpad.
    pub action_prefix: String,
    /// How observations are written in the scratchpad.
    pub observation_prefix: String,
    /// After this many answers in a row without a tool call, the model is told to act.
    pub max_consecutive_thoughts: u32,
    /// What the model is told before the task.
    pub instructions: String,
    /// Messages sent before the task: an example exchange steers small models to the
    /// tool-call format.
    pub examples: Vec<ChatMessage>,
    /// With `[context] auto_compact`, the run's messages are compacted before a request once
    /// they reach this fraction of the agent's compaction trigger (the task and the latest
    /// turn are kept); `on_compaction` hooks see the result.
    pub compact_threshold_ratio: f64,
}

impl Default for ReActConfig {
    fn default() -> Self {
        ReActConfig {
            max_iterations: 10,
            final_answer_tool: "final_answer".to_owned(),
            thought_prefix: "Thought: ".to_owned(),
            action_prefix: "Action: ".to_owned(),
            observation_prefix: "Observation: ".to_owned(),
            max_consecutive_thoughts: 3,
            instructions: "Solve the task step by step. Think, then call a tool and read its \
                           result. When you know the answer, call final_answer with it."
                .to_owned(),
            examples: Vec::new(),
            compact_threshold_ratio: 0.8,
        }
    }
}

impl ReActConfig {
    /// Compacting the run's messages from `ratio` of the agent's compaction trigger.
    #[must_use]
    pub fn with_compact_threshold_ratio(mut self, ratio: f64) -> ReActConfig {
        self.compact_threshold_ratio = ratio;
        self
    }

    /// At most `iterations` Thought -> Action -> Observation rounds.
    #[must_use]
    pub fn with_max_iterations(mut self, iterations: u32) -> ReActConfig {
        self.max_iterations = iterations;
        self
    }

    /// What the model is told before the task.
    #[must_use]
    pub fn with_instructions(mut self, instructions: impl Into<String>) -> ReActConfig {
        self.instructions = instructions.into();
        self
    }

    /// Messages sent before the task (an example exchange).
    #[must_use]
    pub fn with_examples(mut self, examples: impl IntoIterator<Item = ChatMessage>) -> ReActConfig {
        self.examples = examples.into_iter().collect();
        self
    }
}

/// The scratchpad of a ReAct run: its [`WorkflowState::context`](super::WorkflowState::context).
///
/// ```
/// use mamba_agent::workflows::ReActState;
///
/// let state = ReActState::default();
/// assert!(state.scratchpad.is_empty() && state.final_answer.is_none());
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReActState {
    /// Thoughts, actions and observations, each with its prefix, in order.
    pub scratchpad: Vec<String>,
    /// The answer given to `final_answer`.
    pub final_answer: Option<String>,
}

/// The ReAct loop on an [`Agent`]: each iteration is one model request (a Thought step, with
/// that request's usage and cost), then an Action and an Observation step for each tool the
/// model called; the run ends when the model calls `final_answer`, or with an error result
/// (still carrying the usage spent) after `max_iterations`.
///
/// ```no_run
/// use mamba_agent::Agent;
/// use mamba_agent::workflows::{ReActWorkflow, WorkflowHooks};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mamba_agent::AgentError> {
/// let agent = Agent::new("gpt-4o")?;
/// let workflow = ReActWorkflow::new(agent).with_hooks(
///     WorkflowHooks::new().on_step_complete(|state, step| {
///         println!("Step {} used {} tokens", step.number, state.usage.total_tokens)
///     }),
/// );
/// let result = workflow.run("What is 17 * 23?").await;
/// println!("{:?}: {} tokens, ${}", result.output, workflow.token_usage().total_tokens, workflow.cost());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ReActWorkflow {
    agent: Agent,
    config: ReActConfig,
    workflow_config: WorkflowConfig,
    hooks: WorkflowHooks<ReActState>,
    totals: WorkflowTotals,
    labels: Labels,
}

impl ReActWorkflow {
    /// A ReAct workflow on `agent`, with its tools.
    pub fn new(agent: Agent) -> ReActWorkflow {
        ReActWorkflow {
            agent,
            config: ReActConfig::default(),
            workflow_config: WorkflowConfig::default(),
            hooks: WorkflowHooks::default(),
            totals: WorkflowTotals::default(),
            labels: Labels::new(),
        }
    }

    /// Labels the records of every run of this workflow carry, over the agent's (e.g. the
    /// workflow's name as a `workflow` tag).
    #[must_use]
    pub fn with_labels(mut self, labels: Labels) -> Self {
        self.labels = labels;
        self
    }

    /// Sets the ReAct options.
    #[must_use]
    pub fn with_config(mut self, config: ReActConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets `max_steps` and `timeout` (`max_iterations` comes from [`ReActConfig`]).
    #[must_use]
    pub fn with_workflow_config(mut self, config: WorkflowConfig) -> Self {
        self.workflow_config = config;
        self
    }

    /// Sets the hooks.
    #[must_use]
    pub fn with_hooks(mut self, hooks: WorkflowHooks<ReActState>) -> Self {
        self.hooks = hooks;
        self
    }

    /// The agent the workflow runs on.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    fn final_answer_definition(&self) -> ToolDefinition {
        ToolDefinition::new(
            self.config.final_answer_tool.clone(),
            "Give the final answer to the task.",
            json!({
                "type": "object",
                "properties": { "answer": { "type": "string", "description": "The answer." } },
                "required": ["answer"],
            }),
        )
    }

    /// Runs `task` to an answer.
    pub async fn run(&self, task: &str) -> WorkflowResult<ReActState> {
        let config = WorkflowConfig {
            max_iterations: self.config.max_iterations,
            ..self.workflow_config
        };
        let mut run = WorkflowRun::start(config, &self.hooks, ReActState::default()).await;
        run.set_options(RunOptions::new().labels(self.labels.clone()));
        let outcome = self.iterate(&mut run, task).await;
        let result = run.finish(outcome).await;
        self.totals.add(&result);
        result
    }

    async fn iterate(
        &self,
        run: &mut WorkflowRun<'_, ReActState>,
        task: &str,
    ) -> Result<String, Stop> {
        let final_answer = [self.final_answer_definition()];
        let mut messages = self.config.examples.clone();
        messages.push(ChatMessage::user(format!(
            "{}\n\nTask: {task}",
            self.config.instructions
        )));
        let mut thoughts_in_a_row = 0;
        // The examples and the task are never compacted.
        let fixed = messages.len();
        loop {
            run.begin_iteration().await?;
            let ratio = self.config.compact_threshold_ratio;
            let working = self
                .agent
                .compact_working(&mut messages, fixed, true, &final_answer, ratio)
                .await;
            match working.compaction {
                Some(Ok(result)) if result.removed_count > 0 || !result.records.is_empty() => {
                    run.compacted(&result).await;
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "the workflow's messages could not be compacted");
                }
                _ => {}
            }
            let completion = run
                .model_step_counted(
                    &self.agent,
                    "reason and choose an action",
                    &messages,
                    &final_answer,
                    working.prompt,
                )
                .await?;
            let thought = completion.content.trim();
            if !thought.is_empty() {
                let entry = format!("{}{thought}", self.config.thought_prefix);
                run.context_mut().scratchpad.push(entry);
            }
            let calls = completion.tool_calls;
            if let Some(call) = calls
                .iter()
                .find(|c| c.name == self.config.final_answer_tool)
            {
                let answer = answer_text(&call.arguments);
                let input = Some(call.arguments.clone());
                run.record_step(StepKind::FinalAnswer, "final answer", input, answer.clone())
                    .await?;
                run.context_mut().final_answer = Some(answer.clone());
                run.end_iteration().await;
                return Ok(answer);
            }
            if calls.is_empty() {
                thoughts_in_a_row += 1;
                messages.push(ChatMessage::assistant(completion.content));
                let nudge = if thoughts_in_a_row >= self.config.max_consecutive_thoughts {
                    thoughts_in_a_row = 0;
                    format!(
                        "Act now: call a tool, or call {} with your answer.",
                        self.config.final_answer_tool
                    )
                } else {
                    "Continue.".to_owned()
                };
                messages.push(ChatMessage::user(nudge));
            } else {
                thoughts_in_a_row = 0;
                messages.push(
                    ChatMessage::assistant(completion.content).with_tool_calls(calls.clone()),
                );
                for call in &calls {
                    let observation = self.act(run, call).await?;
                    messages.push(ChatMessage::tool(call.id.clone(), observation));
                }
            }
            run.end_iteration().await;
        }
    }

    /// An Action step (the tool call) and an Observation step (what the model is told).
    async fn act(
        &self,
        run: &mut WorkflowRun<'_, ReActState>,
        call: &ToolCall,
    ) -> Result<String, Stop> {
        let action = format!(
            "{}{}({})",
            self.config.action_prefix, call.name, call.arguments
        );
        run.context_mut().scratchpad.push(action);
        let description = format!("call {}", call.name);
        let input = Some(call.arguments.clone());
        let outcome = run
            .step(
                StepKind::Action,
                &description,
                input,
                self.agent.call_tool(call),
            )
            .await?;
        let observation = match outcome {
            Ok(output) => output,
            Err(error) => format!("Error: {error}"),
        };
        let entry = format!("{}{observation}", self.config.observation_prefix);
        run.context_mut().scratchpad.push(entry);
        run.record_step(
            StepKind::Observation,
            "tool result",
            None,
            observation.clone(),
        )
        .await?;
        Ok(observation)
    }

    /// The usage of this workflow's runs (not of the agent's other runs).
    pub fn token_usage(&self) -> TokenUsage {
        self.totals.usage()
    }

    /// The exact cost of this workflow's runs.
    pub fn cost(&self) -> Decimal {
        self.totals.cost()
    }
}

impl Workflow for ReActWorkflow {
    type Context = ReActState;

    fn run(&self, input: &str) -> impl Future<Output = WorkflowResult<ReActState>> + Send {
        ReActWorkflow::run(self, input)
    }

    fn token_usage(&self) -> TokenUsage {
        ReActWorkflow::token_usage(self)
    }

    fn cost(&self) -> Decimal {
        ReActWorkflow::cost(self)
    }
}

/// The `answer` argument, or the arguments as written when they are not `{"answer": "..."}`.
fn answer_text(arguments: &str) -> String {
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(object)) => match object.get("answer") {
            Some(Value::String(answer)) => answer.clone(),
            Some(other) => other.to_string(),
            None => arguments.to_owned(),
        },
        _ => arguments.to_owned(),
    }
}
