//! Counters are cheap to clone, `Send + Sync`, and share one encoder per encoding across threads.

use std::sync::Arc;
use std::thread;

use mamba_tokens::{Encoding, TokenCounter};

fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

#[test]
fn counter_is_send_sync_and_clone() {
    assert_send_sync_clone::<TokenCounter>();
}

#[test]
fn threads_count_the_same_as_one() {
    let texts: Arc<Vec<String>> = Arc::new(
        (0..64)
            .map(|i| format!("Request {i}: {} 東京 🚀\n", "token ".repeat(i)))
            .collect(),
    );
    for encoding in [Encoding::O200kBase, Encoding::Cl100kBase] {
        let counter = TokenCounter::from_encoding(encoding);
        let expected: Vec<u64> = texts.iter().map(|t| counter.count(t)).collect();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let counter = counter.clone();
                let texts = Arc::clone(&texts);
                thread::spawn(move || texts.iter().map(|t| counter.count(t)).collect::<Vec<u64>>())
            })
            .collect();
        for handle in handles {
            assert_eq!(handle.join().unwrap(), expected, "{encoding}");
        }
    }
}
