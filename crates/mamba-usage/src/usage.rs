//! [`TokenUsage`]: token counts summed over requests.

use std::iter::Sum;
use std::ops::{Add, AddAssign};

use crate::UsageRecord;

/// Token counts summed over any number of requests, with the meaning of [`UsageRecord`]'s fields
/// (cached and cache-write tokens are part of the prompt, reasoning is part of the completion).
///
/// The Rust counterpart of the seed's usage object (`usage.total_tokens`, `usage.request_count`).
/// Sums saturate at `u64::MAX` instead of wrapping; at a million tokens a second that takes over
/// 500,000 years, so a saturated field means corrupt input, never real traffic.
///
/// ```
/// use mamba_usage::{TokenUsage, UsageRecord};
///
/// let records = [UsageRecord::new(100, 50, "gpt-4o"), UsageRecord::new(10, 5, "gpt-4o-mini")];
/// let usage: TokenUsage = records.iter().map(TokenUsage::from).sum();
/// assert_eq!((usage.total_tokens, usage.request_count), (165, 2));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct TokenUsage {
    /// All input tokens.
    pub prompt_tokens: u64,
    /// All output tokens.
    pub completion_tokens: u64,
    /// `prompt_tokens + completion_tokens`.
    pub total_tokens: u64,
    /// Input tokens read from a prompt cache.
    pub cached_tokens: u64,
    /// Input tokens written to a prompt cache.
    pub cache_write_tokens: u64,
    /// Output tokens spent on reasoning.
    pub reasoning_tokens: u64,
    /// Number of requests.
    pub request_count: u64,
    /// Number of requests whose usage was estimated rather than reported.
    pub estimated_request_count: u64,
}

impl TokenUsage {
    /// No usage.
    pub const ZERO: TokenUsage = TokenUsage {
        prompt_tokens: 0,
        completion_tokens: 0,
        total_tokens: 0,
        cached_tokens: 0,
        cache_write_tokens: 0,
        reasoning_tokens: 0,
        request_count: 0,
        estimated_request_count: 0,
    };

    /// The usage of one request.
    ///
    /// ```
    /// use mamba_usage::{TokenUsage, UsageRecord};
    ///
    /// let usage = TokenUsage::from_record(&UsageRecord::new(100, 50, "gpt-4o"));
    /// assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.request_count), (100, 50, 1));
    /// ```
    pub fn from_record(record: &UsageRecord) -> TokenUsage {
        TokenUsage {
            prompt_tokens: record.prompt_tokens,
            completion_tokens: record.completion_tokens,
            total_tokens: record.total_tokens(),
            cached_tokens: record.cached_tokens,
            cache_write_tokens: record.cache_write_tokens,
            reasoning_tokens: record.reasoning_tokens,
            request_count: 1,
            estimated_request_count: u64::from(record.estimated),
        }
    }

    /// Adds another usage, saturating each field at `u64::MAX`.
    ///
    /// ```
    /// use mamba_usage::{TokenUsage, UsageRecord};
    ///
    /// let one = TokenUsage::from_record(&UsageRecord::new(u64::MAX, 1, "gpt-4o"));
    /// let sum = one.saturating_add(one);
    /// assert_eq!((sum.prompt_tokens, sum.completion_tokens), (u64::MAX, 2));
    /// ```
    #[must_use]
    pub const fn saturating_add(self, other: TokenUsage) -> TokenUsage {
        TokenUsage {
            prompt_tokens: self.prompt_tokens.saturating_add(other.prompt_tokens),
            completion_tokens: self
                .completion_tokens
                .saturating_add(other.completion_tokens),
            total_tokens: self.total_tokens.saturating_add(other.total_tokens),
            cached_tokens: self.cached_tokens.saturating_add(other.cached_tokens),
            cache_write_tokens: self
                .cache_write_tokens
                .saturating_add(other.cache_write_tokens),
            reasoning_tokens: self.reasoning_tokens.saturating_add(other.reasoning_tokens),
            request_count: self.request_count.saturating_add(other.request_count),
            estimated_request_count: self
                .estimated_request_count
                .saturating_add(other.estimated_request_count),
        }
    }

    /// Adds another usage, or `None` if any field would overflow.
    ///
    /// ```
    /// use mamba_usage::{TokenUsage, UsageRecord};
    ///
    /// let big = TokenUsage::from_record(&UsageRecord::new(u64::MAX, 0, "gpt-4o"));
    /// assert_eq!(big.checked_add(big), None);
    /// assert!(big.checked_add(TokenUsage::ZERO).is_some());
    /// ```
    pub fn checked_add(self, other: TokenUsage) -> Option<TokenUsage> {
        Some(TokenUsage {
            prompt_tokens: self.prompt_tokens.checked_add(other.prompt_tokens)?,
            completion_tokens: self
                .completion_tokens
                .checked_add(other.completion_tokens)?,
            total_tokens: self.total_tokens.checked_add(other.total_tokens)?,
            cached_tokens: self.cached_tokens.checked_add(other.cached_tokens)?,
            cache_write_tokens: self
                .cache_write_tokens
                .checked_add(other.cache_write_tokens)?,
            reasoning_tokens: self.reasoning_tokens.checked_add(other.reasoning_tokens)?,
            request_count: self.request_count.checked_add(other.request_count)?,
            estimated_request_count: self
                .estimated_request_count
                .checked_add(other.estimated_request_count)?,
        })
    }
}

impl From<&UsageRecord> for TokenUsage {
    fn from(record: &UsageRecord) -> Self {
        TokenUsage::from_record(record)
    }
}

/// Saturating, like [`TokenUsage::saturating_add`].
impl Add for TokenUsage {
    type Output = TokenUsage;
    fn add(self, other: TokenUsage) -> TokenUsage {
        self.saturating_add(other)
    }
}

/// Saturating, like [`TokenUsage::saturating_add`].
impl AddAssign for TokenUsage {
    fn add_assign(&mut self, other: TokenUsage) {
        *self = self.saturating_add(other);
    }
}

impl Sum for TokenUsage {
    fn sum<I: Iterator<Item = TokenUsage>>(iter: I) -> TokenUsage {
        iter.fold(TokenUsage::ZERO, TokenUsage::saturating_add)
    }
}

impl<'a> Sum<&'a TokenUsage> for TokenUsage {
    fn sum<I: Iterator<Item = &'a TokenUsage>>(iter: I) -> TokenUsage {
        iter.copied().sum()
    }
}

impl<'a> Sum<&'a UsageRecord> for TokenUsage {
    fn sum<I: Iterator<Item = &'a UsageRecord>>(iter: I) -> TokenUsage {
        iter.map(TokenUsage::from_record).sum()
    }
}
