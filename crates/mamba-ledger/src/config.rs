//! [`LedgerConfig`]: which database, and how durable each write is. `mamba-settings` maps the
//! `[ledger]` section onto it; this crate reads no file or variable of its own. A PostgreSQL
//! URL may carry a password: it is kept only here, and every `Display`, `Debug` and error
//! shows the URL with the password redacted.

use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use crate::LedgerError;

/// How hard each committed record is pushed to the disk.
///
/// ```
/// assert_eq!(mamba_ledger::Durability::default(), mamba_ledger::Durability::Process);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// A committed record survives the process being killed (SQLite WAL with
    /// `synchronous=NORMAL`); a power loss may lose the last commits.
    #[default]
    Process,
    /// A committed record also survives a power loss (`synchronous=FULL`: an fsync per
    /// commit, so the disk's fsync rate bounds the commit rate).
    PowerLoss,
}

/// Batched writes ([`LedgerConfig::batched`]): records are held in memory and committed
/// together, many per transaction, for write rates far above one commit per record.
///
/// A batch is committed when it holds `max_records`, when its oldest record has waited
/// `max_delay`, on [`Ledger::flush`](crate::Ledger::flush), before every query, and when the
/// last handle to the ledger is dropped. A thread of the ledger's writes it while the next
/// batch fills; a record that finds that one full too writes it itself, so at most two
/// batches are ever pending. That is the window: a process killed (SIGKILL, a power cut)
/// loses the records not yet committed, at most `2 × max_records`, none much older than
/// `max_delay` while the database takes writes. Write-through (no batching) loses none.
///
/// A batch the database cannot take stays pending (retried every `max_delay`, or spilled
/// with a spill file); while it does, a record that finds the batch full gets the error and
/// is not taken.
///
/// ```
/// use std::time::Duration;
/// use mamba_ledger::Batching;
///
/// let batching = Batching::default();
/// assert_eq!((batching.max_records().get(), batching.max_delay()), (1_000, Duration::from_millis(100)));
/// let small = Batching::new(std::num::NonZeroUsize::new(64).unwrap(), Duration::from_millis(10));
/// assert_eq!(small.max_records().get(), 64);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Batching {
    max_records: NonZeroUsize,
    max_delay: Duration,
}

impl Batching {
    /// Batches of at most `max_records`, none held longer than `max_delay`.
    pub fn new(max_records: NonZeroUsize, max_delay: Duration) -> Batching {
        Batching {
            max_records,
            max_delay,
        }
    }

    /// The most records a batch holds before it is committed.
    pub fn max_records(&self) -> NonZeroUsize {
        self.max_records
    }

    /// The longest a record waits in a batch.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }
}

/// 1,000 records or 100 ms, whichever comes first.
impl Default for Batching {
    fn default() -> Batching {
        Batching {
            max_records: NonZeroUsize::new(1_000).unwrap_or(NonZeroUsize::MIN),
            max_delay: Duration::from_millis(100),
        }
    }
}

/// Where the ledger is and how it writes.
///
/// ```
/// use mamba_ledger::{Durability, LedgerConfig};
///
/// let config = LedgerConfig::from_url("sqlite://usage.db")?.durability(Durability::PowerLoss);
/// assert_eq!(config.sqlite_path().unwrap(), std::path::Path::new("usage.db"));
/// assert_eq!(config.to_string(), "sqlite://usage.db");
///
/// let fleet = LedgerConfig::from_url("postgres://app:hunter2@db.internal:5432/usage")?;
/// assert_eq!(fleet.to_string(), "postgres://app:[redacted]@db.internal:5432/usage");
/// assert!(!format!("{fleet:?}").contains("hunter2"));
/// # Ok::<(), mamba_ledger::LedgerError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LedgerConfig {
    location: Location,
    durability: Durability,
    spill: Option<PathBuf>,
    batching: Option<Batching>,
}

#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Location {
    Sqlite(PathBuf),
    /// The URL as given, password included: never displayed (see [`redact`]).
    Postgres(String),
}

impl LedgerConfig {
    /// A SQLite ledger in the file at `path` (made on first open).
    pub fn sqlite(path: impl Into<PathBuf>) -> LedgerConfig {
        LedgerConfig {
            location: Location::Sqlite(path.into()),
            durability: Durability::default(),
            spill: None,
            batching: None,
        }
    }

    /// A PostgreSQL ledger in the database `url` names (`postgres://user:password@host:5432/db`;
    /// any connection string libpq accepts). Its tables are made on first open, in the schema
    /// `mamba_ledger`.
    ///
    /// # Errors
    /// [`LedgerError::BadUrl`] when `url` is not a `postgres://` or `postgresql://` URL.
    pub fn postgres(url: &str) -> Result<LedgerConfig, LedgerError> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(|| LedgerError::BadUrl {
                url: redact(url),
                problem: "the scheme is not `postgres://` or `postgresql://`".to_owned(),
            })?;
        if rest.is_empty() {
            return Err(LedgerError::BadUrl {
                url: redact(url),
                problem: "no host or database is given".to_owned(),
            });
        }
        Ok(LedgerConfig {
            location: Location::Postgres(url.to_owned()),
            durability: Durability::default(),
            spill: None,
            batching: None,
        })
    }

    /// The ledger a URL names: `sqlite://usage.db` (relative), `sqlite:///var/lib/usage.db`
    /// (absolute), or `postgres://user:password@host:5432/db`.
    ///
    /// # Errors
    /// [`LedgerError::BadUrl`] for another scheme, an empty path or an empty PostgreSQL URL;
    /// the error shows the URL without its password.
    pub fn from_url(url: &str) -> Result<LedgerConfig, LedgerError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return LedgerConfig::postgres(url);
        }
        let bad = |problem: &str| LedgerError::BadUrl {
            url: redact(url),
            problem: problem.to_owned(),
        };
        let path = url.strip_prefix("sqlite://").ok_or_else(|| {
            bad("the scheme is not `sqlite://`, `postgres://` or `postgresql://`")
        })?;
        if path.is_empty() {
            return Err(bad("the path is empty"));
        }
        Ok(LedgerConfig::sqlite(path))
    }

    /// With `durability` for every commit.
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> LedgerConfig {
        self.durability = durability;
        self
    }

    /// How durable each commit is.
    pub fn commit_durability(&self) -> Durability {
        self.durability
    }

    /// With a spill file at `path`: a record the database cannot take (PostgreSQL down or
    /// unreachable, SQLite locked past its timeout) is appended there instead of failing, and
    /// written to the database, once, when it is back. With a spill file, a PostgreSQL server
    /// that is down when the ledger opens is an outage too, not an error.
    ///
    /// ```
    /// let config = mamba_ledger::LedgerConfig::from_url("postgres://app@db/usage")?
    ///     .spill_to("/var/lib/app/usage-spill.jsonl");
    /// assert_eq!(config.spill_path().unwrap(), std::path::Path::new("/var/lib/app/usage-spill.jsonl"));
    /// # Ok::<(), mamba_ledger::LedgerError>(())
    /// ```
    #[must_use]
    pub fn spill_to(mut self, path: impl Into<PathBuf>) -> LedgerConfig {
        self.spill = Some(path.into());
        self
    }

    /// With batched writes (see [`Batching`] for the window a crash may lose); without this,
    /// every record is committed before `record` returns.
    ///
    /// ```
    /// use mamba_ledger::{Batching, LedgerConfig};
    ///
    /// let config = LedgerConfig::sqlite("usage.db").batched(Batching::default());
    /// assert_eq!(config.batching(), Some(Batching::default()));
    /// ```
    #[must_use]
    pub fn batched(mut self, batching: Batching) -> LedgerConfig {
        self.batching = Some(batching);
        self
    }

    /// How writes are batched; `None`: write-through.
    pub fn batching(&self) -> Option<Batching> {
        self.batching
    }

    /// The spill file, when there is one.
    pub fn spill_path(&self) -> Option<&std::path::Path> {
        self.spill.as_deref()
    }

    /// The SQLite file, for a SQLite ledger.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match &self.location {
            Location::Sqlite(path) => Some(path),
            Location::Postgres(_) => None,
        }
    }

    /// Whether the ledger is a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        matches!(self.location, Location::Postgres(_))
    }

    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn location(&self) -> &Location {
        &self.location
    }

    /// The backend's feature name.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn backend_name(&self) -> &'static str {
        match self.location {
            Location::Sqlite(_) => "sqlite",
            Location::Postgres(_) => "postgres",
        }
    }
}

/// The URL, without a password.
impl fmt::Display for LedgerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Location::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl fmt::Debug for LedgerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LedgerConfig")
            .field("url", &self.to_string())
            .field("durability", &self.durability)
            .field("spill", &self.spill)
            .field("batching", &self.batching)
            .finish()
    }
}

/// `url` with the password of its `user:password@` part replaced.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            let hidden = if credentials.contains(':') {
                format!("{user}:[redacted]")
            } else {
                user.to_owned()
            };
            format!("{scheme}://{hidden}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_survive_redaction() {
        let cases = [
            (
                "postgres://app:s3cret@db:5432/usage",
                "postgres://app:[redacted]@db:5432/usage",
            ),
            ("postgres://app@db/usage", "postgres://app@db/usage"),
            (
                "postgres://a:b:c@db/x?sslmode=require",
                "postgres://a:[redacted]@db/x?sslmode=require",
            ),
            ("sqlite://usage.db", "sqlite://usage.db"),
            ("not a url", "not a url"),
        ];
        for (url, expected) in cases {
            assert_eq!(redact(url), expected, "{url}");
        }
    }
}
