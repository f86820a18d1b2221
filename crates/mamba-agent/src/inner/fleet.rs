//! Fleet budgets in the agent: before a request is sent, its worst case (the one the local
//! limits reserve) is held in every fleet budget of the agent's ledger that covers the
//! request's model and labels, on a blocking thread; the request's record settles the holds
//! in its own ledger insert (see `sinks`), and a request that recorded nothing gives them
//! back. Without a ledger backend (features `sqlite`, `postgres`) there are none.

use mamba_pricing::Spend;
use mamba_usage::Labels;

use super::Inner;
use crate::AgentError;

/// The fleet-budget holds of one request.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) type FleetHolds = Vec<mamba_ledger::FleetHold>;

/// Without a ledger backend no request holds anything in a fleet budget.
#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
pub(crate) type FleetHolds = Vec<std::convert::Infallible>;

/// The agent's fleet budgets.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) type FleetBudgets = Vec<mamba_ledger::FleetBudget>;

/// Without a ledger backend there are none.
#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
pub(crate) type FleetBudgets = Vec<std::convert::Infallible>;

impl Inner {
    /// The limits of the agent's fleet budgets (for the worst case: whether output must be
    /// bounded, whether it must be priced).
    pub(crate) fn fleet_limits(&self) -> Vec<mamba_pricing::UsageLimits> {
        #[cfg(any(feature = "sqlite", feature = "postgres"))]
        {
            self.fleet_budgets()
                .iter()
                .map(|budget| *budget.spec().limits())
                .collect()
        }
        #[cfg(not(any(feature = "sqlite", feature = "postgres")))]
        {
            Vec::new()
        }
    }

    /// Holds `worst_case` (priced, or `None` when the model has no price) in every fleet
    /// budget covering a request with `labels`. A refusal gives back what was held already.
    ///
    /// # Errors
    /// [`AgentError::FleetBudget`] with the budget's refusal, or the ledger's error when it
    /// cannot answer: the request must not be sent either way.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) async fn hold_in_fleet(
        &self,
        worst_case: Spend,
        priced: bool,
        labels: &Labels,
    ) -> Result<FleetHolds, AgentError> {
        let budgets: Vec<mamba_ledger::FleetBudget> = self
            .fleet_budgets()
            .iter()
            .filter(|budget| budget.applies_to(&self.model, labels))
            .cloned()
            .collect();
        if budgets.is_empty() {
            return Ok(Vec::new());
        }
        let model = self.model.clone();
        let held = tokio::task::spawn_blocking(move || {
            let mut holds = Vec::with_capacity(budgets.len());
            for budget in &budgets {
                let hold = if priced {
                    budget.reserve(worst_case)
                } else {
                    budget.reserve_unpriced(&model, worst_case)
                };
                match hold {
                    Ok(hold) => holds.push(hold),
                    Err(error) => {
                        release_all(&budgets, holds);
                        return Err(error);
                    }
                }
            }
            Ok(holds)
        })
        .await;
        match held {
            Ok(Ok(holds)) => Ok(holds),
            Ok(Err(error)) => Err(AgentError::FleetBudget(error)),
            Err(join) => Err(AgentError::FleetBudget(
                mamba_ledger::LedgerError::Unavailable {
                    location: "fleet budgets".to_owned(),
                    action: "cannot hold".to_owned(),
                    source: Box::new(join),
                },
            )),
        }
    }

    /// Without a ledger backend: nothing to hold.
    #[cfg(not(any(feature = "sqlite", feature = "postgres")))]
    pub(crate) async fn hold_in_fleet(
        &self,
        _worst_case: Spend,
        _priced: bool,
        _labels: &Labels,
    ) -> Result<FleetHolds, AgentError> {
        Ok(Vec::new())
    }

    /// Gives `holds` back (their request recorded nothing), on a blocking thread, without
    /// waiting: a hold given back late only keeps the budget on the safe side a moment
    /// longer, and one that cannot be given back expires.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn release_fleet(&self, holds: FleetHolds) {
        if holds.is_empty() {
            return;
        }
        let budgets = self.fleet_budgets().clone();
        let release = move || release_all(&budgets, holds);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(release)),
            Err(_) => release(),
        }
    }

    /// Without a ledger backend there is never a hold.
    #[cfg(not(any(feature = "sqlite", feature = "postgres")))]
    pub(crate) fn release_fleet(&self, _holds: FleetHolds) {}
}

/// Gives each hold back to its budget, logging what cannot be (it expires).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn release_all(budgets: &[mamba_ledger::FleetBudget], holds: FleetHolds) {
    for hold in holds {
        let Some(budget) = budgets
            .iter()
            .find(|budget| budget.spec().name() == hold.budget())
        else {
            continue;
        };
        if let Err(error) = budget.release(hold) {
            tracing::warn!(%error, "a fleet-budget hold cannot be given back; it will expire");
        }
    }
}
