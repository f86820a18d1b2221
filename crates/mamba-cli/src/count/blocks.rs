//! Inputs read in blocks that end where `split_for_counting` may cut, so that counting starts
//! while the rest of an input is still being read, and each block's UTF-8 is checked by the
//! thread that counts it.
//!
//! Why: reading 100 MB into memory and checking its UTF-8 took about 125 ms on one thread,
//! before the first token was counted; on two cores that was a tenth of the run.

use std::io::Read;

use mamba_tokens::last_cut_for_counting;

/// How many bytes are read at a time. A block is what was read up to its last cut, so blocks
/// are about this long: shorter by less than the distance between two cuts, or longer where
/// cuts are rarer than this.
pub(super) const READ_BYTES: usize = 1 << 20;

/// Part of an input, from a cut (or its start) to a cut (or its end): its count adds up with
/// the others' to the input's, and it is UTF-8 exactly where the input is.
pub(super) struct Block {
    /// Where the block starts in its input, in bytes.
    pub(super) offset: usize,
    pub(super) bytes: Vec<u8>,
}

/// Reads `reader` to its end, handing each block to `emit` in order, and returns how many
/// bytes were read. A read error ends the reading; the blocks before it have been emitted.
pub(super) fn read_blocks(
    mut reader: impl Read,
    mut emit: impl FnMut(Block),
) -> std::io::Result<usize> {
    let mut pending: Vec<u8> = Vec::with_capacity(2 * READ_BYTES);
    let mut offset = 0;
    loop {
        let searched = pending.len();
        let read = (&mut reader)
            .take(READ_BYTES as u64)
            .read_to_end(&mut pending)?;
        if read == 0 {
            break;
        }
        // Whether a place is a cut depends only on the line break before it, the character
        // before that (at most four bytes) and the byte after it, so a line without cuts is
        // searched once however long it grows.
        let from = searched.saturating_sub(8);
        if let Some(cut) = last_cut_for_counting(&pending[from..]).map(|cut| from + cut) {
            let mut rest = Vec::with_capacity(2 * READ_BYTES);
            rest.extend_from_slice(&pending[cut..]);
            pending.truncate(cut);
            let bytes = std::mem::replace(&mut pending, rest);
            let length = bytes.len();
            emit(Block { offset, bytes });
            offset += length;
        }
    }
    let length = pending.len();
    if length > 0 {
        emit(Block {
            offset,
            bytes: pending,
        });
    }
    Ok(offset + length)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blocks of `bytes`, read through a reader that returns at most `chunk` bytes a call.
    fn blocks(bytes: &[u8], chunk: usize) -> (Vec<(usize, Vec<u8>)>, usize) {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(self.1).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut found = Vec::new();
        let total = read_blocks(Trickle(bytes, chunk), |block| {
            found.push((block.offset, block.bytes));
        })
        .expect("reading from memory does not fail");
        (found, total)
    }

    #[test]
    fn blocks_are_the_input_in_order_cut_only_where_split_for_counting_cuts() {
        let line = "Prose, code and café.\n";
        let text = line.repeat(READ_BYTES / line.len() * 3);
        for chunk in [7, 4096, READ_BYTES] {
            let (found, total) = blocks(text.as_bytes(), chunk);
            assert_eq!(total, text.len());
            assert!(
                found.len() >= 2,
                "{} blocks with reads of {chunk}",
                found.len()
            );
            let mut offset = 0;
            for (index, (at, bytes)) in found.iter().enumerate() {
                assert_eq!(*at, offset);
                // The read that reaches the end cuts before the last line, which comes alone.
                if index + 2 < found.len() {
                    assert!(bytes.len() > READ_BYTES - line.len(), "{}", bytes.len());
                }
                offset += bytes.len();
                // Each block but the last ends at a cut: a line break before a letter.
                if offset < text.len() {
                    assert_eq!(&text[offset - 1..=offset], "\nP");
                }
            }
            let joined: Vec<u8> = found.iter().flat_map(|(_, bytes)| bytes.clone()).collect();
            assert_eq!(joined, text.as_bytes());
        }
    }

    #[test]
    fn a_line_without_cuts_stays_one_block_and_empty_input_has_none() {
        let text = "x".repeat(3 * READ_BYTES + 5);
        let (found, total) = blocks(text.as_bytes(), READ_BYTES);
        assert_eq!((found.len(), total), (1, text.len()));
        assert_eq!(blocks(b"", 16), (Vec::new(), 0));
    }
}
