//! [`Agent`]: a model on an OpenAI-compatible endpoint with tools, a conversation, limits, and
//! tracking of every request it makes.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use mamba_pricing::{CostBreakdown, HistoryCost, LocalBudget};
use mamba_settings::{AgentSettings, UsageLimits};
use mamba_tokens::{ChatMessage, TokenCounter, ToolCall, ToolDefinition};
use mamba_usage::{
    Labels, ProviderUsage, QueueStats, ReportedTotals, ServiceTier, TokenUsage, UsageHistory,
    UsageRecord, UsageTracker,
};
use rust_decimal::Decimal;
use tokio::time::Instant as Deadline;
use tracing::Instrument;

use crate::attempt::AttemptLog;
use crate::builder::AgentBuilder;
use crate::flight::{Booked, Flight, Prompt};
use crate::ledger::Ledger;
use crate::result::{RunBooks, RunOptions};
use crate::transport::Transport;
use crate::wire::{self, ChatRequest, StreamOptions};
use crate::{AgentError, Completion, RunError, RunResult, Tool, ToolCallRecord};

/// An LLM agent: sends a conversation to a chat-completions endpoint, runs the tools the model
/// calls, and records one [`UsageRecord`] per HTTP response, priced with that response's model.
///
/// `Agent` is `Clone + Send + Sync`; clones share the conversation, the tracker and the running
/// cost. Concurrent runs each start from the conversation as it was when they started and
/// append their own turn (prompt, tool calls, answer) when they finish, in the order they
/// finish; they do not see each other's turns in flight. A run that fails leaves the
/// conversation unchanged (its usage stays recorded).
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

pub(crate) struct Inner {
    pub(crate) model: String,
    pub(crate) settings: AgentSettings,
    pub(crate) transport: Transport,
    pub(crate) counter: TokenCounter,
    pub(crate) system_prompt: Option<String>,
    pub(crate) tools: Vec<Tool>,
    pub(crate) tool_definitions: Vec<ToolDefinition>,
    pub(crate) max_turns: u32,
    /// The agent's limits, with what its requests used and hold (shared by clones).
    pub(crate) agent_budget: LocalBudget,
    pub(crate) run_limits: UsageLimits,
    pub(crate) ledger: Ledger,
    pub(crate) conversation: Mutex<Vec<ChatMessage>>,
    pub(crate) stream_usage: bool,
    /// The labels of every record of this agent (a run's labels go over them).
    pub(crate) labels: Labels,
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tools: Vec<&str> = self.inner.tools.iter().map(Tool::name).collect();
        f.debug_struct("Agent")
            .field("model", &self.inner.model)
            .field("base_url", &self.inner.settings.model_backend.base_url)
            .field("tools", &tools)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// An agent for `model` with settings from [`AgentSettings::load`].
    ///
    /// # Errors
    /// [`AgentError::Settings`] when the settings cannot be loaded.
    pub fn new(model: &str) -> Result<Agent, AgentError> {
        Agent::builder(model).build()
    }

    /// An agent for the model and backend the settings name.
    ///
    /// # Errors
    /// [`AgentError::Tokens`] for invalid tokenizer settings set in code.
    pub fn from_settings(settings: AgentSettings) -> Result<Agent, AgentError> {
        let model = settings.model_backend.model.clone();
        Agent::builder(&model).settings(settings).build()
    }

    /// A builder for `model`: settings, system prompt, tools, limits, tracker, prices.
    pub fn builder(model: &str) -> AgentBuilder {
        AgentBuilder::new(model)
    }

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
        &self.inner.model
    }

    /// The settings the agent was built from.
    pub fn settings(&self) -> &AgentSettings {
        &self.inner.settings
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
            gen_ai.request.model = %self.inner.model,
        );
        self.run_turns(prompt, options).instrument(span).await
    }

    async fn run_turns(&self, prompt: &str, options: RunOptions) -> Result<RunResult, RunError> {
        let inner = &*self.inner;
        let mut messages = inner.conversation_snapshot();
        let first_new = messages.len();
        messages.push(ChatMessage::user(prompt));
        let mut books = inner.run_books(&options);
        for _ in 0..inner.max_turns {
            let completion = self.complete_within(&messages, &[], &mut books, None).await;
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
                inner.commit(&messages[first_new..]);
                return Ok(books.result);
            }
            messages.push(ChatMessage::assistant(content).with_tool_calls(calls.clone()));
            inner
                .run_tools(&calls, &mut messages, &mut books.result)
                .await;
        }
        Err(RunError::new(
            AgentError::MaxTurns(inner.max_turns),
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
        self.inner.ledger.usage()
    }

    /// The per-request records in the agent's tracker (with a shared tracker, also the records
    /// of the other agents that share it).
    pub fn usage_history(&self) -> UsageHistory {
        self.inner.ledger.tracker().history()
    }

    /// The tracker records go to.
    pub fn tracker(&self) -> &UsageTracker {
        self.inner.ledger.tracker()
    }

    /// What the queue of each optional sink ([`AgentBuilder::sink`]) did, in the order the
    /// sinks were added: records delivered, refused by the sink, or dropped because its queue
    /// was full.
    pub fn sink_stats(&self) -> Vec<QueueStats> {
        self.inner.ledger.queue_stats()
    }

    /// Waits until every optional sink has been handed all records queued for it, then
    /// flushes every sink (for example before a service stops).
    ///
    /// # Errors
    /// [`AgentError::Sink`] with the first sink that failed to flush.
    pub async fn flush_sinks(&self) -> Result<(), AgentError> {
        let agent = self.clone();
        tokio::task::spawn_blocking(move || agent.inner.ledger.flush())
            .await
            .map_err(|join| {
                AgentError::Sink(mamba_usage::SinkError::new(
                    "flush",
                    format!("the flush thread ended early: {join}"),
                ))
            })?
            .map_err(AgentError::Sink)
    }

    /// The labels every record of this agent carries ([`AgentBuilder::labels`]).
    pub fn labels(&self) -> &Labels {
        &self.inner.labels
    }

    /// The exact cost of the requests since the last reset, each priced with its own model
    /// (and tier). O(number of models): requests are priced once, when recorded.
    ///
    /// Tokens no price covers are not in this number; see
    /// [`cost_breakdown`](Agent::cost_breakdown)'s `unpriced_tokens`.
    pub fn cost(&self) -> Decimal {
        self.inner.ledger.total_cost()
    }

    /// The cost per model and in total.
    pub fn cost_by_model(&self) -> HistoryCost {
        self.inner.ledger.totals().cost
    }

    /// The cost split into prompt and completion parts (and cache reads and writes), summed
    /// over models; `model` lists the models.
    pub fn cost_breakdown(&self) -> CostBreakdown {
        self.inner.ledger.totals().cost.combined()
    }

    /// What this agent's requests since its last reset (exactly those [`usage`](Agent::usage)
    /// covers) would have cost on `model`, e.g. the local model's usage priced as `gpt-4o`.
    /// Each request is priced on its own, so tiers apply as they would have. It reads counts
    /// the agent keeps for itself (32 bytes a request), so neither a shared tracker nor a
    /// bounded history changes the answer; O(this agent's requests).
    pub fn cost_for(&self, model: &str) -> CostBreakdown {
        self.inner.ledger.cost_for(model)
    }

    /// Tokens of `text` with the agent's model's encoding.
    pub fn token_count(&self, text: &str) -> u64 {
        self.inner.counter.count(text)
    }

    /// Tokens the current conversation would take as a prompt: system prompt, messages and
    /// tool definitions, with the chat format's overhead.
    pub fn context_token_count(&self) -> u64 {
        self.inner
            .count_prompt(&self.inner.conversation_snapshot(), &[])
    }

    /// The conversation so far (without the system prompt).
    pub fn conversation(&self) -> Vec<ChatMessage> {
        self.inner.conversation_snapshot()
    }

    /// Forgets this agent's usage and cost, and lifts its agent-limit budget (requests in
    /// flight keep their reservations); keeps the conversation.
    ///
    /// An agent resets its own totals. It clears the tracker's history only if the tracker is
    /// its own: a tracker given with [`AgentBuilder::tracker`], perhaps shared with other
    /// agents, keeps every record (reset it with [`UsageTracker::reset`] when you mean to).
    pub fn reset_tracking(&self) {
        self.inner.ledger.reset();
        self.inner.agent_budget.reset();
    }

    /// [`reset_tracking`](Agent::reset_tracking), and forgets the conversation.
    pub fn reset_all(&self) {
        self.reset_tracking();
        self.inner.lock_conversation().clear();
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
        self.complete_within(messages, extra_tools, &mut books, None)
            .await
    }

    /// [`complete`](Agent::complete), counting towards the run `books` (its run limits and
    /// records), and ended at `deadline` (the request is then recorded as cut off if it was
    /// sent).
    pub(crate) async fn complete_within(
        &self,
        messages: &[ChatMessage],
        extra_tools: &[ToolDefinition],
        books: &mut RunBooks,
        deadline: Option<Deadline>,
    ) -> Result<Completion, AgentError> {
        let inner = &*self.inner;
        let reserved =
            inner.reserve(|| inner.count_prompt(messages, extra_tools), &books.budget)?;
        let prompt = match reserved.prompt {
            Some(count) => Prompt::Counted(count),
            None => Prompt::Uncounted {
                messages,
                extra_tools,
            },
        };
        let request = inner.request(messages, extra_tools, reserved.max_tokens, false);
        let log = AttemptLog::new(!inner.limited());
        let flight = Flight::new(
            self,
            log,
            prompt,
            reserved.holds,
            books.budget.clone(),
            books.labels.clone(),
        );
        let send = inner
            .transport
            .complete(&request, flight.log())
            .instrument(flight.span().clone());
        let outcome = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, send).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    flight.abandoned(Some(books));
                    return Err(AgentError::Timeout(inner.settings.model_backend.timeout));
                }
            },
            None => send.await,
        };
        let response = match outcome {
            Ok(response) => response,
            Err(error) => {
                flight.failed(Some(books));
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

    /// Runs the agent's tool named in `call`; `Err` is the message for the model (unknown
    /// tool, bad arguments, the tool's error or panic).
    pub async fn call_tool(&self, call: &ToolCall) -> Result<String, String> {
        self.inner.call_tool(call).await
    }
}

/// What came back from one request, before it is recorded.
pub(crate) struct Reply<'a> {
    pub(crate) model: Option<String>,
    pub(crate) id: Option<String>,
    /// The provider's usage, read at the edge; `None` when it sent none (or none readable).
    pub(crate) usage: Option<ProviderUsage>,
    /// The service tier the response says served it.
    pub(crate) service_tier: Option<String>,
    pub(crate) content: &'a str,
    pub(crate) calls: &'a [ToolCall],
    pub(crate) latency: Duration,
    /// The response never completed (cancelled, timed out, dropped).
    pub(crate) cut_off: bool,
}

impl Reply<'_> {
    /// A billed request with nothing usable from the server: its record is the estimate.
    pub(crate) fn estimate(latency: Duration, cut_off: bool) -> Reply<'static> {
        Reply {
            model: None,
            id: None,
            usage: None,
            service_tier: None,
            content: "",
            calls: &[],
            latency,
            cut_off,
        }
    }
}

impl Inner {
    pub(crate) fn lock_conversation(&self) -> std::sync::MutexGuard<'_, Vec<ChatMessage>> {
        self.conversation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn conversation_snapshot(&self) -> Vec<ChatMessage> {
        self.lock_conversation().clone()
    }

    /// The books of a run made with `options`: the run limits, and the run's labels over the
    /// agent's.
    pub(crate) fn run_books(&self, options: &RunOptions) -> RunBooks {
        RunBooks::new(self.run_limits, self.labels.merged(&options.labels))
    }

    pub(crate) fn commit(&self, turn: &[ChatMessage]) {
        self.lock_conversation().extend_from_slice(turn);
    }

    fn request_messages(&self, messages: &[ChatMessage]) -> Vec<ChatMessage> {
        let mut all = Vec::with_capacity(messages.len() + 1);
        all.extend(self.system_prompt.as_deref().map(ChatMessage::system));
        all.extend_from_slice(messages);
        all
    }

    /// The counter's estimate of the prompt tokens of a request of `messages` (system prompt,
    /// messages, the agent's tools and `extra_tools`).
    pub(crate) fn count_prompt(
        &self,
        messages: &[ChatMessage],
        extra_tools: &[ToolDefinition],
    ) -> u64 {
        let all = self.request_messages(messages);
        let tools: Vec<&ToolDefinition> = self.tool_definitions.iter().chain(extra_tools).collect();
        self.counter
            .count_messages(&all)
            .saturating_add(self.counter.count_tools(&tools))
    }

    /// The request body for `messages`, asking for at most `max_tokens`.
    pub(crate) fn request(
        &self,
        messages: &[ChatMessage],
        extra_tools: &[ToolDefinition],
        max_tokens: Option<u32>,
        stream: bool,
    ) -> ChatRequest {
        let backend = &self.settings.model_backend;
        let tools = self.tool_definitions.iter().chain(extra_tools);
        let mut messages_json = Vec::with_capacity(messages.len() + 1);
        if let Some(system) = &self.system_prompt {
            messages_json.push(wire::message_json(&ChatMessage::system(system.clone())));
        }
        messages_json.extend(messages.iter().map(wire::message_json));
        ChatRequest {
            model: self.model.clone(),
            messages: messages_json,
            temperature: backend.temperature,
            max_tokens,
            tools: tools.map(wire::tool_json).collect(),
            stream: stream.then_some(true),
            stream_options: (stream && self.stream_usage).then_some(StreamOptions {
                include_usage: true,
            }),
        }
    }

    /// The record of one response, carrying `labels`: the provider's counts where it sent
    /// them; where it sent none (no `usage`, `"usage": {}`, a count left out), the counter's
    /// estimate, marked estimated. `prompt_estimate` is called only then.
    pub(crate) fn build_record(
        &self,
        reply: Reply<'_>,
        labels: &Labels,
        prompt_estimate: &mut dyn FnMut() -> u64,
    ) -> UsageRecord {
        let model = reply
            .model
            .filter(|model| !model.is_empty())
            .unwrap_or_else(|| self.model.clone());
        let tools: Vec<&str> = reply.calls.iter().map(|call| call.name.as_str()).collect();
        let mut builder = UsageRecord::builder(&model)
            .latency(reply.latency)
            .cut_off(reply.cut_off)
            .labels(labels.clone());
        if let Some(id) = reply.id.as_deref().filter(|id| !id.is_empty()) {
            builder = builder.request_id(id);
        }
        if !tools.is_empty() {
            builder = builder.tool_name(&tools.join(","));
        }
        let usage = reply.usage.unwrap_or_default();
        let (prompt, completion) = match usage.totals() {
            ReportedTotals::Measured {
                prompt_tokens,
                completion_tokens,
            } => (prompt_tokens, completion_tokens),
            ReportedTotals::Missing {
                prompt_tokens,
                completion_tokens,
            } => {
                builder = builder.estimated(true);
                (
                    prompt_tokens.unwrap_or_else(prompt_estimate),
                    completion_tokens
                        .unwrap_or_else(|| self.completion_estimate(reply.content, reply.calls)),
                )
            }
        };
        let (cached, cache_write, cache_write_1h) = (
            usage.cached_tokens,
            usage.cache_write_tokens,
            usage.cache_write_1h_tokens,
        );
        if let Some(tier) = reply.service_tier.as_deref() {
            match tier.parse::<ServiceTier>() {
                Ok(tier) => builder = builder.service_tier(tier),
                // `auto`, `scale` or a tier of tomorrow: priced at the standard prices.
                Err(_) => tracing::debug!(
                    service_tier = tier,
                    "unknown service tier; standard prices apply"
                ),
            }
        }
        let reasoning = usage.reasoning_tokens;
        let mut builder = builder.prompt_tokens(prompt).completion_tokens(completion);
        if let Some(total) = usage.provider_total_tokens {
            builder = builder.provider_total_tokens(total);
        }
        let exact = builder
            .clone()
            .cached_tokens(cached)
            .cache_write_tokens(cache_write)
            .cache_write_1h_tokens(cache_write_1h)
            .reasoning_tokens(reasoning);
        exact.build().unwrap_or_else(|error| {
            // A provider's details larger than its totals: keep the totals, clamp the
            // details, and say so.
            tracing::warn!(%error, model = %model, "inconsistent usage details from the provider; clamped");
            let cached = cached.min(prompt);
            let cache_write = cache_write.min(prompt - cached);
            builder
                .cached_tokens(cached)
                .cache_write_tokens(cache_write)
                .cache_write_1h_tokens(cache_write_1h.min(cache_write))
                .reasoning_tokens(reasoning.min(completion))
                .build()
                .unwrap_or_else(|_| UsageRecord::new(&model, prompt, completion))
        })
    }

    pub(crate) fn completion_estimate(&self, content: &str, calls: &[ToolCall]) -> u64 {
        calls.iter().fold(self.counter.count(content), |sum, call| {
            sum.saturating_add(self.counter.count(&call.name))
                .saturating_add(self.counter.count(&call.arguments))
        })
    }

    pub(crate) async fn call_tool(&self, call: &ToolCall) -> Result<String, String> {
        match self.tools.iter().find(|tool| tool.name() == call.name) {
            Some(tool) => {
                let span = tracing::info_span!("agent.tool", gen_ai.tool.name = %call.name);
                tool.call(&call.arguments).instrument(span).await
            }
            None => Err(format!("there is no tool named `{}`", call.name)),
        }
    }

    /// Runs each tool call in order, appending the results to `messages`.
    pub(crate) async fn run_tools(
        &self,
        calls: &[ToolCall],
        messages: &mut Vec<ChatMessage>,
        run: &mut RunResult,
    ) {
        for call in calls {
            let output = self.call_tool(call).await;
            let text = match &output {
                Ok(text) => text.clone(),
                Err(error) => format!("Error: {error}"),
            };
            messages.push(ChatMessage::tool(call.id.clone(), text));
            run.tool_calls.push(ToolCallRecord {
                name: call.name.clone(),
                arguments: call.arguments.clone(),
                output,
            });
        }
    }
}
