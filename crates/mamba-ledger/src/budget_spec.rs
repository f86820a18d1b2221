//! The plain parts of a fleet budget's definition ([`FleetBudgetSpec`]: its name, scope,
//! window, limits and policies), compiled without any database backend so that
//! `mamba-settings` can read budgets from configuration files without pulling a driver.

use std::time::{Duration, SystemTime};

use mamba_pricing::UsageLimits;
use mamba_usage::Labels;

/// Which records a fleet budget counts.
///
/// ```
/// use mamba_ledger::BudgetScope;
///
/// let alice = BudgetScope::label("user", "alice");
/// assert_eq!(alice, BudgetScope::Label { key: "user".to_owned(), value: "alice".to_owned() });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BudgetScope {
    /// Every record.
    All,
    /// The records of one model (as recorded: the model the response named).
    Model(String),
    /// The records with one label (`user=alice`, `team=search`).
    Label {
        /// The label's key.
        key: String,
        /// Its value.
        value: String,
    },
}

impl BudgetScope {
    /// The records labelled `key=value`.
    pub fn label(key: impl Into<String>, value: impl Into<String>) -> BudgetScope {
        BudgetScope::Label {
            key: key.into(),
            value: value.into(),
        }
    }

    /// The scope written as text: `all`, `model:NAME` or `label:KEY=VALUE` (as settings
    /// files write it).
    ///
    /// ```
    /// use mamba_ledger::BudgetScope;
    ///
    /// assert_eq!(BudgetScope::parse("label:user=alice"), Ok(BudgetScope::label("user", "alice")));
    /// assert_eq!(BudgetScope::parse("model:gpt-4o"), Ok(BudgetScope::Model("gpt-4o".to_owned())));
    /// assert_eq!(BudgetScope::parse("all"), Ok(BudgetScope::All));
    /// assert!(BudgetScope::parse("user=alice").is_err());
    /// ```
    ///
    /// # Errors
    /// What the text should look like, for any other text.
    pub fn parse(text: &str) -> Result<BudgetScope, String> {
        let expected = "`all`, `model:NAME` or `label:KEY=VALUE`";
        if text == "all" {
            return Ok(BudgetScope::All);
        }
        if let Some(model) = text
            .strip_prefix("model:")
            .filter(|model| !model.is_empty())
        {
            return Ok(BudgetScope::Model(model.to_owned()));
        }
        if let Some((key, value)) = text
            .strip_prefix("label:")
            .and_then(|label| label.split_once('='))
            .filter(|(key, value)| !key.is_empty() && !value.is_empty())
        {
            return Ok(BudgetScope::label(key, value));
        }
        Err(format!("`{text}` is not a budget scope ({expected})"))
    }

    /// Whether a record of `model` with `labels` counts towards this scope.
    pub fn covers(&self, model: &str, labels: &Labels) -> bool {
        match self {
            BudgetScope::All => true,
            BudgetScope::Model(name) => name == model,
            BudgetScope::Label { key, value } => labels.get(key) == Some(value.as_str()),
        }
    }
}

/// The window a fleet budget's limits apply to, in UTC.
///
/// ```
/// assert_eq!(mamba_ledger::BudgetPeriod::default(), mamba_ledger::BudgetPeriod::Total);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BudgetPeriod {
    /// All time.
    #[default]
    Total,
    /// Each UTC day (the limits start again at midnight UTC).
    Day,
    /// Each UTC calendar month.
    Month,
}

impl BudgetPeriod {
    /// Its name: `total`, `day` or `month`.
    pub fn name(self) -> &'static str {
        match self {
            BudgetPeriod::Total => "total",
            BudgetPeriod::Day => "day",
            BudgetPeriod::Month => "month",
        }
    }

    /// The period named `name` (`total`, `day`, `month`).
    pub fn from_name(name: &str) -> Option<BudgetPeriod> {
        match name {
            "total" => Some(BudgetPeriod::Total),
            "day" => Some(BudgetPeriod::Day),
            "month" => Some(BudgetPeriod::Month),
            _ => None,
        }
    }

    /// The window `time` falls in: `total`, a day (`2026-12-02`) or a month (`2026-12`), as
    /// the databases compute it from a record's timestamp.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use mamba_ledger::BudgetPeriod;
    ///
    /// let time = UNIX_EPOCH + Duration::from_secs(1_796_169_600); // 2026-12-02T00:00:00Z
    /// assert_eq!(BudgetPeriod::Day.window(time), "2026-12-02");
    /// assert_eq!(BudgetPeriod::Month.window(time), "2026-12");
    /// assert_eq!(BudgetPeriod::Total.window(time), "total");
    /// ```
    pub fn window(self, time: SystemTime) -> String {
        // The calendar is pricing's, which dates prices the same way (UTC days).
        let day = mamba_pricing::PriceDate::of(time);
        match self {
            BudgetPeriod::Total => "total".to_owned(),
            BudgetPeriod::Day => day.to_string(),
            BudgetPeriod::Month => {
                let (year, month, _) = day.ymd();
                format!("{year:04}-{month:02}")
            }
        }
    }
}

impl std::fmt::Display for BudgetScope {
    /// The form [`BudgetScope::parse`] reads.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BudgetScope::All => f.write_str("all"),
            BudgetScope::Model(model) => write!(f, "model:{model}"),
            BudgetScope::Label { key, value } => write!(f, "label:{key}={value}"),
        }
    }
}

/// What a cost-limited fleet budget does with a request it cannot price (a model without a
/// price): the budget cannot hold its worst case, so the policy is explicit.
///
/// ```
/// assert_eq!(mamba_ledger::UnpricedPolicy::default(), mamba_ledger::UnpricedPolicy::Refuse);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UnpricedPolicy {
    /// Refuse it (fail closed: a cost limit is never exceeded by spend it cannot see).
    #[default]
    Refuse,
    /// Allow it, holding and counting its cost as zero (its tokens still count towards token
    /// limits, and the ledger records them as unpriced).
    Allow,
}

/// A fleet budget's definition: its name (the key every process shares), the records it
/// counts, its window, its limits and its policies.
///
/// ```
/// use std::time::Duration;
/// use mamba_ledger::{BudgetPeriod, BudgetScope, FleetBudgetSpec, UnpricedPolicy};
/// use mamba_pricing::UsageLimits;
/// use rust_decimal::Decimal;
///
/// let spec = FleetBudgetSpec::new("alice-daily", UsageLimits::default().with_cost(Decimal::new(500, 2)))
///     .scope(BudgetScope::label("user", "alice"))
///     .period(BudgetPeriod::Day)
///     .unpriced(UnpricedPolicy::Refuse)
///     .hold_expiry(Duration::from_secs(600));
/// assert_eq!(spec.name(), "alice-daily");
/// assert_eq!(spec.limits().cost, Some(Decimal::new(5, 0)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetBudgetSpec {
    pub(crate) name: String,
    pub(crate) scope: BudgetScope,
    pub(crate) period: BudgetPeriod,
    pub(crate) limits: UsageLimits,
    pub(crate) unpriced: UnpricedPolicy,
    pub(crate) hold_expiry: Duration,
}

impl UnpricedPolicy {
    /// Its name: `refuse` or `allow`.
    pub fn name(self) -> &'static str {
        match self {
            UnpricedPolicy::Refuse => "refuse",
            UnpricedPolicy::Allow => "allow",
        }
    }

    /// The policy named `name` (`refuse`, `allow`).
    pub fn from_name(name: &str) -> Option<UnpricedPolicy> {
        match name {
            "refuse" => Some(UnpricedPolicy::Refuse),
            "allow" => Some(UnpricedPolicy::Allow),
            _ => None,
        }
    }
}

impl FleetBudgetSpec {
    /// A budget named `name` of `limits` over every record, for all time, refusing what it
    /// cannot price, whose holds expire after 10 minutes.
    pub fn new(name: impl Into<String>, limits: UsageLimits) -> FleetBudgetSpec {
        FleetBudgetSpec {
            name: name.into(),
            scope: BudgetScope::All,
            period: BudgetPeriod::Total,
            limits,
            unpriced: UnpricedPolicy::Refuse,
            hold_expiry: Duration::from_secs(600),
        }
    }

    /// Counting only the records `scope` covers.
    #[must_use]
    pub fn scope(mut self, scope: BudgetScope) -> FleetBudgetSpec {
        self.scope = scope;
        self
    }

    /// With its limits applying per `period`.
    #[must_use]
    pub fn period(mut self, period: BudgetPeriod) -> FleetBudgetSpec {
        self.period = period;
        self
    }

    /// With `policy` for requests it cannot price.
    #[must_use]
    pub fn unpriced(mut self, policy: UnpricedPolicy) -> FleetBudgetSpec {
        self.unpriced = policy;
        self
    }

    /// With holds that expire `expiry` after they were made: a process that crashed with a
    /// request in flight gives its hold back then. Make it longer than the longest request
    /// (its timeout and retries): a hold that expires under a live request lets others
    /// reserve what it may still spend.
    #[must_use]
    pub fn hold_expiry(mut self, expiry: Duration) -> FleetBudgetSpec {
        self.hold_expiry = expiry;
        self
    }

    /// The name every process shares.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The records it counts.
    pub fn budget_scope(&self) -> &BudgetScope {
        &self.scope
    }

    /// Its window.
    pub fn budget_period(&self) -> BudgetPeriod {
        self.period
    }

    /// Its limits.
    pub fn limits(&self) -> &UsageLimits {
        &self.limits
    }

    /// What it does with requests it cannot price.
    pub fn unpriced_policy(&self) -> UnpricedPolicy {
        self.unpriced
    }

    /// How long a hold lasts.
    pub fn expiry(&self) -> Duration {
        self.hold_expiry
    }
}
