//! Per-request LLM usage records, exact aggregates and a fast thread-safe usage tracker.
//!
//! This crate provides [`UsageRecord`] (what one model request used, with one meaning for
//! cached, cache-write and reasoning tokens), [`TokenUsage`] (sums of records),
//! [`UsageTracker`] (the shared, thread-safe record of every request, with
//! [`summary`](UsageTracker::summary), [`history`](UsageTracker::history), per-model, per-tool and
//! per-time-window breakdowns, retention and reset) and [`UsageHistory`] (a consistent snapshot
//! with CSV, JSON and JSON Lines export; JSON Lines import on the tracker), [`Labels`] (who a
//! request was for: user, session, tags) and [`UsageSink`] (what receives every record with
//! its cost; [`QueuedSink`] feeds a slow one without ever blocking the recorder).
//!
//! It is layer 1 of the mamba workspace and the Rust home of mamba-agents'
//! `mamba_agents.tokens.UsageTracker`:
//!
//! | Python | Rust |
//! |---|---|
//! | `UsageTracker()` | [`UsageTracker::new()`](UsageTracker::new) |
//! | `tracker.record_usage(input_tokens=100, output_tokens=50, model="gpt-4o")` | [`tracker.record_usage(100, 50, "gpt-4o")`](UsageTracker::record_usage) |
//! | `tracker.get_summary()` | [`tracker.summary()`](UsageTracker::summary) |
//! | `tracker.get_history()` | [`tracker.history()`](UsageTracker::history) |
//! | `tracker.reset()` | [`tracker.reset()`](UsageTracker::reset) |
//!
//! # Usage
//!
//! Pick this crate to record usage yourself (from any LLM client); pick `mamba-agent`, which
//! re-exports it as `mamba_agent::usage`, to have every model call recorded for you.
//!
//! ```
//! use mamba_usage::{UsageRecord, UsageTracker};
//!
//! let tracker = UsageTracker::new();
//! tracker.record_usage(100, 50, "gpt-4o");
//! tracker.record(&UsageRecord::builder("gpt-4o-mini")
//!     .prompt_tokens(2_000).cached_tokens(1_536).completion_tokens(120).build()?);
//!
//! let summary = tracker.summary();
//! println!("Total: {}", summary.totals.total_tokens);
//! assert_eq!(summary.totals.total_tokens, 2_270);
//! assert_eq!(summary.totals.cached_tokens, 1_536);
//! assert_eq!(tracker.by_model()["gpt-4o"].request_count, 1);
//! # Ok::<(), mamba_usage::UsageError>(())
//! ```
//!
//! # Performance
//!
//! Recording is O(1) under a short per-thread-shard lock that never does I/O, so concurrent
//! recorders do not queue behind one lock; a history record takes 56 bytes (model and tool names
//! are interned; a request id adds its length plus 8 bytes, labels 16); [`summary`](UsageTracker::summary) is O(1); a history snapshot shares the
//! tracker's frozen 1024-record chunks instead of copying them.
//!
//! # Feature flags
//!
//! * `serde` (on by default): `Serialize`/`Deserialize` for records, aggregates and config;
//!   JSON and JSON Lines export; JSON Lines import. CSV export works without it.
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

mod error;
mod export;
mod history;
mod labels;
#[cfg(feature = "serde")]
mod provider;
mod record;
mod service;
mod sink;
mod store;
mod tracker;
mod usage;

pub use error::UsageError;
pub use export::CSV_HEADER;
pub use history::{Iter, UsageHistory};
pub use labels::{Labels, SESSION, USER};
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub use provider::{ProviderUsage, ReportedTotals, UsageFormat};
pub use record::{UsageRecord, UsageRecordBuilder};
pub use service::ServiceTier;
pub use sink::{ErrorHandler, QueueStats, QueuedSink, SinkError, UsageSink};
pub use tracker::{TrackerConfig, UsageSummary, UsageTracker};
pub use usage::TokenUsage;

// The user guide page (docs/usage-tracking.md) is compiled and run as doctests by the
// unpublished `mamba-docs` crate: a packaged crate has only its own files.
