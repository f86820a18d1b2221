//! The one error type of this crate.

use thiserror::Error;

/// Everything that can go wrong when configuring a token counter.
///
/// Counting itself never fails: any `&str` gets a count. Errors only come from bad
/// configuration (an unknown encoding name, a safety margin out of range), and each message names
/// the offending value.
///
/// ```
/// use mamba_tokens::{TokenCounter, TokensError};
///
/// let err = TokenCounter::new("cl100k").unwrap_err();
/// assert!(matches!(err, TokensError::UnknownEncoding { .. }));
/// assert!(err.to_string().contains("`cl100k`"));
/// assert!(err.to_string().contains("cl100k_base"));
/// ```
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum TokensError {
    /// The encoding name is not one of [`Encoding::ALL`](crate::Encoding::ALL).
    #[error("unknown encoding `{name}`: expected one of {expected}")]
    UnknownEncoding {
        /// The name that was given.
        name: String,
        /// The valid names, comma separated.
        expected: String,
    },
    /// The safety margin is not a number from 0.0 to 0.5.
    #[error(
        "safety margin {margin} is out of range: expected a fraction from 0.0 to 0.5 (0.1 adds 10%)"
    )]
    InvalidSafetyMargin {
        /// The margin that was given.
        margin: f64,
    },
}
