//! `split_for_counting`: the pieces are the text, and their counts add up to the text's, for
//! every encoding and every engine, on text made of the characters where pre-tokenizers cut.

use mamba_tokens::{
    CountingEngine, Encoding, TokenCounter, last_cut_for_counting, split_for_counting,
};
use proptest::prelude::*;

fn engines() -> Vec<CountingEngine> {
    #[allow(unused_mut)]
    let mut engines = vec![CountingEngine::TiktokenRs];
    #[cfg(feature = "bpe-openai")]
    engines.push(CountingEngine::BpeOpenai);
    engines
}

/// Text from fragments that stress the cut: line breaks of both kinds, spaces before and after
/// them, contractions, digits, punctuation runs, capitals and non-ASCII letters.
fn text() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("\n"),
        Just("\r\n"),
        Just(" "),
        Just("  "),
        Just("\t"),
        Just("word"),
        Just("Word"),
        Just("'s"),
        Just("'LL"),
        Just("123"),
        Just("4567"),
        Just("!?"),
        Just("..."),
        Just("/"),
        Just("é"),
        Just("日本"),
        Just("<|endoftext|>"),
    ];
    prop::collection::vec(fragment, 0..60).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_pieces_counts_add_up_to_the_texts(text in text(), target in 1usize..24) {
        let pieces: Vec<&str> = split_for_counting(&text, target).collect();
        prop_assert_eq!(pieces.concat(), text.as_str());
        prop_assert!(pieces.iter().all(|piece| !piece.is_empty()));
        for encoding in Encoding::ALL {
            for engine in engines() {
                let counter = TokenCounter::from_encoding(encoding).with_engine(engine);
                let sum: u64 = pieces.iter().map(|piece| counter.count(piece)).sum();
                prop_assert_eq!(sum, counter.count(&text), "{} with {:?}", encoding, engine);
            }
        }
    }
}

#[test]
fn a_real_document_splits_into_many_pieces_with_the_same_total() {
    let document = include_str!("../README.md").repeat(20);
    let pieces: Vec<&str> = split_for_counting(&document, 1_024).collect();
    assert!(pieces.len() > 10, "{} pieces", pieces.len());
    for encoding in Encoding::ALL {
        let counter = TokenCounter::from_encoding(encoding);
        let sum: u64 = pieces.iter().map(|piece| counter.count(piece)).sum();
        assert_eq!(sum, counter.count(&document), "{encoding}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_last_cut_is_where_the_last_piece_of_split_for_counting_starts(text in text()) {
        let pieces: Vec<&str> = split_for_counting(&text, 1).collect();
        let last_piece = pieces.last().map_or(0, |piece| piece.len());
        let expected = (pieces.len() > 1).then(|| text.len() - last_piece);
        prop_assert_eq!(last_cut_for_counting(text.as_bytes()), expected);
    }
}
