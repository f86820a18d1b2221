//! `mamba count`: the tokens of files or stdin, per file and in total, exactly as
//! `TokenCounter::count` gives them, counted on all cores.
//!
//! Each input is cut with `mamba_tokens::split_for_counting`, only where every encoding's
//! pre-tokenizer cuts anyway, so the pieces' counts add up to the file's; the pieces of all
//! files are counted on a pool of threads. A progress bar shows on stderr for large inputs,
//! and only when both stdout and stderr are terminals and the output is not JSON.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mamba_tokens::{Accuracy, Encoding, TokenCounter, encoding_for_model, split_for_counting};
use rayon::prelude::*;
use serde_json::json;

use crate::table::{Align, Table, grouped};
use crate::{Error, Outcome, Result, print_out};

/// The size of the pieces counted in parallel (a piece ends at the next safe cut after it).
const PIECE_BYTES: usize = 256 * 1024;

/// Inputs at least this large get a progress bar (on a terminal).
const PROGRESS_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  mamba count README.md src/*.rs --model gpt-4o\n  cat notes.txt | mamba count --encoding cl100k_base --json\n  mamba count big.jsonl --jobs 1"
)]
pub(crate) struct Args {
    /// Files to count; `-`, or none, reads stdin.
    files: Vec<PathBuf>,
    /// Count as this model does (with its encoding), e.g. gpt-4o.
    #[arg(long, conflicts_with = "encoding")]
    model: Option<String>,
    /// Count with this encoding: o200k_base (the default), o200k_harmony, cl100k_base,
    /// p50k_base, p50k_edit or r50k_base.
    #[arg(long, value_parser = parse_encoding)]
    encoding: Option<Encoding>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Threads to count with [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
}

pub(crate) fn parse_encoding(name: &str) -> Result<Encoding, String> {
    Encoding::from_name(name).map_err(|error| error.to_string())
}

/// One input, read whole.
struct Input {
    /// The name it is shown under (`-` for stdin).
    name: String,
    text: String,
}

pub(crate) fn run(args: &Args) -> Result<Outcome> {
    let (counter, note) = counter(args.model.as_deref(), args.encoding);
    if let Some(note) = note {
        eprintln!("mamba: note: {note}");
    }
    let mut outcome = Outcome::Done;
    let mut inputs = Vec::new();
    let names: Vec<PathBuf> = if args.files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.files.clone()
    };
    for path in &names {
        match read(path) {
            Ok(input) => inputs.push(input),
            Err(error) => {
                eprintln!("mamba: error: {error}");
                outcome = Outcome::Failed;
            }
        }
    }
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        usize::from,
    );
    let total_bytes: usize = inputs.iter().map(|input| input.text.len()).sum();
    let progress = !args.json
        && total_bytes >= PROGRESS_BYTES
        && std::io::stdout().is_terminal()
        && std::io::stderr().is_terminal();
    let counts = count_all(&counter, &inputs, jobs, progress)?;

    let total: u64 = counts.iter().sum();
    if args.json {
        let files: Vec<_> = inputs
            .iter()
            .zip(&counts)
            .map(|(input, tokens)| {
                json!({ "file": input.name, "bytes": input.text.len(), "tokens": tokens })
            })
            .collect();
        let value = json!({
            "encoding": counter.encoding().name(),
            "model": args.model,
            "exact": counter.is_exact(),
            "files": files,
            "total_tokens": total,
        });
        print_out(&format!("{value:#}\n"))?;
    } else {
        let mut table = Table::new(&[("TOKENS", Align::Right), ("FILE", Align::Left)]);
        for (input, tokens) in inputs.iter().zip(&counts) {
            table.row(vec![grouped(*tokens), input.name.clone()]);
        }
        if inputs.len() > 1 {
            table.row(vec![grouped(total), "total".to_owned()]);
        }
        print_out(&table.render())?;
    }
    Ok(outcome)
}

/// The counter for `--model` or `--encoding` (o200k_base without either), and a note when its
/// counts are not exact for the model.
pub(crate) fn counter(
    model: Option<&str>,
    encoding: Option<Encoding>,
) -> (TokenCounter, Option<String>) {
    match (model, encoding) {
        (Some(model), _) => {
            let chosen = encoding_for_model(model);
            let note = (chosen.accuracy == Accuracy::Approximate).then(|| {
                format!(
                    "`{model}` is not an OpenAI model with a known encoding: counting with {}, \
                     which can differ from what its provider bills",
                    chosen.encoding
                )
            });
            (TokenCounter::for_model(model), note)
        }
        (None, Some(encoding)) => (TokenCounter::from_encoding(encoding), None),
        (None, None) => (TokenCounter::from_encoding(Encoding::DEFAULT), None),
    }
}

fn read(path: &PathBuf) -> Result<Input> {
    let (name, bytes) = if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .map_err(|error| Error::new(format!("could not read stdin: {error}")))?;
        ("-".to_owned(), bytes)
    } else {
        let name = path.display().to_string();
        let bytes = std::fs::read(path)
            .map_err(|error| Error::new(format!("could not read {name}: {error}")))?;
        (name, bytes)
    };
    let text = String::from_utf8(bytes).map_err(|error| {
        Error::new(format!(
            "{name} is not UTF-8 text (invalid byte at offset {})",
            error.utf8_error().valid_up_to()
        ))
    })?;
    Ok(Input { name, text })
}

/// The token count of each input, its pieces counted on `jobs` threads.
fn count_all(
    counter: &TokenCounter,
    inputs: &[Input],
    jobs: usize,
    progress: bool,
) -> Result<Vec<u64>> {
    let pieces: Vec<(usize, &str)> = inputs
        .iter()
        .enumerate()
        .flat_map(|(index, input)| {
            split_for_counting(&input.text, PIECE_BYTES).map(move |piece| (index, piece))
        })
        .collect();
    let bar = progress_bar(progress, pieces.iter().map(|(_, piece)| piece.len()).sum());
    let count_piece = |(index, piece): &(usize, &str)| {
        let tokens = counter.count(piece);
        bar.inc(piece.len() as u64);
        (*index, tokens)
    };
    let piece_counts: Vec<(usize, u64)> = if jobs == 1 {
        pieces.iter().map(count_piece).collect()
    } else {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs)
            .build()
            .map_err(|error| Error::new(format!("could not start {jobs} threads: {error}")))?;
        pool.install(|| pieces.par_iter().map(count_piece).collect())
    };
    bar.finish_and_clear();
    let mut counts = vec![0_u64; inputs.len()];
    for (index, tokens) in piece_counts {
        counts[index] = counts[index].saturating_add(tokens);
    }
    Ok(counts)
}

fn progress_bar(shown: bool, total_bytes: usize) -> ProgressBar {
    if !shown {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total_bytes as u64), ProgressDrawTarget::stderr());
    // A template without colour codes, so NO_COLOR has nothing to turn off.
    if let Ok(style) =
        ProgressStyle::with_template("counting {bar:40} {bytes}/{total_bytes} ({eta})")
    {
        bar.set_style(style);
    }
    bar
}
