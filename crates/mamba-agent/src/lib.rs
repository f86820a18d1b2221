//! An LLM agent on any OpenAI-compatible endpoint that tracks the tokens and exact cost of
//! every model call.
//!
//! This crate provides [`Agent`] (runs, tool loops, streaming, usage and cost), [`Tool`]
//! (typed async Rust functions with a derived JSON schema), [`RunResult`], usage limits
//! ([`UsageLimits`](settings::UsageLimits), [`LimitExceeded`]) and [`AgentError`]. It is layer
//! 5 of the mamba workspace (with [`workflows`]: [`ReActWorkflow`](workflows::ReActWorkflow) and
//! [`WorkflowHooks`](workflows::WorkflowHooks); and [`context`]: compaction of conversations), the only one with tokio, async-openai and network I/O, and it
//! re-exports the lower crates so one dependency is enough: [`tokens`], [`usage`],
//! [`pricing`], [`settings`].
//!
//! | Python (mamba-agents) | Rust |
//! |---|---|
//! | `Agent("gpt-4o")` | [`Agent::new("gpt-4o")`](Agent::new) |
//! | `await agent.run(q)` / `agent.run_sync(q)` | [`agent.run(q).await`](Agent::run) / [`agent.run_sync(q)`](Agent::run_sync) |
//! | `agent.get_usage()` | [`agent.usage()`](Agent::usage) |
//! | `agent.get_cost()` | [`agent.cost()`](Agent::cost), [`agent.cost_for("gpt-4o")`](Agent::cost_for) |
//! | `agent.get_cost_breakdown()` | [`agent.cost_breakdown()`](Agent::cost_breakdown) |
//! | `agent.get_usage_history()` | [`agent.usage_history()`](Agent::usage_history) |
//! | `agent.get_token_count("text")` / `get_token_count()` | [`agent.token_count("text")`](Agent::token_count) / [`agent.context_token_count()`](Agent::context_token_count) |
//! | `agent.reset_tracking()` / `reset_all()` | [`agent.reset_tracking()`](Agent::reset_tracking) / [`agent.reset_all()`](Agent::reset_all) |
//! | `agent.should_compact()` / `await agent.compact()` / `get_context_state()` / `clear_context()` | [`agent.should_compact()`](Agent::should_compact) / [`agent.compact().await`](Agent::compact) / [`agent.context_state()`](Agent::context_state) / [`agent.clear_context()`](Agent::clear_context) ([`context`]) |
//!
//! # Tracking
//!
//! Every HTTP response becomes one [`UsageRecord`](usage::UsageRecord): the model the
//! response names, the tools it called, cached prompt tokens and reasoning tokens from the
//! usage details, the latency. A response without usage is counted with the token counter and
//! marked estimated, never recorded as zero; a retried request is recorded once. After each
//! request an `INFO` event `Request completed: 45 tokens, $0.0001` carries OpenTelemetry GenAI
//! fields (`gen_ai.request.model`, `gen_ai.response.model`, `gen_ai.usage.input_tokens`,
//! `gen_ai.usage.output_tokens`) and the cost; each run is a span.
//!
//! Every request that reached the server is recorded exactly once, whatever happens to it:
//! retried, cancelled by the caller, cut off mid-stream (marked
//! [`is_cut_off`](usage::UsageRecord::is_cut_off)). Usage limits reserve each request's worst
//! case before it is sent, so they hold under any concurrency. A failed run's [`RunError`]
//! carries what it spent.
//!
//! A backend declared local costs $0 for every model the user did not price; one that is
//! local only by its loopback address prices models the table knows (a proxy on localhost
//! bills real prices) and makes unknown ones $0. [`Agent::cost_for`] shows what the same usage
//! would cost elsewhere.
//!
//! # Usage
//!
//! ```no_run
//! use mamba_agent::Agent;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), mamba_agent::AgentError> {
//! let agent = Agent::new("gpt-4o")?;
//! agent.run("Hello!").await?;
//! agent.run("Tell me about Python").await?;
//! let usage = agent.usage();
//! println!("Total tokens: {}, requests: {}", usage.total_tokens, usage.request_count);
//! println!("Cost: {}", mamba_agent::pricing::format_usd(agent.cost()));
//! # Ok(())
//! # }
//! ```
//!
//! # Feature flags
//!
//! * `sqlite` (on by default): the embedded SQLite ledger (`[ledger] url`,
//!   `AgentBuilder::ledger`). Without it SQLite is not compiled, and a configured ledger is an
//!   [`AgentError::Ledger`].
//! * `postgres` (off by default): the PostgreSQL ledger (`[ledger] url = "postgres://..."`),
//!   one set of books and fleet budgets shared by many processes.
//! * `serde` (off by default): `serde::Serialize` on the results ([`RunResult`],
//!   [`Completion`], [`ToolCallRecord`], [`ToolError`] as its kind and message, and the
//!   workflows' results), amounts as exact decimal text such as `"0.0003150"`. They are
//!   outputs, for logs and APIs, so there is no `Deserialize` (a tool error's source is any
//!   error type); records round-trip through mamba-usage's JSONL export instead.
//! * `otel` (off by default): OpenTelemetry metrics of every request on the GenAI semantic
//!   conventions (`otel::MetricsSink`, `AgentBuilder::metrics`); depends on the
//!   `opentelemetry` API crate only.
//!
//! HTTPS uses rustls.
//!
//! # Supported Rust versions
//!
//! The minimum supported Rust version is 1.88, declared as `rust-version`; CI builds with the
//! current stable toolchain.
// docs.rs builds with `--cfg docsrs` on nightly: feature-gated items get their badges.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]
// Library code reports problems through its return values; it never panics or prints.
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::print_stdout
    )
)]

mod agent;
mod attempt;
mod books;
mod builder;
pub mod context;
mod error;
mod flight;
mod inner;
#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub mod otel;
mod result;
mod retry;
mod sinks;
mod stream;
mod tools;
mod transport;
mod wire;
pub mod workflows;

pub use agent::Agent;
pub use builder::AgentBuilder;
pub use error::{AgentError, LimitExceeded, LimitScope, RunError};
pub use mamba_pricing::LimitKind;
pub use mamba_tokens::{ChatMessage, Role, ToolCall};
pub use mamba_usage::{Labels, ServiceTier, TokenUsage, UsageTracker};
pub use result::{Completion, RunOptions, RunResult, ToolCallRecord};
/// The exact decimal of every cost (`rust_decimal`'s, re-exported).
pub use rust_decimal::Decimal;
/// JSON (`serde_json`, re-exported): [`Tool::from_json_schema`] takes a schema and its
/// arguments as [`serde_json::Value`]s, so a tool needs no crate beyond this one.
pub use serde_json;
pub use sinks::AgentSink;
pub use stream::{AgentStream, StreamEvent};
pub use tools::{BoxError, Tool, ToolError};

/// The durable usage ledger (`mamba-ledger`).
pub use mamba_ledger as ledger;
/// Prices and cost estimation: `mamba-pricing`.
pub use mamba_pricing as pricing;
/// Settings: `mamba-settings`.
pub use mamba_settings as settings;
/// Token counting: `mamba-tokens`.
pub use mamba_tokens as tokens;
/// Usage records and tracking: `mamba-usage`.
pub use mamba_usage as usage;

// This crate's README is compiled and run as doctests, so it cannot rot. (The workspace README
// and the guides in docs/ are compiled by the unpublished `mamba-docs` crate there: a packaged
// crate has only its own files.)
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct Readme;
