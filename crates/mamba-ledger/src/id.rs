//! [`RecordId`]: the unique id a record is written under, so writing it twice writes it once.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::LedgerError;

/// A record's id: 128 bits laid out as a UUIDv7 (48 bits of Unix milliseconds, then the
/// version, a per-process random prefix and a per-process sequence), so ids from many
/// processes never collide and sort by time.
///
/// Keep the id with the record wherever it goes (a retry, a spill file, a replay): the ledger
/// writes a record id once, and a second write of the same id changes nothing.
///
/// ```
/// use mamba_ledger::RecordId;
///
/// let (a, b) = (RecordId::new(), RecordId::new());
/// assert_ne!(a, b);
/// assert!(a < b, "ids made later sort later");
/// assert_eq!(a.to_string().len(), 36);
/// assert_eq!(a.to_string().parse::<RecordId>()?, a);
/// # Ok::<(), mamba_ledger::LedgerError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId(u128);

/// The random bits every id of this process shares: 62 bits from the standard library's
/// randomly seeded hasher, mixed with the process id and the start time.
fn process_bits() -> u64 {
    static BITS: OnceLock<u64> = OnceLock::new();
    *BITS.get_or_init(|| {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        hasher.write_u128(nanos);
        hasher.finish()
    })
}

impl RecordId {
    /// A new id, unique across processes and later than every id this process made before.
    pub fn new() -> RecordId {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        static LAST_MILLIS: AtomicU64 = AtomicU64::new(0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            });
        // Never earlier than an id made before, even if the clock steps back.
        let millis = LAST_MILLIS.fetch_max(now, Ordering::Relaxed).max(now) & ((1 << 48) - 1);
        let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        // 48 bits of time | version 7 | 12 bits of the process | variant 10 | 30 bits of the
        // process | 32 bits of sequence.
        let process = process_bits();
        let high = (u128::from(millis) << 80)
            | (0x7 << 76)
            | (u128::from(process >> 52) << 64)
            | (0b10 << 62);
        let low = (u128::from(process & ((1 << 30) - 1)) << 32) | u128::from(sequence as u32);
        // The sequence's high bits go into the random part, so ids stay unique past 2^32 of
        // them in one millisecond.
        let wrapped = u128::from(sequence >> 32) << 32;
        RecordId(high | (low ^ wrapped))
    }

    /// The id's 16 bytes, most significant first (how the ledger stores it).
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// The id of these 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> RecordId {
        RecordId(u128::from_be_bytes(bytes))
    }
}

impl Default for RecordId {
    fn default() -> Self {
        RecordId::new()
    }
}

/// The canonical UUID text: `0190a5e3-7c1a-7d2e-9f3b-000000000001`.
impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = format!("{:032x}", self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({self})")
    }
}

impl std::str::FromStr for RecordId {
    type Err = LedgerError;

    fn from_str(text: &str) -> Result<RecordId, LedgerError> {
        let hex: String = text.chars().filter(|&c| c != '-').collect();
        let well_formed = hex.len() == 32 && text.len() == 36;
        match u128::from_str_radix(&hex, 16) {
            Ok(value) if well_formed => Ok(RecordId(value)),
            _ => Err(LedgerError::BadRecordId {
                id: text.to_owned(),
            }),
        }
    }
}
