//! [`ServiceTier`]: the processing tier that served a request, which decides its price.

use std::fmt;
use std::str::FromStr;

/// The service tier a provider says served a request (OpenAI's response `service_tier`), or
/// batch processing. Flex, priority and batch requests are billed at their own prices.
///
/// ```
/// use mamba_usage::ServiceTier;
///
/// assert_eq!("priority".parse::<ServiceTier>(), Ok(ServiceTier::Priority));
/// assert_eq!("default".parse::<ServiceTier>(), Ok(ServiceTier::Standard));
/// assert_eq!(ServiceTier::Flex.name(), "flex");
/// assert!("turbo".parse::<ServiceTier>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ServiceTier {
    /// The standard tier (OpenAI reports it as `default`).
    Standard,
    /// Cheaper, slower processing (OpenAI `flex`).
    Flex,
    /// Faster processing at a premium (OpenAI `priority`).
    Priority,
    /// Asynchronous batch processing (OpenAI's Batch API, Anthropic's Message Batches).
    Batch,
}

impl ServiceTier {
    /// Every tier, in the order of their codes in storage.
    pub const ALL: [ServiceTier; 4] = [
        ServiceTier::Standard,
        ServiceTier::Flex,
        ServiceTier::Priority,
        ServiceTier::Batch,
    ];

    /// The lowercase name used in exports and price data.
    pub const fn name(self) -> &'static str {
        match self {
            ServiceTier::Standard => "standard",
            ServiceTier::Flex => "flex",
            ServiceTier::Priority => "priority",
            ServiceTier::Batch => "batch",
        }
    }

    /// A one-byte code for storage: 0 is no tier, then [`ALL`](Self::ALL) from 1.
    pub(crate) fn code(tier: Option<ServiceTier>) -> u8 {
        tier.map_or(0, |tier| match tier {
            ServiceTier::Standard => 1,
            ServiceTier::Flex => 2,
            ServiceTier::Priority => 3,
            ServiceTier::Batch => 4,
        })
    }

    /// The tier of a storage code.
    pub(crate) fn from_code(code: u8) -> Option<ServiceTier> {
        ServiceTier::ALL
            .get(usize::from(code.checked_sub(1)?))
            .copied()
    }
}

impl fmt::Display for ServiceTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ServiceTier {
    type Err = String;

    /// Parses a tier name, ignoring case: `standard` or OpenAI's `default`, `flex`,
    /// `priority`, `batch`.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let name = name.trim();
        if name.eq_ignore_ascii_case("default") {
            return Ok(ServiceTier::Standard);
        }
        ServiceTier::ALL
            .into_iter()
            .find(|tier| tier.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                format!("`{name}` is not a service tier (standard/default, flex, priority, batch)")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for tier in [None].into_iter().chain(ServiceTier::ALL.map(Some)) {
            assert_eq!(ServiceTier::from_code(ServiceTier::code(tier)), tier);
        }
        assert_eq!(ServiceTier::from_code(9), None);
    }
}
