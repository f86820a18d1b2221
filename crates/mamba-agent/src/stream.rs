//! [`Agent::run_stream`]: a run whose text arrives as it is generated.
//!
//! Each request asks for `stream_options.include_usage`, so the last chunk carries the usage.
//! The provider's usage wins whenever it arrived, even if the connection broke afterwards; a
//! stream that ends without it, breaks, or is dropped by the caller mid-response is recorded
//! with the counter's estimate (marked estimated, and cut off when the response never
//! completed), never as zero and never lost. A stream that ends before the model's
//! `finish_reason` is [`AgentError::Truncated`], never a clean answer.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use mamba_tokens::{ChatMessage, ToolCall};
use tracing::Instrument;

use crate::agent::Agent;
use crate::attempt::AttemptLog;
use crate::context::CompactionResult;
use crate::flight::{Flight, Prompt};
use crate::inner::{Answer, Base, Offer, Reply};
use crate::result::{RunBooks, RunOptions};
use crate::sinks::Delivery;
use crate::transport::ChunkStream;
use crate::wire::{self, ChatChunk};
use crate::{AgentError, RunError, RunResult, ToolCallRecord};
use mamba_usage::ProviderUsage;

/// What a streamed run yields.
///
/// ```
/// use mamba_agent::StreamEvent;
///
/// let events = [StreamEvent::TextDelta("Hel".into()), StreamEvent::TextDelta("lo".into())];
/// let text: String = events
///     .iter()
///     .filter_map(|event| match event {
///         StreamEvent::TextDelta(text) => Some(text.as_str()),
///         _ => None,
///     })
///     .collect();
/// assert_eq!(text, "Hello");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StreamEvent {
    /// A piece of the model's text.
    TextDelta(String),
    /// A tool the model called, with its output (the run goes on with another request).
    ToolCall(ToolCallRecord),
    /// The run ended with a final answer: the same as [`Agent::run`]'s result.
    Done(RunResult),
}

/// The stream [`Agent::run_stream`] returns.
pub type AgentStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, RunError>> + Send>>;

impl Agent {
    /// Runs `prompt` like [`run`](Agent::run), yielding text deltas as they arrive, each tool
    /// call, and finally [`StreamEvent::Done`] with the run's result. After an error (a
    /// [`RunError`] with what the run spent) the stream ends.
    ///
    /// ```no_run
    /// use futures::StreamExt;
    /// use mamba_agent::{Agent, StreamEvent};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mamba_agent::AgentError> {
    /// let agent = Agent::new("gpt-4o")?;
    /// let mut stream = agent.run_stream("Tell me about Python");
    /// while let Some(event) = stream.next().await {
    ///     match event? {
    ///         StreamEvent::TextDelta(text) => print!("{text}"),
    ///         StreamEvent::Done(result) => println!("\n{} tokens", result.usage.total_tokens),
    ///         _ => {}
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn run_stream(&self, prompt: &str) -> AgentStream {
        self.run_stream_with(prompt, RunOptions::default())
    }

    /// [`run_stream`](Agent::run_stream) with options: the labels of this run's records.
    pub fn run_stream_with(&self, prompt: &str, options: RunOptions) -> AgentStream {
        let (mut messages, base) = self.inner().conversation_for_run();
        let first_new = messages.len();
        messages.push(ChatMessage::user(prompt));
        let state = State {
            agent: self.clone(),
            messages,
            first_new,
            base,
            compactions: Vec::new(),
            books: self.inner().run_books(&options),
            turn: 0,
            in_flight: None,
            pending: VecDeque::new(),
            done: false,
        };
        Box::pin(futures::stream::unfold(state, |mut state| async move {
            let item = state.next_event().await?;
            Some((item, state))
        }))
    }
}

struct State {
    agent: Agent,
    messages: Vec<ChatMessage>,
    first_new: usize,
    /// Where the conversation stood when the stream started.
    base: Base,
    /// The compactions made before this stream's requests.
    compactions: Vec<CompactionResult>,
    books: RunBooks,
    turn: u32,
    in_flight: Option<InFlight>,
    pending: VecDeque<StreamEvent>,
    done: bool,
}

impl State {
    async fn next_event(&mut self) -> Option<Result<StreamEvent, RunError>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            if self.done {
                return None;
            }
            let step = match self.in_flight.as_mut() {
                None => self.start_request().await,
                Some(flight) => match flight.next_chunk().await {
                    Some(Ok(chunk)) => {
                        if let Some(text) = flight.absorb(chunk) {
                            self.pending.push_back(StreamEvent::TextDelta(text));
                        }
                        Ok(())
                    }
                    Some(Err(error)) => {
                        let error = self.agent.inner().transport().error(error, &flight.log());
                        if flight.finished {
                            // The answer was complete; only the end of the stream broke off.
                            tracing::warn!(%error, "the stream broke off after the model finished; the answer is complete");
                            self.complete_turn().await
                        } else {
                            // The run fails with this error; a required sink's failure for
                            // the cut-off record is logged by the sink's task.
                            drop(self.finish_flight(Ending::CutOff));
                            Err(error)
                        }
                    }
                    None if flight.finished => self.complete_turn().await,
                    None => {
                        let partial = flight.content.clone();
                        drop(self.finish_flight(Ending::CutOff));
                        Err(AgentError::Truncated { partial })
                    }
                },
            };
            if let Err(error) = step {
                self.done = true;
                let spent = std::mem::take(&mut self.books.result);
                return Some(Err(RunError::new(error, spent)));
            }
        }
    }

    async fn start_request(&mut self) -> Result<(), AgentError> {
        let inner = self.agent.inner();
        if self.turn >= inner.max_turns() {
            return Err(AgentError::MaxTurns(inner.max_turns()));
        }
        // As in a run: a request that would not fit is compacted first.
        let turn_length = self.messages.len() - self.first_new;
        let working = self
            .agent
            .compact_working(&mut self.messages, 0, false, &[], 1.0)
            .await;
        match working.compaction {
            Some(Ok(result)) if result.removed_count > 0 => {
                self.first_new = self.messages.len() - turn_length;
                self.compactions.push(result);
            }
            Some(Err(error)) => {
                tracing::warn!(%error, "the conversation could not be compacted before a request");
            }
            _ => {}
        }
        let known = working.prompt;
        let count =
            || known.unwrap_or_else(|| inner.count_prompt(&self.messages, &[], Offer::Agent));
        let reserved = inner
            .reserve_all(count, &self.books.budget, &self.books.labels)
            .await?;
        // A stream may be dropped mid-response, when no time is left to count: count now.
        let prompt = reserved.prompt.unwrap_or_else(count);
        let request = inner.request(
            &self.messages,
            &[],
            Offer::Agent,
            reserved.max_tokens,
            Answer::Streamed,
        );
        let flight = Flight::new(
            &self.agent,
            AttemptLog::new(Answer::Streamed, !inner.limited()),
            Prompt::Counted(prompt),
            reserved.holds,
            self.books.budget.clone(),
            self.books.labels.clone(),
        );
        let chunks = match inner
            .transport()
            .stream(&request, flight.log())
            .instrument(flight.span().clone())
            .await
        {
            Ok(chunks) => chunks,
            Err(error) => {
                // The billed attempts' records are delivered before the error returns (a sink's
                // own failure is logged by it).
                let _ = flight.failed(Some(&mut self.books)).finish().await;
                return Err(error);
            }
        };
        self.in_flight = Some(InFlight {
            flight: Some(flight),
            chunks,
            content: String::new(),
            calls: Vec::new(),
            usage: None,
            service_tier: None,
            model: None,
            id: None,
            finished: false,
        });
        self.turn += 1;
        Ok(())
    }

    /// Records the in-flight request into this run, as it ended (the provider's usage if it
    /// came, else an estimate); returns its text, its tool calls and the required sinks'
    /// delivery of its record.
    fn finish_flight(&mut self, ending: Ending) -> Option<(String, Vec<ToolCall>, Delivery)> {
        let mut in_flight = self.in_flight.take()?;
        let flight = in_flight.flight.take()?;
        let calls = in_flight.tool_calls(self.turn);
        let content = std::mem::take(&mut in_flight.content);
        let reply = Reply {
            model: in_flight.model.take(),
            id: in_flight.id.take(),
            usage: in_flight.usage,
            service_tier: in_flight.service_tier.take(),
            content: &content,
            calls: &calls,
            latency: flight.started().elapsed(),
            cut_off: ending == Ending::CutOff,
        };
        let booked = flight.replied(reply, Some(&mut self.books));
        Some((content, calls, booked.delivery))
    }

    async fn complete_turn(&mut self) -> Result<(), AgentError> {
        let Some((content, calls, delivery)) = self.finish_flight(Ending::Complete) else {
            return Ok(());
        };
        delivery.finish().await?;
        if calls.is_empty() {
            self.messages.push(ChatMessage::assistant(content.clone()));
            let inner = self.agent.inner();
            if self.compactions.is_empty() {
                inner.commit(&self.messages[self.first_new..]);
            } else {
                let (prefix, turn) = self.messages.split_at(self.first_new);
                inner.commit_compacted(
                    self.base,
                    prefix,
                    turn,
                    std::mem::take(&mut self.compactions),
                );
            }
            self.agent.compact_if_due().await;
            self.books.result.output = content;
            self.pending
                .push_back(StreamEvent::Done(std::mem::take(&mut self.books.result)));
            self.done = true;
            return Ok(());
        }
        self.messages
            .push(ChatMessage::assistant(content).with_tool_calls(calls.clone()));
        let run = &mut self.books.result;
        let before = run.tool_calls.len();
        self.agent
            .inner()
            .run_tools(&calls, &mut self.messages, run)
            .await;
        for call in &run.tool_calls[before..] {
            self.pending.push_back(StreamEvent::ToolCall(call.clone()));
        }
        Ok(())
    }
}

/// How a streamed response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The model finished its answer.
    Complete,
    /// The stream broke off, or ended, before the model finished.
    CutOff,
}

/// A streamed response being read.
struct InFlight {
    /// The request's guard; taken when it is recorded.
    flight: Option<Flight<'static>>,
    chunks: ChunkStream,
    content: String,
    calls: Vec<PartialCall>,
    usage: Option<ProviderUsage>,
    service_tier: Option<String>,
    model: Option<String>,
    id: Option<String>,
    /// A choice's `finish_reason` arrived: the answer is complete.
    finished: bool,
}

#[derive(Debug, Default)]
struct PartialCall {
    id: Option<String>,
    name: String,
    arguments: String,
}

impl InFlight {
    /// The next chunk, read inside the request's span.
    async fn next_chunk(&mut self) -> Option<Result<ChatChunk, async_openai::error::OpenAIError>> {
        let span = self
            .flight
            .as_ref()
            .map_or_else(tracing::Span::none, |flight| flight.span().clone());
        self.chunks.next().instrument(span).await
    }

    /// The request's attempt log (the guard is there until the request is recorded).
    fn log(&self) -> Arc<AttemptLog> {
        self.flight.as_ref().map_or_else(
            || AttemptLog::new(Answer::Streamed, false),
            |flight| Arc::clone(flight.log()),
        )
    }

    /// Takes in one chunk; returns its text, if any.
    fn absorb(&mut self, chunk: ChatChunk) -> Option<String> {
        if self.model.is_none() {
            self.model = chunk.model.filter(|model| !model.is_empty());
        }
        if self.id.is_none() {
            self.id = chunk.id.filter(|id| !id.is_empty());
        }
        if let Some(usage) = wire::provider_usage(chunk.usage.as_ref()) {
            // A later usage chunk wins where it reports a count.
            self.usage = Some(match self.usage {
                Some(earlier) => earlier.merge(usage),
                None => usage,
            });
        }
        if chunk.service_tier.is_some() {
            self.service_tier = chunk.service_tier;
        }
        let mut text = String::new();
        for choice in chunk.choices {
            if choice.finish_reason.is_some() {
                self.finished = true;
            }
            if let Some(delta) = choice.delta.content {
                text.push_str(&delta);
            }
            for call in choice.delta.tool_calls.unwrap_or_default() {
                if self.calls.len() <= call.index {
                    self.calls.resize_with(call.index + 1, PartialCall::default);
                }
                let partial = &mut self.calls[call.index];
                if let Some(id) = call.id.filter(|id| !id.is_empty()) {
                    partial.id = Some(id);
                }
                if let Some(function) = call.function {
                    if let Some(name) = function.name {
                        partial.name.push_str(&name);
                    }
                    partial.arguments.push_str(&function.arguments);
                }
            }
        }
        self.content.push_str(&text);
        (!text.is_empty()).then_some(text)
    }

    fn tool_calls(&self, turn: u32) -> Vec<ToolCall> {
        self.calls
            .iter()
            .filter(|call| !call.name.is_empty())
            .enumerate()
            .map(|(i, call)| {
                let id = wire::call_id(call.id.clone(), turn, i);
                ToolCall::new(id, call.name.clone(), call.arguments.clone())
            })
            .collect()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let Some(flight) = self.flight.take() else {
            return;
        };
        // The caller dropped the stream mid-response: the request was made and billed, so
        // what arrived is recorded (cut off) rather than lost.
        let calls = self.tool_calls(0);
        let reply = Reply {
            model: self.model.take(),
            id: self.id.take(),
            usage: self.usage,
            service_tier: self.service_tier.take(),
            content: &self.content,
            calls: &calls,
            latency: flight.started().elapsed(),
            cut_off: true,
        };
        // Nobody is left to wait for a required sink: its task finishes on its own thread.
        drop(flight.replied(reply, None).delivery);
    }
}
