//! Counting speed: raw tiktoken-rs beside each mamba-tokens engine, on the same inputs.
//!
//! Targets (issue #2): the default engine within 5% of raw tiktoken-rs; the `bpe-openai` engine at
//! least 2x the Python seed's 13.5 MB/s (o200k) and 10.8 MB/s (cl100k), and at most 0.1 s on
//! 1 MiB of pathological input. Run with `cargo xtask bench`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mamba_tokens::{ChatMessage, CountingEngine, Encoding, TokenCounter};

/// About 2 MB of mixed text: prose, code, numbers, CJK, accents, emoji and whitespace runs,
/// drawn from fixed fragments with a fixed-seed xorshift so every run measures the same bytes.
fn mixed_corpus() -> String {
    const FRAGMENTS: &[&str] = &[
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "lazy",
        "dog",
        "token",
        "counting",
        "is",
        "exact",
        "and",
        "fast",
        "production",
        "agents",
        "It's",
        "they'll",
        "Rust",
        "async",
        "fn",
        "let mut total = 0;",
        "impl<T> Trait for T {",
        "}",
        "println!(\"{x}\");",
        "    ",
        "\n",
        "\n\n",
        "\t",
        "价格",
        "模型的令牌",
        "東京",
        "日本語のテキスト",
        "🚀",
        "😀👍🏽",
        "émigré",
        "naïve",
        "Straße",
        "über",
        "1234",
        "3.14159",
        "2026-11-23",
        "$0.0001",
        "{\"role\": \"user\"}",
        "https://example.com/a?b=c",
        "<|endoftext|>",
    ];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut text = String::with_capacity(2_100_000);
    while text.len() < 2_000_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let index = usize::try_from(state % FRAGMENTS.len() as u64).unwrap_or(0);
        text.push_str(FRAGMENTS[index]);
        if !state.is_multiple_of(3) {
            text.push(' ');
        }
    }
    text
}

fn engines() -> Vec<(&'static str, CountingEngine)> {
    vec![
        ("mamba tiktoken-rs", CountingEngine::TiktokenRs),
        #[cfg(feature = "bpe-openai")]
        ("mamba bpe-openai", CountingEngine::BpeOpenai),
    ]
}

fn raw_tiktoken(encoding: Encoding) -> &'static tiktoken_rs::CoreBPE {
    match encoding {
        Encoding::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
        _ => tiktoken_rs::o200k_base_singleton(),
    }
}

fn mixed_text(c: &mut Criterion) {
    let corpus = mixed_corpus();
    for encoding in [Encoding::O200kBase, Encoding::Cl100kBase] {
        let mut group = c.benchmark_group(format!("{encoding}/mixed-2MB"));
        group.throughput(Throughput::Bytes(corpus.len() as u64));
        group
            .sample_size(20)
            .measurement_time(Duration::from_secs(8));
        let raw = raw_tiktoken(encoding);
        group.bench_function("raw tiktoken-rs", |b| {
            b.iter(|| raw.encode_ordinary(black_box(&corpus)).len())
        });
        for (name, engine) in engines() {
            let counter = TokenCounter::from_encoding(encoding).with_engine(engine);
            group.bench_function(name, |b| b.iter(|| counter.count(black_box(&corpus))));
        }
        group.finish();
    }
}

fn pathological(c: &mut Criterion) {
    let letters = "a".repeat(1 << 20);
    let spaces = format!("x{}y", " ".repeat(1 << 20));
    let mut group = c.benchmark_group("o200k_base/pathological-1MiB");
    group.throughput(Throughput::Bytes(1 << 20));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(6));
    let raw = raw_tiktoken(Encoding::O200kBase);
    group.bench_function("letters raw tiktoken-rs", |b| {
        b.iter(|| raw.encode_ordinary(black_box(&letters)).len())
    });
    // Raw tiktoken-rs panics on the spaces input, so only our engines are measured there.
    for (name, engine) in engines() {
        let counter = TokenCounter::from_encoding(Encoding::O200kBase).with_engine(engine);
        group.bench_function(format!("letters {name}"), |b| {
            b.iter(|| counter.count(black_box(&letters)))
        });
        group.bench_function(format!("spaces {name}"), |b| {
            b.iter(|| counter.count(black_box(&spaces)))
        });
    }
    group.finish();
}

fn chat_messages(c: &mut Criterion) {
    let counter = TokenCounter::for_model("gpt-4o");
    let messages = [
        ChatMessage::system("You are a helpful, pattern-following assistant."),
        ChatMessage::user("New synergies will help drive top-line growth.")
            .with_name("example_user"),
        ChatMessage::assistant("Things working well together will increase revenue."),
        ChatMessage::user("This late pivot means we don't have time to boil the ocean."),
    ];
    let mut group = c.benchmark_group("messages");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("count_messages (4 messages, gpt-4o)", |b| {
        b.iter(|| counter.count_messages(black_box(&messages)))
    });
    group.finish();
}

criterion_group!(benches, mixed_text, pathological, chat_messages);
criterion_main!(benches);
