//! One model request in flight, and the guard that records it exactly once however it ends:
//! with its response, with an error, at a deadline, or dropped by the caller.
//!
//! What is recorded follows what the server billed (see [`AttemptLog`]): every attempt whose
//! whole request was written before the client gave up is recorded as an estimate marked cut
//! off, and an attempt answered 2xx is recorded from its usage (or estimated when the usage is
//! missing or unreadable). A request the server refused, or that never reached it, records
//! nothing and gives its reservations back.

use std::sync::Arc;
use std::time::Instant;

use mamba_pricing::{CostBreakdown, LocalBudget, Spend};
use mamba_tokens::{ChatMessage, ToolDefinition};
use mamba_usage::{Labels, UsageRecord};

use crate::agent::Agent;
use crate::attempt::AttemptLog;
use crate::inner::Reply;
use crate::inner::{FleetHolds, Holds, Offer};
use crate::result::RunBooks;
use crate::sinks::Delivery;

/// The prompt's token count, for estimates: counted already, or counted only if needed.
pub(crate) enum Prompt<'a> {
    Counted(u64),
    Uncounted {
        messages: &'a [ChatMessage],
        extra_tools: &'a [ToolDefinition],
        offer: Offer,
    },
}

/// How a request that got no usable response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// It failed: every attempt has an outcome.
    Failed,
    /// The caller stopped waiting (a deadline, a dropped future) with an attempt maybe still
    /// in flight: an attempt written but not answered is billed too.
    Abandoned,
}

/// A request between its reservation and its record.
pub(crate) struct Flight<'a> {
    agent: Agent,
    log: Arc<AttemptLog>,
    prompt: Prompt<'a>,
    started: Instant,
    holds: Option<Holds>,
    run_budget: Arc<LocalBudget>,
    /// The labels of the request's records (the run's over the agent's).
    labels: Labels,
    /// The required sinks' work for the records made so far.
    delivery: Delivery,
    /// The request's `chat {model}` span (OpenTelemetry GenAI conventions): the request is
    /// sent and read inside it, and its record's event is logged inside it.
    span: tracing::Span,
}

/// A request's record, its cost, and the required sinks' delivery of what it recorded (its
/// own record and any billed attempt before it), to await.
pub(crate) struct Booked {
    pub(crate) record: UsageRecord,
    pub(crate) cost: CostBreakdown,
    pub(crate) delivery: Delivery,
}

impl<'a> Flight<'a> {
    pub(crate) fn new(
        agent: &Agent,
        log: Arc<AttemptLog>,
        prompt: Prompt<'a>,
        holds: Holds,
        run_budget: Arc<LocalBudget>,
        labels: Labels,
    ) -> Flight<'a> {
        let inner = agent.inner();
        let span = tracing::info_span!(
            "chat",
            otel.name = %format_args!("chat {}", inner.model()),
            otel.kind = "client",
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = inner.ledger().provider(),
            gen_ai.request.model = inner.model(),
            gen_ai.response.model = tracing::field::Empty,
            gen_ai.response.id = tracing::field::Empty,
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.usage.output_tokens = tracing::field::Empty,
        );
        Flight {
            span,
            agent: agent.clone(),
            log,
            prompt,
            started: Instant::now(),
            holds: Some(holds),
            run_budget,
            labels,
            delivery: Delivery::default(),
        }
    }

    pub(crate) fn log(&self) -> &Arc<AttemptLog> {
        &self.log
    }

    pub(crate) fn started(&self) -> Instant {
        self.started
    }

    /// The request's span, to send and read the request in.
    pub(crate) fn span(&self) -> &tracing::Span {
        &self.span
    }

    fn prompt_count(&mut self) -> u64 {
        let count = match self.prompt {
            Prompt::Counted(count) => return count,
            Prompt::Uncounted {
                messages,
                extra_tools,
                offer,
            } => self
                .agent
                .inner()
                .count_prompt(messages, extra_tools, offer),
        };
        self.prompt = Prompt::Counted(count);
        count
    }

    /// The request got its response: records it, after any billed attempts before it.
    pub(crate) fn replied(mut self, reply: Reply<'_>, books: Option<&mut RunBooks>) -> Booked {
        let mut books = books;
        self.record_billed_failures(books.as_deref_mut());
        let agent = self.agent.clone();
        let labels = self.labels.clone();
        // The prompt is counted only if the provider's usage leaves it out.
        let record = agent
            .inner()
            .build_record(reply, &labels, &mut || self.prompt_count());
        // The last record of the request settles its fleet holds in its own ledger insert.
        let fleet = self.take_fleet();
        let cost = self.book(&record, books, fleet);
        self.settle();
        Booked {
            record,
            cost,
            delivery: std::mem::take(&mut self.delivery),
        }
    }

    /// The request failed: records the attempts that were billed (an answered attempt whose
    /// body could not be read is estimated), or gives the reservations back if none was; the
    /// required sinks' delivery of those records, for the caller to await before it reports
    /// the failure (so the books have them when the run returns).
    pub(crate) fn failed(mut self, books: Option<&mut RunBooks>) -> Delivery {
        self.close(End::Failed, books);
        std::mem::take(&mut self.delivery)
    }

    /// The caller's deadline passed with the request in flight; as [`failed`](Self::failed).
    pub(crate) fn abandoned(mut self, books: Option<&mut RunBooks>) -> Delivery {
        self.close(End::Abandoned, books);
        std::mem::take(&mut self.delivery)
    }

    fn close(&mut self, end: End, mut books: Option<&mut RunBooks>) {
        let in_flight = end == End::Abandoned;
        if self.holds.is_none() {
            return;
        }
        // With `in_flight`, an attempt written but not yet answered is billed too.
        let billed = self.log.billed(in_flight);
        let mut estimates: Vec<bool> = vec![true; usize::try_from(billed.cut_off).unwrap_or(0)];
        if billed.answered {
            // Answered 2xx, but no usable response: abandoned while its body arrived, a body
            // that broke off (both cut off), or a body that is not a chat completion.
            estimates.push(in_flight || self.log.body_failure().is_some());
        }
        let last = estimates.len().checked_sub(1);
        for (index, cut_off) in estimates.into_iter().enumerate() {
            // The last record settles the request's fleet holds.
            let fleet = if Some(index) == last {
                self.take_fleet()
            } else {
                FleetHolds::default()
            };
            self.record_estimate(cut_off, books.as_deref_mut(), fleet);
        }
        self.settle();
    }

    fn record_billed_failures(&mut self, mut books: Option<&mut RunBooks>) {
        for _ in 0..self.log.billed(false).cut_off {
            self.record_estimate(true, books.as_deref_mut(), FleetHolds::default());
        }
    }

    fn record_estimate(&mut self, cut_off: bool, books: Option<&mut RunBooks>, fleet: FleetHolds) {
        let prompt = self.prompt_count();
        let reply = Reply::estimate(self.started.elapsed(), cut_off);
        let record = self
            .agent
            .inner()
            .build_record(reply, &self.labels, &mut || prompt);
        self.book(&record, books, fleet);
    }

    /// The request's fleet holds, for the record that settles them.
    fn take_fleet(&mut self) -> FleetHolds {
        self.holds
            .as_mut()
            .map(|holds| std::mem::take(&mut holds.fleet))
            .unwrap_or_default()
    }

    /// Records one request into the agent's books and the run's, and counts it for settling;
    /// its ledger insert settles `fleet`.
    fn book(
        &mut self,
        record: &UsageRecord,
        books: Option<&mut RunBooks>,
        fleet: FleetHolds,
    ) -> CostBreakdown {
        let _inside = self.span.enter();
        self.span.record("gen_ai.response.model", record.model());
        if let Some(id) = record.request_id() {
            self.span.record("gen_ai.response.id", id);
        }
        self.span
            .record("gen_ai.usage.input_tokens", record.prompt_tokens());
        self.span
            .record("gen_ai.usage.output_tokens", record.completion_tokens());
        let (cost, delivery) =
            self.agent
                .inner()
                .ledger()
                .record(record, self.agent.model(), fleet);
        self.delivery.extend(delivery);
        if let Some(holds) = &mut self.holds {
            holds.used = holds.used.saturating_add(&Spend::new(
                1,
                record.prompt_tokens(),
                record.completion_tokens(),
                cost.total_cost,
            ));
        }
        if let Some(books) = books {
            books.book(record, &cost);
        }
        cost
    }

    /// Settles the reservations to what was recorded, or releases them if nothing was (the
    /// fleet holds still here were settled by no record: they are given back).
    fn settle(&mut self) {
        if let Some(mut holds) = self.holds.take() {
            let inner = self.agent.inner();
            inner.release_fleet(std::mem::take(&mut holds.fleet));
            holds.close(inner.agent_budget(), &self.run_budget);
        }
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        // Still open: the caller dropped the request (a timeout of its own, an aborted task).
        if self.holds.is_some() {
            self.close(End::Abandoned, None);
        }
    }
}
