//! The comparison point for the tracker benchmarks: what the Python seed keeps per record,
//! stored the simplest way in Rust (a `Mutex<Vec>` of these, with shared `Arc<str>` names).

use std::sync::Arc;
use std::time::SystemTime;

#[allow(dead_code)] // Only stored, never read: the benchmarks measure the cost of keeping it.
pub(crate) struct BaselineRecord {
    pub(crate) timestamp: SystemTime,
    pub(crate) model: Arc<str>,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
}
