//! [`AgentError`]: what can go wrong in a run, and [`LimitExceeded`]: which budget stopped it.

use std::fmt;
use std::time::Duration;

use mamba_pricing::{BudgetError, BudgetExceeded, LimitKind, Overdrawn};
use rust_decimal::Decimal;
use thiserror::Error;

/// Whether a limit applies to one run or to everything the agent did since its last reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitScope {
    /// [`AgentBuilder::run_limits`](crate::AgentBuilder::run_limits): each run.
    Run,
    /// [`AgentBuilder::usage_limits`](crate::AgentBuilder::usage_limits): the agent and its
    /// clones, until [`reset_tracking`](crate::Agent::reset_tracking).
    Agent,
}

/// A request that was not sent because its worst case would have exceeded a limit, counting
/// what settled requests used and what requests in flight have reserved.
///
/// ```
/// use mamba_agent::{LimitExceeded, LimitKind, LimitScope};
/// use mamba_agent::pricing::BudgetExceeded;
/// use rust_decimal::Decimal;
///
/// let refused = BudgetExceeded::new(LimitKind::InputTokens, Decimal::from(1_000), Decimal::from(800),
///     Decimal::from(100), Decimal::from(150));
/// let stop = LimitExceeded::new(LimitScope::Run, refused);
/// assert_eq!((stop.kind, stop.scope, stop.requested), (LimitKind::InputTokens, LimitScope::Run, Decimal::from(150)));
/// assert_eq!(
///     stop.to_string(),
///     "run limit on input tokens reached: 800 used and 100 reserved of 1000, and the next request needs up to 150 more"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimitExceeded {
    /// Which limit.
    pub kind: LimitKind,
    /// Per run or per agent.
    pub scope: LimitScope,
    /// The limit (requests, tokens or USD).
    pub limit: Decimal,
    /// The amount settled requests used.
    pub used: Decimal,
    /// The amount requests in flight held when this one was refused.
    pub reserved: Decimal,
    /// The request's worst case: the counted prompt with the counter's safety margin, and
    /// `max_tokens` (or the bound the budget allowed) for the completion, priced.
    pub requested: Decimal,
}

impl LimitExceeded {
    /// The agent's refusal under a limit of `scope`, from the budget's.
    pub fn new(scope: LimitScope, refused: BudgetExceeded) -> LimitExceeded {
        LimitExceeded {
            kind: refused.kind,
            scope,
            limit: refused.limit,
            used: refused.used,
            reserved: refused.reserved,
            requested: refused.requested,
        }
    }
}

impl std::error::Error for LimitExceeded {}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = match self.scope {
            LimitScope::Run => "run",
            LimitScope::Agent => "agent",
        };
        let amount = |value| self.kind.format(value);
        write!(
            f,
            "{scope} limit on {} reached: {} used and {} reserved of {}, and the next request needs up to {} more",
            self.kind,
            amount(self.used),
            amount(self.reserved),
            amount(self.limit),
            amount(self.requested)
        )
    }
}

/// Why a run failed. Usage recorded before the failure is kept.
///
/// ```
/// use mamba_agent::{Agent, AgentError};
/// use mamba_agent::settings::{AgentSettings, UsageLimits};
///
/// let settings = AgentSettings::builder().defaults_only().build()?;
/// let agent = Agent::builder("gpt-4o")
///     .settings(settings)
///     .run_limits(UsageLimits::default().with_requests(0))
///     .build()?;
/// // No request is sent: the limit is checked first.
/// match agent.run_sync("Hello").map_err(AgentError::from) {
///     Err(AgentError::LimitExceeded(stop)) => assert_eq!(stop.used, 0.into()),
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(agent.usage().request_count, 0);
/// # Ok::<(), AgentError>(())
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The settings could not be loaded.
    #[error("cannot load the agent's settings")]
    Settings(#[source] Box<mamba_settings::SettingsError>),
    /// The tokenizer settings are invalid.
    #[error("invalid tokenizer settings")]
    Tokens(#[from] mamba_tokens::TokensError),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client")]
    Client(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The endpoint answered with an error status (after retries, for 429 and 5xx).
    #[error("the model endpoint answered {status}: {message}")]
    Api {
        /// The HTTP status code.
        status: u16,
        /// The error message the endpoint gave.
        message: String,
    },
    /// No response within the timeout (after retries).
    #[error("the model endpoint did not answer within {0:?}")]
    Timeout(Duration),
    /// The endpoint could not be reached, or the connection broke.
    #[error("cannot reach the model endpoint")]
    Connection(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The endpoint's answer is not a chat completion.
    #[error("the model endpoint sent a malformed response: {0}")]
    MalformedResponse(String),
    /// A usage limit would have been exceeded; the request was not sent.
    #[error("{0}")]
    LimitExceeded(LimitExceeded),
    /// An earlier request used more than it reserved (a server that ignored `max_tokens`, a
    /// prompt the counter underestimated beyond its margin): it was recorded in full, and the
    /// scope sends nothing more until [`reset_tracking`](crate::Agent::reset_tracking) (agent
    /// scope) or the next run (run scope).
    #[error("{} limits are blocked: {overdrawn}", match scope { LimitScope::Run => "the run's", LimitScope::Agent => "the agent's" })]
    Overdrawn {
        /// Which budget.
        scope: LimitScope,
        /// The request that overdrew it.
        overdrawn: Overdrawn,
    },
    /// A budget refused the request for another reason.
    #[error("the {scope:?} budget refused the request")]
    Budget {
        /// Which budget.
        scope: LimitScope,
        /// Its error.
        #[source]
        source: BudgetError,
    },
    /// A cost limit is set but the model has no price, so the request's cost cannot be bounded;
    /// the request was not sent. Price the model (`set_price`, `prices` settings), or mark the
    /// backend local.
    #[error("model `{model}` has no price, so its requests cannot be kept under the cost limit")]
    Unpriced {
        /// The model.
        model: String,
    },
    /// The stream ended before the model finished its answer (no `finish_reason`): the text in
    /// `partial` is incomplete. The request is recorded (marked cut off).
    #[error("the model's answer was cut off after {} characters: the stream ended without a finish reason", partial.chars().count())]
    Truncated {
        /// The text that arrived.
        partial: String,
    },
    /// The model kept calling tools for the configured number of turns.
    #[error("no final answer after {0} model turns (max_turns)")]
    MaxTurns(u32),
    /// [`Agent::run_sync`](crate::Agent::run_sync) was called inside an async runtime, where
    /// blocking would stall it; use `run(..).await` there.
    #[error("run_sync was called inside an async runtime; use `agent.run(prompt).await` instead")]
    InsideRuntime,
    /// A required usage sink (see [`AgentBuilder::required_sink`](crate::AgentBuilder::required_sink))
    /// could not keep a record. The record is in the agent's books and in the run's `spent`;
    /// the run stops, since books that must not diverge have diverged.
    #[error("a required usage sink failed")]
    Sink(#[source] mamba_usage::SinkError),
    /// No API key is set and requests would go to OpenAI's API (no `model_backend.base_url`):
    /// nothing was sent.
    #[error(
        "no API key for {endpoint}: set OPENAI_API_KEY (or MAMBA_MODEL_BACKEND__API_KEY, or \
         `api_key` under `[model_backend]` in a settings file), or set `model_backend.base_url` \
         to another server, such as a local model (`cargo xtask demo` runs one)"
    )]
    MissingApiKey {
        /// Where the requests would have gone.
        endpoint: &'static str,
    },
    /// The ledger the settings name (`[ledger] url`) could not be opened.
    #[error("cannot open the usage ledger")]
    Ledger(#[source] mamba_ledger::LedgerError),
    /// A fleet budget ([`AgentBuilder::fleet_budget`](crate::AgentBuilder::fleet_budget))
    /// refused the request, or could not answer (its database is unavailable): the request
    /// was not sent. Also a fleet budget that cannot be opened when the agent is built.
    #[error("fleet budget: {0}")]
    FleetBudget(#[source] mamba_ledger::LedgerError),
    /// `[context] target_tokens` is not below the trigger the agent's model gets (the one
    /// set, or else from its context window, or the default): compacting would leave the
    /// conversation past the trigger. Returned when the agent is built.
    #[error(
        "`context.target_tokens` ({target}) is not below the compaction trigger of `{model}` \
         ({trigger}: {derived}); set a lower target, or `context.trigger_threshold_tokens` above it"
    )]
    CompactionTarget {
        /// The agent's model.
        model: String,
        /// The target the settings set.
        target: u64,
        /// The trigger the model gets.
        trigger: u64,
        /// Where the trigger comes from.
        derived: String,
    },
    /// A tool could not be registered.
    #[error("invalid tool `{name}`: {reason}")]
    InvalidTool {
        /// The tool's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

impl From<mamba_settings::SettingsError> for AgentError {
    fn from(error: mamba_settings::SettingsError) -> Self {
        AgentError::Settings(Box::new(error))
    }
}

/// A run that failed, with what it spent: the records of every request it made (billed and
/// recorded before the failure), their usage and cost, and the tool calls made. A failed run can
/// be billed from `spent` without diffing the agent's totals.
///
/// ```
/// use mamba_agent::{Agent, AgentError, RunError};
/// use mamba_agent::settings::{AgentSettings, UsageLimits};
///
/// let settings = AgentSettings::builder().defaults_only().build()?;
/// let agent = Agent::builder("gpt-4o")
///     .settings(settings)
///     .run_limits(UsageLimits::default().with_requests(0))
///     .build()?;
/// let failed: RunError = agent.run_sync("Hello").unwrap_err();
/// assert!(matches!(failed.error, AgentError::LimitExceeded(_)));
/// assert_eq!(failed.spent.usage.request_count, 0); // refused before sending: nothing spent
/// # Ok::<(), AgentError>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct RunError {
    /// Why the run failed.
    pub error: AgentError,
    /// What it spent before it failed (its `output` is empty); boxed, so a `Result` with
    /// this error stays small.
    pub spent: Box<crate::RunResult>,
}

impl RunError {
    pub(crate) fn new(error: AgentError, spent: crate::RunResult) -> RunError {
        RunError {
            error,
            spent: Box::new(spent),
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

impl From<RunError> for AgentError {
    fn from(failed: RunError) -> AgentError {
        failed.error
    }
}
