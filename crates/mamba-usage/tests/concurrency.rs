//! Many threads recording into clones of one tracker while others read: no record is lost and
//! every snapshot a reader takes is consistent (its totals equal the sum of its records).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use mamba_usage::{TokenUsage, TrackerConfig, UsageRecord, UsageTracker};

const WRITERS: u64 = 8;
const RECORDS_PER_WRITER: u64 = 100_000;

fn run(tracker: &UsageTracker) -> u64 {
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let tracker = tracker.clone();
            let done = Arc::clone(&done);
            thread::spawn(move || {
                let mut checks = 0u64;
                while !done.load(Ordering::Acquire) {
                    let history = tracker.history();
                    let summary = history.summary();
                    // The sum of what history holds plus what retention dropped is the total.
                    assert_eq!(summary.retained_records, history.len() as u64);
                    assert_eq!(
                        summary.totals.request_count,
                        summary.retained_records + summary.dropped_records
                    );
                    if summary.dropped_records == 0 {
                        assert_eq!(history.usage(), summary.totals);
                    }
                    let by_model: TokenUsage = tracker.by_model().values().sum();
                    assert!(by_model.request_count >= summary.totals.request_count);
                    checks += 1;
                }
                checks
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let tracker = tracker.clone();
            thread::spawn(move || {
                let model = format!("model-{}", writer % 3);
                for i in 0..RECORDS_PER_WRITER {
                    if i % 10 == 0 {
                        let record = UsageRecord::builder(&model)
                            .prompt_tokens(10)
                            .cached_tokens(4)
                            .completion_tokens(writer + 1)
                            .tool_name("search")
                            .build()
                            .unwrap();
                        tracker.record(&record);
                    } else {
                        tracker.record_usage(10, writer + 1, &model);
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    done.store(true, Ordering::Release);
    readers
        .into_iter()
        .map(|reader| reader.join().unwrap())
        .sum()
}

#[test]
fn no_record_is_lost_and_every_read_is_consistent() {
    let tracker = UsageTracker::new();
    let checks = run(&tracker);
    assert!(checks > 0);
    let total = WRITERS * RECORDS_PER_WRITER;
    let summary = tracker.summary();
    assert_eq!(summary.totals.request_count, total);
    assert_eq!(summary.totals.prompt_tokens, 10 * total);
    // Writer w adds w + 1 completion tokens per record: 100k * (1 + 2 + ... + 8).
    assert_eq!(
        summary.totals.completion_tokens,
        RECORDS_PER_WRITER * (1..=WRITERS).sum::<u64>()
    );
    assert_eq!(summary.totals.cached_tokens, 4 * total / 10);
    let history = tracker.history();
    assert_eq!(history.len() as u64, total);
    assert_eq!(history.usage(), summary.totals);
    assert_eq!(
        tracker.by_tool()[&Some("search".into())].request_count,
        total / 10
    );
    assert_eq!(tracker.by_model().len(), 3);
}

#[test]
fn retention_under_concurrency_counts_every_record() {
    let tracker =
        UsageTracker::with_config(TrackerConfig::default().with_max_history_records(10_000));
    run(&tracker);
    let summary = tracker.summary();
    assert_eq!(summary.totals.request_count, WRITERS * RECORDS_PER_WRITER);
    assert_eq!(
        (summary.retained_records, summary.dropped_records),
        (10_000, WRITERS * RECORDS_PER_WRITER - 10_000)
    );
    assert_eq!(tracker.history().len(), 10_000);
}

/// A history's iterator is `Send + Sync`, so a task can hold it across an `.await`; here it is
/// moved to another thread and read there.
#[test]
fn a_history_iterator_moves_to_another_thread() {
    fn is_send_and_sync<T: Send + Sync>(value: T) -> T {
        value
    }
    let tracker = UsageTracker::new();
    tracker.record_usage(1, 2, "gpt-4o");
    tracker.record_usage(10, 20, "gpt-4o-mini");
    let history = tracker.history();
    let records = is_send_and_sync(history.iter());
    let totals = std::thread::scope(|scope| {
        scope
            .spawn(move || records.map(|r| r.total_tokens()).collect::<Vec<_>>())
            .join()
            .unwrap()
    });
    assert_eq!(totals, [3, 30]);
}
