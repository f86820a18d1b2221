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
            let alone = self.rest[..after - 1]
                .chars()
                .next_back()
                .is_some_and(|c| !c.is_whitespace());
            if alone && bytes.get(after).is_some_and(u8::is_ascii_alphabetic) {
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
    }
}
