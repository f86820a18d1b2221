//! A durable usage ledger for mamba's [`UsageRecord`](mamba_usage::UsageRecord)s: each record
//! and its exact cost committed to an embedded SQLite database, or a PostgreSQL database a
//! fleet shares, before [`record`](Ledger::record) returns, written once per [`RecordId`] (retries and replays
//! never count twice), with totals and breakdowns by model, day, tool and label computed in
//! SQL with exact decimals.
//!
//! It is layer 3 of the mamba workspace, between `mamba-pricing` and `mamba-settings`, and the
//! only crate below `mamba-settings` that opens files and connections: exactly the database
//! its [`LedgerConfig`] names.
//!
//! ```
//! use mamba_ledger::{Ledger, TimeRange};
//! use mamba_pricing::CostEstimator;
//! use mamba_usage::UsageRecord;
//!
//! let path = std::env::temp_dir().join(format!("ledger-lib-{}.db", std::process::id()));
//! let estimator = CostEstimator::new();
//! {
//!     let ledger = Ledger::open_sqlite(&path)?;
//!     let record = UsageRecord::new(1_000, 500, "gpt-4o");
//!     ledger.record(&record, &estimator.estimate_record(&record))?;
//! }
//! // The books survive the process: a new ledger on the same file sees the record.
//! let reopened = Ledger::open_sqlite(&path)?;
//! assert_eq!(reopened.by_model(TimeRange::ALL)?["gpt-4o"].usage.total_tokens, 1_500);
//! # drop(reopened);
//! # for suffix in ["", "-wal", "-shm"] { let _ = std::fs::remove_file(format!("{}{suffix}", path.display())); }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Feature flags
//!
//! * `sqlite` (on by default): the embedded ledger (`Ledger`), SQLite compiled in; no async
//!   runtime.
//! * `postgres`: the PostgreSQL ledger (`postgres://` URLs), for many processes on many
//!   machines; a blocking client with a small tokio runtime of its own, on a connection
//!   thread.
//!
//! Without either, only the plain types (`LedgerConfig`, `RecordId`, ...) remain, for crates
//! that configure a ledger without opening one.
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

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod batch;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod budget;
mod budget_spec;
mod config;
mod error;
mod id;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod ledger;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
mod postgres_budget;
mod query;
#[cfg(feature = "sqlite")]
mod schema;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod spill;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqlite")]
mod sqlite_budget;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod stored;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub use budget::{BudgetUsage, FleetBudget, FleetHold};
pub use budget_spec::{BudgetPeriod, BudgetScope, FleetBudgetSpec, UnpricedPolicy};
pub use config::{Batching, Durability, LedgerConfig};
pub use error::LedgerError;
pub use id::RecordId;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub use ledger::Ledger;
pub use query::{LedgerTotals, TimeRange, Written};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub use spill::Replayed;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeLedger;

// The user guide page (docs/ledger.md) is compiled and run as doctests by the unpublished
// `mamba-docs` crate: a packaged crate has only its own files.
