//! [`Inner`]: the state every clone of an [`Agent`](crate::Agent) shares (model, settings,
//! transport, counter, tools, limits, books, conversation, labels), made once by
//! [`AgentBuilder`](crate::AgentBuilder) from [`Parts`] and reached only through its methods.
//!
//! Its child modules hold the rest of its behaviour: `limits` reserves a request's worst case,
//! `record` turns a response into a `UsageRecord`.

mod fleet;
mod limits;
mod record;

use std::sync::{Mutex, PoisonError};

use mamba_pricing::LocalBudget;
use mamba_settings::{AgentSettings, UsageLimits};
use mamba_tokens::{ChatMessage, TokenCounter, ToolCall, ToolDefinition};
use mamba_usage::Labels;
use tracing::Instrument;

use crate::books::AgentBooks;
use crate::context::{CompactionResult, ContextManager};
use crate::result::{RunBooks, RunOptions};
use crate::transport::Transport;
use crate::wire::{self, ChatRequest, StreamOptions};
use crate::{RunResult, Tool, ToolCallRecord, ToolError};

pub(crate) use fleet::{FleetBudgets, FleetHolds};
pub(crate) use limits::Holds;
pub(crate) use record::Reply;

/// How a request's answer comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// One JSON body.
    Whole,
    /// Server-sent events, ending with the usage chunk when the agent asks for it.
    Streamed,
}

/// What a request sends besides its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Offer {
    /// The agent's system prompt and tools: every run and `complete`.
    #[default]
    Agent,
    /// The messages alone: a compaction's summary or scoring request, which must be answered
    /// with text, not with a tool call.
    Bare,
}

/// What the builder hands over to make an [`Inner`].
pub(crate) struct Parts {
    pub(crate) model: String,
    pub(crate) settings: AgentSettings,
    pub(crate) transport: Transport,
    pub(crate) counter: TokenCounter,
    pub(crate) system_prompt: Option<String>,
    pub(crate) tools: Vec<Tool>,
    pub(crate) max_turns: u32,
    pub(crate) agent_limits: UsageLimits,
    pub(crate) run_limits: UsageLimits,
    pub(crate) ledger: AgentBooks,
    pub(crate) conversation: Vec<ChatMessage>,
    pub(crate) stream_usage: bool,
    pub(crate) labels: Labels,
    /// The fleet budgets (on the agent's ledger) every request reserves in when it is covered.
    pub(crate) fleet_budgets: FleetBudgets,
    /// The agent that writes compaction summaries and scores, if not this one.
    pub(crate) compaction_model: Option<crate::Agent>,
}

/// Where the conversation stood when a run started.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Base {
    generation: u64,
    length: usize,
}

/// The agent's conversation, counted as it grows, and how many times it was replaced (cleared
/// or compacted): a compaction that started before a replacement is not applied after it.
pub(crate) struct AgentContext {
    pub(crate) manager: ContextManager,
    pub(crate) generation: u64,
}

/// The shared state of an agent and its clones.
pub(crate) struct Inner {
    model: String,
    settings: AgentSettings,
    transport: Transport,
    counter: TokenCounter,
    system_prompt: Option<String>,
    tools: Vec<Tool>,
    /// The tools' definitions, derived once: every request sends them.
    tool_definitions: Vec<ToolDefinition>,
    max_turns: u32,
    /// The agent's limits, with what its requests used and hold (shared by clones).
    agent_budget: LocalBudget,
    run_limits: UsageLimits,
    ledger: AgentBooks,
    context: Mutex<AgentContext>,
    compaction_model: Option<crate::Agent>,
    stream_usage: bool,
    /// The labels of every record of this agent (a run's labels go over them).
    labels: Labels,
    fleet_budgets: FleetBudgets,
}

impl Inner {
    pub(crate) fn new(parts: Parts) -> Inner {
        let tool_definitions: Vec<ToolDefinition> =
            parts.tools.iter().map(|t| t.definition().clone()).collect();
        let mut manager =
            ContextManager::new(parts.settings.context.clone(), parts.counter.clone())
                .with_tools(&tool_definitions);
        if let Some(window) = parts.ledger.context_window(&parts.model) {
            manager = manager.with_context_window(window);
        }
        if let Some(prompt) = &parts.system_prompt {
            manager.set_system_prompt(prompt.clone());
        }
        manager.push_messages(&parts.conversation);
        Inner {
            model: parts.model,
            settings: parts.settings,
            transport: parts.transport,
            counter: parts.counter,
            system_prompt: parts.system_prompt,
            tools: parts.tools,
            tool_definitions,
            max_turns: parts.max_turns,
            agent_budget: LocalBudget::new(parts.agent_limits),
            run_limits: parts.run_limits,
            ledger: parts.ledger,
            context: Mutex::new(AgentContext {
                manager,
                generation: 0,
            }),
            compaction_model: parts.compaction_model,
            stream_usage: parts.stream_usage,
            labels: parts.labels,
            fleet_budgets: parts.fleet_budgets,
        }
    }

    /// The model requests are sent for.
    pub(crate) fn model(&self) -> &str {
        &self.model
    }

    pub(crate) fn settings(&self) -> &AgentSettings {
        &self.settings
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    pub(crate) fn counter(&self) -> &TokenCounter {
        &self.counter
    }

    pub(crate) fn system_prompt(&self) -> Option<&str> {
        self.system_prompt.as_deref()
    }

    pub(crate) fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// The most model requests in one run.
    pub(crate) fn max_turns(&self) -> u32 {
        self.max_turns
    }

    pub(crate) fn fleet_budgets(&self) -> &FleetBudgets {
        &self.fleet_budgets
    }

    pub(crate) fn agent_budget(&self) -> &LocalBudget {
        &self.agent_budget
    }

    /// The agent's books.
    pub(crate) fn ledger(&self) -> &AgentBooks {
        &self.ledger
    }

    pub(crate) fn labels(&self) -> &Labels {
        &self.labels
    }

    pub(crate) fn lock_context(&self) -> std::sync::MutexGuard<'_, AgentContext> {
        self.context.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn conversation_snapshot(&self) -> Vec<ChatMessage> {
        self.lock_context().manager.messages().to_vec()
    }

    /// The conversation a run starts from, and where it stood: its generation and length.
    pub(crate) fn conversation_for_run(&self) -> (Vec<ChatMessage>, Base) {
        let context = self.lock_context();
        let messages = context.manager.messages().to_vec();
        let base = Base {
            generation: context.generation,
            length: messages.len(),
        };
        (messages, base)
    }

    /// Commits a run's `turn` after the run compacted the conversation it started from
    /// (`base`) into `prefix` (the `compactions` it made): the conversation becomes `prefix`,
    /// the turns other runs committed meanwhile, then `turn`. If it was cleared or compacted
    /// meanwhile, `turn` is appended to it as it is.
    pub(crate) fn commit_compacted(
        &self,
        base: Base,
        prefix: &[ChatMessage],
        turn: &[ChatMessage],
        compactions: Vec<CompactionResult>,
    ) {
        let mut context = self.lock_context();
        if context.generation != base.generation {
            context.manager.push_messages(turn);
            return;
        }
        let mut all = prefix.to_vec();
        all.extend_from_slice(&context.manager.messages()[base.length..]);
        all.extend_from_slice(turn);
        context.manager.replace_messages(&all, compactions);
        context.generation += 1;
    }

    /// The agent asked for compaction summaries and scores, if not this one.
    pub(crate) fn compaction_model(&self) -> Option<&crate::Agent> {
        self.compaction_model.as_ref()
    }

    /// The books of a run made with `options`: the run limits, and the run's labels over the
    /// agent's.
    pub(crate) fn run_books(&self, options: &RunOptions) -> RunBooks {
        RunBooks::new(self.run_limits, self.labels.merged(&options.labels))
    }

    pub(crate) fn commit(&self, turn: &[ChatMessage]) {
        self.lock_context().manager.push_messages(turn);
    }

    /// The system prompt and the tools a request with `offer` sends.
    fn offered(&self, offer: Offer) -> (Option<&str>, &[ToolDefinition]) {
        match offer {
            Offer::Agent => (self.system_prompt.as_deref(), &self.tool_definitions),
            Offer::Bare => (None, &[]),
        }
    }

    /// The counter's estimate of the prompt tokens of a request of `messages` (with `offer`'s
    /// system prompt and tools, and `extra_tools`).
    pub(crate) fn count_prompt(
        &self,
        messages: &[ChatMessage],
        extra_tools: &[ToolDefinition],
        offer: Offer,
    ) -> u64 {
        let (system_prompt, agent_tools) = self.offered(offer);
        let mut all = Vec::with_capacity(messages.len() + 1);
        all.extend(system_prompt.map(ChatMessage::system));
        all.extend_from_slice(messages);
        let tools: Vec<&ToolDefinition> = agent_tools.iter().chain(extra_tools).collect();
        self.counter
            .count_messages(&all)
            .saturating_add(self.counter.count_tools(&tools))
    }

    /// The request body for `messages` with `offer`'s system prompt and tools, asking for at
    /// most `max_tokens`, answered `shape`.
    pub(crate) fn request(
        &self,
        messages: &[ChatMessage],
        extra_tools: &[ToolDefinition],
        offer: Offer,
        max_tokens: Option<u32>,
        shape: Answer,
    ) -> ChatRequest {
        let stream = shape == Answer::Streamed;
        let backend = &self.settings.model_backend;
        let (system_prompt, agent_tools) = self.offered(offer);
        let tools = agent_tools.iter().chain(extra_tools);
        let mut messages_json = Vec::with_capacity(messages.len() + 1);
        if let Some(system) = system_prompt {
            messages_json.push(wire::message_json(&ChatMessage::system(system)));
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

    pub(crate) async fn call_tool(&self, call: &ToolCall) -> Result<String, ToolError> {
        match self.tools.iter().find(|tool| tool.name() == call.name) {
            Some(tool) => {
                let span = tracing::info_span!("agent.tool", gen_ai.tool.name = %call.name);
                tool.call(&call.arguments).instrument(span).await
            }
            None => Err(ToolError::UnknownTool {
                name: call.name.clone(),
            }),
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
