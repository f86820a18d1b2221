//! The reservation contract of `LocalBudget`: under many threads reserving, settling and
//! releasing at once, `used + reserved` never passes a limit, and what is used at the end is
//! exactly the sum of what was settled.

use std::sync::Arc;

use mamba_pricing::{BudgetError, LimitKind, LocalBudget, Spend, UsageLimits};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn spend(input: u64, output: u64, cost_micros: i64) -> Spend {
    Spend::new(1, input, output, Decimal::new(cost_micros, 6))
}

#[test]
fn eight_threads_never_take_a_limit_past_its_value() {
    let limits = UsageLimits::default()
        .with_requests(5_000)
        .with_total_tokens(200_000)
        .with_cost(Decimal::new(3, 0));
    let budget = Arc::new(LocalBudget::new(limits));
    let threads: Vec<_> = (0..8_u64)
        .map(|thread| {
            let budget = Arc::clone(&budget);
            std::thread::spawn(move || {
                let mut settled = Spend::default();
                for i in 0..2_000_u64 {
                    let worst = spend(10 + (i * 7 + thread) % 90, 50, 900);
                    let Ok(held) = budget.try_reserve(worst) else {
                        continue;
                    };
                    let taken = budget.used().saturating_add(&budget.reserved());
                    for kind in LimitKind::ALL {
                        if let Some(limit) = limits.limit(kind) {
                            assert!(taken.amount(kind) <= limit, "{kind}: {taken:?}");
                        }
                    }
                    if i % 5 == 0 {
                        budget.release_now(held);
                    } else {
                        // Used at most what was reserved.
                        let actual = spend(worst.input_tokens, i % 50, 300);
                        assert_eq!(budget.settle_now(held, actual), None);
                        settled = settled.saturating_add(&actual);
                    }
                }
                settled
            })
        })
        .collect();
    let total = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .fold(Spend::default(), |sum, s| sum.saturating_add(&s));
    assert_eq!(budget.used(), total);
    assert_eq!(budget.reserved(), Spend::default());
}

proptest! {
    /// Any sequence of reservations and settlements keeps `used + reserved <= limit`, and a
    /// refusal names the limit it would have passed with the amounts at that moment.
    #[test]
    fn reservations_respect_the_limit(steps in prop::collection::vec((1u64..400, 0u64..400, any::<bool>()), 1..60)) {
        let budget = LocalBudget::new(UsageLimits::default().with_output_tokens(1_000));
        let mut held = Vec::new();
        for (worst, actual, settle) in steps {
            match budget.try_reserve(Spend::default().with_output_tokens(worst)) {
                Ok(reservation) => held.push((reservation, actual.min(worst), settle)),
                Err(BudgetError::Exceeded(refused)) => {
                    prop_assert_eq!(refused.kind, LimitKind::OutputTokens);
                    prop_assert!(refused.used + refused.reserved + refused.requested > refused.limit);
                    prop_assert_eq!(refused.requested, Decimal::from(worst));
                }
                Err(other) => prop_assert!(false, "{other:?}"),
            }
            let taken = budget.used().output_tokens + budget.reserved().output_tokens;
            prop_assert!(taken <= 1_000);
            if held.len() > 3 {
                let (reservation, actual, settle) = held.remove(0);
                if settle {
                    budget.settle_now(reservation, Spend::default().with_output_tokens(actual));
                } else {
                    budget.release_now(reservation);
                }
            }
        }
    }
}

#[test]
fn an_overdraw_blocks_until_reset_and_reset_keeps_what_is_in_flight() {
    let budget = LocalBudget::new(UsageLimits::default().with_output_tokens(1_000));
    let first = budget.try_reserve(spend(0, 100, 0)).unwrap();
    let in_flight = budget.try_reserve(spend(0, 100, 0)).unwrap();
    let over = budget.settle_now(first, spend(0, 150, 0)).unwrap();
    assert_eq!(
        (over.kind, over.reserved, over.actual),
        (
            LimitKind::OutputTokens,
            Decimal::from(100),
            Decimal::from(150)
        )
    );
    assert!(matches!(
        budget.try_reserve(spend(0, 1, 0)),
        Err(BudgetError::Overdrawn(o)) if o == over
    ));
    budget.reset();
    assert_eq!(budget.used(), Spend::default());
    assert_eq!(
        budget.reserved().output_tokens,
        100,
        "the request in flight still holds"
    );
    budget.release_now(in_flight);
    assert!(budget.try_reserve(spend(0, 1_000, 0)).is_ok());
}

#[test]
fn an_overdraw_of_an_unlimited_kind_does_not_block() {
    let budget = LocalBudget::new(UsageLimits::default().with_requests(10));
    let held = budget.try_reserve(spend(10, 0, 0)).unwrap();
    assert_eq!(budget.settle_now(held, spend(500, 500, 9)), None);
    assert!(budget.try_reserve(spend(10, 0, 0)).is_ok());
}
