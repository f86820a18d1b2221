//! Which encoding a model uses, and whether that makes our count exact.
//!
//! The table follows tiktoken's own `model.py`: exact names first, then name prefixes for dated
//! snapshots and variants (`gpt-4o-2024-08-06`, `gpt-4-0613`). Provider prefixes such as
//! `openai/` or `azure/` are stripped first, because the tokenizer belongs to the model, not to
//! the host serving it. A model the table does not know is counted with [`Encoding::DEFAULT`] and
//! the result says it is an approximation.

use serde::{Deserialize, Serialize};

use crate::Encoding;

/// Whether a count is what the provider will bill, or an estimate.
///
/// ```
/// use mamba_tokens::{Accuracy, encoding_for_model};
///
/// assert_eq!(encoding_for_model("gpt-4o").accuracy, Accuracy::Exact);
/// assert_eq!(encoding_for_model("claude-3-5-sonnet").accuracy, Accuracy::Approximate);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Accuracy {
    /// The model is known to use this encoding: counts match the provider's.
    Exact,
    /// The model uses a tokenizer of its own (Claude, Gemini, Llama, ...) or is unknown: the count
    /// comes from a tiktoken encoding and can differ from what the provider reports.
    Approximate,
}

/// The encoding chosen for a model, and how far its counts can be trusted.
///
/// ```
/// use mamba_tokens::{Accuracy, Encoding, ModelEncoding, encoding_for_model};
///
/// assert_eq!(
///     encoding_for_model("openai/gpt-4o-2024-08-06"),
///     ModelEncoding::new(Encoding::O200kBase, Accuracy::Exact)
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ModelEncoding {
    /// The encoding to count with.
    pub encoding: Encoding,
    /// Whether counts with this encoding are exact for the model.
    pub accuracy: Accuracy,
}

impl ModelEncoding {
    /// `encoding`, whose counts are `accuracy` for the model.
    pub const fn new(encoding: Encoding, accuracy: Accuracy) -> ModelEncoding {
        ModelEncoding { encoding, accuracy }
    }
}

/// The encoding of a model, per tiktoken's table; unknown models get [`Encoding::DEFAULT`] and
/// [`Accuracy::Approximate`].
///
/// Names are matched case-insensitively after stripping any `provider/` prefixes, then exactly,
/// then by the longest known prefix (so dated snapshots such as `gpt-4o-2024-08-06` resolve like
/// their family).
///
/// ```
/// use mamba_tokens::{Accuracy, Encoding, encoding_for_model};
///
/// assert_eq!(encoding_for_model("gpt-4o-mini").encoding, Encoding::O200kBase);
/// assert_eq!(encoding_for_model("gpt-4-0613").encoding, Encoding::Cl100kBase);
/// let unknown = encoding_for_model("llama3.1:8b");
/// assert_eq!(unknown.encoding, Encoding::O200kBase);
/// assert_eq!(unknown.accuracy, Accuracy::Approximate);
/// ```
pub fn encoding_for_model(model: &str) -> ModelEncoding {
    match known_encoding(model) {
        Some(encoding) => ModelEncoding {
            encoding,
            accuracy: Accuracy::Exact,
        },
        None => ModelEncoding {
            encoding: Encoding::DEFAULT,
            accuracy: Accuracy::Approximate,
        },
    }
}

/// The encoding of a model the built-in table knows, or `None`.
pub(crate) fn known_encoding(model: &str) -> Option<Encoding> {
    let name = normalize(model);
    if let Some(&(_, encoding)) = EXACT.iter().find(|(known, _)| *known == name) {
        return Some(encoding);
    }
    PREFIXES
        .iter()
        .filter(|(prefix, _)| name.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|&(_, encoding)| encoding)
}

/// Lower-cases the name and drops `provider/` prefixes (`openrouter/openai/gpt-4o` -> `gpt-4o`).
fn normalize(model: &str) -> String {
    let trimmed = model.trim();
    let name = trimmed.rsplit('/').next().unwrap_or(trimmed);
    name.to_ascii_lowercase()
}

use Encoding::{Cl100kBase, O200kBase, O200kHarmony, P50kBase, P50kEdit, R50kBase};

/// Exact model names, from tiktoken's `MODEL_TO_ENCODING`.
const EXACT: &[(&str, Encoding)] = &[
    // Reasoning and chat models.
    ("o1", O200kBase),
    ("o3", O200kBase),
    ("o4-mini", O200kBase),
    ("gpt-5", O200kBase),
    ("gpt-4.1", O200kBase),
    ("gpt-4.5", O200kBase),
    ("gpt-4o", O200kBase),
    ("chatgpt-4o-latest", O200kBase),
    ("gpt-oss", O200kHarmony),
    ("gpt-4", Cl100kBase),
    ("gpt-3.5-turbo", Cl100kBase),
    ("gpt-3.5", Cl100kBase),
    ("gpt-35-turbo", Cl100kBase),
    // Base models.
    ("davinci-002", Cl100kBase),
    ("babbage-002", Cl100kBase),
    // Embeddings.
    ("text-embedding-ada-002", Cl100kBase),
    ("text-embedding-3-small", Cl100kBase),
    ("text-embedding-3-large", Cl100kBase),
    // Legacy completion models.
    ("text-davinci-003", P50kBase),
    ("text-davinci-002", P50kBase),
    ("text-davinci-001", R50kBase),
    ("text-curie-001", R50kBase),
    ("text-babbage-001", R50kBase),
    ("text-ada-001", R50kBase),
    ("davinci", R50kBase),
    ("curie", R50kBase),
    ("babbage", R50kBase),
    ("ada", R50kBase),
    // Legacy code models.
    ("code-davinci-002", P50kBase),
    ("code-davinci-001", P50kBase),
    ("code-cushman-002", P50kBase),
    ("code-cushman-001", P50kBase),
    ("davinci-codex", P50kBase),
    ("cushman-codex", P50kBase),
    // Legacy edit models.
    ("text-davinci-edit-001", P50kEdit),
    ("code-davinci-edit-001", P50kEdit),
    // Legacy embeddings.
    ("text-similarity-davinci-001", R50kBase),
    ("text-similarity-curie-001", R50kBase),
    ("text-similarity-babbage-001", R50kBase),
    ("text-similarity-ada-001", R50kBase),
    ("text-search-davinci-doc-001", R50kBase),
    ("text-search-curie-doc-001", R50kBase),
    ("text-search-babbage-doc-001", R50kBase),
    ("text-search-ada-doc-001", R50kBase),
    ("code-search-babbage-code-001", R50kBase),
    ("code-search-ada-code-001", R50kBase),
    // The open GPT-2 release.
    ("gpt2", R50kBase),
];

/// Name prefixes for snapshots and variants, from tiktoken's `MODEL_PREFIX_TO_ENCODING`.
/// The longest matching prefix wins, so `ft:gpt-4o` beats `ft:gpt-4`.
const PREFIXES: &[(&str, Encoding)] = &[
    ("o1-", O200kBase),
    ("o3-", O200kBase),
    ("o4-mini-", O200kBase),
    ("gpt-5-", O200kBase),
    ("gpt-5.", O200kBase),
    ("gpt-4.5-", O200kBase),
    ("gpt-4.1-", O200kBase),
    ("chatgpt-4o-", O200kBase),
    ("gpt-4o-", O200kBase),
    ("gpt-oss-", O200kHarmony),
    ("gpt-oss:", O200kHarmony),
    ("gpt-4-", Cl100kBase),
    ("gpt-3.5-turbo-", Cl100kBase),
    ("gpt-35-turbo-", Cl100kBase),
    ("ft:gpt-4o", O200kBase),
    ("ft:gpt-4", Cl100kBase),
    ("ft:gpt-3.5-turbo", Cl100kBase),
    ("ft:davinci-002", Cl100kBase),
    ("ft:babbage-002", Cl100kBase),
];
