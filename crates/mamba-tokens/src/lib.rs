//! Exact, fast, panic-free token counting for LLM agents.
//!
//! This crate provides [`TokenCounter`], which counts text, chat messages
//! ([`count_messages`](TokenCounter::count_messages)) and tool definitions
//! ([`count_tools`](TokenCounter::count_tools)) exactly as OpenAI's tiktoken does, with every
//! tiktoken [`Encoding`]; [`encoding_for_model`], which picks the encoding for a model name and
//! says whether the count is exact for it ([`Accuracy`]); and [`TokenizerConfig`], the plain
//! settings a counter is built from.
//!
//! It is the bottom layer of the mamba workspace and the Rust home of the Python library
//! mamba-agents' `mamba_agents.tokens.TokenCounter`:
//!
//! | Python | Rust |
//! |---|---|
//! | `TokenCounter(encoding="cl100k_base")` | [`TokenCounter::new("cl100k_base")`](TokenCounter::new) |
//! | `counter.count(text)` | [`counter.count(text)`](TokenCounter::count) |
//! | `counter.count_messages(messages)` | [`counter.count_messages(&messages)`](TokenCounter::count_messages) |
//!
//! # Usage
//!
//! Pick this crate on its own to count or budget tokens; pick `mamba-agent`, which re-exports it
//! as `mamba_agent::tokens`, to have an agent count and record every model call for you.
//!
//! ```
//! use mamba_tokens::{ChatMessage, TokenCounter};
//!
//! let counter = TokenCounter::for_model("gpt-4o");
//! assert_eq!(counter.count("Hello, world!"), 4);
//!
//! let messages = [ChatMessage::user("Hello"), ChatMessage::assistant("Hi there!")];
//! assert_eq!(counter.count_messages(&messages), 15);
//! assert!(counter.fits_context("Hello, world!", 8_192));
//! ```
//!
//! Counting never fails and never panics: special-token strings such as `<|endoftext|>` count as
//! ordinary text, and whitespace runs of a million characters, which make tiktoken-rs and Python
//! tiktoken panic, get their exact count.
//!
//! # Feature flags
//!
//! * `bpe-openai` (off by default): counts o200k_base, o200k_harmony and cl100k_base with
//!   GitHub's `bpe-openai` engine, about twice as fast as tiktoken-rs and linear on pathological
//!   input, with identical counts. It adds about 47 MB of tables to the binary and builds them
//!   on the first compile. See [`CountingEngine`].
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

mod config;
mod counter;
mod encoding;
mod engine;
mod error;
pub mod message;
mod model;
mod split;
pub mod tools;

pub use config::TokenizerConfig;
pub use counter::TokenCounter;
pub use encoding::Encoding;
pub use engine::CountingEngine;
pub use error::TokensError;
pub use message::{ChatMessage, MessagePart, Role, TokenizedMessage, ToolCall, part_text};
pub use model::{Accuracy, ModelEncoding, encoding_for_model};
pub use split::{SplitForCounting, last_cut_for_counting, split_for_counting};
pub use tools::{TokenizedTool, ToolDefinition, ToolProperty};

// The user guide page (docs/token-counting.md) is compiled and run as doctests by the
// unpublished `mamba-docs` crate: a packaged crate has only its own files.
