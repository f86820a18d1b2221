//! [`RunResult`] and [`ToolCallRecord`]: what one run produced and spent.

use std::sync::Arc;

use mamba_pricing::{CostBreakdown, HistoryCost, LocalBudget, UsageLimits};
use mamba_tokens::ToolCall;
use mamba_usage::{Labels, TokenUsage, UsageRecord};

use crate::ToolError;
use crate::inner::Offer;

/// One tool call the model made during a run, and what the tool answered.
///
/// ```
/// use mamba_agent::ToolCallRecord;
///
/// let call = ToolCallRecord::new("get_weather", r#"{"city":"Paris"}"#, Ok("Sunny".to_owned()));
/// assert_eq!((call.name.as_str(), call.output), ("get_weather", Ok("Sunny".to_owned())));
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ToolCallRecord {
    /// The tool's name.
    pub name: String,
    /// The arguments as the model wrote them (JSON text).
    pub arguments: String,
    /// The tool's output, or the error whose text was sent back to the model.
    ///
    /// With the `serde` feature it serializes as `{"ok": "..."}` or `{"error": {"kind": ...,
    /// "message": ...}}` (see [`ToolError`]).
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "crate::tools::serialize_output")
    )]
    pub output: Result<String, ToolError>,
}

impl ToolCallRecord {
    /// A call of the tool `name` with the model's `arguments` text, and what it gave.
    pub fn new(
        name: impl Into<String>,
        arguments: impl Into<String>,
        output: Result<String, ToolError>,
    ) -> ToolCallRecord {
        ToolCallRecord {
            name: name.into(),
            arguments: arguments.into(),
            output,
        }
    }
}

/// The outcome of [`Agent::run`](crate::Agent::run): the final answer and what it cost.
///
/// `records`, `usage` and `cost` cover this run only; the agent's totals are in
/// [`Agent::usage`](crate::Agent::usage) and [`Agent::cost`](crate::Agent::cost).
///
/// ```
/// use mamba_agent::RunResult;
///
/// let result = RunResult::default();
/// assert_eq!(result.usage.request_count, 0);
/// assert!(result.cost.total_cost.is_zero());
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct RunResult {
    /// The model's final answer.
    pub output: String,
    /// One record per model request of this run, in order.
    pub records: Vec<UsageRecord>,
    /// The sum of `records`.
    pub usage: TokenUsage,
    /// The cost of `records`, each priced with its own model.
    pub cost: HistoryCost,
    /// Every tool call, in order.
    pub tool_calls: Vec<ToolCallRecord>,
}

/// One model request made with [`Agent::complete`](crate::Agent::complete): the reply, its
/// record and its cost. No tool was run.
///
/// ```no_run
/// use mamba_agent::{Agent, ChatMessage};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mamba_agent::AgentError> {
/// let agent = Agent::new("gpt-4o")?;
/// let completion = agent.complete(&[ChatMessage::user("Hello")], &[]).await?;
/// println!("{} ({} tokens, ${})", completion.content, completion.record.total_tokens(),
///     completion.cost.total_cost);
/// for call in &completion.tool_calls {
///     let output = agent.call_tool(call).await;
///     println!("{} -> {output:?}", call.name);
/// }
/// # Ok(())
/// # }
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Completion {
    /// The reply's text (empty when the model only called tools).
    pub content: String,
    /// The tools the model called.
    pub tool_calls: Vec<ToolCall>,
    /// The request's usage record.
    pub record: UsageRecord,
    /// The request's cost.
    pub cost: CostBreakdown,
}

/// Adds one priced record to a usage and cost pair: the one way the agent's running totals
/// and a run's grow.
pub(crate) fn tally(
    usage: &mut TokenUsage,
    cost: &mut HistoryCost,
    record: &UsageRecord,
    price: &CostBreakdown,
) {
    *usage += TokenUsage::from_record(record);
    cost.add(price);
}

/// How one run is made: today, the labels its records carry.
///
/// ```no_run
/// use mamba_agent::{Agent, Labels, RunOptions};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mamba_agent::AgentError> {
/// let agent = Agent::new("gpt-4o")?;
/// let for_alice = RunOptions::new().labels(Labels::new().user("alice").session("chat-7"));
/// let result = agent.run_with("Hello!", for_alice).await?;
/// assert_eq!(result.records[0].labels().get("user"), Some("alice"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunOptions {
    /// Labels of this run's records, over the agent's own (the run's win for a key both set).
    pub labels: Labels,
}

impl RunOptions {
    /// The defaults: no labels beyond the agent's.
    pub fn new() -> RunOptions {
        RunOptions::default()
    }

    /// With these labels on the run's records.
    #[must_use]
    pub fn labels(mut self, labels: Labels) -> RunOptions {
        self.labels = labels;
        self
    }
}

/// A run's books while it runs: its result so far, its budget (the run limits), which a
/// workflow run shares across all its model requests, and the labels of its records.
#[derive(Debug)]
pub(crate) struct RunBooks {
    pub(crate) result: RunResult,
    pub(crate) budget: Arc<LocalBudget>,
    pub(crate) labels: Labels,
    /// What its requests send besides their messages.
    pub(crate) offer: Offer,
}

impl RunBooks {
    /// Books for a run under `limits` whose records carry `labels` (already merged over the
    /// agent's).
    pub(crate) fn new(limits: UsageLimits, labels: Labels) -> RunBooks {
        RunBooks {
            result: RunResult::default(),
            budget: Arc::new(LocalBudget::new(limits)),
            labels,
            offer: Offer::Agent,
        }
    }

    /// Adds one of the run's records, priced at `cost`.
    pub(crate) fn book(&mut self, record: &UsageRecord, cost: &CostBreakdown) {
        let run = &mut self.result;
        tally(&mut run.usage, &mut run.cost, record, cost);
        run.records.push(record.clone());
    }
}
