//! Budgets that are never exceeded, under any concurrency: [`UsageLimits`], the reservation
//! contract ([`Budget`]: reserve the worst case before a request, settle to what it really
//! used, release what was never sent) and its in-process implementation, [`LocalBudget`].
//!
//! The contract is async so that a budget shared by many processes (a database row updated by
//! one conditional statement) implements the same trait as the in-process one.

use std::fmt;
use std::future::{Future, ready};
use std::sync::{Mutex, PoisonError};

use rust_decimal::Decimal;

use crate::format_usd;

/// Which usage limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitKind {
    /// The number of model requests.
    Requests,
    /// Prompt (input) tokens.
    InputTokens,
    /// Completion (output) tokens.
    OutputTokens,
    /// All tokens.
    TotalTokens,
    /// USD.
    Cost,
}

impl LimitKind {
    /// Every kind, in the order limits are checked.
    pub const ALL: [LimitKind; 5] = [
        LimitKind::Requests,
        LimitKind::InputTokens,
        LimitKind::OutputTokens,
        LimitKind::TotalTokens,
        LimitKind::Cost,
    ];

    /// `amount` written as this kind's unit: USD for cost, a plain number otherwise.
    ///
    /// ```
    /// use mamba_pricing::LimitKind;
    /// use rust_decimal::Decimal;
    ///
    /// assert_eq!(LimitKind::Cost.format(Decimal::new(5, 1)), "$0.5000");
    /// assert_eq!(LimitKind::InputTokens.format(Decimal::from(900)), "900");
    /// ```
    pub fn format(self, amount: Decimal) -> String {
        match self {
            LimitKind::Cost => format_usd(amount),
            _ => amount.to_string(),
        }
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitKind::Requests => "requests",
            LimitKind::InputTokens => "input tokens",
            LimitKind::OutputTokens => "output tokens",
            LimitKind::TotalTokens => "total tokens",
            LimitKind::Cost => "cost",
        })
    }
}

/// Budgets: a request that would exceed one is not sent. `None` means no limit.
///
/// ```
/// use mamba_pricing::{LimitKind, UsageLimits};
/// use rust_decimal::Decimal;
///
/// let limits = UsageLimits::default().with_requests(10).with_cost(Decimal::new(50, 2));
/// assert_eq!(limits.requests, Some(10));
/// assert_eq!(limits.limit(LimitKind::Cost), Some(Decimal::new(50, 2))); // $0.50
/// assert!(!limits.is_unlimited());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct UsageLimits {
    /// The most model requests.
    pub requests: Option<u64>,
    /// The most prompt (input) tokens, summed over requests.
    pub input_tokens: Option<u64>,
    /// The most completion (output) tokens, summed over requests.
    pub output_tokens: Option<u64>,
    /// The most tokens of both kinds.
    pub total_tokens: Option<u64>,
    /// The most USD.
    pub cost: Option<Decimal>,
}

impl UsageLimits {
    /// Whether no limit is set.
    pub fn is_unlimited(&self) -> bool {
        *self == UsageLimits::default()
    }

    /// The limit of one kind, as a number of its unit.
    pub fn limit(&self, kind: LimitKind) -> Option<Decimal> {
        match kind {
            LimitKind::Requests => self.requests.map(Decimal::from),
            LimitKind::InputTokens => self.input_tokens.map(Decimal::from),
            LimitKind::OutputTokens => self.output_tokens.map(Decimal::from),
            LimitKind::TotalTokens => self.total_tokens.map(Decimal::from),
            LimitKind::Cost => self.cost,
        }
    }

    /// Whether a request's output size matters to these limits (output or total tokens, or
    /// cost), so it must be bounded before the request is sent.
    pub fn bounds_output(&self) -> bool {
        self.output_tokens.is_some() || self.total_tokens.is_some() || self.cost.is_some()
    }

    /// Limits the number of requests.
    #[must_use]
    pub fn with_requests(mut self, requests: u64) -> UsageLimits {
        self.requests = Some(requests);
        self
    }

    /// Limits the prompt tokens.
    #[must_use]
    pub fn with_input_tokens(mut self, tokens: u64) -> UsageLimits {
        self.input_tokens = Some(tokens);
        self
    }

    /// Limits the completion tokens.
    #[must_use]
    pub fn with_output_tokens(mut self, tokens: u64) -> UsageLimits {
        self.output_tokens = Some(tokens);
        self
    }

    /// Limits all tokens.
    #[must_use]
    pub fn with_total_tokens(mut self, tokens: u64) -> UsageLimits {
        self.total_tokens = Some(tokens);
        self
    }

    /// Limits the cost in USD.
    #[must_use]
    pub fn with_cost(mut self, usd: Decimal) -> UsageLimits {
        self.cost = Some(usd);
        self
    }
}

/// An amount of usage: what a request may use (reserved) or did use (settled).
///
/// ```
/// use mamba_pricing::{LimitKind, Spend};
/// use rust_decimal::Decimal;
///
/// let spend = Spend::new(1, 120, 30, Decimal::new(6, 4));
/// assert_eq!(spend.amount(LimitKind::TotalTokens), Decimal::from(150));
/// assert_eq!(Spend::default().with_requests(2).amount(LimitKind::Requests), Decimal::from(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Spend {
    /// Model requests.
    pub requests: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// USD.
    pub cost: Decimal,
}

impl Spend {
    /// `requests` requests of `input_tokens` in and `output_tokens` out, costing `cost` USD.
    pub const fn new(requests: u64, input_tokens: u64, output_tokens: u64, cost: Decimal) -> Spend {
        Spend {
            requests,
            input_tokens,
            output_tokens,
            cost,
        }
    }

    /// With `requests` requests.
    #[must_use]
    pub const fn with_requests(mut self, requests: u64) -> Spend {
        self.requests = requests;
        self
    }

    /// With `tokens` input tokens.
    #[must_use]
    pub const fn with_input_tokens(mut self, tokens: u64) -> Spend {
        self.input_tokens = tokens;
        self
    }

    /// With `tokens` output tokens.
    #[must_use]
    pub const fn with_output_tokens(mut self, tokens: u64) -> Spend {
        self.output_tokens = tokens;
        self
    }

    /// With a cost of `usd`.
    #[must_use]
    pub const fn with_cost(mut self, usd: Decimal) -> Spend {
        self.cost = usd;
        self
    }

    /// The amount of one kind (total tokens are input plus output).
    pub fn amount(&self, kind: LimitKind) -> Decimal {
        match kind {
            LimitKind::Requests => Decimal::from(self.requests),
            LimitKind::InputTokens => Decimal::from(self.input_tokens),
            LimitKind::OutputTokens => Decimal::from(self.output_tokens),
            LimitKind::TotalTokens => {
                Decimal::from(self.input_tokens) + Decimal::from(self.output_tokens)
            }
            LimitKind::Cost => self.cost,
        }
    }

    /// The sum, saturating (counts at `u64::MAX`, cost at `Decimal::MAX`).
    #[must_use]
    pub fn saturating_add(&self, other: &Spend) -> Spend {
        Spend::new(
            self.requests.saturating_add(other.requests),
            self.input_tokens.saturating_add(other.input_tokens),
            self.output_tokens.saturating_add(other.output_tokens),
            self.cost.saturating_add(other.cost),
        )
    }

    /// The difference, never below zero.
    #[must_use]
    pub fn saturating_sub(&self, other: &Spend) -> Spend {
        Spend::new(
            self.requests.saturating_sub(other.requests),
            self.input_tokens.saturating_sub(other.input_tokens),
            self.output_tokens.saturating_sub(other.output_tokens),
            self.cost.saturating_sub(other.cost).max(Decimal::ZERO),
        )
    }
}

/// An amount held for one request until it is settled or released. Dropping it without either
/// keeps the amount held (a request in flight is never forgotten).
///
/// ```
/// use mamba_pricing::{LocalBudget, Spend, UsageLimits};
///
/// let budget = LocalBudget::new(UsageLimits::default().with_requests(1));
/// let held = budget.try_reserve(Spend::default().with_requests(1))?;
/// assert_eq!(held.amount().requests, 1);
/// budget.release_now(held);
/// # Ok::<(), mamba_pricing::BudgetError>(())
/// ```
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a reservation holds budget until it is settled or released"]
pub struct Reservation {
    id: u64,
    amount: Spend,
}

impl Reservation {
    /// Makes a reservation; for [`Budget`] implementations, which keep the id.
    pub fn new(id: u64, amount: Spend) -> Reservation {
        Reservation { id, amount }
    }

    /// The budget's id for it (unique within its budget).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The amount held.
    pub fn amount(&self) -> &Spend {
        &self.amount
    }
}

/// A request the budget refused: it would have taken `kind` past its limit.
///
/// ```
/// use mamba_pricing::{BudgetExceeded, LimitKind};
/// use rust_decimal::Decimal;
///
/// let refused = BudgetExceeded::new(LimitKind::InputTokens, Decimal::from(1_000),
///     Decimal::from(800), Decimal::from(100), Decimal::from(150));
/// assert_eq!(
///     refused.to_string(),
///     "limit on input tokens reached: 800 used and 100 reserved of 1000, and the request needs up to 150 more"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BudgetExceeded {
    /// Which limit.
    pub kind: LimitKind,
    /// The limit.
    pub limit: Decimal,
    /// What settled requests used.
    pub used: Decimal,
    /// What requests in flight hold.
    pub reserved: Decimal,
    /// What the refused request asked for (its worst case).
    pub requested: Decimal,
}

impl BudgetExceeded {
    /// A refusal under the `kind` limit of `limit`, with what was `used` and `reserved` and
    /// what the request asked for.
    pub fn new(
        kind: LimitKind,
        limit: Decimal,
        used: Decimal,
        reserved: Decimal,
        requested: Decimal,
    ) -> BudgetExceeded {
        BudgetExceeded {
            kind,
            limit,
            used,
            reserved,
            requested,
        }
    }
}

impl std::error::Error for BudgetExceeded {}

impl fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let amount = |value| self.kind.format(value);
        write!(
            f,
            "limit on {} reached: {} used and {} reserved of {}, and the request needs up to {} more",
            self.kind,
            amount(self.used),
            amount(self.reserved),
            amount(self.limit),
            amount(self.requested)
        )
    }
}

/// A request that used more than it reserved (a server that ignored `max_tokens`, a prompt
/// the counter underestimated). It was recorded in full; the budget refuses every later request,
/// since its worst-case estimates can no longer be trusted, until it is reset.
///
/// ```
/// use mamba_pricing::{LimitKind, Overdrawn};
/// use rust_decimal::Decimal;
///
/// let over = Overdrawn::new(LimitKind::OutputTokens, Decimal::from(64), Decimal::from(90));
/// assert_eq!(over.to_string(), "a request used 90 output tokens where 64 were reserved");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Overdrawn {
    /// The limit whose reservation was exceeded.
    pub kind: LimitKind,
    /// What the request reserved.
    pub reserved: Decimal,
    /// What it used.
    pub actual: Decimal,
}

impl Overdrawn {
    /// A request under the `kind` limit that `reserved` an amount and used `actual`.
    pub fn new(kind: LimitKind, reserved: Decimal, actual: Decimal) -> Overdrawn {
        Overdrawn {
            kind,
            reserved,
            actual,
        }
    }
}

impl std::error::Error for Overdrawn {}

impl fmt::Display for Overdrawn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            LimitKind::Cost => "in cost".to_owned(),
            kind => kind.to_string(),
        };
        write!(
            f,
            "a request used {} {what} where {} were reserved",
            self.kind.format(self.actual),
            self.kind.format(self.reserved)
        )
    }
}

/// Why a budget refused a reservation.
///
/// ```
/// use mamba_pricing::{BudgetError, LocalBudget, Spend, UsageLimits};
///
/// let budget = LocalBudget::new(UsageLimits::default().with_requests(0));
/// let refused = budget.try_reserve(Spend::default().with_requests(1)).unwrap_err();
/// assert!(matches!(refused, BudgetError::Exceeded(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BudgetError {
    /// The request's worst case does not fit.
    #[error("{0}")]
    Exceeded(BudgetExceeded),
    /// An earlier request used more than it reserved; nothing more is sent until a reset.
    #[error("the budget is blocked: {0}")]
    Overdrawn(Overdrawn),
}

/// What is left of each limit (`None`: that kind has no limit), reserved amounts taken off.
///
/// ```
/// use mamba_pricing::{LimitKind, LocalBudget, UsageLimits};
/// use rust_decimal::Decimal;
///
/// let budget = LocalBudget::new(UsageLimits::default().with_output_tokens(500));
/// let left = budget.remaining_now();
/// assert_eq!(left.get(LimitKind::OutputTokens), Some(Decimal::from(500)));
/// assert_eq!(left.get(LimitKind::Cost), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Remaining([Option<Decimal>; 5]);

impl Remaining {
    /// Makes one from `(kind, what is left)` pairs; kinds not named are unlimited.
    pub fn new(left: impl IntoIterator<Item = (LimitKind, Decimal)>) -> Remaining {
        let mut remaining = Remaining::default();
        for (kind, amount) in left {
            remaining.0[index(kind)] = Some(amount.max(Decimal::ZERO));
        }
        remaining
    }

    /// What is left of `kind`.
    pub fn get(&self, kind: LimitKind) -> Option<Decimal> {
        self.0[index(kind)]
    }
}

fn index(kind: LimitKind) -> usize {
    match kind {
        LimitKind::Requests => 0,
        LimitKind::InputTokens => 1,
        LimitKind::OutputTokens => 2,
        LimitKind::TotalTokens => 3,
        LimitKind::Cost => 4,
    }
}

/// The reservation contract. Before a request, [`reserve`](Budget::reserve) its worst case
/// (the counted prompt with the counter's margin, the most output it may produce, and that
/// priced); on its response, [`settle`](Budget::settle) to what it really used; if it was never
/// sent, or the server refused it, [`release`](Budget::release) it. A request cut off after it
/// was sent is settled to its recorded estimate.
///
/// Implementations check and hold in one atomic step, so concurrent requests can never take a
/// limit past its value: `used + reserved <= limit` holds at every moment for every limit.
///
/// ```
/// use mamba_pricing::{Budget, LocalBudget, Spend, UsageLimits};
///
/// async fn one_request(budget: &impl Budget) -> Result<(), mamba_pricing::BudgetError> {
///     let held = budget.reserve(Spend::default().with_requests(1).with_input_tokens(100).with_output_tokens(50)).await?;
///     // ... send the request; it used 90 in and 20 out ...
///     budget.settle(held, Spend::default().with_requests(1).with_input_tokens(90).with_output_tokens(20)).await?;
///     Ok(())
/// }
///
/// // The in-process budget's futures are ready at once; any executor runs them.
/// let budget = LocalBudget::new(UsageLimits::default().with_requests(1));
/// let mut request = std::pin::pin!(one_request(&budget));
/// let mut context = std::task::Context::from_waker(std::task::Waker::noop());
/// assert!(matches!(request.as_mut().poll(&mut context), std::task::Poll::Ready(Ok(()))));
/// assert_eq!(budget.used().input_tokens, 90);
/// assert!(budget.try_reserve(Spend::default().with_requests(1)).is_err()); // 1 of 1 used
/// ```
pub trait Budget: Send + Sync {
    /// Holds `worst_case`, or refuses it when it does not fit in every limit.
    fn reserve(
        &self,
        worst_case: Spend,
    ) -> impl Future<Output = Result<Reservation, BudgetError>> + Send;

    /// Replaces the reservation by what the request used. Returns the overdraw when it used
    /// more than it reserved of a limited kind (it is counted in full all the same).
    fn settle(
        &self,
        reservation: Reservation,
        actual: Spend,
    ) -> impl Future<Output = Result<Option<Overdrawn>, BudgetError>> + Send;

    /// Gives the reservation back: the request was never sent, or the server refused it.
    fn release(
        &self,
        reservation: Reservation,
    ) -> impl Future<Output = Result<(), BudgetError>> + Send;

    /// What is left of each limit.
    fn remaining(&self) -> impl Future<Output = Result<Remaining, BudgetError>> + Send;
}

/// The in-process [`Budget`]: limits, what settled requests used, and what requests in flight
/// hold, behind one lock. Its methods are also callable synchronously (the `_now` forms), for
/// settling from a drop guard.
///
/// ```
/// use mamba_pricing::{LocalBudget, Spend, UsageLimits};
///
/// let budget = LocalBudget::new(UsageLimits::default().with_total_tokens(1_000));
/// let request = Spend::default().with_requests(1).with_input_tokens(400).with_output_tokens(200);
/// let first = budget.try_reserve(request)?;
/// assert!(budget.try_reserve(request).is_err()); // 600 held + 600 > 1000
/// budget.settle_now(first, Spend::default().with_requests(1).with_input_tokens(380).with_output_tokens(20));
/// assert_eq!(budget.used().input_tokens, 380);
/// let second = budget.try_reserve(request)?; // 400 used + 600 <= 1000
/// budget.release_now(second);
/// # Ok::<(), mamba_pricing::BudgetError>(())
/// ```
#[derive(Debug, Default)]
pub struct LocalBudget {
    limits: UsageLimits,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    used: Spend,
    reserved: Spend,
    next_id: u64,
    overdrawn: Option<Overdrawn>,
}

impl LocalBudget {
    /// A budget of `limits`, nothing used.
    pub fn new(limits: UsageLimits) -> LocalBudget {
        LocalBudget {
            limits,
            state: Mutex::default(),
        }
    }

    /// The limits.
    pub fn limits(&self) -> &UsageLimits {
        &self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`Budget::reserve`], synchronously.
    ///
    /// # Errors
    /// [`BudgetError::Exceeded`] naming the first limit the worst case does not fit;
    /// [`BudgetError::Overdrawn`] once a request used more than it reserved.
    pub fn try_reserve(&self, worst_case: Spend) -> Result<Reservation, BudgetError> {
        let mut state = self.lock();
        if let Some(overdrawn) = state.overdrawn {
            return Err(BudgetError::Overdrawn(overdrawn));
        }
        for kind in LimitKind::ALL {
            let Some(limit) = self.limits.limit(kind) else {
                continue;
            };
            let used = state.used.amount(kind);
            let reserved = state.reserved.amount(kind);
            let requested = worst_case.amount(kind);
            if used.saturating_add(reserved).saturating_add(requested) > limit {
                return Err(BudgetError::Exceeded(BudgetExceeded {
                    kind,
                    limit,
                    used,
                    reserved,
                    requested,
                }));
            }
        }
        state.reserved = state.reserved.saturating_add(&worst_case);
        state.next_id = state.next_id.wrapping_add(1);
        Ok(Reservation::new(state.next_id, worst_case))
    }

    /// [`Budget::settle`], synchronously.
    pub fn settle_now(&self, reservation: Reservation, actual: Spend) -> Option<Overdrawn> {
        let overdrawn = LimitKind::ALL.into_iter().find_map(|kind| {
            self.limits.limit(kind)?;
            let reserved = reservation.amount.amount(kind);
            let used = actual.amount(kind);
            (used > reserved).then_some(Overdrawn {
                kind,
                reserved,
                actual: used,
            })
        });
        let mut state = self.lock();
        state.reserved = state.reserved.saturating_sub(&reservation.amount);
        state.used = state.used.saturating_add(&actual);
        if let Some(over) = overdrawn {
            tracing::warn!(%over, "a request used more than it reserved; the budget refuses further requests until reset");
            state.overdrawn.get_or_insert(over);
        }
        overdrawn
    }

    /// [`Budget::release`], synchronously.
    pub fn release_now(&self, reservation: Reservation) {
        let mut state = self.lock();
        state.reserved = state.reserved.saturating_sub(&reservation.amount);
    }

    /// [`Budget::remaining`], synchronously.
    pub fn remaining_now(&self) -> Remaining {
        let state = self.lock();
        Remaining::new(LimitKind::ALL.into_iter().filter_map(|kind| {
            let limit = self.limits.limit(kind)?;
            let taken = state
                .used
                .amount(kind)
                .saturating_add(state.reserved.amount(kind));
            Some((kind, limit.saturating_sub(taken)))
        }))
    }

    /// What settled requests used.
    pub fn used(&self) -> Spend {
        self.lock().used
    }

    /// What requests in flight hold.
    pub fn reserved(&self) -> Spend {
        self.lock().reserved
    }

    /// Forgets what was used and lifts an overdraw block; requests in flight keep their
    /// reservations.
    pub fn reset(&self) {
        let mut state = self.lock();
        state.used = Spend::default();
        state.overdrawn = None;
    }
}

impl Budget for LocalBudget {
    fn reserve(
        &self,
        worst_case: Spend,
    ) -> impl Future<Output = Result<Reservation, BudgetError>> + Send {
        ready(self.try_reserve(worst_case))
    }

    fn settle(
        &self,
        reservation: Reservation,
        actual: Spend,
    ) -> impl Future<Output = Result<Option<Overdrawn>, BudgetError>> + Send {
        ready(Ok(self.settle_now(reservation, actual)))
    }

    fn release(
        &self,
        reservation: Reservation,
    ) -> impl Future<Output = Result<(), BudgetError>> + Send {
        self.release_now(reservation);
        ready(Ok(()))
    }

    fn remaining(&self) -> impl Future<Output = Result<Remaining, BudgetError>> + Send {
        ready(Ok(self.remaining_now()))
    }
}
