//! What the ledger's queries take and give: [`TimeRange`], [`LedgerTotals`], [`Written`].

use std::time::{SystemTime, UNIX_EPOCH};

use mamba_usage::TokenUsage;
use rust_decimal::Decimal;

/// The records a query covers: timestamps in `from..to` (UTC).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use mamba_ledger::TimeRange;
///
/// let now = SystemTime::now();
/// let last_hour = TimeRange::between(now - Duration::from_secs(3_600), now);
/// assert!(last_hour.contains(now - Duration::from_secs(60)));
/// assert!(!last_hour.contains(now));
/// assert!(TimeRange::ALL.contains(now));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimeRange {
    from: Option<SystemTime>,
    to: Option<SystemTime>,
}

impl TimeRange {
    /// Every record.
    pub const ALL: TimeRange = TimeRange {
        from: None,
        to: None,
    };

    /// Records from `from` (included) to `to` (excluded).
    pub fn between(from: SystemTime, to: SystemTime) -> TimeRange {
        TimeRange {
            from: Some(from),
            to: Some(to),
        }
    }

    /// Records from `from` on.
    pub fn since(from: SystemTime) -> TimeRange {
        TimeRange {
            from: Some(from),
            to: None,
        }
    }

    /// Whether a record made at `time` is in the range.
    pub fn contains(&self, time: SystemTime) -> bool {
        self.from.is_none_or(|from| time >= from) && self.to.is_none_or(|to| time < to)
    }

    /// The bounds in nanoseconds since 1970, as stored.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn bounds(&self) -> (i64, i64) {
        let nanos = |time: SystemTime| {
            time.duration_since(UNIX_EPOCH)
                .ok()
                .and_then(|since| i64::try_from(since.as_nanos()).ok())
        };
        (
            self.from.and_then(nanos).unwrap_or(i64::MIN),
            self.to.and_then(nanos).unwrap_or(i64::MAX),
        )
    }
}

/// Usage and exact cost of some records, summed by the database.
///
/// ```
/// let totals = mamba_ledger::LedgerTotals::default();
/// assert_eq!((totals.usage.request_count, totals.cost.is_zero()), (0, true));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LedgerTotals {
    /// The token counts, as [`TokenUsage`] sums them.
    pub usage: TokenUsage,
    /// The sum of the records' costs, exact.
    pub cost: Decimal,
    /// Tokens no price covered.
    pub unpriced_tokens: u64,
}

/// What a write did.
///
/// ```
/// assert_ne!(mamba_ledger::Written::Inserted, mamba_ledger::Written::AlreadyThere);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Written {
    /// The record was new and is now committed.
    Inserted,
    /// A record with this id was already there; nothing changed.
    AlreadyThere,
    /// The database could not take the record; it is in the spill file, to be written when
    /// the database is back.
    Spilled,
    /// Batched mode ([`LedgerConfig::batched`](crate::LedgerConfig::batched)): the record
    /// waits in the pending batch, to be committed within the batch's window (or spilled);
    /// an id already written is not counted again then.
    Batched,
}
