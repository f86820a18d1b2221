//! The sink contract as a caller sees it: a queued sink never blocks the recorder, counts what
//! it could not deliver, delivers in order, and hands over everything queued when dropped.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

use mamba_usage::{QueuedSink, SinkError, UsageRecord, UsageSink, UsageTracker};

/// A sink that waits for a go-ahead before each record, and keeps what it got.
struct Gated {
    go: Mutex<mpsc::Receiver<()>>,
    got: Arc<Mutex<Vec<(u64, u32)>>>,
}

impl UsageSink<u32> for Gated {
    fn record(&self, record: &UsageRecord, cost: &u32) -> Result<(), SinkError> {
        self.go
            .lock()
            .map_err(|_| SinkError::new("gated", "poisoned"))?
            .recv()
            .map_err(|_| SinkError::new("gated", "no more go-aheads"))?;
        self.got
            .lock()
            .map_err(|_| SinkError::new("gated", "poisoned"))?
            .push((record.prompt_tokens(), *cost));
        Ok(())
    }
}

fn record(prompt: u64) -> UsageRecord {
    UsageRecord::new(prompt, 1, "gpt-4o")
}

#[test]
fn a_full_queue_drops_for_its_sink_without_blocking_and_says_how_many() {
    let (go, gate) = mpsc::channel();
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = Gated {
        go: Mutex::new(gate),
        got: Arc::clone(&got),
    };
    let queued = QueuedSink::new(sink, 2).unwrap();
    // The worker takes the first record and waits at the gate; two more fill the queue; the
    // rest are dropped. None of these calls waits for the gate.
    for prompt in 1..=10 {
        queued
            .record(&record(prompt), &(prompt as u32 * 10))
            .unwrap();
    }
    let dropped = queued.stats().dropped;
    assert!(
        (7..=8).contains(&dropped),
        "the worker holds at most one record besides the two queued: {dropped} dropped"
    );
    for _ in 0..10 {
        go.send(()).unwrap();
    }
    queued.flush().unwrap();
    let stats = queued.stats();
    assert_eq!(stats.delivered + stats.dropped, 10);
    assert_eq!(stats.failed, 0);
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len() as u64, stats.delivered);
    assert_eq!(
        got[0],
        (1, 10),
        "the first record is always delivered, with its cost"
    );
    assert!(
        got.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "in order: {got:?}"
    );
}

#[test]
fn dropping_the_queue_delivers_what_was_queued() {
    let tracker = UsageTracker::new();
    {
        let queued = QueuedSink::new(tracker.clone(), 100_000).unwrap();
        for prompt in 1..=1_000 {
            queued.record(&record(prompt), &()).unwrap();
        }
    }
    let totals = tracker.summary().totals;
    assert_eq!(totals.request_count, 1_000);
    assert_eq!(totals.prompt_tokens, 500_500);
}

#[test]
fn records_from_many_threads_are_each_delivered_or_counted_dropped_once() {
    let tracker = UsageTracker::new();
    let queued = Arc::new(QueuedSink::new(tracker.clone(), 64).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let queued = Arc::clone(&queued);
            thread::spawn(move || {
                for _ in 0..2_000 {
                    queued.record(&record(3), &()).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    queued.flush().unwrap();
    let stats = queued.stats();
    assert_eq!(stats.delivered + stats.dropped, 16_000);
    assert_eq!(tracker.summary().totals.request_count, stats.delivered);
    assert_eq!(tracker.summary().totals.prompt_tokens, 3 * stats.delivered);
}

#[test]
fn errors_of_the_inner_sink_are_counted_and_handed_to_the_handler_not_the_caller() {
    struct FailsOdd;
    impl UsageSink for FailsOdd {
        fn record(&self, record: &UsageRecord, (): &()) -> Result<(), SinkError> {
            if record.prompt_tokens() % 2 == 1 {
                return Err(SinkError::new(
                    "odd",
                    format!("refused {}", record.prompt_tokens()),
                ));
            }
            Ok(())
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let queued = QueuedSink::with_error_handler(
        FailsOdd,
        16,
        Box::new(move |error| log.lock().unwrap().push(error.to_string())),
    )
    .unwrap();
    for prompt in 1..=4 {
        queued.record(&record(prompt), &()).unwrap();
    }
    queued.flush().unwrap();
    assert_eq!((queued.stats().delivered, queued.stats().failed), (2, 2));
    assert_eq!(
        *seen.lock().unwrap(),
        ["usage sink `odd`: refused 1", "usage sink `odd`: refused 3"]
    );
}

#[test]
fn a_flush_reports_the_inner_sinks_flush_error() {
    struct Unflushable;
    impl UsageSink for Unflushable {
        fn record(&self, _: &UsageRecord, (): &()) -> Result<(), SinkError> {
            Ok(())
        }
        fn flush(&self) -> Result<(), SinkError> {
            Err(SinkError::new("spill.jsonl", "fsync failed"))
        }
    }
    let queued = QueuedSink::new(Unflushable, 4).unwrap();
    let error = queued.flush().unwrap_err();
    assert_eq!(error.to_string(), "usage sink `spill.jsonl`: fsync failed");
}
