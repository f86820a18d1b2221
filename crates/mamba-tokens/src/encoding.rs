//! The tiktoken encodings this crate can count with.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::TokensError;

/// A tiktoken byte-pair encoding.
///
/// Names are tiktoken's own (`"o200k_base"`, `"cl100k_base"`, ...); parse them with
/// [`str::parse`] or [`Encoding::from_name`], print them with [`Encoding::name`] or `Display`.
///
/// ```
/// use mamba_tokens::Encoding;
///
/// let encoding: Encoding = "cl100k_base".parse()?;
/// assert_eq!(encoding, Encoding::Cl100kBase);
/// assert_eq!(encoding.to_string(), "cl100k_base");
/// assert!("cl100k".parse::<Encoding>().is_err());
/// # Ok::<(), mamba_tokens::TokensError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
#[non_exhaustive]
pub enum Encoding {
    /// GPT-4o, GPT-4.1, GPT-4.5, GPT-5 and the o-series reasoning models. The default.
    O200kBase,
    /// The gpt-oss open-weight models: o200k_base plus the harmony chat-format special tokens.
    O200kHarmony,
    /// GPT-4, GPT-3.5-turbo and the text-embedding models.
    Cl100kBase,
    /// Codex and text-davinci-002/003.
    P50kBase,
    /// The text/code-davinci edit models.
    P50kEdit,
    /// GPT-3 base models (also known as `gpt2`).
    R50kBase,
}

impl Encoding {
    /// Every encoding, in the order error messages list them.
    pub const ALL: [Encoding; 6] = [
        Encoding::O200kBase,
        Encoding::O200kHarmony,
        Encoding::Cl100kBase,
        Encoding::P50kBase,
        Encoding::P50kEdit,
        Encoding::R50kBase,
    ];

    /// The encoding used for models this crate does not know.
    pub const DEFAULT: Encoding = Encoding::O200kBase;

    /// tiktoken's name for this encoding.
    ///
    /// ```
    /// assert_eq!(mamba_tokens::Encoding::O200kHarmony.name(), "o200k_harmony");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Encoding::O200kBase => "o200k_base",
            Encoding::O200kHarmony => "o200k_harmony",
            Encoding::Cl100kBase => "cl100k_base",
            Encoding::P50kBase => "p50k_base",
            Encoding::P50kEdit => "p50k_edit",
            Encoding::R50kBase => "r50k_base",
        }
    }

    /// Looks an encoding up by tiktoken's name.
    ///
    /// # Errors
    /// [`TokensError::UnknownEncoding`] naming the value and listing the valid names.
    ///
    /// ```
    /// use mamba_tokens::Encoding;
    ///
    /// assert_eq!(Encoding::from_name("r50k_base")?, Encoding::R50kBase);
    /// let err = Encoding::from_name("gpt-4o").unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "unknown encoding `gpt-4o`: expected one of o200k_base, o200k_harmony, cl100k_base, \
    ///      p50k_base, p50k_edit, r50k_base"
    /// );
    /// # Ok::<(), mamba_tokens::TokensError>(())
    /// ```
    pub fn from_name(name: &str) -> Result<Self, TokensError> {
        Encoding::ALL
            .into_iter()
            .find(|encoding| encoding.name() == name)
            .ok_or_else(|| TokensError::UnknownEncoding {
                name: name.to_owned(),
                expected: Encoding::ALL.map(Encoding::name).join(", "),
            })
    }
}

impl Default for Encoding {
    fn default() -> Self {
        Encoding::DEFAULT
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Encoding {
    type Err = TokensError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Encoding::from_name(name)
    }
}

impl TryFrom<String> for Encoding {
    type Error = TokensError;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        Encoding::from_name(&name)
    }
}

impl From<Encoding> for &'static str {
    fn from(encoding: Encoding) -> Self {
        encoding.name()
    }
}
