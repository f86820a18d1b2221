//! What both backends store and read back, in one place: a record's column values (checked
//! against what a signed 64-bit column holds), a row read back into a [`UsageRecord`], and a
//! group of sums turned into [`LedgerTotals`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mamba_pricing::{CostBreakdown, PriceSource};
use mamba_usage::{Labels, TokenUsage, UsageRecord};
use rust_decimal::Decimal;

use crate::{LedgerError, LedgerTotals, RecordId, Written};

/// The text a price source is stored as.
pub(crate) fn source_name(source: PriceSource) -> &'static str {
    match source {
        PriceSource::BuiltIn => "built_in",
        PriceSource::Custom => "custom",
        PriceSource::Default => "default",
        PriceSource::Local => "local",
        PriceSource::Unpriced => "unpriced",
        _ => "mixed",
    }
}

/// Nanoseconds since 1970, as stored (times before 1970 are stored as 0, after 2262 as the
/// largest value).
pub(crate) fn nanos_since_epoch(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|since| i64::try_from(since.as_nanos()).ok())
        .unwrap_or(i64::MAX)
}

/// A record's cost as stored: the parts, exact, and where the price came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredCost {
    pub(crate) input: Decimal,
    pub(crate) cached_input: Decimal,
    pub(crate) cache_write: Decimal,
    pub(crate) completion: Decimal,
    pub(crate) total: Decimal,
    /// [`source_name`]'s text.
    pub(crate) source: String,
    pub(crate) priced_as: Option<String>,
}

impl StoredCost {
    pub(crate) fn of(cost: &CostBreakdown) -> StoredCost {
        StoredCost {
            input: cost.input_cost,
            cached_input: cost.cached_input_cost,
            cache_write: cost.cache_write_cost,
            completion: cost.completion_cost,
            total: cost.total_cost,
            source: source_name(cost.source).to_owned(),
            priced_as: cost.priced_as.clone(),
        }
    }
}

/// One record's column values, checked to fit before any write starts. It owns its record and
/// cost, so a write can be handed to another thread (the PostgreSQL connection's) or to the
/// spill file.
#[derive(Debug, Clone)]
pub(crate) struct Values {
    pub(crate) id: RecordId,
    pub(crate) ts_ns: i64,
    pub(crate) record: UsageRecord,
    pub(crate) counts: Counts,
    pub(crate) provider_total: Option<i64>,
    pub(crate) latency_ns: Option<i64>,
    pub(crate) labels: String,
    pub(crate) cost: StoredCost,
    pub(crate) unpriced_tokens: i64,
    /// The ids of the fleet-budget holds this record settles (given back in its insert's
    /// transaction).
    pub(crate) releases: Vec<[u8; 16]>,
}

impl Values {
    /// # Errors
    /// [`LedgerError::Unstorable`] naming the first count above `i64::MAX`.
    pub(crate) fn new(
        id: RecordId,
        record: &UsageRecord,
        cost: &CostBreakdown,
    ) -> Result<Values, LedgerError> {
        Values::stored(
            id,
            record.clone(),
            StoredCost::of(cost),
            cost.unpriced_tokens,
        )
    }

    /// The values of `record` with a cost already in its stored form (a spilled record).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub(crate) fn stored(
        id: RecordId,
        record: UsageRecord,
        cost: StoredCost,
        unpriced_tokens: u64,
    ) -> Result<Values, LedgerError> {
        let count = |field: &str, value: u64| {
            i64::try_from(value).map_err(|_| LedgerError::Unstorable {
                id: id.to_string(),
                problem: format!(
                    "{field} {value} is above the ledger's limit of {}",
                    i64::MAX
                ),
            })
        };
        let counts = Counts {
            prompt: count("prompt_tokens", record.prompt_tokens())?,
            completion: count("completion_tokens", record.completion_tokens())?,
            cached: count("cached_tokens", record.cached_tokens())?,
            cache_write: count("cache_write_tokens", record.cache_write_tokens())?,
            cache_write_1h: count("cache_write_1h_tokens", record.cache_write_1h_tokens())?,
            reasoning: count("reasoning_tokens", record.reasoning_tokens())?,
        };
        let unpriced_tokens = count("unpriced_tokens", unpriced_tokens)?;
        let provider_total = record
            .provider_total_tokens()
            .map(|total| count("provider_total_tokens", total))
            .transpose()?;
        let latency_ns = record
            .latency()
            .map(|latency| {
                i64::try_from(latency.as_nanos()).map_err(|_| LedgerError::Unstorable {
                    id: id.to_string(),
                    problem: format!("latency {latency:?} is too long"),
                })
            })
            .transpose()?;
        Ok(Values {
            id,
            ts_ns: nanos_since_epoch(record.timestamp()),
            labels: record.labels().to_string(),
            record,
            counts,
            provider_total,
            latency_ns,
            cost,
            unpriced_tokens,
            releases: Vec::new(),
        })
    }
}

/// A record's token counts as stored (signed 64-bit columns).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counts {
    pub(crate) prompt: i64,
    pub(crate) completion: i64,
    pub(crate) cached: i64,
    pub(crate) cache_write: i64,
    pub(crate) cache_write_1h: i64,
    pub(crate) reasoning: i64,
}

/// The columns every query that reads records selects, in [`Row`]'s order.
pub(crate) const RECORD_COLUMNS: &str = "id, ts_ns, model, prompt_tokens, completion_tokens, \
    cached_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, tool_name, \
    estimated, cut_off, request_id, latency_ns, provider_total_tokens, service_tier, labels";

/// A `records` row as read.
pub(crate) struct Row {
    pub(crate) id: Vec<u8>,
    pub(crate) ts_ns: i64,
    pub(crate) model: String,
    pub(crate) counts: Counts,
    pub(crate) tool_name: Option<String>,
    pub(crate) estimated: bool,
    pub(crate) cut_off: bool,
    pub(crate) request_id: Option<String>,
    pub(crate) latency_ns: Option<i64>,
    pub(crate) provider_total: Option<i64>,
    pub(crate) service_tier: Option<String>,
    pub(crate) labels: String,
}

/// A [`Row`] from a driver's row whose columns are [`RECORD_COLUMNS`]: `$row.$get(i)?` reads
/// column `i` (`row.get` for rusqlite, `row.try_get` for postgres), in the enclosing function.
macro_rules! read_row {
    ($row:ident . $get:ident) => {
        $crate::stored::Row {
            id: $row.$get(0)?,
            ts_ns: $row.$get(1)?,
            model: $row.$get(2)?,
            counts: $crate::stored::Counts {
                prompt: $row.$get(3)?,
                completion: $row.$get(4)?,
                cached: $row.$get(5)?,
                cache_write: $row.$get(6)?,
                cache_write_1h: $row.$get(7)?,
                reasoning: $row.$get(8)?,
            },
            tool_name: $row.$get(9)?,
            estimated: $row.$get(10)?,
            cut_off: $row.$get(11)?,
            request_id: $row.$get(12)?,
            latency_ns: $row.$get(13)?,
            provider_total: $row.$get(14)?,
            service_tier: $row.$get(15)?,
            labels: $row.$get(16)?,
        }
    };
}
pub(crate) use read_row;

impl Row {
    /// The record this row holds, from the ledger at `location`.
    ///
    /// # Errors
    /// [`LedgerError::Corrupt`] naming the row's id and what does not read back.
    pub(crate) fn into_record(
        self,
        location: &str,
    ) -> Result<(RecordId, UsageRecord), LedgerError> {
        // The id's text is made only for an error: reading a good row formats nothing.
        let raw_id = &self.id;
        let corrupt = |problem: String| LedgerError::Corrupt {
            location: location.to_owned(),
            id: raw_id.iter().map(|byte| format!("{byte:02x}")).collect(),
            problem,
        };
        let bytes: [u8; 16] = self
            .id
            .as_slice()
            .try_into()
            .map_err(|_| corrupt(format!("the id has {} bytes, not 16", self.id.len())))?;
        let id = RecordId::from_bytes(bytes);
        let whole =
            |n: i64| u64::try_from(n).map_err(|_| corrupt(format!("count {n} is negative")));
        let counts = self.counts;
        let nanos = whole(self.ts_ns)?;
        let mut builder = UsageRecord::builder(&self.model)
            .timestamp(UNIX_EPOCH + Duration::from_nanos(nanos))
            .prompt_tokens(whole(counts.prompt)?)
            .completion_tokens(whole(counts.completion)?)
            .cached_tokens(whole(counts.cached)?)
            .cache_write_tokens(whole(counts.cache_write)?)
            .cache_write_1h_tokens(whole(counts.cache_write_1h)?)
            .reasoning_tokens(whole(counts.reasoning)?)
            .estimated(self.estimated)
            .cut_off(self.cut_off)
            .labels(Labels::parse(&self.labels).map_err(|e| corrupt(e.to_string()))?);
        if let Some(tool) = &self.tool_name {
            builder = builder.tool_name(tool);
        }
        if let Some(request_id) = &self.request_id {
            builder = builder.request_id(request_id);
        }
        if let Some(latency) = self.latency_ns {
            builder = builder.latency(Duration::from_nanos(whole(latency)?));
        }
        if let Some(total) = self.provider_total {
            builder = builder.provider_total_tokens(whole(total)?);
        }
        if let Some(tier) = &self.service_tier {
            builder = builder.service_tier(tier.parse().map_err(corrupt)?);
        }
        let record = builder.build().map_err(|e| corrupt(e.to_string()))?;
        Ok((id, record))
    }
}

/// How a breakdown groups records.
#[derive(Debug, Clone)]
pub(crate) enum Group {
    All,
    Model,
    Tool,
    /// The UTC day, `2026-12-02`.
    Day,
    /// The value of one label key.
    Label(String),
}

impl Group {
    /// The SQL that groups (`day` is the backend's UTC-day expression over `ts_ns`) and the
    /// join it needs (`label_join`, whose third parameter is the label key).
    pub(crate) fn sql(
        &self,
        day: &'static str,
        label_join: &'static str,
    ) -> (&'static str, &'static str) {
        match self {
            Group::All => ("''", ""),
            Group::Model => ("model", ""),
            Group::Tool => ("tool_name", ""),
            Group::Day => (day, ""),
            Group::Label(_) => ("label.value", label_join),
        }
    }

    /// The key of this grouping in the `daily_totals` rollup, which keeps per UTC day, model
    /// and tool what the records add up to; `None` for a grouping it cannot answer (labels).
    pub(crate) fn rollup_key(&self) -> Option<&'static str> {
        match self {
            Group::All => Some("''"),
            Group::Model => Some("model"),
            Group::Tool => Some("CASE WHEN has_tool = 1 THEN tool_name END"),
            Group::Day => Some("day"),
            Group::Label(_) => None,
        }
    }

    /// The label key, the query's third parameter, for a label breakdown.
    pub(crate) fn label_key(&self) -> Option<&str> {
        match self {
            Group::Label(key) => Some(key),
            _ => None,
        }
    }
}

/// How many records of a batch a write added, and how many were there already (by id).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Inserted {
    pub(crate) inserted: u64,
    pub(crate) already_there: u64,
}

impl Inserted {
    /// Counts one record, of which the database says it changed `rows` rows (1: new).
    #[cfg(feature = "sqlite")]
    pub(crate) fn count(&mut self, rows: u64) {
        if rows == 1 {
            self.inserted += 1;
        } else {
            self.already_there += 1;
        }
    }

    /// What the write of one record did.
    pub(crate) fn written(self) -> Written {
        if self.inserted == 1 {
            Written::Inserted
        } else {
            Written::AlreadyThere
        }
    }
}

/// The migrations of `migrations` a database with `applied` of them still needs, each with
/// its version (1-based).
///
/// # Errors
/// [`LedgerError::Database`] naming both versions when the database has more than this
/// version of the crate knows.
pub(crate) fn pending_migrations(
    migrations: &'static [&'static str],
    applied: i64,
    location: &str,
) -> Result<impl Iterator<Item = (usize, &'static str)>, LedgerError> {
    let known = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
    if applied > known {
        return Err(LedgerError::newer_schema(location, applied, known));
    }
    Ok(migrations
        .iter()
        .enumerate()
        .skip(usize::try_from(applied).unwrap_or(0))
        .map(|(index, migration)| (index + 1, *migration)))
}

/// One day in nanoseconds.
const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// The UTC day (`2026-12-02`) of a record stamped `ts_ns` nanoseconds after 1970, as the
/// databases' own day expressions compute it.
pub(crate) fn day_of(ts_ns: i64) -> String {
    let nanos = u64::try_from(ts_ns).unwrap_or_default();
    mamba_pricing::PriceDate::of(std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos))
        .to_string()
}

/// A time range `[from, to)` in nanoseconds, split for the rollup: whole UTC days (`days`,
/// from the first day included to the last excluded, as `YYYY-MM-DD` strings, which sort as
/// the days do) answered from `daily_totals`, and the partial days at either end (`raw`)
/// answered from the records.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Split {
    pub(crate) raw: Vec<(i64, i64)>,
    pub(crate) days: Option<(String, String)>,
}

impl Split {
    /// `from == i64::MIN` and `to == i64::MAX` are open ends (every day before, or after).
    pub(crate) fn of(from: i64, to: i64) -> Split {
        let first = if from == i64::MIN {
            i64::MIN
        } else {
            from.div_euclid(NANOS_PER_DAY)
                .saturating_add(i64::from(from.rem_euclid(NANOS_PER_DAY) != 0))
                .saturating_mul(NANOS_PER_DAY)
        };
        let last = if to == i64::MAX {
            i64::MAX
        } else {
            to.div_euclid(NANOS_PER_DAY).saturating_mul(NANOS_PER_DAY)
        };
        if first >= last {
            return Split {
                raw: vec![(from, to)],
                days: None,
            };
        }
        let mut raw = Vec::new();
        if from < first {
            raw.push((from, first));
        }
        if last < to {
            raw.push((last, to));
        }
        // "" sorts before every day and "~" after every day.
        let lower = if first == i64::MIN {
            String::new()
        } else {
            day_of(first)
        };
        let upper = if last == i64::MAX {
            "~".to_owned()
        } else {
            day_of(last)
        };
        Split {
            raw,
            days: Some((lower, upper)),
        }
    }
}

/// The sums of one group as a query returns them: the request count, then the sums of
/// prompt, completion, cached, cache write and reasoning tokens, the estimated requests and
/// the unpriced tokens; and the exact cost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Sums {
    pub(crate) numbers: [i64; 8],
    pub(crate) cost: Decimal,
}

impl Sums {
    /// One record's sums: it counts once, with its tokens and cost.
    #[cfg(feature = "sqlite")]
    pub(crate) fn of(values: &Values) -> Sums {
        Sums {
            numbers: [
                1,
                values.counts.prompt,
                values.counts.completion,
                values.counts.cached,
                values.counts.cache_write,
                values.counts.reasoning,
                i64::from(values.record.is_estimated()),
                values.unpriced_tokens,
            ],
            cost: values.cost.total,
        }
    }

    /// Adds `other` in (counts saturate; a cost past the decimal range saturates too, far
    /// beyond any bill).
    pub(crate) fn add(&mut self, other: &Sums) {
        for (sum, more) in self.numbers.iter_mut().zip(other.numbers) {
            *sum = sum.saturating_add(more);
        }
        self.cost = self.cost.saturating_add(other.cost);
    }

    pub(crate) fn totals(&self) -> LedgerTotals {
        let whole = |n: i64| u64::try_from(n).unwrap_or_default();
        let [
            requests,
            prompt,
            completion,
            cached,
            cache_write,
            reasoning,
            estimated,
            unpriced,
        ] = self.numbers;
        let mut usage = TokenUsage::ZERO;
        usage.request_count = whole(requests);
        usage.prompt_tokens = whole(prompt);
        usage.completion_tokens = whole(completion);
        usage.total_tokens = usage.prompt_tokens.saturating_add(usage.completion_tokens);
        usage.cached_tokens = whole(cached);
        usage.cache_write_tokens = whole(cache_write);
        usage.reasoning_tokens = whole(reasoning);
        usage.estimated_request_count = whole(estimated);
        LedgerTotals {
            usage,
            cost: self.cost,
            unpriced_tokens: whole(unpriced),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{NANOS_PER_DAY, Split};

    #[test]
    fn ranges_split_into_whole_days_and_partial_ends() {
        let day = |n: i64| n * NANOS_PER_DAY;
        let cases = [
            (
                (i64::MIN, i64::MAX),
                Split {
                    raw: vec![],
                    days: Some((String::new(), "~".to_owned())),
                },
            ),
            (
                (day(20_789), day(20_791)),
                Split {
                    raw: vec![],
                    days: Some(("2026-12-02".to_owned(), "2026-12-04".to_owned())),
                },
            ),
            (
                (day(20_789) - 1, day(20_791) + 1),
                Split {
                    raw: vec![
                        (day(20_789) - 1, day(20_789)),
                        (day(20_791), day(20_791) + 1),
                    ],
                    days: Some(("2026-12-02".to_owned(), "2026-12-04".to_owned())),
                },
            ),
            (
                (day(20_789) + 5, day(20_790) - 5),
                Split {
                    raw: vec![(day(20_789) + 5, day(20_790) - 5)],
                    days: None,
                },
            ),
            (
                (day(20_789) + 5, i64::MAX),
                Split {
                    raw: vec![(day(20_789) + 5, day(20_790))],
                    days: Some(("2026-12-03".to_owned(), "~".to_owned())),
                },
            ),
        ];
        for ((from, to), split) in cases {
            assert_eq!(Split::of(from, to), split, "{from}..{to}");
        }
    }
}
