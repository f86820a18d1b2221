//! Usage limits, checked before each request against what it would need.

use mamba_settings::UsageLimits;
use mamba_usage::TokenUsage;
use rust_decimal::Decimal;

use crate::{LimitExceeded, LimitKind, LimitScope};

/// What the next request would add, estimated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Needed {
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) cost: Decimal,
}

/// Whether a request needing `needed` fits under `limits`, given `used` so far.
pub(crate) fn check(
    limits: &UsageLimits,
    scope: LimitScope,
    used: &TokenUsage,
    used_cost: Decimal,
    needed: &Needed,
) -> Result<(), LimitExceeded> {
    let total_needed = needed.input_tokens.saturating_add(needed.output_tokens);
    let counts = [
        (LimitKind::Requests, limits.requests, used.request_count, 1),
        (
            LimitKind::InputTokens,
            limits.input_tokens,
            used.prompt_tokens,
            needed.input_tokens,
        ),
        (
            LimitKind::OutputTokens,
            limits.output_tokens,
            used.completion_tokens,
            needed.output_tokens,
        ),
        (
            LimitKind::TotalTokens,
            limits.total_tokens,
            used.total_tokens,
            total_needed,
        ),
    ];
    for (kind, limit, used, needed) in counts {
        if let Some(limit) = limit
            && used.saturating_add(needed) > limit
        {
            return Err(LimitExceeded {
                kind,
                scope,
                limit: Decimal::from(limit),
                used: Decimal::from(used),
                needed: Decimal::from(needed),
            });
        }
    }
    if let Some(limit) = limits.cost
        && used_cost.saturating_add(needed.cost) > limit
    {
        return Err(LimitExceeded {
            kind: LimitKind::Cost,
            scope,
            limit,
            used: used_cost,
            needed: needed.cost,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn used(requests: u64, prompt: u64, completion: u64) -> TokenUsage {
        let mut usage = TokenUsage::ZERO;
        usage.request_count = requests;
        usage.prompt_tokens = prompt;
        usage.completion_tokens = completion;
        usage.total_tokens = prompt + completion;
        usage
    }

    #[test]
    fn each_limit_stops_exactly_past_its_value() {
        let needed = Needed {
            input_tokens: 100,
            output_tokens: 50,
            cost: Decimal::new(1, 2),
        };
        let cases = [
            (UsageLimits::default().with_requests(3), used(2, 0, 0), None),
            (
                UsageLimits::default().with_requests(3),
                used(3, 0, 0),
                Some(LimitKind::Requests),
            ),
            (
                UsageLimits::default().with_input_tokens(1_000),
                used(1, 900, 0),
                None,
            ),
            (
                UsageLimits::default().with_input_tokens(1_000),
                used(1, 901, 0),
                Some(LimitKind::InputTokens),
            ),
            (
                UsageLimits::default().with_output_tokens(50),
                used(0, 0, 0),
                None,
            ),
            (
                UsageLimits::default().with_output_tokens(50),
                used(1, 0, 1),
                Some(LimitKind::OutputTokens),
            ),
            (
                UsageLimits::default().with_total_tokens(150),
                used(0, 0, 0),
                None,
            ),
            (
                UsageLimits::default().with_total_tokens(150),
                used(1, 1, 0),
                Some(LimitKind::TotalTokens),
            ),
            (
                UsageLimits::default().with_cost(Decimal::new(2, 2)),
                used(0, 0, 0),
                None,
            ),
        ];
        for (limits, used, expected) in cases {
            let result = check(&limits, LimitScope::Run, &used, Decimal::new(1, 2), &needed);
            assert_eq!(
                result.err().map(|e| e.kind),
                expected,
                "{limits:?} {used:?}"
            );
        }
        let over = check(
            &UsageLimits::default().with_cost(Decimal::new(2, 2)),
            LimitScope::Agent,
            &used(0, 0, 0),
            Decimal::new(11, 3),
            &needed,
        )
        .unwrap_err();
        assert_eq!(
            over.to_string(),
            "agent limit on cost reached: $0.0110 used of $0.0200, and the next request needs about $0.0100 more"
        );
    }
}
