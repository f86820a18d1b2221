//! `mamba count`: the tokens of files or stdin, per file and in total, exactly as
//! `TokenCounter::count` gives them, counted on all cores.
//!
//! Each input is read in blocks that end only where every encoding's pre-tokenizer cuts anyway
//! (see [`blocks`]), so the blocks' counts add up to the file's; the blocks of all files are
//! counted on a pool of threads while the next ones are read. A progress bar shows on stderr
//! for large inputs, and only when both stdout and stderr are terminals and the output is not
//! JSON.

mod blocks;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::mpsc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mamba_tokens::{Accuracy, Encoding, TokenCounter, encoding_for_model};
use serde_json::json;

use crate::table::{Align, Table, grouped};
use crate::{Error, Outcome, Result, print_out};

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

/// One input, counted.
struct Counted {
    /// The name it is shown under (`-` for stdin).
    name: String,
    /// Its size in bytes.
    bytes: usize,
    tokens: u64,
}

pub(crate) fn run(args: &Args) -> Result<Outcome> {
    let (counter, note) = counter(args.model.as_deref(), args.encoding);
    if let Some(note) = note {
        eprintln!("mamba: note: {note}");
    }
    let names: Vec<PathBuf> = if args.files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.files.clone()
    };
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        usize::from,
    );
    let progress = !args.json && std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    let mut outcome = Outcome::Done;
    let mut inputs = Vec::new();
    for counted in count_all(&counter, &names, jobs, progress)? {
        match counted {
            Ok(counted) => inputs.push(counted),
            Err(error) => {
                eprintln!("mamba: error: {error}");
                outcome = Outcome::Failed;
            }
        }
    }

    let total: u64 = inputs.iter().map(|input| input.tokens).sum();
    if args.json {
        let files: Vec<_> = inputs
            .iter()
            .map(
                |input| json!({ "file": input.name, "bytes": input.bytes, "tokens": input.tokens }),
            )
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
        for input in &inputs {
            table.row(vec![grouped(input.tokens), input.name.clone()]);
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

/// Why one block could not be counted.
enum BlockError {
    /// The block is not UTF-8 from this offset in its input on.
    NotUtf8 { offset: usize },
}

/// Counts the inputs named by `paths` (`-` is stdin) on `jobs` threads while they are read, in
/// the order given: each its count, or the error that names it and why it was not counted.
fn count_all(
    counter: &TokenCounter,
    paths: &[PathBuf],
    jobs: usize,
    progress: bool,
) -> Result<Vec<Result<Counted>>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|error| Error::new(format!("could not start {jobs} threads: {error}")))?;
    let progress = Progress::new(progress);
    // The files' sizes, so the bar knows its length up front; stdin adds its bytes as they come.
    let known: u64 = paths
        .iter()
        .filter(|path| path.as_os_str() != "-")
        .filter_map(|path| std::fs::metadata(path).ok())
        .map(|meta| meta.len())
        .sum();
    progress.grow(known);
    let (sender, receiver) = mpsc::channel();
    let read: Vec<(String, Result<usize>)> = pool.in_place_scope_fifo(|scope| {
        paths
            .iter()
            .enumerate()
            .map(|(index, path)| {
                let mut emit = |block: blocks::Block| {
                    if path.as_os_str() == "-" {
                        progress.grow(block.bytes.len() as u64);
                    }
                    let sender = sender.clone();
                    let progress = &progress;
                    scope.spawn_fifo(move |_| {
                        let counted = match std::str::from_utf8(&block.bytes) {
                            Ok(text) => Ok(counter.count(text)),
                            Err(error) => Err(BlockError::NotUtf8 {
                                offset: block.offset + error.valid_up_to(),
                            }),
                        };
                        progress.counted(block.bytes.len() as u64);
                        // The receiver lives until every block has been counted.
                        let _ = sender.send((index, counted));
                    });
                };
                if path.as_os_str() == "-" {
                    let read = blocks::read_blocks(std::io::stdin().lock(), &mut emit)
                        .map_err(|error| Error::new(format!("could not read stdin: {error}")));
                    ("-".to_owned(), read)
                } else {
                    let name = path.display().to_string();
                    let read = std::fs::File::open(path)
                        .and_then(|file| blocks::read_blocks(file, &mut emit))
                        .map_err(|error| Error::new(format!("could not read {name}: {error}")));
                    (name, read)
                }
            })
            .collect()
    });
    progress.bar.finish_and_clear();
    drop(sender);
    let mut tokens = vec![0_u64; paths.len()];
    let mut not_utf8: Vec<Option<usize>> = vec![None; paths.len()];
    for (index, counted) in receiver {
        match counted {
            Ok(count) => tokens[index] = tokens[index].saturating_add(count),
            Err(BlockError::NotUtf8 { offset }) => {
                not_utf8[index] = Some(not_utf8[index].map_or(offset, |first| first.min(offset)));
            }
        }
    }
    Ok(read
        .into_iter()
        .zip(tokens.into_iter().zip(not_utf8))
        .map(|((name, read), (tokens, not_utf8))| {
            let bytes = read?;
            if let Some(offset) = not_utf8 {
                return Err(Error::new(format!(
                    "{name} is not UTF-8 text (invalid byte at offset {offset})"
                )));
            }
            Ok(Counted {
                name,
                bytes,
                tokens,
            })
        })
        .collect())
}

/// The progress bar on stderr: hidden until the inputs add up to [`PROGRESS_BYTES`], and never
/// shown when `allowed` is false.
struct Progress {
    bar: ProgressBar,
    allowed: bool,
}

impl Progress {
    fn new(allowed: bool) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        // A template without colour codes, so NO_COLOR has nothing to turn off.
        if let Ok(style) =
            ProgressStyle::with_template("counting {bar:40} {bytes}/{total_bytes} ({eta})")
        {
            bar.set_style(style);
        }
        Progress { bar, allowed }
    }

    /// `bytes` more to count.
    fn grow(&self, bytes: u64) {
        self.bar.inc_length(bytes);
        let large = self
            .bar
            .length()
            .is_some_and(|length| length >= PROGRESS_BYTES as u64);
        if self.allowed && large && self.bar.is_hidden() {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    /// `bytes` counted.
    fn counted(&self, bytes: u64) {
        self.bar.inc(bytes);
    }
}
