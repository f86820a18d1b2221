//! Running the `mamba` binary as a user does, in a scratch directory, and a SQLite ledger
//! with known records for the report tests.
#![allow(dead_code)] // Each test binary uses a different part.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use mamba_ledger::Ledger;
use mamba_pricing::CostEstimator;
use mamba_usage::{Labels, UsageRecord};

/// A directory of its own for one test, removed when dropped.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new(name: &str) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mamba-cli-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub(crate) fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one run of the binary did.
pub(crate) struct Run {
    pub(crate) status: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `mamba ARGS` in `dir` with `stdin`, nothing configured.
pub(crate) fn mamba_in(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mamba"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    finish(command, stdin)
}

pub(crate) fn mamba(args: &[&str]) -> Run {
    mamba_in(&std::env::temp_dir(), args, None)
}

pub(crate) fn finish(mut command: Command, stdin: Option<&[u8]>) -> Run {
    let mut child = command.spawn().unwrap();
    if let Some(input) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input).unwrap();
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    Run {
        status: status.code(),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

/// `YYYY-MM-DD` at `hour`:00 UTC.
pub(crate) fn at(day: &str, hour: u64) -> SystemTime {
    let start = day.parse::<mamba_pricing::PriceDate>().unwrap().start();
    start + Duration::from_secs(hour * 3_600)
}

/// One request of the demo books: (day, hour, model, prompt, cached, completion, reasoning,
/// tool, user, session).
pub(crate) type Request = (
    &'static str,
    u64,
    &'static str,
    u64,
    u64,
    u64,
    u64,
    Option<&'static str>,
    &'static str,
    &'static str,
);

/// Five requests over three days (one outside November), two models, two users, a tool.
pub(crate) const REQUESTS: [Request; 5] = [
    (
        "2026-11-01",
        9,
        "gpt-4o",
        1_000,
        0,
        500,
        0,
        None,
        "alice",
        "s1",
    ),
    (
        "2026-11-01",
        23,
        "gpt-4o",
        2_000,
        1_000,
        100,
        0,
        Some("get_weather"),
        "alice",
        "s1",
    ),
    (
        "2026-11-02",
        0,
        "claude-sonnet-4-6",
        2_000,
        0,
        200,
        0,
        None,
        "bob",
        "s2",
    ),
    (
        "2026-11-02",
        12,
        "o3",
        1_000,
        0,
        3_000,
        2_000,
        None,
        "bob",
        "s3",
    ),
    (
        "2026-12-01",
        8,
        "gpt-4o",
        10_000,
        0,
        1_000,
        0,
        None,
        "alice",
        "s4",
    ),
];

/// A SQLite ledger at `path` holding [`REQUESTS`], priced by the built-in table.
pub(crate) fn demo_ledger(path: &Path) -> Ledger {
    let ledger = Ledger::open_sqlite(path).unwrap();
    fill(&ledger);
    ledger
}

/// Writes [`REQUESTS`] into `ledger`, priced by the built-in table.
pub(crate) fn fill(ledger: &Ledger) {
    let estimator = CostEstimator::new();
    for (day, hour, model, prompt, cached, completion, reasoning, tool, user, session) in REQUESTS {
        let mut builder = UsageRecord::builder(model)
            .timestamp(at(day, hour))
            .prompt_tokens(prompt)
            .cached_tokens(cached)
            .completion_tokens(completion)
            .reasoning_tokens(reasoning)
            .labels(Labels::new().user(user).session(session));
        if let Some(tool) = tool {
            builder = builder.tool_name(tool);
        }
        let record = builder.build().unwrap();
        ledger
            .record(&record, &estimator.estimate_record(&record))
            .unwrap();
    }
    ledger.flush().unwrap();
}
