//! [`Agent`]: a model on an OpenAI-compatible endpoint with tools, a conversation, limits, and
//! tracking of every request it makes.

use std::fmt;
use std::sync::{Arc, OnceLock};

use mamba_pricing::{CostBreakdown, HistoryCost};
use mamba_settings::AgentSettings;
use mamba_tokens::{ChatMessage, ToolCall, ToolDefinition};
use mamba_usage::{Labels, QueueStats, TokenUsage, UsageHistory, UsageTracker};
use rust_decimal::Decimal;
use tokio::time::Instant as Deadline;
use tracing::Instrument;

use crate::attempt::AttemptLog;
use crate::flight::{Booked, Flight, Prompt};
use crate::inner::{Answer, Inner, Offer, Reply};
use crate::result::{RunBooks, RunOptions};
use crate::wire;
use crate::{AgentError, Completion, RunError, RunResult, Tool};

/// An LLM agent: sends a conversation to a chat-completions endpoint, runs the tools the model
/// calls, and records one [`UsageRecord`](mamba_usage::UsageRecord) per HTTP response, priced with that response's model.
///
/// `Agent` is `Clone + Send + Sync`; clones share the conversation, the tracker and the running
/// cost. Concurrent runs each start from the conversation as it was when they started and
/// append their own turn (prompt, tool calls, answer) when they finish, in the order they
/// finish; they do not see each other's turns in flight. A run that fails leaves the
/// conversation unchanged (its usage stays recorded). With `[context] auto_compact` (the
/// default) the conversation is compacted when it reaches its trigger, before a request that
/// would not fit and after a run (see [`Agent::compact`]); a compaction's model requests carry
/// the agent's labels and `operation=compaction`, not the run's labels.
///
/// ```no_run
/// use mamba_agent::Agent;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mamba_agent::AgentError> {
/// let agent = Agent::new("gpt-4o")?; // settings from AgentSettings::load()
/// let result = agent.run("Hello!").await?;
/// println!("{}", result.output);
/// let usage = agent.usage();
/// println!("{} tokens in {} requests, {}", usage.total_tokens, usage.request_count,
///     mamba_agent::pricing::format_usd(agent.cost()));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tools: Vec<&str> = self.inner.tools().iter().map(Tool::name).collect();
        f.debug_struct("Agent")
            .field("model", &self.inner.model())
            .field("base_url", &self.inner.settings().model_backend.base_url)
            .field("tools", &tools)
            .finish_non_exhaustive()
    }
}

impl Agent {
    pub(crate) fn from_inner(inner: Inner) -> Agent {
        Agent {
            inner: Arc::new(inner),
        }
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// The model requests are sent for.
    pub fn model(&self) -> &str {
        self.inner.model()
    }

    /// The settings the agent was built from.
    pub fn settings(&self) -> &AgentSettings {
        self.inner.settings()
    }

    /// Runs one prompt to a final answer: sends the conversation plus `prompt`, runs any tools
    /// the model calls and sends their results back, until the model answers without tool
    /// calls or `max_turns` requests were made.
    ///
    /// Every request that reached the server is recorded exactly once, whatever happens: on
    /// success with the provider's usage; when the run is cancelled (dropped, or timed out by
    /// the caller) or a response is cut off, as an estimate marked cut off. A request the
    /// server refused (4xx, 429 after all retries) or that never reached it is not recorded.
    ///
    /// # Errors
    /// A [`RunError`] with what the run spent: [`AgentError::LimitExceeded`] before a request
    /// that would exceed a limit; HTTP, timeout and malformed-response errors after retries;
    /// [`AgentError::MaxTurns`].
    pub async fn run(&self, prompt: &str) -> Result<RunResult, RunError> {
        self.run_with(prompt, RunOptions::default()).await
    }

    /// [`run`](Agent::run) with options: the labels of this run's records.
    ///
    /// # Errors
    /// As [`run`](Agent::run).
    pub async fn run_with(&self, prompt: &str, options: RunOptions) -> Result<RunResult, RunError> {
        let span = tracing::info_span!(
            "agent.run",
            gen_ai.operation.name = "chat",
            gen_ai.request.model = %self.inner.model(),
        );
        self.run_turns(prompt, options).instrument(span).await
    }

    async fn run_turns(&self, prompt: &str, options: RunOptions) -> Result<RunResult, RunError> {
        let inner = &*self.inner;
        let (mut messages, base) = inner.conversation_for_run();
        let mut first_new = messages.len();
        messages.push(ChatMessage::user(prompt));
        let mut books = inner.run_books(&options);
        let mut compactions = Vec::new();
        for _ in 0..inner.max_turns() {
            // A request that would not fit is compacted first; the run's own turn is kept.
            let turn_length = messages.len() - first_new;
            let working = self
                .compact_working(&mut messages, 0, false, &[], 1.0)
                .await;
            match working.compaction {
                Some(Ok(result)) if result.removed_count > 0 => {
                    first_new = messages.len() - turn_length;
                    compactions.push(result);
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "the conversation could not be compacted before a request");
                }
                _ => {}
            }
            let completion = self
                .complete_within(&messages, &[], working.prompt, &mut books, None)
                .await;
            let Completion {
                content,
                tool_calls: calls,
                ..
            } = match completion {
                Ok(completion) => completion,
                Err(error) => return Err(RunError::new(error, books.result)),
            };
            if calls.is_empty() {
                messages.push(ChatMessage::assistant(content.clone()));
                books.result.output = content;
                if compactions.is_empty() {
                    inner.commit(&messages[first_new..]);
                } else {
                    let (prefix, turn) = messages.split_at(first_new);
                    inner.commit_compacted(base, prefix, turn, compactions);
                }
                self.compact_if_due().await;
                return Ok(books.result);
            }
            messages.push(ChatMessage::assistant(content).with_tool_calls(calls.clone()));
            inner
                .run_tools(&calls, &mut messages, &mut books.result)
                .await;
        }
        Err(RunError::new(
            AgentError::MaxTurns(inner.max_turns()),
            books.result,
        ))
    }

    /// [`run`](Agent::run) for synchronous code: blocks until the run ends.
    ///
    /// It runs on a small runtime of its own (one worker thread, shared by all agents and made
    /// on first use), so it works without a runtime.
    ///
    /// # Errors
    /// [`AgentError::InsideRuntime`] when called from inside an async runtime, where blocking
    /// would stall it (use `run(..).await` there); otherwise as [`run`](Agent::run).
    pub fn run_sync(&self, prompt: &str) -> Result<RunResult, RunError> {
        let failed = |error| Err(RunError::new(error, RunResult::default()));
        if tokio::runtime::Handle::try_current().is_ok() {
            return failed(AgentError::InsideRuntime);
        }
        static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
        let runtime = RUNTIME.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("mamba-agent-sync")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        });
        match runtime {
            Ok(runtime) => runtime.block_on(self.run(prompt)),
            Err(reason) => failed(AgentError::Client(reason.clone().into())),
        }
    }

    /// The usage of every request this agent and its clones made since the last reset (with a
    /// shared tracker, not the other agents' requests).
    pub fn usage(&self) -> TokenUsage {
        self.inner.ledger().usage()
    }

    /// The per-request records in the agent's tracker (with a shared tracker, also the records
    /// of the other agents that share it).
    pub fn usage_history(&self) -> UsageHistory {
        self.inner.ledger().tracker().history()
    }

    /// The tracker records go to.
    pub fn tracker(&self) -> &UsageTracker {
        self.inner.ledger().tracker()
    }

    /// What the queue of each optional sink ([`AgentBuilder::sink`](crate::AgentBuilder::sink)) did, in the order the
    /// sinks were added: records delivered, refused by the sink, or dropped because its queue
    /// was full.
    pub fn sink_stats(&self) -> Vec<QueueStats> {
        self.inner.ledger().queue_stats()
    }

    /// Waits until every optional sink has been handed all records queued for it, then
    /// flushes every sink (for example before a service stops).
    ///
    /// # Errors
    /// [`AgentError::Sink`] with the first sink that failed to flush.
    pub async fn flush_sinks(&self) -> Result<(), AgentError> {
        let agent = self.clone();
        tokio::task::spawn_blocking(move || agent.inner.ledger().flush())
            .await
            .map_err(|join| {
                AgentError::Sink(mamba_usage::SinkError::new(
                    "flush",
                    format!("the flush thread ended early: {join}"),
                ))
            })?
            .map_err(AgentError::Sink)
    }

    /// The labels every record of this agent carries ([`AgentBuilder::labels`](crate::AgentBuilder::labels)).
    pub fn labels(&self) -> &Labels {
        self.inner.labels()
    }

    /// The exact cost of the requests since the last reset, each priced with its own model
    /// (and tier). O(number of models): requests are priced once, when recorded.
    ///
    /// Tokens no price covers are not in this number; see
    /// [`cost_breakdown`](Agent::cost_breakdown)'s `unpriced_tokens`.
    pub fn cost(&self) -> Decimal {
        self.inner.ledger().total_cost()
    }

    /// The cost per model and in total.
    pub fn cost_by_model(&self) -> HistoryCost {
        self.inner.ledger().totals().cost
    }

    /// The cost split into prompt and completion parts (and cache reads and writes), summed
    /// over models; `model` lists the models.
    pub fn cost_breakdown(&self) -> CostBreakdown {
        self.inner.ledger().totals().cost.combined()
    }

    /// What this agent's requests since its last reset (exactly those [`usage`](Agent::usage)
    /// covers) would have cost on `model`, e.g. the local model's usage priced as `gpt-4o`.
    /// Each request is priced on its own, so tiers apply as they would have. It reads counts
    /// the agent keeps for itself (32 bytes a request), so neither a shared tracker nor a
    /// bounded history changes the answer; O(this agent's requests).
    pub fn cost_for(&self, model: &str) -> CostBreakdown {
        self.inner.ledger().cost_for(model)
    }

    /// Tokens of `text` with the agent's model's encoding.
    pub fn token_count(&self, text: &str) -> u64 {
        self.inner.counter().count(text)
    }

    /// Tokens the current conversation would take as a prompt: system prompt, messages and
    /// tool definitions, with the chat format's overhead.
    pub fn context_token_count(&self) -> u64 {
        self.inner.lock_context().manager.token_count()
    }

    /// The conversation so far (without the system prompt).
    pub fn conversation(&self) -> Vec<ChatMessage> {
        self.inner.conversation_snapshot()
    }

    /// Forgets this agent's usage and cost, and lifts its agent-limit budget (requests in
    /// flight keep their reservations); keeps the conversation.
    ///
    /// An agent resets its own totals. It clears the tracker's history only if the tracker is
    /// its own: a tracker given with [`AgentBuilder::tracker`](crate::AgentBuilder::tracker), perhaps shared with other
    /// agents, keeps every record (reset it with [`UsageTracker::reset`] when you mean to).
    pub fn reset_tracking(&self) {
        self.inner.ledger().reset();
        self.inner.agent_budget().reset();
    }

    /// [`reset_tracking`](Agent::reset_tracking), and forgets the conversation.
    pub fn reset_all(&self) {
        self.reset_tracking();
        self.clear_context();
    }

    /// One model request with `messages` (after the system prompt; the agent's own
    /// conversation is neither sent nor changed), offering the agent's tools plus
    /// `extra_tools`, without running any tool: for callers that drive their own loop, such
    /// as [`ReActWorkflow`](crate::workflows::ReActWorkflow). The request is reserved against
    /// the agent's limits, recorded and priced like any other.
    ///
    /// # Errors
    /// As [`run`](Agent::run), but never [`AgentError::MaxTurns`]; the request's record, if
    /// it was billed, is in [`usage`](Agent::usage).
    pub async fn complete(
        &self,
        messages: &[ChatMessage],
        extra_tools: &[ToolDefinition],
    ) -> Result<Completion, AgentError> {
        self.complete_with(messages, extra_tools, RunOptions::default())
            .await
    }

    /// [`complete`](Agent::complete) with options: the labels of the request's record.
    ///
    /// # Errors
    /// As [`complete`](Agent::complete).
    pub async fn complete_with(
        &self,
        messages: &[ChatMessage],
        extra_tools: &[ToolDefinition],
        options: RunOptions,
    ) -> Result<Completion, AgentError> {
        let mut books = self.inner.run_books(&options);
        self.complete_within(messages, extra_tools, None, &mut books, None)
            .await
    }

    /// One request of `messages` alone: no system prompt, no tools (a compaction's summary or
    /// scores), reserved, recorded and priced like any other.
    pub(crate) async fn complete_bare(
        &self,
        messages: &[ChatMessage],
        options: RunOptions,
    ) -> Result<Completion, AgentError> {
        let mut books = self.inner.run_books(&options);
        books.offer = Offer::Bare;
        self.complete_within(messages, &[], None, &mut books, None)
            .await
    }

    /// [`complete`](Agent::complete), counting towards the run `books` (its run limits and
    /// records), and ended at `deadline` (the request is then recorded as cut off if it was
    /// sent). `prompt`, when known, is the count of this request's prompt with the agent's
    /// system prompt and tools ([`Offer::Agent`]), so it is not counted again.
    pub(crate) async fn complete_within(
        &self,
        messages: &[ChatMessage],
        extra_tools: &[ToolDefinition],
        prompt: Option<u64>,
        books: &mut RunBooks,
        deadline: Option<Deadline>,
    ) -> Result<Completion, AgentError> {
        let inner = &*self.inner;
        // A count made for the agent's offer is no count of a bare request.
        let known = prompt.filter(|_| books.offer == Offer::Agent);
        let reserved = inner
            .reserve_all(
                || known.unwrap_or_else(|| inner.count_prompt(messages, extra_tools, books.offer)),
                &books.budget,
                &books.labels,
            )
            .await?;
        let prompt = match reserved.prompt.or(known) {
            Some(count) => Prompt::Counted(count),
            None => Prompt::Uncounted {
                messages,
                extra_tools,
                offer: books.offer,
            },
        };
        let request = inner.request(
            messages,
            extra_tools,
            books.offer,
            reserved.max_tokens,
            Answer::Whole,
        );
        let log = AttemptLog::new(Answer::Whole, !inner.limited());
        let flight = Flight::new(
            self,
            log,
            prompt,
            reserved.holds,
            books.budget.clone(),
            books.labels.clone(),
        );
        let send = inner
            .transport()
            .complete(&request, flight.log())
            .instrument(flight.span().clone());
        let outcome = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, send).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    // The records of what was billed are in the books before the run returns;
                    // a sink's own failure is logged by it, and the timeout is the error.
                    let _ = flight.abandoned(Some(books)).finish().await;
                    return Err(AgentError::Timeout(inner.settings().model_backend.timeout));
                }
            },
            None => send.await,
        };
        let response = match outcome {
            Ok(response) => response,
            Err(error) => {
                // As above: the billed attempts' records are delivered before the error returns.
                let _ = flight.failed(Some(books)).finish().await;
                return Err(error);
            }
        };
        let latency = flight.started().elapsed();
        let message = response
            .choices
            .into_iter()
            .next()
            .map(|choice| choice.message)
            .unwrap_or_default();
        let turn = u32::try_from(books.result.records.len()).unwrap_or(u32::MAX);
        let tool_calls = wire::tool_calls(message.tool_calls, turn);
        let content = message.content.unwrap_or_default();
        let reply = Reply {
            model: response.model,
            id: response.id,
            usage: wire::provider_usage(response.usage.as_ref()),
            service_tier: response.service_tier,
            content: &content,
            calls: &tool_calls,
            latency,
            cut_off: false,
        };
        let Booked {
            record,
            cost,
            delivery,
        } = flight.replied(reply, Some(books));
        delivery.finish().await?;
        Ok(Completion {
            content,
            tool_calls,
            record,
            cost,
        })
    }

    /// Runs the agent's tool named in `call`.
    ///
    /// # Errors
    /// The [`ToolError`](crate::ToolError) whose text is the message for the model: an unknown
    /// tool, bad arguments, the tool's error or its panic.
    pub async fn call_tool(&self, call: &ToolCall) -> Result<String, crate::ToolError> {
        self.inner.call_tool(call).await
    }
}
