//! [`UsageTracker`]: the thread-safe, shared record of every request.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use crate::history::{ShardView, UsageHistory};
use crate::record::unix_nanos;
use crate::store::{Interner, Log, Stored};
use crate::{Labels, TokenUsage, UsageRecord};
use rustc_hash::FxHashMap;

/// How a tracker keeps history.
///
/// `mamba-settings` maps the `tracking` section of `config.toml` onto this struct.
///
/// ```
/// use mamba_usage::{TrackerConfig, UsageTracker};
///
/// let tracker = UsageTracker::with_config(TrackerConfig::default().with_max_history_records(1_000));
/// assert_eq!(tracker.config().max_history_records, Some(1_000));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[non_exhaustive]
pub struct TrackerConfig {
    /// Keep only the most recent records in history (`None`, the default: keep all). Totals,
    /// [`UsageTracker::by_model`] and [`UsageTracker::by_tool`] still count every record;
    /// [`UsageSummary::dropped_records`] says how many left history. `Some(0)` keeps totals only.
    pub max_history_records: Option<usize>,
}

impl TrackerConfig {
    /// Keeping only the `records` most recent records in history.
    #[must_use]
    pub const fn with_max_history_records(mut self, records: usize) -> TrackerConfig {
        self.max_history_records = Some(records);
        self
    }
}

/// Totals of everything recorded, and how much of it history still holds.
///
/// ```
/// use mamba_usage::UsageTracker;
///
/// let tracker = UsageTracker::new();
/// tracker.record_usage(100, 50, "gpt-4o");
/// let summary = tracker.summary();
/// assert_eq!((summary.totals.total_tokens, summary.retained_records, summary.dropped_records), (150, 1, 0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct UsageSummary {
    /// Usage of every request recorded since creation or the last reset.
    pub totals: TokenUsage,
    /// Records still in history.
    pub retained_records: u64,
    /// Records dropped from history by retention (still counted in `totals`).
    pub dropped_records: u64,
}

/// Records the usage of every model request; clones share one record, across threads.
///
/// The Rust counterpart of the seed's `UsageTracker`. Recording is O(1), does no I/O, and takes
/// one short lock on the calling thread's shard, so threads recording at once do not queue
/// behind each other. Every view locks all shards at once (always in the same order), so it sees
/// one consistent moment: a [`UsageHistory`] always agrees with the [`UsageSummary`] it carries,
/// totals equal the sum of history plus the dropped records, and history is in recording order.
///
/// ```
/// use mamba_usage::UsageTracker;
///
/// let tracker = UsageTracker::new();
/// tracker.record_usage(100, 50, "gpt-4o");
///
/// let worker = tracker.clone(); // shares state
/// std::thread::spawn(move || worker.record_usage(10, 5, "gpt-4o-mini")).join().unwrap();
///
/// let summary = tracker.summary();
/// assert_eq!((summary.totals.total_tokens, summary.totals.request_count), (165, 2));
/// assert_eq!(tracker.history().len(), 2);
/// tracker.reset();
/// assert_eq!(tracker.summary().totals.request_count, 0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct UsageTracker {
    shared: Arc<Shared>,
}

/// Shards per tracker: enough that the threads of a busy process rarely share one.
const SHARDS: usize = 8;

#[derive(Debug, Default)]
struct Shared {
    config: TrackerConfig,
    /// The next record's position in recording order, across all shards.
    next_seq: AtomicU64,
    shards: [Padded<Mutex<State>>; SHARDS],
}

/// Keeps each shard's lock on its own cache lines, so shards used by different threads do not
/// slow each other down through false sharing.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// The shard a thread records into: threads are dealt out round-robin on first use.
fn shard_of_this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|shard| *shard)
}

#[derive(Debug)]
struct State {
    /// This shard's history; it keeps up to the tracker's limit, and views keep the newest
    /// `limit` records over all shards, which are always among each shard's newest `limit`.
    log: Log,
    names: Interner,
    totals: TokenUsage,
    /// All-time usage per interned model name id.
    per_model: Vec<TokenUsage>,
    /// All-time usage per interned tool name id.
    per_tool: Vec<TokenUsage>,
    without_tool: TokenUsage,
    /// All-time usage per distinct label set, and where each set is in that list.
    per_labels: Vec<(Labels, TokenUsage)>,
    label_index: FxHashMap<Labels, usize>,
    /// The list position of the last label set recorded: an agent's records usually share
    /// one set, which is then found by comparing one pointer.
    last_labels: Option<usize>,
    /// All-time usage of the records without labels.
    unlabelled: TokenUsage,
}

impl Default for State {
    fn default() -> Self {
        State::new(TrackerConfig::default())
    }
}

impl State {
    fn new(config: TrackerConfig) -> State {
        State {
            log: Log::new(config.max_history_records),
            names: Interner::default(),
            totals: TokenUsage::ZERO,
            per_model: Vec::new(),
            per_tool: Vec::new(),
            without_tool: TokenUsage::ZERO,
            per_labels: Vec::new(),
            label_index: FxHashMap::default(),
            last_labels: None,
            unlabelled: TokenUsage::ZERO,
        }
    }

    fn account_labels(&mut self, labels: &Labels, usage: TokenUsage) {
        let cached = self
            .last_labels
            .filter(|&at| self.per_labels[at].0.same_allocation(labels));
        let at = match cached {
            Some(at) => at,
            None => {
                let next = self.per_labels.len();
                let at = *self.label_index.entry(labels.clone()).or_insert(next);
                if at == next {
                    self.per_labels.push((labels.clone(), TokenUsage::ZERO));
                }
                self.last_labels = Some(at);
                at
            }
        };
        self.per_labels[at].1 += usage;
    }

    fn account(&mut self, usage: TokenUsage, model: u32, tool: Option<u32>) {
        self.totals += usage;
        *slot(&mut self.per_model, model) += usage;
        match tool {
            Some(tool) => *slot(&mut self.per_tool, tool) += usage,
            None => self.without_tool += usage,
        }
    }

    /// Records ever pushed to this shard since the last reset.
    fn recorded(&self) -> u64 {
        u64::try_from(self.log.len())
            .unwrap_or(u64::MAX)
            .saturating_add(self.log.dropped())
    }
}

/// The entry for `id`, growing the table as new names appear.
fn slot(table: &mut Vec<TokenUsage>, id: u32) -> &mut TokenUsage {
    let index = usize::try_from(id).unwrap_or(usize::MAX);
    if index >= table.len() {
        table.resize(index.saturating_add(1), TokenUsage::ZERO);
    }
    &mut table[index]
}

impl UsageTracker {
    /// An empty tracker that keeps all history.
    ///
    /// ```
    /// assert_eq!(mamba_usage::UsageTracker::new().summary().totals.request_count, 0);
    /// ```
    pub fn new() -> UsageTracker {
        UsageTracker::default()
    }

    /// An empty tracker with the given retention.
    ///
    /// ```
    /// use mamba_usage::{TrackerConfig, UsageTracker};
    ///
    /// let tracker = UsageTracker::with_config(TrackerConfig::default().with_max_history_records(2));
    /// for _ in 0..5 {
    ///     tracker.record_usage(10, 1, "gpt-4o");
    /// }
    /// let summary = tracker.summary();
    /// assert_eq!((summary.retained_records, summary.dropped_records), (2, 3));
    /// assert_eq!(summary.totals.prompt_tokens, 50); // totals still count everything
    /// ```
    pub fn with_config(config: TrackerConfig) -> UsageTracker {
        UsageTracker {
            shared: Arc::new(Shared {
                config,
                next_seq: AtomicU64::new(0),
                shards: std::array::from_fn(|_| Padded(Mutex::new(State::new(config)))),
            }),
        }
    }

    /// The configuration this tracker was made with.
    pub fn config(&self) -> TrackerConfig {
        self.shared.config
    }

    /// Records one request of `input_tokens` in and `output_tokens` out, timestamped now: the
    /// seed's `record_usage(input_tokens=100, output_tokens=50, model="gpt-4o")`.
    ///
    /// ```
    /// let tracker = mamba_usage::UsageTracker::new();
    /// tracker.record_usage(100, 50, "gpt-4o");
    /// assert_eq!(tracker.history().last().unwrap().model(), "gpt-4o");
    /// ```
    pub fn record_usage(&self, input_tokens: u64, output_tokens: u64, model: &str) {
        let now = SystemTime::now();
        let usage = TokenUsage {
            prompt_tokens: input_tokens,
            completion_tokens: output_tokens,
            total_tokens: input_tokens.saturating_add(output_tokens),
            request_count: 1,
            ..TokenUsage::ZERO
        };
        let nanos = unix_nanos(now).unwrap_or_default();
        let mut state = self.own_shard();
        // Taken under the shard lock, so each shard's records are in sequence order.
        let seq = self.shared.next_seq.fetch_add(1, Ordering::Relaxed);
        let model_id = state.names.intern(model);
        match Stored::simple(seq, nanos, input_tokens, output_tokens, model_id) {
            Some(stored) => state.log.push(stored, None, None, &Labels::new()),
            None => {
                let mut record = UsageRecord::new(input_tokens, output_tokens, model);
                record.timestamp = now;
                let (stored, extra) = Stored::pack(&record, seq, model_id, None);
                state
                    .log
                    .push(stored, extra, record.request_id(), record.labels());
            }
        }
        state.account(usage, model_id, None);
        state.unlabelled += usage;
    }

    /// Records a full [`UsageRecord`] (cached, reasoning, tool, latency, ...).
    ///
    /// ```
    /// use mamba_usage::{UsageRecord, UsageTracker};
    ///
    /// let tracker = UsageTracker::new();
    /// let record = UsageRecord::builder("o3").prompt_tokens(500).completion_tokens(900)
    ///     .reasoning_tokens(700).tool_name("search").build()?;
    /// tracker.record(&record);
    /// assert_eq!(tracker.history().last(), Some(record));
    /// assert_eq!(tracker.summary().totals.reasoning_tokens, 700);
    /// # Ok::<(), mamba_usage::UsageError>(())
    /// ```
    pub fn record(&self, record: &UsageRecord) {
        let usage = TokenUsage::from_record(record);
        let mut state = self.own_shard();
        let seq = self.shared.next_seq.fetch_add(1, Ordering::Relaxed);
        let model = state.names.intern(&record.model);
        let tool = record
            .tool_name
            .as_deref()
            .map(|tool| state.names.intern(tool));
        let (stored, extra) = Stored::pack(record, seq, model, tool);
        state
            .log
            .push(stored, extra, record.request_id(), &record.labels);
        state.account(usage, model, tool);
        if record.labels.is_empty() {
            state.unlabelled += usage;
        } else {
            state.account_labels(&record.labels, usage);
        }
    }

    /// Totals of everything recorded, in O(1) (one lock per shard).
    pub fn summary(&self) -> UsageSummary {
        summary_of(&self.lock_all(), self.shared.config)
    }

    /// The totals alone: `summary().totals`.
    ///
    /// ```
    /// let tracker = mamba_usage::UsageTracker::new();
    /// tracker.record_usage(3, 4, "gpt-4o");
    /// assert_eq!(tracker.usage().total_tokens, 7);
    /// ```
    pub fn usage(&self) -> TokenUsage {
        self.summary().totals
    }

    /// A snapshot of the history, oldest first, with the summary of the same moment.
    ///
    /// Costs one pointer copy per 1024 records plus a copy of each shard's newest, not yet full,
    /// 1024: the records already frozen are shared with the tracker, not copied.
    pub fn history(&self) -> UsageHistory {
        let states = self.lock_all();
        let summary = summary_of(&states, self.shared.config);
        let shards = states
            .iter()
            .filter(|state| state.log.len() > 0)
            .map(|state| {
                let (chunks, skip) = state.log.snapshot();
                ShardView::new(
                    chunks,
                    skip,
                    state.log.len(),
                    Arc::clone(state.names.names()),
                )
            })
            .collect();
        UsageHistory::new(shards, summary)
    }

    /// Forgets every record and total (interned names stay, which costs nothing visible).
    pub fn reset(&self) {
        let mut states = self.lock_all();
        for state in &mut states {
            let names = std::mem::take(&mut state.names);
            **state = State {
                names,
                ..State::new(self.shared.config)
            };
        }
    }

    /// All-time usage per model, in name order.
    ///
    /// ```
    /// let tracker = mamba_usage::UsageTracker::new();
    /// tracker.record_usage(100, 50, "gpt-4o");
    /// tracker.record_usage(10, 5, "gpt-4o-mini");
    /// tracker.record_usage(1, 1, "gpt-4o");
    /// let by_model = tracker.by_model();
    /// assert_eq!(by_model["gpt-4o"].total_tokens, 152);
    /// assert_eq!(by_model["gpt-4o-mini"].request_count, 1);
    /// ```
    pub fn by_model(&self) -> BTreeMap<Arc<str>, TokenUsage> {
        let mut models = BTreeMap::new();
        for state in &self.lock_all() {
            merge_breakdown(&mut models, &state.per_model, state.names.names());
        }
        models
    }

    /// All-time usage per tool; requests that called no tool are under the key `None`.
    ///
    /// ```
    /// use mamba_usage::{UsageRecord, UsageTracker};
    ///
    /// let tracker = UsageTracker::new();
    /// tracker.record(&UsageRecord::builder("gpt-4o").prompt_tokens(10).tool_name("search").build()?);
    /// tracker.record_usage(5, 5, "gpt-4o");
    /// let by_tool = tracker.by_tool();
    /// assert_eq!(by_tool[&Some("search".into())].prompt_tokens, 10);
    /// assert_eq!(by_tool[&None].total_tokens, 10);
    /// # Ok::<(), mamba_usage::UsageError>(())
    /// ```
    pub fn by_tool(&self) -> BTreeMap<Option<Arc<str>>, TokenUsage> {
        let states = self.lock_all();
        let mut named = BTreeMap::new();
        let mut without_tool = TokenUsage::ZERO;
        for state in &states {
            merge_breakdown(&mut named, &state.per_tool, state.names.names());
            without_tool += state.without_tool;
        }
        let mut tools: BTreeMap<Option<Arc<str>>, TokenUsage> = named
            .into_iter()
            .map(|(name, usage)| (Some(name), usage))
            .collect();
        if without_tool.request_count > 0 {
            tools.insert(None, without_tool);
        }
        tools
    }

    /// All-time usage per value of the label `key` (`"user"`, `"session"` or a tag);
    /// requests without that label are under the key `None`.
    ///
    /// ```
    /// use mamba_usage::{Labels, UsageRecord, UsageTracker};
    ///
    /// let tracker = UsageTracker::new();
    /// let alice = Labels::new().user("alice").session("s1");
    /// for prompt in [100, 20] {
    ///     tracker.record(&UsageRecord::builder("gpt-4o").prompt_tokens(prompt)
    ///         .labels(alice.clone()).build()?);
    /// }
    /// tracker.record(&UsageRecord::builder("gpt-4o").prompt_tokens(7)
    ///     .labels(Labels::new().user("bob")).build()?);
    /// tracker.record_usage(1, 0, "gpt-4o");
    ///
    /// let by_user = tracker.by_label("user");
    /// assert_eq!(by_user[&Some("alice".into())].prompt_tokens, 120);
    /// assert_eq!(by_user[&Some("bob".into())].prompt_tokens, 7);
    /// assert_eq!(by_user[&None].prompt_tokens, 1);
    /// assert_eq!(tracker.by_label("session")[&None].request_count, 2);
    /// # Ok::<(), mamba_usage::UsageError>(())
    /// ```
    pub fn by_label(&self, key: &str) -> BTreeMap<Option<Arc<str>>, TokenUsage> {
        let states = self.lock_all();
        let mut breakdown = BTreeMap::new();
        let mut without = TokenUsage::ZERO;
        for state in &states {
            without += state.unlabelled;
            for (labels, usage) in &state.per_labels {
                match labels.get(key) {
                    Some(value) => *breakdown.entry(Some(Arc::from(value))).or_default() += *usage,
                    None => without += *usage,
                }
            }
        }
        if without.request_count > 0 {
            breakdown.insert(None, without);
        }
        breakdown
    }

    /// Usage of the records in history with timestamps in `from..to` (history only: records
    /// dropped by retention are not included).
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    ///
    /// let tracker = mamba_usage::UsageTracker::new();
    /// let start = SystemTime::now();
    /// tracker.record_usage(100, 50, "gpt-4o");
    /// let window = tracker.usage_between(start, SystemTime::now() + Duration::from_secs(1));
    /// assert_eq!(window.total_tokens, 150);
    /// ```
    pub fn usage_between(&self, from: SystemTime, to: SystemTime) -> TokenUsage {
        self.history().usage_between(from, to)
    }

    fn own_shard(&self) -> MutexGuard<'_, State> {
        lock(&self.shared.shards[shard_of_this_thread()].0)
    }

    /// Every shard, locked in index order (the only order any code takes more than one in).
    fn lock_all(&self) -> Vec<MutexGuard<'_, State>> {
        self.shared
            .shards
            .iter()
            .map(|shard| lock(&shard.0))
            .collect()
    }
}

fn lock(shard: &Mutex<State>) -> MutexGuard<'_, State> {
    // No code that can panic runs under these locks, and every update leaves the state
    // consistent before the next, so a poisoned lock still holds valid data.
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

fn summary_of(states: &[MutexGuard<'_, State>], config: TrackerConfig) -> UsageSummary {
    let totals = states.iter().map(|state| state.totals).sum();
    let recorded = states
        .iter()
        .map(|state| state.recorded())
        .fold(0, u64::saturating_add);
    let in_shards = states.iter().map(|state| state.log.len()).sum::<usize>();
    let retained = config
        .max_history_records
        .map_or(in_shards, |limit| in_shards.min(limit));
    let retained = u64::try_from(retained).unwrap_or(u64::MAX);
    UsageSummary {
        totals,
        retained_records: retained,
        dropped_records: recorded.saturating_sub(retained),
    }
}

fn merge_breakdown(
    into: &mut BTreeMap<Arc<str>, TokenUsage>,
    table: &[TokenUsage],
    names: &[Arc<str>],
) {
    for (usage, name) in table
        .iter()
        .zip(names)
        .filter(|(usage, _)| usage.request_count > 0)
    {
        *into.entry(Arc::clone(name)).or_default() += *usage;
    }
}
