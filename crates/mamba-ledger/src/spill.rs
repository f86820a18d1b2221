//! The spill file: where records go while the database cannot take them (PostgreSQL down or
//! unreachable, SQLite locked past its timeout), so a database fault never loses a record and
//! never fails a run. One JSON object per line, appended and flushed before the write returns:
//! the record's id, the record in mamba-usage's JSON Lines form, and its exact cost. Replaying
//! writes every line under its own id, so a replay cut short (a crash, the database failing
//! again) and replayed later never counts a record twice; the file is emptied only once every
//! line is in the database.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use mamba_usage::UsageRecord;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::stored::Inserted;
use crate::stored::{StoredCost, Values};
use crate::{Durability, LedgerError, RecordId};

/// One line of the spill file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    id: String,
    record: UsageRecord,
    cost: Cost,
}

/// A cost as spilled: decimals as text, so nothing is rounded through a float.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cost {
    input: String,
    cached_input: String,
    cache_write: String,
    completion: String,
    total: String,
    unpriced_tokens: u64,
    source: String,
    priced_as: Option<String>,
}

/// How many spilled records a replay writes per transaction.
const REPLAY_BATCH: usize = 1_000;

/// What a replay did.
///
/// ```
/// let replayed = mamba_ledger::Replayed::default();
/// assert_eq!((replayed.inserted, replayed.already_there), (0, 0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Replayed {
    /// Spilled records now written to the database.
    pub inserted: u64,
    /// Spilled records the database already had (an earlier replay cut short).
    pub already_there: u64,
}

/// The spill file of one ledger.
pub(crate) struct Spill {
    path: PathBuf,
    durability: Durability,
    /// Held while appending or replaying, so lines are never interleaved or lost.
    file: Mutex<()>,
    /// Whether the file may hold lines not yet replayed.
    pending: AtomicBool,
}

impl Spill {
    pub(crate) fn new(path: &Path, durability: Durability) -> Spill {
        let pending = std::fs::metadata(path).is_ok_and(|meta| meta.len() > 0);
        Spill {
            path: path.to_path_buf(),
            durability,
            file: Mutex::new(()),
            pending: AtomicBool::new(pending),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    fn io_error(&self, action: &str, source: std::io::Error) -> LedgerError {
        LedgerError::Database {
            location: self.path.display().to_string(),
            action: action.to_owned(),
            source: Box::new(source),
        }
    }

    /// Appends `batch` and flushes it to the operating system (with `PowerLoss`, to the disk)
    /// before returning.
    pub(crate) fn append(&self, batch: &[Values]) -> Result<(), LedgerError> {
        let mut text = String::new();
        for values in batch {
            let cost = &values.cost;
            let line = Line {
                id: values.id.to_string(),
                record: values.record.clone(),
                cost: Cost {
                    input: cost.input.to_string(),
                    cached_input: cost.cached_input.to_string(),
                    cache_write: cost.cache_write.to_string(),
                    completion: cost.completion.to_string(),
                    total: cost.total.to_string(),
                    unpriced_tokens: u64::try_from(values.unpriced_tokens).unwrap_or_default(),
                    source: cost.source.clone(),
                    priced_as: cost.priced_as.clone(),
                },
            };
            let json = serde_json::to_string(&line).map_err(|error| {
                self.io_error(
                    "cannot write a spilled record",
                    std::io::Error::other(error),
                )
            })?;
            text.push_str(&json);
            text.push('\n');
        }
        let _guard = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| self.io_error("cannot open the spill file", e))?;
        // One write of the whole lines: a process killed mid-write leaves at most a torn last
        // line, which a replay reports by number rather than guessing at.
        file.write_all(text.as_bytes())
            .map_err(|e| self.io_error("cannot append to the spill file", e))?;
        if self.durability == Durability::PowerLoss {
            file.sync_data()
                .map_err(|e| self.io_error("cannot sync the spill file", e))?;
        }
        self.pending.store(true, Ordering::Release);
        Ok(())
    }

    /// Writes every spilled line with `write` (in order, [`REPLAY_BATCH`] records at a time,
    /// each under its own id), then empties the file. A failure stops the replay and leaves
    /// the file as it was: what was written is written once, however often the replay runs.
    pub(crate) fn replay(
        &self,
        mut write: impl FnMut(&[Values]) -> Result<Inserted, LedgerError>,
    ) -> Result<Replayed, LedgerError> {
        let _guard = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        let mut file = match OpenOptions::new().read(true).write(true).open(&self.path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                self.pending.store(false, Ordering::Release);
                return Ok(Replayed::default());
            }
            Err(error) => return Err(self.io_error("cannot open the spill file", error)),
        };
        let mut replayed = Replayed::default();
        let mut batch = Vec::new();
        let mut write_batch = |batch: &mut Vec<Values>| -> Result<(), LedgerError> {
            if !batch.is_empty() {
                let inserted = write(batch)?;
                replayed.inserted += inserted.inserted;
                replayed.already_there += inserted.already_there;
                batch.clear();
            }
            Ok(())
        };
        let reader = BufReader::new(&mut file);
        for (index, line) in reader.lines().enumerate() {
            let line = line.map_err(|e| self.io_error("cannot read the spill file", e))?;
            if line.trim().is_empty() {
                continue;
            }
            match self.parse(index + 1, &line) {
                Ok(values) => batch.push(values),
                Err(corrupt) => {
                    // The lines before it go in; the file stays for a look at that line.
                    write_batch(&mut batch)?;
                    return Err(corrupt);
                }
            }
            if batch.len() == REPLAY_BATCH {
                write_batch(&mut batch)?;
            }
        }
        write_batch(&mut batch)?;
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
            .and_then(|()| file.sync_all())
            .map_err(|e| self.io_error("cannot empty the spill file", e))?;
        self.pending.store(false, Ordering::Release);
        Ok(replayed)
    }

    /// The values of line `number`.
    fn parse(&self, number: usize, text: &str) -> Result<Values, LedgerError> {
        let corrupt = |problem: String| LedgerError::Corrupt {
            location: self.path.display().to_string(),
            id: format!("(line {number})"),
            problem,
        };
        let line: Line = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
        let id: RecordId = line
            .id
            .parse()
            .map_err(|e: LedgerError| corrupt(e.to_string()))?;
        let decimal = |field: &str, text: &str| {
            text.parse::<Decimal>()
                .map_err(|e| corrupt(format!("cost.{field} `{text}` is not a decimal: {e}")))
        };
        let cost = StoredCost {
            input: decimal("input", &line.cost.input)?,
            cached_input: decimal("cached_input", &line.cost.cached_input)?,
            cache_write: decimal("cache_write", &line.cost.cache_write)?,
            completion: decimal("completion", &line.cost.completion)?,
            total: decimal("total", &line.cost.total)?,
            source: line.cost.source,
            priced_as: line.cost.priced_as,
        };
        Values::stored(id, line.record, cost, line.cost.unpriced_tokens)
    }
}

impl std::fmt::Debug for Spill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spill")
            .field("path", &self.path)
            .field("pending", &self.is_pending())
            .finish_non_exhaustive()
    }
}
