//! [`UsageHistory`]: a consistent snapshot of a tracker's per-request records.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::record::unix_nanos;
use crate::store::{CHUNK_RECORDS, Chunk, Stored};
use crate::{TokenUsage, UsageRecord, UsageSummary};

/// The records of a tracker at one moment, oldest first, and the [`UsageSummary`] of that same
/// moment: `summary().totals` always equals the sum of these records plus the dropped ones.
///
/// The seed's `get_history()`. Cheap to take and to clone (it shares the tracker's frozen
/// chunks); records are unpacked into [`UsageRecord`]s as you iterate.
///
/// ```
/// use mamba_usage::{TokenUsage, UsageTracker};
///
/// let tracker = UsageTracker::new();
/// tracker.record_usage(100, 50, "gpt-4o");
/// tracker.record_usage(10, 5, "gpt-4o-mini");
///
/// let history = tracker.history();
/// for record in &history {
///     println!("{:?} {} {} tokens", record.timestamp(), record.model(), record.total_tokens());
/// }
/// let sum: TokenUsage = history.iter().map(|r| TokenUsage::from(&r)).sum();
/// assert_eq!(sum, history.summary().totals);
/// ```
#[derive(Debug, Clone)]
pub struct UsageHistory {
    chunks: Vec<Arc<Chunk>>,
    skip: usize,
    len: usize,
    names: Arc<Vec<Arc<str>>>,
    summary: UsageSummary,
}

impl UsageHistory {
    pub(crate) fn new(
        chunks: Vec<Arc<Chunk>>,
        skip: usize,
        len: usize,
        names: Arc<Vec<Arc<str>>>,
        summary: UsageSummary,
    ) -> UsageHistory {
        UsageHistory {
            chunks,
            skip,
            len,
            names,
            summary,
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when there are no records.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The tracker's summary at the moment this snapshot was taken.
    pub fn summary(&self) -> UsageSummary {
        self.summary
    }

    /// The record at `index` (0 is the oldest), in O(1).
    ///
    /// ```
    /// let tracker = mamba_usage::UsageTracker::new();
    /// tracker.record_usage(1, 1, "first");
    /// tracker.record_usage(2, 2, "second");
    /// let history = tracker.history();
    /// assert_eq!(history.get(1).unwrap().model(), "second");
    /// assert_eq!(history.get(2), None);
    /// ```
    pub fn get(&self, index: usize) -> Option<UsageRecord> {
        if index >= self.len {
            return None;
        }
        // Every chunk but the last holds exactly CHUNK_RECORDS records.
        let position = self.skip + index;
        let chunk = self.chunks.get(position / CHUNK_RECORDS)?;
        let offset = position % CHUNK_RECORDS;
        Some(
            chunk
                .records
                .get(offset)?
                .unpack(chunk.extra(offset), &self.names),
        )
    }

    /// The newest record.
    pub fn last(&self) -> Option<UsageRecord> {
        self.len.checked_sub(1).and_then(|index| self.get(index))
    }

    /// The records, oldest first.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            history: self,
            next: 0,
        }
    }

    /// The records as a vector.
    pub fn to_vec(&self) -> Vec<UsageRecord> {
        self.iter().collect()
    }

    /// Usage of the records with timestamps in `from..to`.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    ///
    /// let tracker = mamba_usage::UsageTracker::new();
    /// tracker.record_usage(100, 50, "gpt-4o");
    /// let history = tracker.history();
    /// let now = SystemTime::now();
    /// assert_eq!(history.usage_between(now - Duration::from_secs(60), now + Duration::from_secs(1)).request_count, 1);
    /// assert_eq!(history.usage_between(now + Duration::from_secs(1), now + Duration::from_secs(2)).request_count, 0);
    /// ```
    pub fn usage_between(&self, from: SystemTime, to: SystemTime) -> TokenUsage {
        let from = unix_nanos(from).unwrap_or_default();
        let to = unix_nanos(to).unwrap_or(u64::MAX);
        self.stored()
            .filter(|(stored, _)| (from..to).contains(&stored.unix_nanos()))
            .map(|(stored, extra)| usage_of(stored, extra))
            .sum()
    }

    /// Usage per time bucket of `width` (aligned to multiples of `width` since 1970, so minute
    /// and hour buckets start on the minute and hour, UTC), keyed by bucket start. Buckets without
    /// records are left out. A zero width is treated as one nanosecond.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let tracker = mamba_usage::UsageTracker::new();
    /// tracker.record_usage(100, 50, "gpt-4o");
    /// tracker.record_usage(10, 5, "gpt-4o");
    /// let per_hour = tracker.history().usage_per_bucket(Duration::from_secs(3600));
    /// let total: u64 = per_hour.values().map(|usage| usage.total_tokens).sum();
    /// assert_eq!(total, 165);
    /// ```
    pub fn usage_per_bucket(&self, width: Duration) -> BTreeMap<SystemTime, TokenUsage> {
        let width = u64::try_from(width.as_nanos()).unwrap_or(u64::MAX).max(1);
        let mut buckets: BTreeMap<u64, TokenUsage> = BTreeMap::new();
        for (stored, extra) in self.stored() {
            let start = stored.unix_nanos() - stored.unix_nanos() % width;
            *buckets.entry(start).or_default() += usage_of(stored, extra);
        }
        buckets
            .into_iter()
            .map(|(start, usage)| (UNIX_EPOCH + Duration::from_nanos(start), usage))
            .collect()
    }

    /// The sum of the records in this snapshot (without unpacking them).
    ///
    /// ```
    /// let tracker = mamba_usage::UsageTracker::new();
    /// tracker.record_usage(100, 50, "gpt-4o");
    /// assert_eq!(tracker.history().usage().total_tokens, 150);
    /// ```
    pub fn usage(&self) -> TokenUsage {
        self.stored()
            .map(|(stored, extra)| usage_of(stored, extra))
            .sum()
    }

    /// The stored records with their extras, oldest first.
    fn stored(&self) -> impl Iterator<Item = (&Stored, Option<&crate::store::Extra>)> {
        self.chunks
            .iter()
            .flat_map(|chunk| {
                chunk
                    .records
                    .iter()
                    .enumerate()
                    .map(move |(i, s)| (s, chunk.extra(i)))
            })
            .skip(self.skip)
            .take(self.len)
    }
}

fn usage_of(stored: &Stored, extra: Option<&crate::store::Extra>) -> TokenUsage {
    let [prompt, completion, cached, cache_write, reasoning] = stored.counts(extra);
    TokenUsage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt.saturating_add(completion),
        cached_tokens: cached,
        cache_write_tokens: cache_write,
        reasoning_tokens: reasoning,
        request_count: 1,
        estimated_request_count: u64::from(stored.estimated()),
    }
}

/// Iterator over a [`UsageHistory`], oldest first.
///
/// ```
/// let tracker = mamba_usage::UsageTracker::new();
/// tracker.record_usage(1, 2, "gpt-4o");
/// let history = tracker.history();
/// let mut records = history.iter();
/// assert_eq!(records.len(), 1);
/// assert_eq!(records.next().map(|r| r.total_tokens()), Some(3));
/// ```
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    history: &'a UsageHistory,
    next: usize,
}

impl Iterator for Iter<'_> {
    type Item = UsageRecord;

    fn next(&mut self) -> Option<UsageRecord> {
        let record = self.history.get(self.next)?;
        self.next += 1;
        Some(record)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.history.len - self.next.min(self.history.len);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a UsageHistory {
    type Item = UsageRecord;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}
