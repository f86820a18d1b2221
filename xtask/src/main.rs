//! Project automation, run as `cargo xtask <job>` (see `.cargo/config.toml`).
//!
//! * `cargo xtask demo`: the main job: the Token Tracking page end to end on a real model.
//! * `cargo xtask ci`: every check CI runs, in order, stopping at the first failure.
//! * `cargo xtask bench [criterion args]`: the criterion benchmarks and a table of figures.
//! * `cargo xtask tidy`: layering, dependency fences and manifest rules.
//! * `cargo xtask quickstarts`: every README quick start in a crate of its own.
//! * `cargo xtask transcripts`: docs/cli.md's console transcripts, run and compared.
//! * `cargo xtask prices [--check]`: regenerate (or check) the built-in price table.
//! * `cargo xtask llm-server start|stop|status`: the local llama.cpp model server.
//! * `cargo xtask postgres start|stop|status`: a PostgreSQL server for the ledger's tests.

mod bench;
mod chromium;
mod ci;
mod demo;
mod llm;
mod packaged;
mod postgres;
mod prices;
mod quickstarts;
mod service;
mod tidy;
mod tools;
mod transcripts;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(),
        Some("demo") => demo::run(),
        Some("bench") => bench::run(&args[1..]),
        Some("tidy") => tidy::run(&workspace_root()),
        Some("quickstarts") => quickstarts::run(),
        Some("transcripts") => transcripts::run(),
        Some("llm-server") => service::run(&llm::SERVER, &args[1..]),
        Some("prices") => prices::run(&args[1..]),
        Some("postgres") => service::run(&postgres::SERVER, &args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <demo | ci | bench [criterion args] | tidy | quickstarts | transcripts | prices [--check] | llm-server start|stop|status | postgres start|stop|status>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The cargo that runs this xtask, so every step uses the same toolchain.
fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

/// Runs a command to completion, failing with its command line if it fails.
fn run_command(mut command: Command) -> Result<()> {
    let line = format!("{command:?}");
    let status = command
        .status()
        .with_context(|| format!("could not start {line}"))?;
    if !status.success() {
        bail!("{line} failed with {status}");
    }
    Ok(())
}
