//! The one error type of this crate.

use thiserror::Error;

/// Everything that can go wrong when building records or importing them.
///
/// Recording into a [`UsageTracker`](crate::UsageTracker) never fails; errors come from records
/// that would break the token semantics, and from imports and exports. Each message names the
/// offending value and, for imports, the line it came from.
///
/// ```
/// use mamba_usage::{UsageError, UsageRecord};
///
/// let err = UsageRecord::builder("gpt-4o").prompt_tokens(10).cached_tokens(20).build().unwrap_err();
/// assert!(matches!(err, UsageError::SubsetExceedsTotal { .. }));
/// assert_eq!(
///     err.to_string(),
///     "cached_tokens 20 + cache_write_tokens 0 exceed prompt_tokens 10: cache reads and writes \
///      are part of the prompt"
/// );
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum UsageError {
    /// A subset count is larger than the count it is part of.
    #[error("{subset} exceed {total_field} {total}: {why}")]
    SubsetExceedsTotal {
        /// The subset, with its value (`"cached_tokens 20 + cache_write_tokens 0"`).
        subset: String,
        /// The containing field (`"prompt_tokens"`).
        total_field: &'static str,
        /// Its value.
        total: u64,
        /// Which semantic rule this breaks.
        why: &'static str,
    },
    /// A timestamp before 1970 or after 2554, which records cannot hold.
    #[error("timestamp {timestamp} is out of range: records hold times from 1970 to 2554")]
    TimestampOutOfRange {
        /// The timestamp, as debug text.
        timestamp: String,
    },
    /// A line of an import could not be read as a record.
    #[error("line {line} of {source_name}: {reason}")]
    Import {
        /// The 1-based line number.
        line: usize,
        /// Where the data came from (a file name, or what the caller passed).
        source_name: String,
        /// What is wrong with the line.
        reason: String,
    },
    /// A provider's usage object has a value that is not a count, or is not usable.
    #[error("{format} usage{}: {problem}", if field.is_empty() { String::new() } else { format!(", field `{field}`") })]
    ProviderUsage {
        /// The usage shape (`"OpenAI Chat Completions"`).
        format: &'static str,
        /// The field, as a dotted path from the response (`usage.prompt_tokens`), or empty.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// A label key that is not 1 to 64 ASCII letters, digits, `_`, `-` or `.`, or a label
    /// text that cannot be read.
    #[error("label key `{key}` {problem}")]
    InvalidLabel {
        /// The key (or the unreadable pair).
        key: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Reading or writing failed.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl UsageError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        UsageError::Io {
            context: context.into(),
            source,
        }
    }
}
