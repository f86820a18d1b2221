//! One fleet budget shared by several OS processes: 4 child processes, 16 concurrent runs
//! each, against a scripted OpenAI-compatible server on 127.0.0.1 that bills every request it
//! receives. Each run holds the worst case in the budget before it sends, and its record
//! settles the hold. Whatever the interleaving: the settled spend never exceeds the limit,
//! the server never received a request the budget refused (it saw exactly the requests that
//! held), and the ledger's totals equal what the server billed.
//!
//! It runs on a SQLite file (the processes share it) and, when `MAMBA_TEST_POSTGRES_URL` is
//! set (as `cargo xtask ci` does), on PostgreSQL.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mamba_ledger::{FleetBudgetSpec, Ledger, LedgerConfig, LedgerError, RecordId, TimeRange};
use mamba_pricing::{CostEstimator, Spend, UsageLimits};
use mamba_usage::UsageRecord;

const CHILD_LEDGER: &str = "MAMBA_FLEET_TEST_LEDGER";
const CHILD_SERVER: &str = "MAMBA_FLEET_TEST_SERVER";
const PROCESSES: usize = 4;
const RUNS: usize = 16;
/// The budget: total tokens, small enough that the runs exhaust it.
const LIMIT: u64 = 150_000;
const PROMPT: u64 = 1_000;
const MAX_OUTPUT: u64 = 500;

fn spec() -> FleetBudgetSpec {
    FleetBudgetSpec::new("fleet", UsageLimits::default().with_total_tokens(LIMIT))
}

/// The child's side: `RUNS` threads, each holding, sending and settling until refused; then
/// `sent N refused M` on stdout.
#[test]
#[ignore = "run by the fleet tests as their child processes"]
fn child_runs_until_the_budget_refuses() {
    let (Ok(url), Ok(server)) = (std::env::var(CHILD_LEDGER), std::env::var(CHILD_SERVER)) else {
        return;
    };
    let ledger = Ledger::open(&LedgerConfig::from_url(&url).unwrap()).unwrap();
    let budget = ledger.fleet_budget(spec()).unwrap();
    let estimator = CostEstimator::new();
    let (sent, refused) = (AtomicU64::new(0), AtomicU64::new(0));
    std::thread::scope(|scope| {
        for _ in 0..RUNS {
            scope.spawn(|| {
                loop {
                    let worst_case = Spend::default()
                        .with_requests(1)
                        .with_input_tokens(PROMPT)
                        .with_output_tokens(MAX_OUTPUT);
                    let hold = match budget.reserve(worst_case) {
                        Ok(hold) => hold,
                        Err(LedgerError::BudgetExceeded { .. }) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        Err(error) => panic!("{error}"),
                    };
                    let (prompt, completion) = complete(&server, MAX_OUTPUT);
                    sent.fetch_add(1, Ordering::Relaxed);
                    let record = UsageRecord::new(prompt, completion, "gpt-4o");
                    let cost = estimator.estimate_record(&record);
                    ledger
                        .record_settling(RecordId::new(), &record, &cost, vec![hold])
                        .unwrap();
                }
            });
        }
    });
    println!(
        "sent {} refused {}",
        sent.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed)
    );
}

/// One chat completion from the scripted server; the usage it billed.
fn complete(server: &str, max_tokens: u64) -> (u64, u64) {
    let body = format!(
        r#"{{"model":"gpt-4o","max_tokens":{max_tokens},"messages":[{{"role":"user","content":"hi"}}]}}"#
    );
    let mut stream = TcpStream::connect(server).unwrap();
    write!(
        stream,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {server}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let json = response.split_once("\r\n\r\n").unwrap().1;
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    let usage = &value["usage"];
    (
        usage["prompt_tokens"].as_u64().unwrap(),
        usage["completion_tokens"].as_u64().unwrap(),
    )
}

/// What the scripted server billed.
#[derive(Default)]
struct Billed {
    requests: u64,
    prompt: u64,
    completion: u64,
}

/// A scripted OpenAI-compatible server: each request is billed `PROMPT` input tokens and an
/// output that varies with the request's number, never above its `max_tokens`.
fn start_server() -> (String, Arc<Mutex<Billed>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let billed = Arc::new(Mutex::new(Billed::default()));
    let log = Arc::clone(&billed);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let log = Arc::clone(&log);
            std::thread::spawn(move || answer(stream, &log));
        }
    });
    (address, billed)
}

fn answer(mut stream: TcpStream, log: &Mutex<Billed>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            return;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let max_tokens = request["max_tokens"].as_u64().unwrap();
    let completion = {
        let mut billed = log.lock().unwrap();
        billed.requests += 1;
        let completion = (100 + billed.requests * 37 % 400).min(max_tokens);
        billed.prompt += PROMPT;
        billed.completion += completion;
        completion
    };
    let body = format!(
        r#"{{"id":"chatcmpl-1","object":"chat.completion","created":0,"model":"gpt-4o","choices":[{{"index":0,"message":{{"role":"assistant","content":"ok"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":{PROMPT},"completion_tokens":{completion},"total_tokens":{}}}}}"#,
        PROMPT + completion
    );
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Runs the fleet against the ledger at `url` and checks the books.
fn the_fleet_never_overspends(url: &str) {
    let (server, billed) = start_server();
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "child_runs_until_the_budget_refuses",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_LEDGER, url)
                .env(CHILD_SERVER, &server)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap()
        })
        .collect();
    let (mut sent, mut refused) = (0, 0);
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "a child failed");
        let text = String::from_utf8(output.stdout).unwrap();
        let line = text
            .lines()
            .find_map(|line| line.find("sent ").map(|at| &line[at..]))
            .unwrap_or_else(|| panic!("no summary in {text:?}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        sent += words[1].parse::<u64>().unwrap();
        refused += words[3].parse::<u64>().unwrap();
    }
    let billed = billed.lock().unwrap();
    assert_eq!(
        refused,
        (PROCESSES * RUNS) as u64,
        "every run ended refused"
    );
    assert_eq!(
        billed.requests, sent,
        "the server saw exactly the requests that held: none that was refused"
    );
    let ledger = Ledger::open(&LedgerConfig::from_url(url).unwrap()).unwrap();
    let totals = ledger.totals(TimeRange::ALL).unwrap();
    assert_eq!(totals.usage.request_count, billed.requests);
    assert_eq!(totals.usage.prompt_tokens, billed.prompt);
    assert_eq!(totals.usage.completion_tokens, billed.completion);
    let usage = ledger.fleet_budget(spec()).unwrap().usage().unwrap();
    assert_eq!(usage.reserved, Spend::default(), "every hold was settled");
    let spent = usage.used.input_tokens + usage.used.output_tokens;
    assert_eq!(spent, billed.prompt + billed.completion);
    assert!(spent <= LIMIT, "spent {spent} of {LIMIT}");
}

#[test]
fn four_processes_share_one_budget_on_a_sqlite_file() {
    let path = std::env::temp_dir().join(format!("mamba-fleet-{}.db", std::process::id()));
    let remove = || {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    };
    remove();
    // Made before the children start, so they race on budgets, not on creating the file.
    drop(Ledger::open_sqlite(&path).unwrap());
    the_fleet_never_overspends(&format!("sqlite://{}", path.display()));
    remove();
}

#[cfg(feature = "postgres")]
#[test]
fn four_processes_share_one_budget_on_postgres() {
    let server = match std::env::var("MAMBA_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            assert!(
                std::env::var_os("MAMBA_REQUIRE_POSTGRES").is_none(),
                "MAMBA_REQUIRE_POSTGRES is set but MAMBA_TEST_POSTGRES_URL is not"
            );
            eprintln!("skipped: no PostgreSQL (set MAMBA_TEST_POSTGRES_URL)");
            return;
        }
    };
    let database = format!("mamba_test_fleet_{}", std::process::id());
    let mut admin = postgres::Client::connect(&server, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {database}"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {database}"))
        .unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    let url = format!("{base}/{database}");
    drop(Ledger::open(&LedgerConfig::from_url(&url).unwrap()).unwrap());
    the_fleet_never_overspends(&url);
}
