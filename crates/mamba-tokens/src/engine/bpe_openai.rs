//! Counting with bpe-openai's byte-pair encodings, pre-tokenized with scratch space per thread.
//!
//! Why this exists: `bpe_openai::Tokenizer::count` runs its pre-tokenizer regex through
//! `regex_automata::meta::Regex::find`, which borrows scratch space from a pool inside the regex.
//! The pool's fast path belongs to one thread; every other thread takes a lock per match, and
//! every match writes to a cache line all threads read. On two cores two counting threads were
//! only 1.55x as fast as one. Here each thread keeps its own [`Cache`] and searches with
//! [`Regex::search_with`], so counting threads share nothing they write.
//!
//! How: the pre-tokenizer patterns are tiktoken's, with `\s+(?!\S)` (a look-ahead the regex
//! engine lacks) rewritten as `\s+\s` whose last character is given back to the next piece, plus
//! `\s+$` for a run that ends the text. Each piece is then counted by bpe-openai's encoding
//! (`Tokenizer::bpe`), which merges within pieces exactly as tiktoken does, so the sum is
//! tiktoken's count (checked by `tests/parity.rs` and the property tests in `tests/split.rs`).

use std::cell::RefCell;
use std::sync::LazyLock;

use regex_automata::meta::{Cache, Regex};
use regex_automata::{Anchored, Input};

use crate::Encoding;

/// The alternatives of o200k_base's pre-tokenizer ahead of its whitespace rules.
const O200K_PIECES: &[&str] = &[
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"\p{N}{1,3}",
    r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"\s*[\r\n]+",
];

/// The alternatives of cl100k_base's pre-tokenizer ahead of its whitespace rules.
const CL100K_PIECES: &[&str] = &[
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)",
    r"[^\r\n\p{L}\p{N}]?\p{L}+",
    r"\p{N}{1,3}",
    r" ?[^\s\p{L}\p{N}]+[\r\n]*",
    r"\s*[\r\n]+",
];

/// A compiled pre-tokenizer: pattern 0 is everything but the look-ahead rule, pattern 1 is the
/// look-ahead rule whose last character is not part of the piece, pattern 2 is the last resort.
struct Pretokenizer {
    regex: Regex,
}

/// The pattern whose match ends with one character of look-ahead.
const LOOKAHEAD_PATTERN: usize = 1;

impl Pretokenizer {
    /// Compiles the pre-tokenizer whose leading alternatives are `pieces`. The patterns are
    /// constants, so this only fails if the regex engine changes what it accepts; callers then
    /// fall back to bpe-openai's own pre-tokenizer.
    fn new(pieces: &[&str]) -> Option<Pretokenizer> {
        let mut leading = pieces.join("|");
        leading.push_str(r"|\s+$");
        let regex = Regex::new_many(&[leading.as_str(), r"\s+\s", r"\s+"]).ok()?;
        Some(Pretokenizer { regex })
    }

    /// The summed counts of the pieces of `text`, each counted by `count_piece`.
    fn count(&self, cache: &mut Cache, text: &str, count_piece: impl Fn(&str) -> usize) -> usize {
        let mut total = 0;
        let mut start = 0;
        while start < text.len() {
            let rest = &text[start..];
            let input = Input::new(rest).anchored(Anchored::Yes);
            let Some(found) = self.regex.search_with(cache, &input) else {
                // Every character matches some alternative, so this is unreachable; if it were
                // not, the rest counted as one piece keeps its tokens in the total (bpe-openai's
                // own pre-tokenizer would drop them).
                return total + count_piece(rest);
            };
            let mut end = found.end();
            if found.pattern().as_usize() == LOOKAHEAD_PATTERN {
                let lookahead = rest[..end].chars().next_back().map_or(0, char::len_utf8);
                // `\s+\s` spans at least two characters, so giving one back leaves a piece.
                if end > lookahead {
                    end -= lookahead;
                }
            }
            if end == 0 {
                // No alternative matches the empty string; this only guards the loop.
                return total + count_piece(rest);
            }
            total += count_piece(&rest[..end]);
            start += end;
        }
        total
    }
}

static O200K: LazyLock<Option<Pretokenizer>> = LazyLock::new(|| Pretokenizer::new(O200K_PIECES));
static CL100K: LazyLock<Option<Pretokenizer>> = LazyLock::new(|| Pretokenizer::new(CL100K_PIECES));

thread_local! {
    /// This thread's scratch space for the o200k and cl100k pre-tokenizers.
    static CACHES: RefCell<[Option<Cache>; 2]> = const { RefCell::new([None, None]) };
}

/// Whether bpe-openai counts `encoding`, answered without loading its tables (about 50 ms), so
/// that choosing an engine costs nothing until the first count.
pub(super) fn supports(encoding: Encoding) -> bool {
    match encoding {
        Encoding::O200kBase | Encoding::O200kHarmony | Encoding::Cl100kBase => true,
        Encoding::P50kBase | Encoding::P50kEdit | Encoding::R50kBase => false,
    }
}

/// The bpe-openai tokenizer for an encoding, if that crate supports it; its tables are loaded on
/// first use. o200k_harmony differs from o200k_base only in special tokens, which ordinary-text
/// counting never produces.
pub(super) fn tokenizer(encoding: Encoding) -> Option<&'static bpe_openai::Tokenizer> {
    match encoding {
        Encoding::O200kBase | Encoding::O200kHarmony => Some(bpe_openai::o200k_base()),
        Encoding::Cl100kBase => Some(bpe_openai::cl100k_base()),
        Encoding::P50kBase | Encoding::P50kEdit | Encoding::R50kBase => None,
    }
}

/// Counts `text` as ordinary text with `tokenizer`'s encoding, `None` if bpe-openai does not
/// support `encoding`.
pub(super) fn count(encoding: Encoding, text: &str) -> Option<usize> {
    let tokenizer = tokenizer(encoding)?;
    let (pretokenizer, slot) = match encoding {
        Encoding::O200kBase | Encoding::O200kHarmony => (&*O200K, 0),
        Encoding::Cl100kBase => (&*CL100K, 1),
        Encoding::P50kBase | Encoding::P50kEdit | Encoding::R50kBase => return None,
    };
    let Some(pretokenizer) = pretokenizer else {
        return Some(tokenizer.count(text));
    };
    let count_piece = |piece: &str| tokenizer.bpe.count(piece.as_bytes());
    let counted = CACHES.try_with(|caches| {
        // A count never calls back into counting, so the borrow is free; if it were not, a fresh
        // cache gives the same answer.
        let Ok(mut caches) = caches.try_borrow_mut() else {
            return pretokenizer.count(&mut pretokenizer.regex.create_cache(), text, count_piece);
        };
        let cache = caches[slot].get_or_insert_with(|| pretokenizer.regex.create_cache());
        pretokenizer.count(cache, text, count_piece)
    });
    // While this thread is being torn down its cache is gone; count with a fresh one.
    Some(counted.unwrap_or_else(|_| {
        pretokenizer.count(&mut pretokenizer.regex.create_cache(), text, count_piece)
    }))
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use proptest::prelude::*;

    use super::*;

    /// The pieces this module cuts `text` into for `encoding`.
    fn our_pieces(encoding: Encoding, text: &str) -> Vec<String> {
        let pretokenizer = match encoding {
            Encoding::Cl100kBase => CL100K.as_ref(),
            _ => O200K.as_ref(),
        }
        .expect("the patterns compile");
        let pieces = RefCell::new(Vec::new());
        let mut cache = pretokenizer.regex.create_cache();
        pretokenizer.count(&mut cache, text, |piece| {
            pieces.borrow_mut().push(piece.to_owned());
            1
        });
        pieces.into_inner()
    }

    /// The pieces bpe-openai's own pre-tokenizer cuts `text` into.
    fn their_pieces(encoding: Encoding, text: &str) -> Vec<String> {
        let tokenizer = tokenizer(encoding).expect("a bpe-openai encoding");
        tokenizer.split(text).map(str::to_owned).collect()
    }

    const TRICKY: &[&str] = &[
        "",
        " ",
        "\n",
        "  \n\n  x",
        "Hello, world!  ",
        "a  b   c\t\td",
        "don't  I'LL We'Re",
        "1234567 89\r\n\r\n",
        "東京の天気 naïve café  ",
        "x \u{3000}\u{3000}y",
        "path/to/file\n/next",
        "  \t\n",
        "ab\u{0301}\u{0301} CamelCaseWord",
    ];

    #[test]
    fn pieces_equal_bpe_openai_pieces_on_tricky_text() {
        for encoding in [Encoding::O200kBase, Encoding::Cl100kBase] {
            for text in TRICKY {
                assert_eq!(
                    our_pieces(encoding, text),
                    their_pieces(encoding, text),
                    "{encoding} on {text:?}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn pieces_equal_bpe_openai_pieces(text in "[ \\t\\r\\na-zA-Z0-9'/.,!é東\u{3000}\u{0301}]{0,40}") {
            for encoding in [Encoding::O200kBase, Encoding::Cl100kBase] {
                prop_assert_eq!(our_pieces(encoding, &text), their_pieces(encoding, &text));
            }
        }
    }

    #[test]
    fn supported_encodings_are_the_ones_with_a_tokenizer() {
        for encoding in Encoding::ALL {
            assert_eq!(
                supports(encoding),
                tokenizer(encoding).is_some(),
                "{encoding}"
            );
        }
    }

    #[test]
    fn counts_equal_bpe_openai_counts_across_threads() {
        let text = "Prix: 12,50 € — naïve café.\n    indented\r\n".repeat(200);
        let expected = tokenizer(Encoding::O200kBase)
            .expect("a bpe-openai encoding")
            .count(text.as_str());
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| count(Encoding::O200kBase, &text)))
                .collect();
            for worker in workers {
                assert_eq!(worker.join().expect("no panic"), Some(expected));
            }
        });
    }
}
