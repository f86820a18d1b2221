//! Layered settings for mamba agents: defaults, `config.toml`, `.env` files and `MAMBA_`
//! environment variables.
//!
//! This crate provides [`AgentSettings`] (the model backend, tokenizer, tracking, cost rates,
//! prices and usage limits of an agent), [`SettingsBuilder`] (which sources to read, values set
//! in code), [`LoadReport`] (unknown keys, the [`Origin`] of every value) and the conversions
//! to the lower crates' own types: [`AgentSettings::cost_estimator`],
//! [`AgentSettings::token_counter`] / [`AgentSettings::tokenizer`],
//! [`AgentSettings::tracker_config`]. It is layer 3 of the mamba workspace, and the only crate
//! that reads files or the environment.
//!
//! # Sources
//!
//! Lowest priority first; a later source overrides single keys of an earlier one:
//!
//! 1. built-in defaults;
//! 2. `OPENAI_API_KEY` / `OPENAI_BASE_URL` (from the environment or a `.env` file), standing in
//!    for `model_backend.api_key` / `base_url` when nothing below sets them;
//! 3. `config.toml` in the working directory;
//! 4. `.env` in the working directory, then `~/mamba.env` (which wins, as in the Python
//!    library);
//! 5. the process environment: `MAMBA_` + the key path in capitals with `__` between levels
//!    (`MAMBA_MODEL_BACKEND__BASE_URL`), and `MAMBA_COST_RATES` for rates of models whose names
//!    cannot be variable names: a JSON object (`{"my-custom-model": 0.001}`) or a list
//!    (`my-custom-model=0.001,openai/gpt-4.1=0.002`);
//! 6. values set in code with [`SettingsBuilder`].
//!
//! `.env` files are read, never exported: the process environment is left untouched.
//!
//! # Usage
//!
//! ```
//! use mamba_settings::AgentSettings;
//! use rust_decimal::Decimal;
//!
//! let settings = AgentSettings::builder()
//!     .defaults_only()
//!     .environment([("MAMBA_COST_RATES", "my-custom-model=0.001,llama3.1:8b=0")])
//!     .build()?;
//! assert_eq!(settings.cost_rates["my-custom-model"], Decimal::new(1, 3)); // per 1,000 tokens
//! let estimator = settings.cost_estimator()?;
//! assert_eq!(estimator.estimate(500, 500, "my-custom-model").total_cost, Decimal::new(1, 3));
//! # Ok::<(), mamba_settings::SettingsError>(())
//! ```
//!
//! Bad values are errors that name the key, the source and the expected form; keys no part of
//! mamba reads are logged as a warning listing them, or refused by a
//! [strict](SettingsBuilder::strict) load. `[token_tracking]`, the Python library's section
//! name, is read as `[tokenizer]`.
//!
//! Pick this crate to configure the lower crates from files and the environment;
//! `mamba-agent` re-exports it as `mamba_agent::settings`.
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

mod builder;
mod context;
mod dotenv;
mod error;
mod forms;
mod keys;
mod layers;
mod origin;
mod rates;
mod read;
mod secret;
mod sections;
mod settings;
mod values;

pub use builder::{
    CONFIG_FILE_NAME, DOTENV_FILE_NAME, HOME_DOTENV_FILE_NAME, LoadReport, SettingsBuilder,
};
pub use context::{CompactionConfig, CompactionStrategy};
pub use error::{SettingsError, UnknownKey};
pub use keys::SettingKey;
pub use mamba_pricing::UsageLimits;
pub use origin::Origin;
/// The exact decimal of rates, prices and cost limits (`rust_decimal`'s, re-exported).
pub use rust_decimal::Decimal;
pub use secret::ApiKey;
pub use sections::{LedgerSettings, LogLevel, ModelBackendSettings, TrackingSettings};
pub use settings::AgentSettings;

// The README is compiled and run as doc tests (the configuration reference, docs/, by the
// unpublished `mamba-docs` crate: a packaged crate has only its own files).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct Readme;
