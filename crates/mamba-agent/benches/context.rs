//! Counting a 1,000-turn conversation turn by turn: `ContextManager`, which counts each
//! message once when it is added, against recounting the whole conversation with
//! `count_messages` after every turn, as the Python library does. Both give the same counts
//! (asserted before measuring); the manager's work per turn is O(new messages).

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mamba_agent::ChatMessage;
use mamba_agent::context::{CompactionConfig, ContextManager};
use mamba_agent::tokens::TokenCounter;

const TURNS: usize = 1_000;

/// One turn: a question and an answer of ordinary length.
fn turn(number: usize) -> [ChatMessage; 2] {
    [
        ChatMessage::user(format!(
            "Question {number}: what changed in the release notes of version {number}, and \
             does it affect the billing of cached prompt tokens?"
        )),
        ChatMessage::assistant(format!(
            "Version {number} changed the retry policy and the ledger's batch size; cached \
             prompt tokens are billed as before, at the cached input price of the model."
        )),
    ]
}

fn incremental(counter: &TokenCounter) -> Vec<u64> {
    let mut context = ContextManager::new(CompactionConfig::default(), counter.clone());
    context.add_messages([ChatMessage::system("You answer questions about releases.")]);
    (0..TURNS)
        .map(|number| {
            context.add_messages(turn(number));
            context.token_count()
        })
        .collect()
}

fn recounting(counter: &TokenCounter) -> Vec<u64> {
    let mut messages = vec![ChatMessage::system("You answer questions about releases.")];
    (0..TURNS)
        .map(|number| {
            messages.extend(turn(number));
            counter.count_messages(&messages)
        })
        .collect()
}

fn conversation(c: &mut Criterion) {
    let counter = TokenCounter::for_model("gpt-4o");
    assert_eq!(incremental(&counter), recounting(&counter));
    let mut group = c.benchmark_group("context_1000_turns");
    group.sample_size(10);
    group.bench_function("incremental", |b| {
        b.iter_batched(
            || counter.clone(),
            |c| incremental(&c),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("recount_each_turn", |b| {
        b.iter_batched(
            || counter.clone(),
            |c| recounting(&c),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, conversation);
criterion_main!(benches);
