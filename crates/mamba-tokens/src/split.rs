//! [`split_for_counting`]: a long text cut into pieces whose token counts add up to the text's,
//! so the pieces can be counted on many threads with the same total.

/// Splits `text` into consecutive pieces of at least `target_len` bytes (the last may be
/// shorter), cut only where every encoding's pre-tokenizer cuts anyway, so the counts of the
/// pieces, with any [`TokenCounter`](crate::TokenCounter), add up to the count of `text`.
///
/// A cut is made right after a `\n` that follows a character other than whitespace and that an
/// ASCII letter follows. No pre-token of tiktoken's patterns (o200k, cl100k, p50k, r50k) holds
/// a line break followed by a letter: the optional prefix of a word excludes line breaks, and
/// whitespace and punctuation runs end before a letter. The line break must stand alone: at
/// the end of a piece, p50k's and r50k's `\s+(?!\S)` would take a longer whitespace run
/// (`"\r\n"`, `"\n\n"`) as one pre-token where the whole text splits it in two. Text
/// without such a place (one long line) stays one piece: still exact, just not split.
///
/// ```
/// use mamba_tokens::{TokenCounter, split_for_counting};
///
/// let text = "First line.\nSecond line,\n  indented.\n\nThird.\n";
/// let pieces: Vec<&str> = split_for_counting(text, 8).collect();
/// assert_eq!(pieces, ["First line.\n", "Second line,\n  indented.\n\nThird.\n"]);
///
/// let counter = TokenCounter::for_model("gpt-4o");
/// let sum: u64 = pieces.iter().map(|piece| counter.count(piece)).sum();
/// assert_eq!(sum, counter.count(text));
/// ```
pub fn split_for_counting(text: &str, target_len: usize) -> SplitForCounting<'_> {
    SplitForCounting {
        rest: text,
        target_len: target_len.max(1),
    }
}

/// The pieces of [`split_for_counting`], in order; together they are the whole text.
///
/// ```
/// let pieces = mamba_tokens::split_for_counting("a\nb\nc", 1);
/// assert_eq!(pieces.collect::<String>(), "a\nb\nc");
/// ```
#[derive(Debug, Clone)]
pub struct SplitForCounting<'a> {
    rest: &'a str,
    target_len: usize,
}

impl<'a> Iterator for SplitForCounting<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let bytes = self.rest.as_bytes();
        // A cut needs a line break before it, so it is searched for from `target_len - 1`.
        let mut at = self.target_len - 1;
        let cut = loop {
            let Some(offset) = bytes
                .get(at..)
                .and_then(|tail| tail.iter().position(|&b| b == b'\n'))
            else {
                break bytes.len();
            };
            let after = at + offset + 1;
            if is_cut(bytes, after) {
                break after;
            }
            at = after;
        };
        // The cut is after an ASCII byte (`\n`), so it is a char boundary.
        let (piece, rest) = self.rest.split_at(cut);
        self.rest = rest;
        Some(piece)
    }
}

/// The last place in `bytes` where [`split_for_counting`] may cut, if there is one: the counts
/// of the text before it and of the text from it add up to the count of the whole, with any
/// [`TokenCounter`](crate::TokenCounter).
///
/// It works on bytes, so a reader can count text as it arrives: count what stands before the
/// last cut of what it has read, keep the rest, and read on. A cut follows a `\n` (an ASCII
/// byte), so when the bytes are UTF-8 the text on each side is UTF-8 on its own. A cut needs
/// the byte after it: bytes that end just after a line break have no cut there until more
/// arrive.
///
/// ```
/// use mamba_tokens::{TokenCounter, last_cut_for_counting};
///
/// let text = "First line.\nSecond line,\n  indented.\n";
/// assert_eq!(last_cut_for_counting(text.as_bytes()), Some(12));
/// assert_eq!(last_cut_for_counting(b"no line break here"), None);
///
/// let counter = TokenCounter::for_model("gpt-4o");
/// let (head, tail) = text.split_at(12);
/// assert_eq!(counter.count(head) + counter.count(tail), counter.count(text));
/// ```
pub fn last_cut_for_counting(bytes: &[u8]) -> Option<usize> {
    let mut end = bytes.len();
    loop {
        let newline = bytes[..end].iter().rposition(|&b| b == b'\n')?;
        if is_cut(bytes, newline + 1) {
            return Some(newline + 1);
        }
        end = newline;
    }
}

/// Whether `after`, just after a `\n` in `bytes`, is a cut: the character before the line break
/// is not whitespace and an ASCII letter follows it. Bytes that are not UTF-8 before the line
/// break make no cut.
fn is_cut(bytes: &[u8], after: usize) -> bool {
    let Some(newline) = after.checked_sub(1) else {
        return false;
    };
    if bytes.get(newline) != Some(&b'\n') || !bytes.get(after).is_some_and(u8::is_ascii_alphabetic)
    {
        return false;
    }
    // The character before the line break starts at most three continuation bytes earlier.
    let before = &bytes[..newline];
    let start = (before.len().saturating_sub(4)..before.len())
        .rev()
        .find(|&at| before[at] & 0b1100_0000 != 0b1000_0000);
    start
        .and_then(|start| std::str::from_utf8(&before[start..]).ok())
        .and_then(|previous| previous.chars().next_back())
        .is_some_and(|previous| !previous.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_fall_after_a_line_break_before_a_letter_only() {
        let pieces: Vec<&str> = split_for_counting("ab\n\ncd \nef\r\ngh\n1\nij\n", 1).collect();
        assert_eq!(pieces, ["ab\n\ncd \nef\r\ngh\n1\n", "ij\n"]);
        assert_eq!(split_for_counting("", 4).count(), 0);
        assert_eq!(
            split_for_counting("one long line", 0).collect::<Vec<_>>(),
            ["one long line"]
        );
        assert_eq!(
            split_for_counting("é\nx", 1).collect::<Vec<_>>(),
            ["é\n", "x"]
        );
        // Whitespace before the line break, ASCII (vertical tab) or not (ideographic space).
        assert_eq!(split_for_counting("a\u{b}\nx\u{3000}\ny", 1).count(), 1);
    }

    #[test]
    fn the_last_cut_is_the_last_place_split_for_counting_cuts() {
        let cases: &[(&[u8], Option<usize>)] = &[
            (b"", None),
            (b"\nx", None),
            (b"a\nx", Some(2)),
            (b"a\nx b\nyz\n", Some(6)),
            (b"a\nx b \ny", Some(2)),
            (b"a\nx\n", Some(2)),
            ("\u{e9}\nx".as_bytes(), Some(3)),
            ("\u{3000}\nx".as_bytes(), None),
            // Not UTF-8 before the line break.
            (b"\xe9\nx", None),
            (b"\x80\x80\x80\x80\nx", None),
        ];
        for (bytes, expected) in cases {
            assert_eq!(last_cut_for_counting(bytes), *expected, "{bytes:?}");
        }
    }
}
