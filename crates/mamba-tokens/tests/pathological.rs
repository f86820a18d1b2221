//! Inputs that break other counters: megabyte whitespace runs (tiktoken-rs and Python tiktoken
//! panic on them), megabyte single-letter runs, special-token strings. Counting must finish with
//! the exact count and never panic, with every engine.
//!
//! Reference counts for 1 MiB inputs were measured on this machine kind (see shared facts): the
//! ones tiktoken cannot produce come from the linear `bpe-openai` engine, which agrees with
//! tiktoken everywhere tiktoken finishes.

use mamba_tokens::{CountingEngine, Encoding, TokenCounter};

const MIB: usize = 1 << 20;

fn engines() -> Vec<CountingEngine> {
    vec![
        CountingEngine::TiktokenRs,
        #[cfg(feature = "bpe-openai")]
        CountingEngine::BpeOpenai,
    ]
}

fn count(encoding: Encoding, engine: CountingEngine, text: &str) -> u64 {
    TokenCounter::from_encoding(encoding)
        .with_engine(engine)
        .count(text)
}

#[test]
fn one_mebibyte_inputs_have_their_exact_counts() {
    let cases = [
        (" ".repeat(MIB), 8192, 8192),
        (" \t".repeat(MIB / 2), 524_287, 524_287),
        ("a".repeat(MIB), 131_072, 131_072),
        ("\n".repeat(MIB), 65_536, 32_768),
    ];
    for (text, o200k, cl100k) in &cases {
        for engine in engines() {
            let name = format!("{:?} x {}", &text[..2], text.len());
            assert_eq!(
                count(Encoding::O200kBase, engine, text),
                *o200k,
                "o200k {engine:?} {name}"
            );
            assert_eq!(
                count(Encoding::Cl100kBase, engine, text),
                *cl100k,
                "cl100k {engine:?} {name}"
            );
        }
    }
}

/// A run that ends before more text is split by `\s+(?!\S)` into the run minus its last
/// character plus that character joined to what follows. Where tiktoken-rs survives the shorter
/// pieces on their own (a run ending the text uses the possessive `\s++$` in cl100k and the GPT-2
/// family), the sum of those is an independent reference.
#[test]
fn runs_followed_by_text_split_like_the_regex() {
    for unit in [" ", "\t", "\n", "\u{3000}"] {
        let run = unit.repeat(MIB / unit.len());
        let text = format!("x{run}yz");
        for encoding in [Encoding::Cl100kBase, Encoding::P50kBase, Encoding::R50kBase] {
            let plain =
                TokenCounter::from_encoding(encoding).with_engine(CountingEngine::TiktokenRs);
            let body = &run[..run.len() - unit.len()];
            let expected = if encoding == Encoding::Cl100kBase && unit == "\n" {
                // cl100k ends a piece at the last newline (`\s*[\r\n]`): the whole run, then "yz".
                plain.count("x") + plain.count(&run) + plain.count("yz")
            } else {
                plain.count("x") + plain.count(body) + plain.count(&format!("{unit}yz"))
            };
            for engine in engines() {
                assert_eq!(
                    count(encoding, engine, &text),
                    expected,
                    "{encoding} {engine:?} {unit:?}"
                );
            }
        }
    }
}

/// o200k has no possessive end-of-text rule, so no tiktoken-rs call can serve as a reference for
/// a megabyte run here. The pieces are known, though: `x`, the run minus one character, and that
/// character joined to what follows (or alone before a digit). The run's count is from the
/// `bpe-openai` engine (1 MiB of spaces: 8192, as in the 1 MiB table above; of tabs: 65536).
#[test]
fn o200k_runs_before_text_count_exactly() {
    let cases = [
        (format!("x{}y", " ".repeat(MIB + 1)), 1 + 8192 + 1),
        (format!("{}1", "\t".repeat(MIB + 1)), 65_536 + 1 + 1),
    ];
    for (text, expected) in &cases {
        for engine in engines() {
            for encoding in [Encoding::O200kBase, Encoding::O200kHarmony] {
                assert_eq!(
                    count(encoding, engine, text),
                    *expected,
                    "{encoding} {engine:?}"
                );
            }
        }
    }
}

#[test]
fn special_token_strings_are_ordinary_text() {
    for encoding in Encoding::ALL {
        let counter = TokenCounter::from_encoding(encoding);
        let specials = "<|endoftext|><|fim_prefix|><|endofprompt|><|start|><|message|>";
        assert!(counter.count(specials) > 5, "{encoding}");
        assert_eq!(
            counter.count(&format!("a{specials}")),
            counter.count("a") + counter.count(specials),
            "{encoding}"
        );
    }
}

/// Shapes around the regex rules (mixed case, punctuation absorbing newlines, CRLF, Unicode
/// spaces), a megabyte each: no engine may panic, and where the `bpe-openai` engine is built in,
/// the guarded tiktoken-rs engine must agree with it exactly.
#[test]
fn megabyte_shapes_never_panic_and_engines_agree() {
    let shapes = [
        "aA".repeat(MIB / 2),
        ".\n".repeat(MIB / 2),
        " .".repeat(MIB / 2),
        "\r\n".repeat(MIB / 2) + "x",
        format!("{}\n{}'s", " ".repeat(MIB / 2), "\t".repeat(MIB / 2)),
        "\u{3000}".repeat(MIB / 3) + "a",
        "\u{a0}".repeat(MIB / 2) + "1",
    ];
    for text in &shapes {
        for encoding in Encoding::ALL {
            let counts: Vec<u64> = engines()
                .into_iter()
                .map(|engine| count(encoding, engine, text))
                .collect();
            assert!(counts[0] > 0, "{encoding}");
            assert!(
                counts.windows(2).all(|w| w[0] == w[1]),
                "{encoding}: {counts:?}"
            );
        }
    }
}
