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
    /// The database cannot be reached or cannot take work right now: the server is down or
    /// unreachable, the connection broke, it is shutting down or out of connections, a
    /// statement timed out, or (SQLite) another writer held the file past the busy timeout.
    /// Worth retrying later, and what a spill file takes records through
    /// ([`LedgerConfig::spill_to`](crate::LedgerConfig::spill_to)); every other refusal is a
    /// [`Database`](LedgerError::Database) error.
    #[error("ledger {location}: {action} (the database is unavailable)")]
    Unavailable {
        /// The database (a file path, or a URL without its password).
        location: String,
        /// What was being done.
        action: String,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A fleet budget that cannot be used as given.
    #[error("fleet budget `{budget}`: {problem}")]
    BadBudget {
        /// The budget's name.
        budget: String,
        /// What is wrong.
        problem: String,
    },
    /// A fleet budget refused a reservation: the request must not be sent.
    #[error("fleet budget `{budget}`: {exceeded}")]
    BudgetExceeded {
        /// The budget's name.
        budget: String,
        /// Which limit, and by how much.
        exceeded: mamba_pricing::BudgetExceeded,
    },
    /// A fleet budget that limits cost refused a request it cannot price
    /// ([`UnpricedPolicy::Refuse`](crate::UnpricedPolicy::Refuse)).
    #[error(
        "fleet budget `{budget}` limits cost and refuses requests it cannot price: `{model}` has no price"
    )]
    BudgetUnpriced {
        /// The budget's name.
        budget: String,
        /// The model without a price.
        model: String,
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
/// [`LedgerError::Unavailable`] when it says the database cannot be reached right now, and a
/// [`LedgerError::Database`] otherwise. Nothing is formatted unless the error happens, so the
/// success path of every statement allocates nothing for it.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn database_error<'a, E: std::error::Error + Send + Sync + 'static>(
    location: &'a str,
    action: impl std::fmt::Display + 'a,
) -> impl FnOnce(E) -> LedgerError + 'a {
    move |source| {
        let (location, action) = (location.to_owned(), action.to_string());
        if is_outage(&source) {
            LedgerError::Unavailable {
                location,
                action,
                source: Box::new(source),
            }
        } else {
            LedgerError::Database {
                location,
                action,
                source: Box::new(source),
            }
        }
    }
}

/// Whether a driver's `error` means the database is unreachable or busy for now (rather than
/// refusing: a missing database, failed authentication, a newer schema, a bad statement).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn is_outage(error: &(dyn std::any::Any + 'static)) -> bool {
    #[cfg(feature = "sqlite")]
    if let Some(error) = error.downcast_ref::<rusqlite::Error>() {
        return matches!(
            error.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
    }
    #[cfg(feature = "postgres")]
    if let Some(error) = error.downcast_ref::<postgres::Error>() {
        return crate::postgres::is_outage(error);
    }
    false
}

impl LedgerError {
    /// Whether this is [`LedgerError::Unavailable`]: the database may take the same work
    /// later.
    ///
    /// ```
    /// use mamba_ledger::LedgerError;
    ///
    /// let error = LedgerError::BadRecordId { id: "x".to_owned() };
    /// assert!(!error.is_unavailable());
    /// ```
    pub fn is_unavailable(&self) -> bool {
        matches!(self, LedgerError::Unavailable { .. })
    }

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
