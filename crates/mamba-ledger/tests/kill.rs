//! Durability under SIGKILL: a child process records into a SQLite ledger and says which
//! records were acknowledged (`record` returned); it is killed at a random point; on reopen
//! every acknowledged record is there, the file passes SQLite's integrity check, and the next
//! child appends to the same books.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use mamba_ledger::{Ledger, TimeRange};
use mamba_pricing::CostEstimator;
use mamba_usage::UsageRecord;

const CHILD_PATH: &str = "MAMBA_LEDGER_KILL_TEST_DB";
const CHILD_ROUND: &str = "MAMBA_LEDGER_KILL_TEST_ROUND";

/// The child's side: records until killed, printing `ack ROUND I` after each commit.
#[test]
#[ignore = "run by a_killed_writer_loses_no_acknowledged_record as its child process"]
fn child_records_until_killed() {
    let (Ok(path), Ok(round)) = (std::env::var(CHILD_PATH), std::env::var(CHILD_ROUND)) else {
        return;
    };
    let ledger = Ledger::open_sqlite(path).unwrap();
    let estimator = CostEstimator::new();
    let mut stdout = std::io::stdout().lock();
    for i in 0_u64.. {
        let record = UsageRecord::builder("gpt-4o")
            .prompt_tokens(1_000 + i)
            .completion_tokens(7)
            .request_id(&format!("{round}-{i}"))
            .build()
            .unwrap();
        ledger
            .record(&record, &estimator.estimate_record(&record))
            .unwrap();
        writeln!(stdout, "ack {round} {i}").unwrap();
        stdout.flush().unwrap();
    }
}

/// The request id a child's `ack ROUND I` line acknowledges. The test harness may print its
/// own `test ... ` prefix on the same line, so the acknowledgement is found, not stripped.
fn acknowledgement(line: &str) -> Option<String> {
    let at = line.find("ack ")?;
    Some(line[at + 4..].replace(' ', "-"))
}

/// A number in `range` that differs from run to run (the kill point).
fn somewhere_in(range: std::ops::Range<u64>) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| u64::from(since.subsec_nanos()));
    range.start + nanos % (range.end - range.start)
}

#[test]
fn a_killed_writer_loses_no_acknowledged_record() {
    let path = std::env::temp_dir().join(format!("mamba-ledger-kill-{}.db", std::process::id()));
    let remove = || {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    };
    remove();
    let mut acknowledged = BTreeSet::new();
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_records_until_killed",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_PATH, &path)
            .env(CHILD_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let kill_after = somewhere_in(20..400);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = 0;
        while seen < kill_after {
            let line = lines.next().expect("the child stopped early").unwrap();
            if let Some(ack) = acknowledgement(&line) {
                acknowledged.insert(ack);
                seen += 1;
            }
        }
        // SIGKILL, mid-write most likely: the child is recording as fast as it can.
        child.kill().unwrap();
        child.wait().unwrap();
        // Acknowledgements already in the pipe are acknowledged records too.
        for line in lines.map_while(Result::ok) {
            if let Some(ack) = acknowledgement(&line) {
                acknowledged.insert(ack);
            }
        }

        let ledger = Ledger::open_sqlite(&path).unwrap();
        ledger.check_integrity().unwrap();
        let stored: BTreeSet<String> = ledger
            .records(TimeRange::ALL)
            .unwrap()
            .into_iter()
            .map(|(_, record)| record.request_id().unwrap().to_owned())
            .collect();
        let missing: Vec<&String> = acknowledged.difference(&stored).collect();
        assert!(missing.is_empty(), "round {round}: lost {missing:?}");
        // Each kill may leave the record it interrupted committed but unacknowledged.
        let unacknowledged: Vec<&String> = stored.difference(&acknowledged).collect();
        assert!(
            unacknowledged.len() <= round + 1,
            "round {round}: {} stored, {} acknowledged; never acknowledged: {unacknowledged:?}",
            stored.len(),
            acknowledged.len()
        );
        let totals = ledger.totals(TimeRange::ALL).unwrap();
        assert_eq!(totals.usage.request_count, stored.len() as u64);
    }
    remove();
}
