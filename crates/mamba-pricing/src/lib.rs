//! Exact decimal LLM prices, safe model matching and cost estimation.
//!
//! This crate provides [`CostEstimator`] (prices by model name; the cost of one request, of a
//! [`UsageRecord`](mamba_usage::UsageRecord) with its cache reads and writes, or of a whole
//! [`UsageHistory`](mamba_usage::UsageHistory)), [`CostBreakdown`] (the cost part by part, with
//! the tokens no price covered), [`Price`] / [`ModelPrice`] / [`Tier`] / [`TieredPrice`]
//! (USD per 1M tokens in [`rust_decimal::Decimal`], with long-context tiers, cache lifetimes,
//! service tiers and price history from [`PriceDate`]), [`ContextWindow`] and [`format_usd`].
//! The built-in table is generated from the price data of genai-prices and LiteLLM. Budgets
//! that are never exceeded under
//! concurrency follow one reservation contract, [`Budget`] (reserve the worst case, settle
//! to what was used, release what was never sent), with [`UsageLimits`] and an in-process
//! [`LocalBudget`].
//!
//! It is layer 2 of the mamba workspace and the Rust home of mamba-agents'
//! `mamba_agents.tokens.CostEstimator`:
//!
//! | Python | Rust |
//! |---|---|
//! | `CostEstimator()` | [`CostEstimator::new()`](CostEstimator::new) |
//! | `estimator.estimate(input_tokens=1000, output_tokens=500, model="gpt-4o")` | [`estimator.estimate(1_000, 500, "gpt-4o")`](CostEstimator::estimate) |
//! | `estimator.get_rate(m)` / `set_rate(m, r)` / `get_all_rates()` | [`rate(m)`](CostEstimator::rate) / [`set_rate(m, r)`](CostEstimator::set_rate) / [`all_rates()`](CostEstimator::all_rates) |
//!
//! # Usage
//!
//! ```
//! use mamba_pricing::{CostEstimator, format_usd};
//! use rust_decimal::Decimal;
//!
//! let estimator = CostEstimator::new();
//! let cost = estimator.estimate(1_000, 500, "gpt-4o");
//! println!("Cost: {}", format_usd(cost.total_cost)); // Cost: $0.0075
//! assert_eq!(cost.total_cost, Decimal::new(75, 4));
//!
//! // gpt-4o-mini has its own price: never gpt-4o's, never gpt-4's.
//! assert_eq!(estimator.estimate(1_000, 500, "gpt-4o-mini-2024-07-18").total_cost, Decimal::new(45, 5));
//!
//! // Unknown models are never silently free.
//! let unknown = estimator.estimate(1_000, 500, "my-finetune");
//! assert_eq!(unknown.unpriced_tokens, 1_500);
//! ```
//!
//! Pick this crate to price usage you record yourself; `mamba-agent` re-exports it as
//! `mamba_agent::pricing` and prices every request it makes.
//!
//! # Feature flags
//!
//! None.
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

mod breakdown;
mod budget;
mod builtin;
mod date;
mod error;
mod estimator;
mod files;
mod matching;
mod price;

pub use breakdown::{CostBreakdown, PriceSource, format_usd};
pub use budget::{
    Budget, BudgetError, BudgetExceeded, LimitKind, LocalBudget, Overdrawn, Remaining, Reservation,
    Spend, UsageLimits,
};
pub use date::PriceDate;
pub use error::PricingError;
pub use estimator::{CostEstimator, DEFAULT_RATE_KEY, HistoryCost};
#[cfg(feature = "litellm")]
#[cfg_attr(docsrs, doc(cfg(feature = "litellm")))]
pub use files::parse_litellm_json;
#[cfg(feature = "toml")]
#[cfg_attr(docsrs, doc(cfg(feature = "toml")))]
pub use files::parse_price_toml;
pub use files::{LoadMode, PriceFile};
pub use price::{ContextWindow, ModelPrice, Price, Tier, TieredPrice};
/// The exact decimal every price and cost is in (`rust_decimal`'s), so a user need not add
/// `rust_decimal` to write one.
pub use rust_decimal::Decimal;

// The user guide page (docs/cost-estimation.md) is compiled and run as doctests by the
// unpublished `mamba-docs` crate: a packaged crate has only its own files.
