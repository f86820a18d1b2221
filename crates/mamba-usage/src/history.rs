//! [`UsageHistory`]: a consistent snapshot of a tracker's per-request records.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::record::unix_nanos;
use crate::store::{Chunk, Side, Stored};
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
    shards: Vec<ShardView>,
    /// Records in the shard views that retention hides: the oldest ones in recording order.
    hidden: usize,
    summary: UsageSummary,
}

/// The records of one tracker shard, in recording order.
#[derive(Debug, Clone)]
pub(crate) struct ShardView {
    chunks: Vec<Arc<Chunk>>,
    skip: usize,
    len: usize,
    names: Arc<Vec<Arc<str>>>,
}

impl ShardView {
    pub(crate) fn new(
        chunks: Vec<Arc<Chunk>>,
        skip: usize,
        len: usize,
        names: Arc<Vec<Arc<str>>>,
    ) -> ShardView {
        ShardView {
            chunks,
            skip,
            len,
            names,
        }
    }

    /// The shard's newest record, in O(1): visible records always run to the shard's end.
    fn newest(&self) -> Option<(&Stored, Side<'_>)> {
        let chunk = self.chunks.last()?;
        let index = chunk.records.len().checked_sub(1)?;
        Some((&chunk.records[index], chunk.side(index)))
    }

    fn stored(&self) -> impl Iterator<Item = (&Stored, Side<'_>)> + '_ {
        self.chunks
            .iter()
            .flat_map(|chunk| {
                chunk
                    .records
                    .iter()
                    .enumerate()
                    .map(move |(i, s)| (s, chunk.side(i)))
            })
            .skip(self.skip)
            .take(self.len)
    }
}

impl UsageHistory {
    pub(crate) fn new(shards: Vec<ShardView>, summary: UsageSummary) -> UsageHistory {
        let in_shards: usize = shards.iter().map(|shard| shard.len).sum();
        let retained = usize::try_from(summary.retained_records).unwrap_or(usize::MAX);
        UsageHistory {
            shards,
            hidden: in_shards.saturating_sub(retained),
            summary,
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        usize::try_from(self.summary.retained_records).unwrap_or(usize::MAX)
    }

    /// `true` when there are no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tracker's summary at the moment this snapshot was taken.
    pub fn summary(&self) -> UsageSummary {
        self.summary
    }

    /// The newest record.
    ///
    /// ```
    /// let tracker = mamba_usage::UsageTracker::new();
    /// tracker.record_usage(1, 1, "first");
    /// tracker.record_usage(2, 2, "second");
    /// assert_eq!(tracker.history().last().unwrap().model(), "second");
    /// ```
    pub fn last(&self) -> Option<UsageRecord> {
        if self.is_empty() {
            return None;
        }
        self.shards
            .iter()
            .filter_map(|shard| shard.newest().map(|(stored, extra)| (stored, extra, shard)))
            .max_by_key(|(stored, _, _)| stored.seq())
            .map(|(stored, extra, shard)| stored.unpack(extra, &shard.names))
    }

    /// The records, oldest first.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: self.in_order(),
            left: self.len(),
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
    /// let minute = Duration::from_secs(60);
    /// assert_eq!(history.usage_between(now - minute, now + minute).request_count, 1);
    /// assert_eq!(history.usage_between(now + minute, now + 2 * minute).request_count, 0);
    /// ```
    pub fn usage_between(&self, from: SystemTime, to: SystemTime) -> TokenUsage {
        let from = unix_nanos(from).unwrap_or_default();
        let to = unix_nanos(to).unwrap_or(u64::MAX);
        self.visible()
            .filter(|(stored, _, _)| (from..to).contains(&stored.unix_nanos()))
            .map(|(stored, extra, _)| usage_of(stored, extra))
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
        for (stored, extra, _) in self.visible() {
            let start = stored.unix_nanos() - stored.unix_nanos() % width;
            *buckets.entry(start).or_default() += usage_of(stored, extra);
        }
        buckets
            .into_iter()
            .map(|(start, usage)| (UNIX_EPOCH + Duration::from_nanos(start), usage))
            .collect()
    }

    /// Usage of these records per value of the label `key`; records without that label are
    /// under `None`. [`UsageTracker::by_label`](crate::UsageTracker::by_label) gives the same
    /// over everything ever recorded, including records retention dropped.
    ///
    /// ```
    /// use mamba_usage::{Labels, UsageRecord, UsageTracker};
    ///
    /// let tracker = UsageTracker::new();
    /// let team = Labels::new().tag("team", "search")?;
    /// tracker.record(&UsageRecord::builder("gpt-4o").prompt_tokens(40).labels(team).build()?);
    /// tracker.record_usage(2, 1, "gpt-4o");
    /// let by_team = tracker.history().by_label("team");
    /// assert_eq!(by_team[&Some("search".into())].total_tokens, 40);
    /// assert_eq!(by_team[&None].total_tokens, 3);
    /// # Ok::<(), mamba_usage::UsageError>(())
    /// ```
    pub fn by_label(&self, key: &str) -> BTreeMap<Option<Arc<str>>, TokenUsage> {
        let mut breakdown: BTreeMap<Option<Arc<str>>, TokenUsage> = BTreeMap::new();
        for (stored, side, _) in self.visible() {
            let value = side.labels().and_then(|labels| labels.get(key));
            *breakdown.entry(value.map(Arc::from)).or_default() += usage_of(stored, side);
        }
        breakdown
    }

    /// The sum of the records in this snapshot, computed from the records themselves.
    ///
    /// ```
    /// let tracker = mamba_usage::UsageTracker::new();
    /// tracker.record_usage(100, 50, "gpt-4o");
    /// assert_eq!(tracker.history().usage().total_tokens, 150);
    /// ```
    pub fn usage(&self) -> TokenUsage {
        self.visible()
            .map(|(stored, extra, _)| usage_of(stored, extra))
            .sum()
    }

    /// The visible stored records in no particular order: every shard in turn when nothing is
    /// hidden (the cheap path), else in recording order past the hidden ones.
    fn visible(&self) -> Box<dyn Iterator<Item = Item<'_>> + '_> {
        if self.hidden == 0 {
            Box::new(
                self.shards
                    .iter()
                    .flat_map(|shard| shard.stored().map(move |(s, e)| (s, e, shard))),
            )
        } else {
            Box::new(self.in_order())
        }
    }

    /// The visible stored records in recording order: a merge of the shards by sequence number.
    fn in_order(&self) -> Merge<'_> {
        let mut cursors: Vec<_> = self
            .shards
            .iter()
            .map(|shard| Box::new(shard.stored().map(move |(s, e)| (s, e, shard))) as Cursor<'_>)
            .map(|mut cursor| (cursor.next(), cursor))
            .collect();
        cursors.retain(|(head, _)| head.is_some());
        let mut merge = Merge { cursors };
        for _ in 0..self.hidden {
            merge.next();
        }
        merge
    }
}

type Item<'a> = (&'a Stored, Side<'a>, &'a ShardView);
// `Send + Sync`, so an `Iter` can be held across an `.await` in a spawned task.
type Cursor<'a> = Box<dyn Iterator<Item = Item<'a>> + Send + Sync + 'a>;

/// Merges shard cursors by sequence number (each shard is already in sequence order).
struct Merge<'a> {
    cursors: Vec<(Option<Item<'a>>, Cursor<'a>)>,
}

impl<'a> Iterator for Merge<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Item<'a>> {
        let (index, _) = self
            .cursors
            .iter()
            .enumerate()
            .filter_map(|(index, (head, _))| head.map(|(stored, _, _)| (index, stored.seq())))
            .min_by_key(|&(_, seq)| seq)?;
        let (head, cursor) = &mut self.cursors[index];
        std::mem::replace(head, cursor.next())
    }
}

fn usage_of(stored: &Stored, side: Side<'_>) -> TokenUsage {
    let [prompt, completion, cached, cache_write, reasoning] = stored.counts(side.extra());
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

/// Iterator over a [`UsageHistory`], oldest first. It is `Send` and `Sync`, so it can be
/// held across an `.await`.
///
/// ```
/// let tracker = mamba_usage::UsageTracker::new();
/// tracker.record_usage(1, 2, "gpt-4o");
/// let history = tracker.history();
/// let mut records = history.iter();
/// assert_eq!(records.len(), 1);
/// assert_eq!(records.next().map(|r| r.total_tokens()), Some(3));
/// ```
pub struct Iter<'a> {
    inner: Merge<'a>,
    left: usize,
}

impl std::fmt::Debug for Iter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iter")
            .field("left", &self.left)
            .finish_non_exhaustive()
    }
}

impl Iterator for Iter<'_> {
    type Item = UsageRecord;

    fn next(&mut self) -> Option<UsageRecord> {
        let (stored, extra, shard) = self.inner.next()?;
        self.left = self.left.saturating_sub(1);
        Some(stored.unpack(extra, &shard.names))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
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
