//! Fleet budgets: limits on requests, tokens or cost shared by every process that writes to
//! the same ledger database (threads and processes on one SQLite file, a fleet on one
//! PostgreSQL), with the reservation contract of `mamba_pricing::Budget`: reserve the worst
//! case before a request with one atomic conditional statement, settle to what it used in
//! the same transaction as the ledger insert of its record, release what was never sent, and
//! expire the holds of processes that crashed.
//!
//! What a budget has used is counted from the records themselves: the insert of every record
//! adds it to each budget whose scope covers it (its model, a label), in the window its
//! timestamp falls in, inside the insert's own transaction. So the books and the budgets can
//! never disagree, and a record written by a process that reserves nothing still counts.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use mamba_pricing::{BudgetExceeded, CostBreakdown, LimitKind, Remaining, Spend, UsageLimits};
use mamba_usage::{Labels, UsageRecord};
use rust_decimal::Decimal;

use crate::stored::Values;
use crate::{
    BudgetPeriod, BudgetScope, FleetBudgetSpec, Ledger, LedgerError, RecordId, UnpricedPolicy,
    Written,
};

/// A budget's definition as the database keeps it (its name, scope and window: what the
/// insert of each record needs to count it), shared by every process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Definition {
    pub(crate) name: String,
    pub(crate) model: Option<String>,
    pub(crate) label: Option<(String, String)>,
    pub(crate) period: &'static str,
}

impl Definition {
    fn of(spec: &FleetBudgetSpec) -> Definition {
        let (model, label) = match &spec.scope {
            BudgetScope::All => (None, None),
            BudgetScope::Model(model) => (Some(model.clone()), None),
            BudgetScope::Label { key, value } => (None, Some((key.clone(), value.clone()))),
        };
        Definition {
            name: spec.name.clone(),
            model,
            label,
            period: spec.period.name(),
        }
    }

    /// The definition as a sentence, for an error naming two that disagree.
    pub(crate) fn describe(&self) -> String {
        let scope = match (&self.model, &self.label) {
            (Some(model), _) => format!("model {model}"),
            (None, Some((key, value))) => format!("label {key}={value}"),
            (None, None) => "every record".to_owned(),
        };
        format!("{scope}, per {}", self.period)
    }

    /// Reads a stored definition's period back.
    pub(crate) fn stored(
        name: String,
        model: Option<String>,
        label: Option<(String, String)>,
        period: &str,
    ) -> Definition {
        Definition {
            name,
            model,
            label,
            period: BudgetPeriod::from_name(period).map_or("unknown", BudgetPeriod::name),
        }
    }
}

/// A request to hold `amount` in one window of one budget, as a backend runs it.
#[derive(Debug)]
pub(crate) struct HoldRequest<'a> {
    pub(crate) budget: &'a str,
    pub(crate) window: &'a str,
    pub(crate) id: [u8; 16],
    pub(crate) amount: Amounts,
    pub(crate) limits: Limits,
    pub(crate) now_ns: i64,
    pub(crate) expires_ns: i64,
}

/// An amount in the backends' integer form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Amounts {
    pub(crate) requests: i64,
    pub(crate) input: i64,
    pub(crate) output: i64,
    pub(crate) cost: Decimal,
}

impl Amounts {
    fn of(spend: &Spend, budget: &str) -> Result<Amounts, LedgerError> {
        let count = |kind: &str, value: u64| {
            i64::try_from(value).map_err(|_| LedgerError::BadBudget {
                budget: budget.to_owned(),
                problem: format!("{value} {kind} is above the ledger's limit of {}", i64::MAX),
            })
        };
        Ok(Amounts {
            requests: count("requests", spend.requests)?,
            input: count("input tokens", spend.input_tokens)?,
            output: count("output tokens", spend.output_tokens)?,
            cost: spend.cost,
        })
    }

    pub(crate) fn spend(&self) -> Spend {
        let count = |value: i64| u64::try_from(value).unwrap_or_default();
        Spend::new(
            count(self.requests),
            count(self.input),
            count(self.output),
            self.cost,
        )
    }
}

/// The limits in the backends' integer form (`None`: no limit).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Limits {
    pub(crate) requests: Option<i64>,
    pub(crate) input: Option<i64>,
    pub(crate) output: Option<i64>,
    pub(crate) total: Option<i64>,
    pub(crate) cost: Option<Decimal>,
}

impl Limits {
    fn of(limits: &UsageLimits) -> Limits {
        // A limit above what the database's integers hold is no limit in practice.
        let count = |limit: Option<u64>| limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        Limits {
            requests: count(limits.requests),
            input: count(limits.input_tokens),
            output: count(limits.output_tokens),
            total: count(limits.total_tokens),
            cost: limits.cost,
        }
    }
}

/// What a window of a budget has used and holds.
///
/// ```
/// let usage = mamba_ledger::BudgetUsage::default();
/// assert_eq!((usage.used.requests, usage.reserved.requests), (0, 0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BudgetUsage {
    /// What the records in the window used.
    pub used: Spend,
    /// What requests in flight hold.
    pub reserved: Spend,
}

/// A fleet budget on a ledger's database: every process that opens the same budget name on
/// the same database shares it. Every call blocks until the database answers (call it from a
/// blocking thread in async code).
///
/// ```
/// use mamba_ledger::{FleetBudgetSpec, Ledger};
/// use mamba_pricing::{CostEstimator, Spend, UsageLimits};
/// use mamba_usage::UsageRecord;
///
/// let path = std::env::temp_dir().join(format!("fleet-doc-{}.db", std::process::id()));
/// let ledger = Ledger::open_sqlite(&path)?;
/// let budget = ledger.fleet_budget(FleetBudgetSpec::new("team", UsageLimits::default().with_total_tokens(2_000)))?;
///
/// // Before sending: hold the worst case (prompt + the most output it may produce).
/// let worst_case = Spend::default().with_requests(1).with_input_tokens(1_000).with_output_tokens(500);
/// let hold = budget.reserve(worst_case)?;
/// // A second at once does not fit: 1,500 held + 1,500 > 2,000. It must not be sent.
/// assert!(matches!(budget.reserve(worst_case), Err(mamba_ledger::LedgerError::BudgetExceeded { .. })));
///
/// // On the response: its record settles the hold in the insert's own transaction.
/// let record = UsageRecord::new(900, 100, "gpt-4o");
/// let cost = CostEstimator::new().estimate_record(&record);
/// ledger.record_settling(mamba_ledger::RecordId::new(), &record, &cost, vec![hold])?;
/// let usage = budget.usage()?;
/// assert_eq!((usage.used.input_tokens, usage.reserved.input_tokens), (900, 0));
/// // 1,000 used + 1,500 > 2,000: still refused; a smaller request fits.
/// assert!(budget.reserve(worst_case).is_err());
/// let small = budget.reserve(Spend::default().with_requests(1).with_input_tokens(500).with_output_tokens(500))?;
/// budget.release(small)?;
/// # drop((budget, ledger));
/// # for suffix in ["", "-wal", "-shm"] { let _ = std::fs::remove_file(format!("{}{suffix}", path.display())); }
/// # Ok::<(), mamba_ledger::LedgerError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FleetBudget {
    ledger: Ledger,
    spec: Arc<FleetBudgetSpec>,
}

/// An amount a fleet budget holds for one request until the request's record settles it
/// ([`Ledger::record_settling`]) or it is released ([`FleetBudget::release`]). Dropped
/// without either, it stays held until it expires.
///
/// ```
/// # use mamba_ledger::{FleetBudgetSpec, Ledger};
/// # use mamba_pricing::{Spend, UsageLimits};
/// # let path = std::env::temp_dir().join(format!("fleet-hold-doc-{}.db", std::process::id()));
/// # let ledger = Ledger::open_sqlite(&path)?;
/// let budget = ledger.fleet_budget(FleetBudgetSpec::new("one", UsageLimits::default().with_requests(1)))?;
/// let hold = budget.reserve(Spend::default().with_requests(1))?;
/// assert_eq!((hold.budget(), hold.amount().requests), ("one", 1));
/// budget.release(hold)?;
/// # drop((budget, ledger));
/// # for suffix in ["", "-wal", "-shm"] { let _ = std::fs::remove_file(format!("{}{suffix}", path.display())); }
/// # Ok::<(), mamba_ledger::LedgerError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a hold keeps its amount reserved until it is settled, released or expires"]
#[non_exhaustive]
pub struct FleetHold {
    id: RecordId,
    budget: String,
    window: String,
    amount: Spend,
}

impl FleetHold {
    /// The budget holding it.
    pub fn budget(&self) -> &str {
        &self.budget
    }

    /// The window it holds in (`total`, `2026-12-02`, `2026-12`).
    pub fn window(&self) -> &str {
        &self.window
    }

    /// The amount held.
    pub fn amount(&self) -> &Spend {
        &self.amount
    }

    pub(crate) fn id_bytes(&self) -> [u8; 16] {
        self.id.to_bytes()
    }
}

impl Ledger {
    /// The fleet budget `spec` defines, on this ledger's database: its definition (name,
    /// scope, window) is stored the first time, and every process opening the same name
    /// shares the budget. Each process passes its own limits; give them all the same.
    ///
    /// # Errors
    /// [`LedgerError::BadBudget`] when the name is empty, or the database already has a
    /// budget of that name with another scope or window (both are named);
    /// [`LedgerError::Database`] or [`LedgerError::Unavailable`] when it cannot be stored.
    pub fn fleet_budget(&self, spec: FleetBudgetSpec) -> Result<FleetBudget, LedgerError> {
        if spec.name.trim().is_empty() {
            return Err(LedgerError::BadBudget {
                budget: spec.name.clone(),
                problem: "the name is empty".to_owned(),
            });
        }
        let definition = Definition::of(&spec);
        let stored = self.define_budget(&definition)?;
        if stored != definition {
            return Err(LedgerError::BadBudget {
                budget: spec.name.clone(),
                problem: format!(
                    "the ledger already defines it as {}, not {}",
                    stored.describe(),
                    definition.describe()
                ),
            });
        }
        Ok(FleetBudget {
            ledger: self.clone(),
            spec: Arc::new(spec),
        })
    }

    /// [`record_with_id`](Self::record_with_id), settling `holds` in the same transaction:
    /// the record counts towards every budget whose scope covers it, and the holds it was
    /// sent under are given back, at once (a retry of the same id gives back nothing twice).
    ///
    /// # Errors
    /// As `record_with_id`. With a spill file and the database unavailable, the record is
    /// spilled and the holds stay held until they expire (the budget stays on the safe side).
    pub fn record_settling(
        &self,
        id: RecordId,
        record: &UsageRecord,
        cost: &CostBreakdown,
        holds: Vec<FleetHold>,
    ) -> Result<Written, LedgerError> {
        let mut values = Values::new(id, record, cost)?;
        values.releases = holds.iter().map(FleetHold::id_bytes).collect();
        self.write_values(values)
    }
}

impl FleetBudget {
    /// Its definition.
    pub fn spec(&self) -> &FleetBudgetSpec {
        &self.spec
    }

    /// Whether a request of `model` with `labels` counts towards it, so must reserve in it.
    pub fn applies_to(&self, model: &str, labels: &Labels) -> bool {
        self.spec.scope.covers(model, labels)
    }

    /// Holds `worst_case` in the current window, or refuses it when it does not fit in every
    /// limit beside what the window has used and what others hold. The check and the hold are
    /// one atomic conditional statement, so no number of processes can hold past a limit;
    /// holds that expired (their process crashed) are given back before a refusal is final.
    ///
    /// # Errors
    /// [`LedgerError::BudgetExceeded`] naming the limit (nothing is held then);
    /// [`LedgerError::Database`] or [`LedgerError::Unavailable`] when the database cannot
    /// answer (treat that as a refusal: the budget cannot vouch for the request).
    pub fn reserve(&self, worst_case: Spend) -> Result<FleetHold, LedgerError> {
        let now = SystemTime::now();
        let window = self.spec.period.window(now);
        let id = RecordId::new();
        let amount = Amounts::of(&worst_case, &self.spec.name)?;
        // A worst case larger than a limit on its own never fits.
        if let Some(exceeded) = self.exceeds(&BudgetUsage::default(), &worst_case) {
            return Err(self.exceeded(exceeded));
        }
        let now_ns = nanos(now);
        let request = HoldRequest {
            budget: &self.spec.name,
            window: &window,
            id: id.to_bytes(),
            amount,
            limits: Limits::of(&self.spec.limits),
            now_ns,
            expires_ns: now_ns.saturating_add(
                i64::try_from(self.spec.hold_expiry.as_nanos()).unwrap_or(i64::MAX),
            ),
        };
        // Refused, the window's usage says why; if it fits by then (others settled in
        // between), try again.
        for _ in 0..3 {
            match self.ledger.hold(&request)? {
                None => {
                    return Ok(FleetHold {
                        id,
                        budget: self.spec.name.clone(),
                        window,
                        amount: worst_case,
                    });
                }
                Some(usage) => {
                    if let Some(exceeded) = self.exceeds(&usage, &worst_case) {
                        return Err(self.exceeded(exceeded));
                    }
                }
            }
        }
        Err(LedgerError::Unavailable {
            location: self.ledger.to_string(),
            action: format!("cannot hold in fleet budget `{}`", self.spec.name),
            source: "the budget changed under every attempt".into(),
        })
    }

    /// [`reserve`](Self::reserve) for a request this process cannot price (its model has no
    /// price): by the budget's [`UnpricedPolicy`], refused when it limits cost, or held with
    /// its cost as zero.
    ///
    /// # Errors
    /// [`LedgerError::BudgetUnpriced`] under `UnpricedPolicy::Refuse` with a cost limit; else
    /// as `reserve`.
    pub fn reserve_unpriced(
        &self,
        model: &str,
        worst_case: Spend,
    ) -> Result<FleetHold, LedgerError> {
        if self.spec.limits.cost.is_some() && self.spec.unpriced == UnpricedPolicy::Refuse {
            return Err(LedgerError::BudgetUnpriced {
                budget: self.spec.name.clone(),
                model: model.to_owned(),
            });
        }
        self.reserve(worst_case.with_cost(Decimal::ZERO))
    }

    /// Gives `hold` back: its request was never sent, or the server refused it (nothing was
    /// billed). A hold already settled or expired gives back nothing.
    ///
    /// # Errors
    /// [`LedgerError::Database`] or [`LedgerError::Unavailable`]; the hold then expires.
    pub fn release(&self, hold: FleetHold) -> Result<(), LedgerError> {
        self.ledger.release_hold(hold.id_bytes())
    }

    /// What the current window has used and holds.
    ///
    /// # Errors
    /// [`LedgerError::Database`] or [`LedgerError::Unavailable`].
    pub fn usage(&self) -> Result<BudgetUsage, LedgerError> {
        let window = self.spec.period.window(SystemTime::now());
        self.ledger.budget_usage(&self.spec.name, &window)
    }

    /// What is left of each limit in the current window, holds taken off.
    ///
    /// # Errors
    /// As [`usage`](Self::usage).
    pub fn remaining(&self) -> Result<Remaining, LedgerError> {
        let usage = self.usage()?;
        let taken = usage.used.saturating_add(&usage.reserved);
        Ok(Remaining::new(LimitKind::ALL.into_iter().filter_map(
            |kind| {
                self.spec
                    .limits
                    .limit(kind)
                    .map(|limit| (kind, limit - taken.amount(kind)))
            },
        )))
    }

    /// The first limit `request` does not fit beside `usage`.
    fn exceeds(&self, usage: &BudgetUsage, request: &Spend) -> Option<BudgetExceeded> {
        LimitKind::ALL.into_iter().find_map(|kind| {
            let limit = self.spec.limits.limit(kind)?;
            let (used, reserved, requested) = (
                usage.used.amount(kind),
                usage.reserved.amount(kind),
                request.amount(kind),
            );
            (used + reserved + requested > limit)
                .then_some(BudgetExceeded::new(kind, limit, used, reserved, requested))
        })
    }

    fn exceeded(&self, exceeded: BudgetExceeded) -> LedgerError {
        LedgerError::BudgetExceeded {
            budget: self.spec.name.clone(),
            exceeded,
        }
    }
}

fn nanos(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|since| i64::try_from(since.as_nanos()).ok())
        .unwrap_or(i64::MAX)
}
