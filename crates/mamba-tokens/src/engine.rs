//! The counting engines behind [`TokenCounter`](crate::TokenCounter).
//!
//! Encoders are built once per process and encoding (building o200k_base takes far longer than
//! counting a page of text), then shared by every counter on every thread.

#[cfg(feature = "bpe-openai")]
mod bpe_openai;
mod long_whitespace;

use tiktoken_rs::CoreBPE;

use crate::Encoding;

/// The implementation that turns text into a token count.
///
/// Every engine gives counts identical to OpenAI's tiktoken; they differ in speed and binary size.
/// [`CountingEngine::default_for`] picks the fastest one compiled in for an encoding.
///
/// ```
/// use mamba_tokens::{CountingEngine, Encoding, TokenCounter};
///
/// let counter = TokenCounter::from_encoding(Encoding::Cl100kBase)
///     .with_engine(CountingEngine::TiktokenRs);
/// assert_eq!(counter.engine(), CountingEngine::TiktokenRs);
/// assert_eq!(counter.count("Hello, world!"), 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CountingEngine {
    /// The `tiktoken-rs` crate, guarded so that huge whitespace runs cannot make it panic.
    /// Supports every [`Encoding`].
    TiktokenRs,
    /// GitHub's `bpe-openai` crate: linear time even on pathological input and about twice as fast.
    /// Supports o200k_base, o200k_harmony and cl100k_base; other encodings fall back to
    /// [`CountingEngine::TiktokenRs`]. Needs the `bpe-openai` cargo feature.
    #[cfg(feature = "bpe-openai")]
    BpeOpenai,
}

impl CountingEngine {
    /// The fastest engine compiled into this build that supports `encoding`.
    ///
    /// ```
    /// use mamba_tokens::{CountingEngine, Encoding};
    ///
    /// // p50k_base is only supported by tiktoken-rs, whatever features are enabled.
    /// assert_eq!(CountingEngine::default_for(Encoding::P50kBase), CountingEngine::TiktokenRs);
    /// ```
    pub fn default_for(encoding: Encoding) -> CountingEngine {
        #[cfg(feature = "bpe-openai")]
        if bpe_openai::supports(encoding) {
            return CountingEngine::BpeOpenai;
        }
        let _ = encoding;
        CountingEngine::TiktokenRs
    }

    /// The engine that will really count `encoding` when this one is asked to: engines fall back
    /// to tiktoken-rs for encodings they do not support.
    #[cfg_attr(not(feature = "bpe-openai"), allow(unused_variables))]
    pub(crate) fn resolve(self, encoding: Encoding) -> CountingEngine {
        match self {
            CountingEngine::TiktokenRs => CountingEngine::TiktokenRs,
            #[cfg(feature = "bpe-openai")]
            CountingEngine::BpeOpenai if bpe_openai::supports(encoding) => {
                CountingEngine::BpeOpenai
            }
            #[cfg(feature = "bpe-openai")]
            CountingEngine::BpeOpenai => CountingEngine::TiktokenRs,
        }
    }
}

/// Counts `text` as ordinary text (special-token strings such as `<|endoftext|>` are plain text).
///
/// `engine` must already be resolved for `encoding` (see [`CountingEngine::resolve`]).
pub(crate) fn count(engine: CountingEngine, encoding: Encoding, text: &str) -> usize {
    match engine {
        CountingEngine::TiktokenRs => long_whitespace::count(encoding, text),
        #[cfg(feature = "bpe-openai")]
        CountingEngine::BpeOpenai => bpe_openai::count(encoding, text)
            .unwrap_or_else(|| long_whitespace::count(encoding, text)),
    }
}

/// The shared tiktoken-rs encoder of an encoding (built on first use, then kept for the process).
pub(crate) fn tiktoken(encoding: Encoding) -> &'static CoreBPE {
    match encoding {
        Encoding::O200kBase => tiktoken_rs::o200k_base_singleton(),
        Encoding::O200kHarmony => tiktoken_rs::o200k_harmony_singleton(),
        Encoding::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
        Encoding::P50kBase => tiktoken_rs::p50k_base_singleton(),
        Encoding::P50kEdit => tiktoken_rs::p50k_edit_singleton(),
        Encoding::R50kBase => tiktoken_rs::r50k_base_singleton(),
    }
}
