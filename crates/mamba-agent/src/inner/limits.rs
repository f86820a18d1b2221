//! Usage limits that hold under any concurrency: before a request is sent, its worst case is
//! reserved in the run's budget and the agent's ([`LocalBudget`]s, the in-process
//! implementation of mamba-pricing's reservation contract); the request's record settles them.
//!
//! The worst case is the counted prompt plus the counter's safety margin, and the most output
//! the request may produce: `max_tokens` when set, otherwise (never above the model's own
//! output limit from its price data) a `max_tokens` this module sets to
//! what the remaining budgets allow (so an unbounded completion can never overrun a limit on
//! output, total tokens or cost), priced with the tier the prompt selects.

use mamba_pricing::{BudgetError, LimitKind, LocalBudget, Reservation, Spend};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use mamba_usage::Labels;

use super::{FleetHolds, Inner};
use crate::{AgentError, LimitExceeded, LimitScope};

/// The reservations of one request, and what its records used so far.
#[derive(Debug, Default)]
pub(crate) struct Holds {
    run: Option<Reservation>,
    agent: Option<Reservation>,
    /// Its holds in fleet budgets: settled by its last record's ledger insert, or given back.
    pub(crate) fleet: FleetHolds,
    pub(crate) used: Spend,
}

impl Holds {
    /// Settles both local reservations to what was recorded, or releases them when nothing
    /// was (the request was never sent, or the server refused it). The fleet holds are the
    /// flight's to settle with its last record, or give back, before this.
    pub(crate) fn close(self, agent_budget: &LocalBudget, run_budget: &LocalBudget) {
        let recorded = self.used != Spend::default();
        for (budget, held) in [(run_budget, self.run), (agent_budget, self.agent)] {
            if let Some(held) = held {
                if recorded {
                    let _overdrawn = budget.settle_now(held, self.used);
                } else {
                    budget.release_now(held);
                }
            }
        }
    }
}

/// Local reservations waiting for the fleet budgets' answer: given back if dropped.
struct GiveBack<'a> {
    holds: Option<Holds>,
    agent_budget: &'a LocalBudget,
    run_budget: &'a LocalBudget,
}

impl Drop for GiveBack<'_> {
    fn drop(&mut self) {
        if let Some(holds) = self.holds.take() {
            holds.close(self.agent_budget, self.run_budget);
        }
    }
}

/// What a request may send, once reserved.
#[derive(Debug)]
pub(crate) struct Reserved {
    pub(crate) holds: Holds,
    /// The `max_tokens` to send: the configured one, or the bound the budgets allow.
    pub(crate) max_tokens: Option<u32>,
    /// The counted prompt, when counting was needed.
    pub(crate) prompt: Option<u64>,
    /// The worst case held, and whether its cost is priced (a model without a price is not).
    worst_case: Spend,
    priced: bool,
}

impl Inner {
    /// Whether any limit applies to this agent's requests.
    pub(crate) fn limited(&self) -> bool {
        !self.run_limits.is_unlimited()
            || !self.agent_budget.limits().is_unlimited()
            || !self.fleet_budgets().is_empty()
    }

    /// [`reserve`](Self::reserve), then the same worst case in every fleet budget covering a
    /// request with `labels`; a fleet refusal gives the local reservations back.
    ///
    /// # Errors
    /// As `reserve`; [`AgentError::FleetBudget`] when a fleet budget refuses or cannot answer.
    pub(crate) async fn reserve_all(
        &self,
        count: impl FnOnce() -> u64,
        run_budget: &LocalBudget,
        labels: &Labels,
    ) -> Result<Reserved, AgentError> {
        let mut reserved = self.reserve(count, run_budget)?;
        if self.fleet_budgets().is_empty() {
            return Ok(reserved);
        }
        // The local reservations wait on the fleet's answer in a guard: a caller that drops
        // the request meanwhile (its own timeout) gets them given back, not held forever.
        let mut waiting = GiveBack {
            holds: Some(std::mem::take(&mut reserved.holds)),
            agent_budget: &self.agent_budget,
            run_budget,
        };
        let fleet = self
            .hold_in_fleet(reserved.worst_case, reserved.priced, labels)
            .await;
        let mut holds = waiting.holds.take().unwrap_or_default();
        match fleet {
            Ok(fleet) => {
                holds.fleet = fleet;
                reserved.holds = holds;
                Ok(reserved)
            }
            Err(error) => {
                // Nothing was recorded: the local reservations are given back.
                holds.close(&self.agent_budget, run_budget);
                Err(error)
            }
        }
    }

    /// Reserves the worst case of a request whose prompt counts `prompt` tokens (counted only
    /// when limits are set: `count` is called at most once).
    pub(crate) fn reserve(
        &self,
        count: impl FnOnce() -> u64,
        run_budget: &LocalBudget,
    ) -> Result<Reserved, AgentError> {
        let configured = self.settings.model_backend.max_tokens;
        if !self.limited() {
            return Ok(Reserved {
                holds: Holds::default(),
                max_tokens: configured,
                prompt: None,
                worst_case: Spend::default(),
                priced: true,
            });
        }
        let prompt = count();
        let input = self.counter.add_margin(prompt);
        let budgets = [
            (LimitScope::Run, run_budget),
            (LimitScope::Agent, &self.agent_budget),
        ];
        let cost_limited = budgets.iter().any(|(_, b)| b.limits().cost.is_some());
        let fleet_limits = self.fleet_limits();
        let fleet_cost_limited = fleet_limits.iter().any(|limits| limits.cost.is_some());
        // The worst case's price: `None` for a model without one, which only fleet budgets
        // (by their unpriced policy) may let through; a local cost limit refuses it.
        let quote = |output: u64| -> Result<Option<Decimal>, AgentError> {
            if !cost_limited && !fleet_cost_limited {
                return Ok(Some(Decimal::ZERO));
            }
            match self.ledger.quote(input, output, &self.model) {
                Ok(cost) => Ok(Some(cost)),
                Err(AgentError::Unpriced { .. }) if !cost_limited => Ok(None),
                Err(error) => Err(error),
            }
        };
        let bounded = budgets.iter().any(|(_, b)| b.limits().bounds_output())
            || fleet_limits.iter().any(|limits| limits.bounds_output());
        let (output, max_tokens) = match configured {
            Some(max) => (u64::from(max), Some(max)),
            None if bounded => {
                let cap = self.output_cap(input, &budgets, &quote)?;
                // A cap of 0 still asks for one token, so the refusal names the limit.
                (
                    cap.max(1),
                    Some(u32::try_from(cap.max(1)).unwrap_or(u32::MAX)),
                )
            }
            None => (0, None),
        };
        let priced_cost = quote(output)?;
        let worst_case = Spend::new(1, input, output, priced_cost.unwrap_or_default());
        let mut holds = Holds::default();
        for (scope, budget) in budgets {
            let held = budget.try_reserve(worst_case).map_err(|error| {
                // The run's budget is reserved first: give back what it holds.
                if let Some(held) = holds.run.take() {
                    run_budget.release_now(held);
                }
                refused(scope, error)
            })?;
            match scope {
                LimitScope::Run => holds.run = Some(held),
                LimitScope::Agent => holds.agent = Some(held),
            }
        }
        Ok(Reserved {
            holds,
            max_tokens,
            prompt: Some(prompt),
            worst_case,
            priced: priced_cost.is_some(),
        })
    }

    /// The most output tokens every budget still allows after a prompt of `input` tokens, and
    /// never more than the model can produce (its price data's output limit): the worst case
    /// held is no larger than the request can be, so concurrent requests are not refused for
    /// budget a request could never use.
    fn output_cap(
        &self,
        input: u64,
        budgets: &[(LimitScope, &LocalBudget); 2],
        quote: &impl Fn(u64) -> Result<Option<Decimal>, AgentError>,
    ) -> Result<u64, AgentError> {
        let mut cap = Decimal::from(u32::MAX);
        if let Some(model_limit) = self.ledger.max_output_tokens(&self.model) {
            cap = cap.min(Decimal::from(model_limit));
        }
        for (_, budget) in budgets {
            let left = budget.remaining_now();
            if let Some(output) = left.get(LimitKind::OutputTokens) {
                cap = cap.min(output);
            }
            if let Some(total) = left.get(LimitKind::TotalTokens) {
                cap = cap.min(total - Decimal::from(input));
            }
            if let (Some(cost), Some(prompt_cost), Some(one_more)) =
                (left.get(LimitKind::Cost), quote(0)?, quote(1)?)
            {
                let per_token = one_more - prompt_cost;
                if per_token > Decimal::ZERO {
                    cap = cap.min(((cost - prompt_cost) / per_token).floor());
                }
            }
        }
        Ok(cap.max(Decimal::ZERO).to_u64().unwrap_or(0))
    }
}

/// The agent's error for a budget's refusal.
fn refused(scope: LimitScope, error: BudgetError) -> AgentError {
    match error {
        BudgetError::Exceeded(exceeded) => {
            AgentError::LimitExceeded(LimitExceeded::new(scope, exceeded))
        }
        BudgetError::Overdrawn(overdrawn) => AgentError::Overdrawn { scope, overdrawn },
        other => AgentError::Budget {
            scope,
            source: other,
        },
    }
}
