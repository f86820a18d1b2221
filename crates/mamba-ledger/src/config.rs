//! [`LedgerConfig`]: which database, and how durable each write is. `mamba-settings` maps the
//! `[ledger]` section onto it; this crate reads no file or variable of its own.

use std::fmt;
use std::path::PathBuf;

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

/// Where the ledger is and how it writes.
///
/// ```
/// use mamba_ledger::{Durability, LedgerConfig};
///
/// let config = LedgerConfig::from_url("sqlite://usage.db")?.durability(Durability::PowerLoss);
/// assert_eq!(config.sqlite_path().unwrap(), std::path::Path::new("usage.db"));
/// assert_eq!(config.to_string(), "sqlite://usage.db");
/// # Ok::<(), mamba_ledger::LedgerError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct LedgerConfig {
    location: Location,
    durability: Durability,
}

#[derive(Clone, PartialEq, Eq)]
enum Location {
    Sqlite(PathBuf),
}

impl LedgerConfig {
    /// A SQLite ledger in the file at `path` (made on first open).
    pub fn sqlite(path: impl Into<PathBuf>) -> LedgerConfig {
        LedgerConfig {
            location: Location::Sqlite(path.into()),
            durability: Durability::default(),
        }
    }

    /// The ledger a URL names: `sqlite://usage.db` (relative), `sqlite:///var/lib/usage.db`
    /// (absolute).
    ///
    /// # Errors
    /// [`LedgerError::BadUrl`] for another scheme or an empty path; the error shows the URL
    /// without its password.
    pub fn from_url(url: &str) -> Result<LedgerConfig, LedgerError> {
        let bad = |problem: &str| LedgerError::BadUrl {
            url: redact(url),
            problem: problem.to_owned(),
        };
        let path = url
            .strip_prefix("sqlite://")
            .ok_or_else(|| bad("the scheme is not `sqlite://`"))?;
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

    /// The SQLite file, for a SQLite ledger.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match &self.location {
            Location::Sqlite(path) => Some(path),
        }
    }
}

/// The URL, without a password.
impl fmt::Display for LedgerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
        }
    }
}

impl fmt::Debug for LedgerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LedgerConfig")
            .field("url", &self.to_string())
            .field("durability", &self.durability)
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
