//! How history is kept: compact records in shared, append-only chunks.
//!
//! A [`Stored`] record is 56 bytes: a global sequence number (the order of recording across
//! shards), a nanosecond timestamp, the five counts as `u32`, latency in nanoseconds, interned
//! model and tool ids, a flag byte and a service-tier byte. Request ids are kept end to end in one text buffer per
//! chunk, so an id costs its bytes plus 8 (a typical agent record with a 38-byte id, latency,
//! cached and reasoning counts takes 102 bytes). What does not fit (a count above `u32::MAX`, a
//! latency over 584 years, a disagreeing provider total) goes to a per-chunk side list of
//! [`Extra`]s, so it costs memory only on the records that have it and nothing is ever
//! truncated.
//!
//! Chunks hold [`CHUNK_RECORDS`] records. Full chunks are frozen behind an `Arc`, so a history
//! snapshot shares them and copies at most the one open chunk.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use rustc_hash::FxHashMap;

use crate::{Labels, ServiceTier, UsageRecord};

/// Records per chunk: large enough that the chunk list stays short, small enough that copying
/// the open chunk of each shard for a snapshot is cheap (1024 x 56 bytes = 56 KiB at most).
pub(crate) const CHUNK_RECORDS: usize = 1024;

const ESTIMATED: u8 = 1;
const HAS_EXTRA: u8 = 2;
const HAS_TOOL: u8 = 4;
const HAS_LATENCY: u8 = 8;
const CUT_OFF: u8 = 16;
const HAS_REQUEST_ID: u8 = 32;
const HAS_LABELS: u8 = 64;

/// One record in history.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stored {
    seq: u64,
    unix_nanos: u64,
    prompt: u32,
    completion: u32,
    cached: u32,
    cache_write: u32,
    reasoning: u32,
    latency_nanos: u64,
    model: u32,
    tool: u32,
    flags: u8,
    /// [`ServiceTier::code`] of the record's tier.
    service: u8,
}

/// The parts of a record that do not fit in [`Stored`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Extra {
    /// The five counts at full width, when any of them exceeds `u32::MAX`.
    wide_counts: Option<[u64; 5]>,
    /// One-hour cache writes: rare (Anthropic's longer cache lifetime), so kept here.
    cache_write_1h: Option<u64>,
    /// A latency too long for `u64` nanoseconds.
    latency: Option<Duration>,
    /// A request id that does not fit the chunk's id buffer (over 4 GiB of ids in one chunk).
    request_id: Option<Arc<str>>,
    provider_total_tokens: Option<u64>,
}

/// Where a record keeps what is not in its [`Stored`] part (its [`Extra`] and its request id):
/// its chunk and its index there. Both are looked up only when asked for, so totals never pay
/// for request ids.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Side<'a> {
    chunk: &'a Chunk,
    index: usize,
}

impl<'a> Side<'a> {
    /// The extra part of the record, if it has one.
    pub(crate) fn extra(self) -> Option<&'a Extra> {
        self.chunk.extra(self.index)
    }

    fn request_id(self) -> Option<&'a str> {
        self.chunk.request_id(self.index)
    }

    /// The record's labels, if it has any.
    pub(crate) fn labels(self) -> Option<&'a Labels> {
        self.chunk.labels(self.index)
    }
}

impl Stored {
    /// Packs `record`; returns the extra part when something does not fit.
    pub(crate) fn pack(
        record: &UsageRecord,
        seq: u64,
        model: u32,
        tool: Option<u32>,
    ) -> (Stored, Option<Box<Extra>>) {
        let counts = [
            record.prompt_tokens,
            record.completion_tokens,
            record.cached_tokens,
            record.cache_write_tokens,
            record.reasoning_tokens,
        ];
        let narrow = counts.map(|count| u32::try_from(count).ok());
        let latency_nanos = record
            .latency
            .and_then(|latency| u64::try_from(latency.as_nanos()).ok());
        let extra = Extra {
            wide_counts: narrow.iter().any(Option::is_none).then_some(counts),
            latency: record.latency.filter(|_| latency_nanos.is_none()),
            cache_write_1h: Some(record.cache_write_1h_tokens).filter(|&n| n > 0),
            request_id: None,
            provider_total_tokens: record.provider_total_tokens,
        };
        let mut flags = 0;
        if record.estimated {
            flags |= ESTIMATED;
        }
        if record.cut_off {
            flags |= CUT_OFF;
        }
        if tool.is_some() {
            flags |= HAS_TOOL;
        }
        if record.latency.is_some() {
            flags |= HAS_LATENCY;
        }
        let has_extra = extra != Extra::default();
        if has_extra {
            flags |= HAS_EXTRA;
        }
        let [prompt, completion, cached, cache_write, reasoning] =
            narrow.map(Option::unwrap_or_default);
        let stored = Stored {
            seq,
            unix_nanos: record.unix_nanos(),
            prompt,
            completion,
            cached,
            cache_write,
            reasoning,
            latency_nanos: latency_nanos.unwrap_or_default(),
            model,
            tool: tool.unwrap_or_default(),
            flags,
            service: ServiceTier::code(record.service_tier),
        };
        (stored, has_extra.then(|| Box::new(extra)))
    }

    /// A stored record of the seed's simple form: no cache, reasoning, tool or latency.
    /// Returns `None` when a count does not fit, so the caller takes the general path.
    pub(crate) fn simple(
        seq: u64,
        unix_nanos: u64,
        prompt: u64,
        completion: u64,
        model: u32,
    ) -> Option<Stored> {
        Some(Stored {
            seq,
            unix_nanos,
            prompt: u32::try_from(prompt).ok()?,
            completion: u32::try_from(completion).ok()?,
            cached: 0,
            cache_write: 0,
            reasoning: 0,
            latency_nanos: 0,
            model,
            tool: 0,
            flags: 0,
            service: 0,
        })
    }

    /// The position of this record among all records of its tracker.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    pub(crate) fn tool(&self) -> Option<u32> {
        (self.flags & HAS_TOOL != 0).then_some(self.tool)
    }

    pub(crate) fn unix_nanos(&self) -> u64 {
        self.unix_nanos
    }

    pub(crate) fn has_extra(&self) -> bool {
        self.flags & HAS_EXTRA != 0
    }

    fn has_request_id(&self) -> bool {
        self.flags & HAS_REQUEST_ID != 0
    }

    /// The five counts, from the extra part when they were too wide to store inline.
    pub(crate) fn counts(&self, extra: Option<&Extra>) -> [u64; 5] {
        extra.and_then(|e| e.wide_counts).unwrap_or_else(|| {
            [
                self.prompt,
                self.completion,
                self.cached,
                self.cache_write,
                self.reasoning,
            ]
            .map(u64::from)
        })
    }

    pub(crate) fn estimated(&self) -> bool {
        self.flags & ESTIMATED != 0
    }

    /// Unpacks into a public record, resolving ids with `names`.
    pub(crate) fn unpack(&self, side: Side<'_>, names: &[Arc<str>]) -> UsageRecord {
        let extra = side.extra();
        let [prompt, completion, cached, cache_write, reasoning] = self.counts(extra);
        let name = |id: u32| {
            let index = usize::try_from(id).unwrap_or(usize::MAX);
            names.get(index).cloned().unwrap_or_else(|| Arc::from(""))
        };
        let latency = (self.flags & HAS_LATENCY != 0).then(|| {
            extra
                .and_then(|e| e.latency)
                .unwrap_or_else(|| Duration::from_nanos(self.latency_nanos))
        });
        UsageRecord {
            timestamp: UNIX_EPOCH + Duration::from_nanos(self.unix_nanos),
            model: name(self.model),
            prompt_tokens: prompt,
            completion_tokens: completion,
            cached_tokens: cached,
            cache_write_tokens: cache_write,
            cache_write_1h_tokens: extra.and_then(|e| e.cache_write_1h).unwrap_or_default(),
            reasoning_tokens: reasoning,
            tool_name: self.tool().map(name),
            estimated: self.estimated(),
            cut_off: self.flags & CUT_OFF != 0,
            request_id: side
                .request_id()
                .map(Arc::from)
                .or_else(|| extra.and_then(|e| e.request_id.clone())),
            latency,
            provider_total_tokens: extra.and_then(|e| e.provider_total_tokens),
            service_tier: ServiceTier::from_code(self.service),
            labels: side.labels().cloned().unwrap_or_default(),
        }
    }
}

/// A run of consecutive records with the extras of those that have one.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chunk {
    pub(crate) records: Vec<Stored>,
    /// `(index in records, extra)`, in index order.
    extras: Vec<(u32, Box<Extra>)>,
    /// The request ids of the records that have one, end to end. One buffer per chunk instead
    /// of an `Arc<str>` per record saves the 16-byte header, the 16-byte pointer and the
    /// allocator's rounding on every id.
    request_ids: String,
    /// `(index in records, where its id ends in request_ids)`, in index order; each id starts
    /// where the previous one ends.
    request_id_ends: Vec<(u32, u32)>,
    /// `(index in records, labels)` of the records that have labels, in index order; the
    /// labels are shared with every other record that carries them.
    labels: Vec<(u32, Labels)>,
}

impl Chunk {
    /// The extra part of the record at `index`, if it has one.
    fn extra(&self, index: usize) -> Option<&Extra> {
        if !self.records.get(index)?.has_extra() {
            return None;
        }
        let key = u32::try_from(index).ok()?;
        let position = self.extras.binary_search_by_key(&key, |(i, _)| *i).ok()?;
        Some(&self.extras[position].1)
    }

    /// Where the record at `index` keeps what is not in its [`Stored`] part.
    pub(crate) fn side(&self, index: usize) -> Side<'_> {
        Side { chunk: self, index }
    }

    fn request_id(&self, index: usize) -> Option<&str> {
        if !self.records.get(index)?.has_request_id() {
            return None;
        }
        let key = u32::try_from(index).ok()?;
        let position = self
            .request_id_ends
            .binary_search_by_key(&key, |(i, _)| *i)
            .ok()?;
        let start = match position.checked_sub(1) {
            Some(previous) => self.request_id_ends[previous].1,
            None => 0,
        };
        let end = self.request_id_ends[position].1;
        self.request_ids
            .get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
    }

    fn labels(&self, index: usize) -> Option<&Labels> {
        if self.records.get(index)?.flags & HAS_LABELS == 0 {
            return None;
        }
        let key = u32::try_from(index).ok()?;
        let position = self.labels.binary_search_by_key(&key, |(i, _)| *i).ok()?;
        Some(&self.labels[position].1)
    }

    /// Appends `id` to the id buffer for the record about to be pushed at `index`; `false`
    /// when the buffer would pass `u32::MAX` bytes, so the caller keeps the id in [`Extra`].
    fn push_request_id(&mut self, index: u32, id: &str) -> bool {
        let Ok(end) = u32::try_from(self.request_ids.len() + id.len()) else {
            return false;
        };
        self.request_ids.push_str(id);
        self.request_id_ends.push((index, end));
        true
    }

    /// Gives back the spare capacity of a chunk that will not grow again.
    fn shrink(&mut self) {
        self.extras.shrink_to_fit();
        self.request_ids.shrink_to_fit();
        self.request_id_ends.shrink_to_fit();
        self.labels.shrink_to_fit();
    }
}

/// Interned model and tool names. Ids index `names`, which snapshots share; a new name after a
/// snapshot copies the (short) list once instead of locking readers out.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    ids: FxHashMap<Arc<str>, u32>,
    names: Arc<Vec<Arc<str>>>,
    last: Option<(Arc<str>, u32)>,
}

impl Interner {
    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        // Agents usually record the same model over and over: compare with the last name first.
        if let Some((last, id)) = &self.last
            && **last == *name
        {
            return *id;
        }
        let id = match self.ids.get(name) {
            Some(&id) => id,
            None => {
                let shared: Arc<str> = name.into();
                // Four billion distinct names would need hundreds of gigabytes first.
                let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
                Arc::make_mut(&mut self.names).push(Arc::clone(&shared));
                self.ids.insert(Arc::clone(&shared), id);
                id
            }
        };
        let shared = self
            .names
            .get(usize::try_from(id).unwrap_or(usize::MAX))
            .cloned();
        self.last = shared.map(|name| (name, id));
        id
    }

    pub(crate) fn names(&self) -> &Arc<Vec<Arc<str>>> {
        &self.names
    }
}

/// The history: frozen chunks, the open chunk, and the retention state.
#[derive(Debug)]
pub(crate) struct Log {
    frozen: VecDeque<Arc<Chunk>>,
    open: Chunk,
    /// Records at the front of the first chunk hidden by retention.
    skip: usize,
    /// Visible records.
    len: usize,
    /// Keep at most this many records (`None`: all).
    limit: Option<usize>,
    /// Records dropped by retention since the last reset.
    dropped: u64,
}

impl Log {
    pub(crate) fn new(limit: Option<usize>) -> Log {
        Log {
            frozen: VecDeque::new(),
            open: Chunk::default(),
            skip: 0,
            len: 0,
            limit,
            dropped: 0,
        }
    }

    /// Appends a record packed by [`Stored::pack`], with its request id and labels.
    pub(crate) fn push(
        &mut self,
        mut stored: Stored,
        mut extra: Option<Box<Extra>>,
        request_id: Option<&str>,
        labels: &Labels,
    ) {
        // Allocate the open chunk on first use, so idle shards cost no memory.
        if self.open.records.capacity() == 0 {
            self.open.records.reserve_exact(CHUNK_RECORDS);
        }
        let index = u32::try_from(self.open.records.len()).unwrap_or(u32::MAX);
        if let Some(id) = request_id {
            if self.open.push_request_id(index, id) {
                stored.flags |= HAS_REQUEST_ID;
            } else {
                extra.get_or_insert_default().request_id = Some(Arc::from(id));
                stored.flags |= HAS_EXTRA;
            }
        }
        if let Some(extra) = extra {
            self.open.extras.push((index, extra));
        }
        if !labels.is_empty() {
            self.open.labels.push((index, labels.clone()));
            stored.flags |= HAS_LABELS;
        }
        self.open.records.push(stored);
        self.len += 1;
        if self.open.records.len() == CHUNK_RECORDS {
            let mut full = std::mem::take(&mut self.open);
            full.shrink();
            self.frozen.push_back(Arc::new(full));
        }
        if let Some(limit) = self.limit {
            while self.len > limit {
                self.drop_oldest();
            }
        }
    }

    fn drop_oldest(&mut self) {
        self.skip += 1;
        self.len -= 1;
        self.dropped += 1;
        if self
            .frozen
            .front()
            .is_some_and(|first| self.skip == first.records.len())
        {
            self.frozen.pop_front();
            self.skip = 0;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The visible records as shared chunks plus a copy of the open one.
    pub(crate) fn snapshot(&self) -> (Vec<Arc<Chunk>>, usize) {
        let mut chunks: Vec<Arc<Chunk>> = self.frozen.iter().cloned().collect();
        if !self.open.records.is_empty() {
            chunks.push(Arc::new(self.open.clone()));
        }
        (chunks, self.skip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_record_is_56_bytes() {
        assert_eq!(std::mem::size_of::<Stored>(), 56);
    }

    #[test]
    fn wide_values_round_trip_through_the_extra_part() {
        let record = UsageRecord::builder("m")
            .prompt_tokens(u64::from(u32::MAX) + 7)
            .cache_write_tokens(9)
            .cache_write_1h_tokens(4)
            .service_tier(ServiceTier::Batch)
            .cached_tokens(5)
            .completion_tokens(3)
            .latency(Duration::from_nanos(1_500))
            .request_id("req-1")
            .build()
            .unwrap();
        let (stored, extra) = Stored::pack(&record, 0, 0, None);
        assert!(stored.has_extra());
        let mut log = Log::new(None);
        log.push(stored, extra, record.request_id(), record.labels());
        let (chunks, _) = log.snapshot();
        let names = vec![Arc::from("m")];
        assert_eq!(
            chunks[0].records[0].unpack(chunks[0].side(0), &names),
            record
        );
    }

    #[test]
    fn request_ids_come_back_from_the_shared_buffer_to_the_right_records() {
        let ids = ["", "chatcmpl-a", "", "req-β-2", "x"];
        let mut log = Log::new(None);
        let mut records = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let mut builder = UsageRecord::builder("m").prompt_tokens(i as u64);
            // An odd index has an id (even an empty one); an even index has none.
            if i % 2 == 1 || !id.is_empty() {
                builder = builder.request_id(id);
            }
            let record = builder.build().unwrap();
            let (stored, extra) = Stored::pack(&record, i as u64, 0, None);
            log.push(stored, extra, record.request_id(), record.labels());
            records.push(record);
        }
        let (chunks, _) = log.snapshot();
        let names = vec![Arc::from("m")];
        let back: Vec<UsageRecord> = (0..ids.len())
            .map(|i| chunks[0].records[i].unpack(chunks[0].side(i), &names))
            .collect();
        assert_eq!(back, records);
        assert_eq!(back[0].request_id(), None);
        assert_eq!(back[1].request_id(), Some("chatcmpl-a"));
        assert_eq!(back[3].request_id(), Some("req-β-2"));
        assert_eq!(back[4].request_id(), Some("x"));
    }

    #[test]
    fn a_latency_with_nanoseconds_stays_inline() {
        let record = UsageRecord::builder("m")
            .latency(Duration::from_nanos(850_123_457))
            .build()
            .unwrap();
        let (stored, extra) = Stored::pack(&record, 0, 0, None);
        assert!(extra.is_none());
        let chunk = Chunk::default();
        assert_eq!(stored.unpack(chunk.side(0), &[Arc::from("m")]), record);
    }

    #[test]
    fn retention_drops_the_oldest_and_frees_whole_chunks() {
        let mut log = Log::new(Some(10));
        for i in 0..(CHUNK_RECORDS as u64 * 2 + 5) {
            log.push(
                Stored::simple(i, i, 1, 1, 0).unwrap(),
                None,
                None,
                &Labels::new(),
            );
        }
        assert_eq!(log.len(), 10);
        assert_eq!(log.dropped(), CHUNK_RECORDS as u64 * 2 + 5 - 10);
        let (chunks, skip) = log.snapshot();
        let visible: Vec<u64> = chunks
            .iter()
            .flat_map(|c| c.records.iter())
            .skip(skip)
            .map(Stored::unix_nanos)
            .collect();
        let expected: Vec<u64> =
            (CHUNK_RECORDS as u64 * 2 - 5..CHUNK_RECORDS as u64 * 2 + 5).collect();
        assert_eq!(visible, expected);
        assert!(
            chunks.len() <= 2,
            "at most the chunk holding the oldest kept record and the open one"
        );
    }
}
