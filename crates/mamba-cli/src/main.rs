//! `mamba`: exact token counts, LLM prices and costs, and usage reports from a mamba ledger,
//! without writing a program.
//!
//! Results go to stdout, diagnostics to stderr. The exit status is 0 on success, 1 when the
//! command ran and failed (an unknown model, a file that cannot be read, a ledger error) and
//! 2 for a command line that does not parse.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod count;
mod messages;
mod money;
mod price;
mod prices_diff;
mod report;
mod report_html;
mod table;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exact token counts, LLM prices and costs, and usage reports from a mamba ledger.
#[derive(Debug, Parser)]
#[command(name = "mamba", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "\
Examples:
  mamba count README.md src/*.rs --model gpt-4o
  cat notes.txt | mamba count --encoding cl100k_base --json
  mamba messages conversation.json --model gpt-4o
  mamba price gpt-4o claude-sonnet-4-6
  mamba cost --model gpt-4o --input 12000 --output 800 --cached 4000
  mamba prices diff model_prices_and_context_window.json
  mamba report --ledger sqlite://usage.db --by day --since 2026-11-01
  mamba report --ledger sqlite://usage.db --format html --out report.html";

#[derive(Debug, Subcommand)]
enum Command {
    /// Count the tokens of files (or stdin), per file and in total.
    Count(count::Args),
    /// Count an OpenAI-format conversation (messages and tools), with the chat overhead.
    Messages(messages::Args),
    /// Show the prices of models: tiers, cache reads and writes, service tiers, source, date.
    Price(price::PriceArgs),
    /// The exact cost of a request.
    Cost(price::CostArgs),
    /// Work with price files.
    Prices {
        #[command(subcommand)]
        command: PricesCommand,
    },
    /// Usage and exact cost from a mamba ledger, grouped, as a table, CSV, JSON or HTML.
    Report(report::Args),
}

#[derive(Debug, Subcommand)]
enum PricesCommand {
    /// Compare a LiteLLM-format price file with the built-in table.
    Diff(prices_diff::Args),
}

/// What a command that ran says about how it went.
enum Outcome {
    /// Everything asked for was done.
    Done,
    /// Some of it failed; the failures were reported on stderr.
    Failed,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Count(args) => count::run(&args),
        Command::Messages(args) => messages::run(&args),
        Command::Price(args) => price::run_price(&args),
        Command::Cost(args) => price::run_cost(&args),
        Command::Prices {
            command: PricesCommand::Diff(args),
        } => prices_diff::run(&args),
        Command::Report(args) => report::run(&args),
    };
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("mamba: error: {error}");
            if error.usage {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// A failure of a command that parsed: what went wrong, naming the value and where it came
/// from.
#[derive(Debug)]
struct Error {
    message: String,
    /// The arguments do not make sense together (exit status 2, as clap's own errors).
    usage: bool,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error {
    /// The command ran and failed (exit status 1).
    fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            usage: false,
        }
    }

    /// The arguments are wrong (exit status 2).
    fn usage(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            usage: true,
        }
    }
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// Writes `text` to stdout; a closed pipe (`mamba count big | head`) ends the output quietly.
fn print_out(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(Error::new(format!("could not write to stdout: {error}"))),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
