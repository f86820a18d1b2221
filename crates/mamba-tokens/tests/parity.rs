//! Every engine must count exactly what OpenAI's Python tiktoken counts.
//!
//! The fixture is written by `scripts/make_parity_fixture.py` from Python tiktoken; see there.

use mamba_tokens::{CountingEngine, Encoding, TokenCounter};
use serde_json::Value;

fn fixture() -> Vec<(String, Vec<(Encoding, u64)>)> {
    let raw = include_str!("fixtures/parity.json");
    let fixture: Value = serde_json::from_str(raw).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 40, "the fixture lost cases: {}", cases.len());
    cases
        .iter()
        .map(|case| {
            let text = case["text"].as_str().unwrap().to_owned();
            let counts = case["counts"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(name, count)| (name.parse().unwrap(), count.as_u64().unwrap()))
                .collect();
            (text, counts)
        })
        .collect()
}

fn engines() -> Vec<CountingEngine> {
    vec![
        CountingEngine::TiktokenRs,
        #[cfg(feature = "bpe-openai")]
        CountingEngine::BpeOpenai,
    ]
}

#[test]
fn every_engine_matches_python_tiktoken() {
    let mut checked = 0;
    for (text, counts) in fixture() {
        for &(encoding, expected) in &counts {
            for engine in engines() {
                let counter = TokenCounter::from_encoding(encoding).with_engine(engine);
                assert_eq!(
                    counter.count(&text),
                    expected,
                    "{encoding} with {engine:?} on {:?}",
                    text.chars().take(60).collect::<String>()
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 44 * 4 * engines().len());
}

/// o200k_harmony and p50k_edit share their ordinary vocabulary and regex with o200k_base and
/// p50k_base; only special tokens differ, and ordinary counting never produces those.
#[test]
fn sibling_encodings_count_ordinary_text_alike() {
    for (text, counts) in fixture() {
        let count_of = |wanted| counts.iter().find(|(e, _)| *e == wanted).unwrap().1;
        for engine in engines() {
            let harmony = TokenCounter::from_encoding(Encoding::O200kHarmony).with_engine(engine);
            assert_eq!(harmony.count(&text), count_of(Encoding::O200kBase));
            let edit = TokenCounter::from_encoding(Encoding::P50kEdit).with_engine(engine);
            assert_eq!(edit.count(&text), count_of(Encoding::P50kBase));
        }
    }
}
