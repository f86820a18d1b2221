//! The one error type of this crate.

use thiserror::Error;

/// What can go wrong with a ledger. Messages name the offending value and where it came from;
/// a database URL is shown without its password.
///
/// ```
/// use mamba_ledger::{LedgerConfig, LedgerError};
///
/// let error = LedgerConfig::from_url("mysql://user:hunter2@db/usage").unwrap_err();
/// assert!(matches!(error, LedgerError::BadUrl { .. }));
/// assert_eq!(
///     error.to_string(),
///     "ledger url `mysql://user:[redacted]@db/usage`: the scheme is not `sqlite://`, `postgres://` or `postgresql://`"
/// );
/// assert!(!format!("{error:?}").contains("hunter2"));
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The ledger URL cannot be used.
    #[error("ledger url `{url}`: {problem}")]
    BadUrl {
        /// The URL, its password redacted.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Text that is not a record id.
    #[error("`{id}` is not a record id (a UUID such as 0190a5e3-7c1a-7d2e-9f3b-000000000001)")]
    BadRecordId {
        /// The text.
        id: String,
    },
    /// A record the ledger cannot store as it is.
    #[error("record {id}: {problem}")]
    Unstorable {
        /// The record's id.
        id: String,
        /// What does not fit.
        problem: String,
    },
    /// The database refused an operation, or what it holds is not a ledger of this version.
    #[error("ledger {location}: {action}")]
    Database {
        /// The database (a file path, or a URL without its password).
        location: String,
        /// What was being done.
        action: String,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A row that does not read back as a record (edited by hand, or a newer schema).
    #[error("ledger {location}: row {id} is unreadable: {problem}")]
    Corrupt {
        /// The database.
        location: String,
        /// The row's record id.
        id: String,
        /// What is wrong.
        problem: String,
    },
}

/// What turns a driver error during `action` on the database at `location` into a
/// [`LedgerError::Database`]. Nothing is formatted unless the error happens, so the success
/// path of every statement allocates nothing for it.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn database_error<'a, E: std::error::Error + Send + Sync + 'static>(
    location: &'a str,
    action: impl std::fmt::Display + 'a,
) -> impl FnOnce(E) -> LedgerError + 'a {
    move |source| LedgerError::Database {
        location: location.to_owned(),
        action: action.to_string(),
        source: Box::new(source),
    }
}

impl LedgerError {
    /// The database at `location` has `applied` migrations; this version knows `known`.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn newer_schema(location: &str, applied: i64, known: i64) -> LedgerError {
        LedgerError::Database {
            location: location.to_owned(),
            action: format!(
                "the schema is version {applied}, newer than this version of mamba-ledger knows ({known})"
            ),
            source: "open it with a newer mamba-ledger".into(),
        }
    }
}
