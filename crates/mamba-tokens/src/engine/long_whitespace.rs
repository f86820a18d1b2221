//! Exact counts with tiktoken-rs for text holding huge whitespace runs, which make it panic.
//!
//! Why this exists: tiktoken's pre-tokenizer regexes contain `\s+(?!\S)`. fancy-regex runs that
//! alternative on its backtracking VM, which keeps one stack entry per character and fails with
//! `StackOverflow` past 1,000,000 entries; tiktoken-rs unwraps that error. So about a million
//! whitespace characters followed by anything (or, for o200k, at the end of the text) panic.
//! Measured with tiktoken-rs 0.12: 999,998 characters is the longest run that passes, on every
//! encoding. Python tiktoken fails the same way.
//!
//! How: a whitespace run becomes at most one `\s+(?!\S)` piece, and its bounds follow from the
//! regex alone (see [`backtracking_piece`]). We cut the text at that piece: the text before it is
//! counted by tiktoken-rs as usual (the piece starts on a piece boundary, and no piece before a
//! boundary looks past it), the piece itself is byte-pair merged here with the whitespace tokens
//! of the vocabulary ([`merged_token_count`]), and counting resumes after it. BPE never merges across
//! pieces, so the sum is exactly tiktoken's count. Runs shorter than [`LONG_RUN_BYTES`] never
//! take this path, and finding runs samples one byte in 32 KiB, so ordinary text pays nothing.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Range;
use std::sync::OnceLock;

use rustc_hash::FxHashMap;
use tiktoken_rs::{CoreBPE, Rank};

use crate::Encoding;

/// Whitespace runs of at least this many bytes are cut out and merged directly. Anything below
/// 999,998 bytes is safe (characters never outnumber bytes); lower values only cost more cuts.
const LONG_RUN_BYTES: usize = 1 << 16;

/// How an encoding's pre-tokenizer splits whitespace runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PatternFamily {
    /// o200k_base and o200k_harmony: `\s*[\r\n]+`, then `\s+(?!\S)`, no end-of-text rule.
    O200k,
    /// cl100k_base: `\s++$`, then `\s*[\r\n]`, then `\s+(?!\S)`.
    Cl100k,
    /// p50k_base, p50k_edit and r50k_base: `\s++$`, then `\s+(?!\S)`; newlines are plain whitespace.
    Gpt2,
}

impl PatternFamily {
    fn of(encoding: Encoding) -> PatternFamily {
        match encoding {
            Encoding::O200kBase | Encoding::O200kHarmony => PatternFamily::O200k,
            Encoding::Cl100kBase => PatternFamily::Cl100k,
            Encoding::P50kBase | Encoding::P50kEdit | Encoding::R50kBase => PatternFamily::Gpt2,
        }
    }
}

/// Counts `text` exactly as `encode_ordinary(text).len()` would, without its panic.
pub(super) fn count(encoding: Encoding, text: &str) -> usize {
    count_cutting_runs_of(encoding, text, LONG_RUN_BYTES)
}

/// [`count`] with the run length that triggers a cut as a parameter, so tests can exercise the
/// cutting on small inputs and compare it with plain tiktoken-rs.
fn count_cutting_runs_of(encoding: Encoding, text: &str, min_run: usize) -> usize {
    let bpe = super::tiktoken(encoding);
    let family = PatternFamily::of(encoding);
    let mut total = 0;
    let mut counted_to = 0;
    let mut search_from = 0;
    while let Some(run) = find_whitespace_run(text, search_from, min_run) {
        search_from = run.end;
        if let Some(piece) = backtracking_piece(family, text, run) {
            total += bpe.encode_ordinary(&text[counted_to..piece.start]).len();
            let ranks = whitespace_ranks(encoding, bpe);
            total += merged_token_count(text[piece.clone()].as_bytes(), ranks);
            counted_to = piece.end;
        }
    }
    total + bpe.encode_ordinary(&text[counted_to..]).len()
}

/// The bounds of the piece that `\s+(?!\S)` makes of the maximal whitespace run `run`, if the
/// regex reaches that alternative for it.
///
/// Earlier alternatives take what they can first: o200k and cl100k end a piece after the run's
/// last `\r` or `\n` (`\s*[\r\n]+`, `\s*[\r\n]`), cl100k and the GPT-2 family take a run that ends
/// the text whole with the possessive `\s++$` (no backtracking, no overflow). `\s+(?!\S)` then
/// leaves the run's last character to the next piece unless the text ends there.
fn backtracking_piece(
    family: PatternFamily,
    text: &str,
    run: Range<usize>,
) -> Option<Range<usize>> {
    let at_end = run.end == text.len();
    let after_last_newline = text[run.clone()]
        .rfind(['\r', '\n'])
        .map(|offset| run.start + offset + 1);
    let start = match family {
        PatternFamily::O200k => after_last_newline.unwrap_or(run.start),
        PatternFamily::Cl100k if !at_end => after_last_newline.unwrap_or(run.start),
        PatternFamily::Gpt2 if !at_end => run.start,
        PatternFamily::Cl100k | PatternFamily::Gpt2 => return None,
    };
    let end = if at_end {
        run.end
    } else {
        let last_char = text[..run.end].chars().next_back()?;
        run.end - last_char.len_utf8()
    };
    (start < end).then_some(start..end)
}

/// The first maximal run of whitespace characters at or after `from` that is at least `min_run`
/// bytes long. `from` must be 0 or follow a non-whitespace character.
///
/// Such a run covers at least two consecutive multiples of `min_run / 2` past `from`, so probing
/// one byte every `min_run / 2` finds it; only probes that land on whitespace look further.
fn find_whitespace_run(text: &str, from: usize, min_run: usize) -> Option<Range<usize>> {
    let step = (min_run / 2).max(1);
    let mut probe = from + step - 1;
    while probe < text.len() {
        let start = char_start(text, probe);
        if text[start..]
            .chars()
            .next()
            .is_some_and(char::is_whitespace)
        {
            let run = whitespace_run_around(text, start);
            if run.len() >= min_run {
                return Some(run);
            }
        }
        probe += step;
    }
    None
}

/// The start of the UTF-8 character that contains byte `index`.
fn char_start(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// The maximal whitespace run containing the whitespace character that starts at `start`.
fn whitespace_run_around(text: &str, start: usize) -> Range<usize> {
    let before: usize = text[..start]
        .chars()
        .rev()
        .take_while(|c| c.is_whitespace())
        .map(char::len_utf8)
        .sum();
    let after: usize = text[start..]
        .chars()
        .take_while(|c| c.is_whitespace())
        .map(char::len_utf8)
        .sum();
    start - before..start + after
}

/// The number of tokens tiktoken's byte-pair merge makes of one regex piece.
///
/// tiktoken-rs keeps its O(n log n) merge private and exports only a quadratic one, too slow for
/// a megabyte-long piece, so this is the same algorithm: start from single bytes, repeatedly merge
/// the adjacent pair whose concatenation has the lowest rank (the leftmost on ties), until no
/// adjacent pair is in the vocabulary. A piece that is itself a token is one token, as in
/// tiktoken's `encode_ordinary`. `ranks` must hold every token made of bytes of `piece`.
fn merged_token_count(piece: &[u8], ranks: &FxHashMap<Vec<u8>, Rank>) -> usize {
    let len = piece.len();
    if len <= 1 || ranks.contains_key(piece) {
        return len.min(1);
    }
    let rank_of = |start: usize, end: usize| ranks.get(&piece[start..end]).copied();
    // Parts are linked by their start offsets; `next[i]` is where the part starting at `i` ends.
    let mut next: Vec<usize> = (1..=len).collect();
    let mut prev: Vec<usize> = (0..len).map(|i| i.saturating_sub(1)).collect();
    let mut alive = vec![true; len];
    // `pair_rank[i]` is the rank of merging the part at `i` with the next one; heap entries that
    // no longer match it are stale and skipped.
    let mut pair_rank: Vec<Rank> = (0..len)
        .map(|start| rank_of(start, (start + 2).min(len)).filter(|_| start + 2 <= len))
        .map(|rank| rank.unwrap_or(Rank::MAX))
        .collect();
    let mut heap: BinaryHeap<_> = (0..len)
        .filter(|&start| pair_rank[start] != Rank::MAX)
        .map(|start| Reverse((pair_rank[start], start)))
        .collect();
    let mut parts = len;
    while let Some(Reverse((rank, left))) = heap.pop() {
        if !alive[left] || pair_rank[left] != rank {
            continue;
        }
        let right = next[left];
        let end = next[right];
        alive[right] = false;
        next[left] = end;
        if end < len {
            prev[end] = left;
        }
        parts -= 1;
        pair_rank[left] = if end < len {
            rank_of(left, next[end]).unwrap_or(Rank::MAX)
        } else {
            Rank::MAX
        };
        if pair_rank[left] != Rank::MAX {
            heap.push(Reverse((pair_rank[left], left)));
        }
        if left > 0 {
            let before = prev[left];
            pair_rank[before] = rank_of(before, end).unwrap_or(Rank::MAX);
            if pair_rank[before] != Rank::MAX {
                heap.push(Reverse((pair_rank[before], before)));
            }
        }
    }
    parts
}

/// The vocabulary entries made only of bytes that occur in whitespace characters. A whitespace
/// piece contains no other bytes, so byte-pair merging it needs no other entries. Built from the
/// shared encoder the first time a long run shows up, then kept.
fn whitespace_ranks(encoding: Encoding, bpe: &CoreBPE) -> &'static FxHashMap<Vec<u8>, Rank> {
    static CACHE: [OnceLock<FxHashMap<Vec<u8>, Rank>>; Encoding::ALL.len()] =
        [const { OnceLock::new() }; Encoding::ALL.len()];
    let slot = Encoding::ALL
        .iter()
        .position(|&known| known == encoding)
        .unwrap_or_default();
    CACHE[slot].get_or_init(|| {
        let whitespace_bytes = whitespace_bytes();
        // Ordinary ranks are dense from 0 and below 2^18 in every encoding; special tokens, which
        // also decode here, are never whitespace and are filtered out.
        (0..1 << 18)
            .filter_map(|rank| Some((bpe.decode_bytes(&[rank]).ok()?, rank)))
            .filter(|(bytes, _)| bytes.iter().all(|&b| whitespace_bytes[usize::from(b)]))
            .collect()
    })
}

/// Which bytes occur in the UTF-8 encoding of some whitespace character (the regex `\s`, which is
/// Unicode's White_Space property, like [`char::is_whitespace`]).
fn whitespace_bytes() -> [bool; 256] {
    let mut bytes = [false; 256];
    let mut buffer = [0; 4];
    for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
        if c.is_whitespace() {
            for &b in c.encode_utf8(&mut buffer).as_bytes() {
                bytes[usize::from(b)] = true;
            }
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Characters that exercise every rule of every pattern near whitespace: each kind of
    /// whitespace (ASCII, newlines, multi-byte), letters of both cases, digits, punctuation that
    /// absorbs newlines (`.`, `/`), contractions and non-ASCII letters.
    const ALPHABET: &[&str] = &[
        " ", " ", " ", "\t", "\n", "\n", "\r", "\u{3000}", "\u{a0}", "\u{85}", "a", "Z", "s", "'",
        "1", ".", "/", "é", "中", "🚀",
    ];

    fn mixed_text() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(ALPHABET), 0..80)
            .prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Cutting at every whitespace run of two or more bytes must not change any count.
        #[test]
        fn cutting_runs_matches_tiktoken(text in mixed_text(), min_run in 1usize..6) {
            for encoding in Encoding::ALL {
                let expected = super::super::tiktoken(encoding).encode_ordinary(&text).len();
                prop_assert_eq!(count_cutting_runs_of(encoding, &text, min_run), expected, "{}", encoding);
            }
        }
    }

    #[test]
    fn backtracking_piece_follows_each_family() {
        let text = "a.\n\n  \n    b";
        let run = 2..text.len() - 1;
        assert_eq!(
            backtracking_piece(PatternFamily::O200k, text, run.clone()),
            Some(7..10)
        );
        assert_eq!(
            backtracking_piece(PatternFamily::Cl100k, text, run.clone()),
            Some(7..10)
        );
        assert_eq!(
            backtracking_piece(PatternFamily::Gpt2, text, run),
            Some(2..10)
        );
        let trailing = "a   ";
        assert_eq!(
            backtracking_piece(PatternFamily::O200k, trailing, 1..4),
            Some(1..4)
        );
        assert_eq!(
            backtracking_piece(PatternFamily::Cl100k, trailing, 1..4),
            None
        );
        assert_eq!(
            backtracking_piece(PatternFamily::Gpt2, trailing, 1..4),
            None
        );
    }

    #[test]
    fn finds_only_runs_long_enough() {
        let text = format!("a  b{}c", "\u{3000}".repeat(10));
        assert_eq!(find_whitespace_run(&text, 0, 4), Some(4..34));
        assert_eq!(find_whitespace_run(&text, 0, 31), None);
        assert_eq!(find_whitespace_run(&text, 0, 2), Some(1..3));
    }

    #[test]
    fn whitespace_bytes_cover_ascii_and_unicode_spaces() {
        let bytes = whitespace_bytes();
        assert!(bytes[usize::from(b' ')] && bytes[usize::from(b'\n')] && bytes[0xE3]);
        assert!(!bytes[usize::from(b'a')] && !bytes[0xE4]);
    }
}
