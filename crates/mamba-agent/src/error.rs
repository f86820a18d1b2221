//! [`AgentError`]: what can go wrong in a run, and [`LimitExceeded`]: which budget stopped it.

use std::fmt;
use std::time::Duration;

use mamba_pricing::format_usd;
use rust_decimal::Decimal;
use thiserror::Error;

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

/// Whether a limit applies to one run or to everything the agent did since its last reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitScope {
    /// [`AgentBuilder::run_limits`](crate::AgentBuilder::run_limits): each run.
    Run,
    /// [`AgentBuilder::usage_limits`](crate::AgentBuilder::usage_limits): the agent and its
    /// clones, until [`reset_tracking`](crate::Agent::reset_tracking).
    Agent,
}

/// A request that was not sent because it would have exceeded a limit.
///
/// ```
/// use mamba_agent::{LimitExceeded, LimitKind, LimitScope};
/// use rust_decimal::Decimal;
///
/// let stop = LimitExceeded {
///     kind: LimitKind::InputTokens,
///     scope: LimitScope::Run,
///     limit: Decimal::from(1_000),
///     used: Decimal::from(900),
///     needed: Decimal::from(150),
/// };
/// assert_eq!(
///     stop.to_string(),
///     "run limit on input tokens reached: 900 used of 1000, and the next request needs about 150 more"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    /// Which limit.
    pub kind: LimitKind,
    /// Per run or per agent.
    pub scope: LimitScope,
    /// The limit (requests, tokens or USD).
    pub limit: Decimal,
    /// The amount used before this request.
    pub used: Decimal,
    /// The amount the request would have added, estimated with the token counter (prompt) and
    /// `max_tokens` (completion).
    pub needed: Decimal,
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = match self.scope {
            LimitScope::Run => "run",
            LimitScope::Agent => "agent",
        };
        let amount = |value: Decimal| match self.kind {
            LimitKind::Cost => format_usd(value),
            _ => value.to_string(),
        };
        write!(
            f,
            "{scope} limit on {} reached: {} used of {}, and the next request needs about {} more",
            self.kind,
            amount(self.used),
            amount(self.limit),
            amount(self.needed)
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
/// match agent.run_sync("Hello") {
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
    /// The model kept calling tools for the configured number of turns.
    #[error("no final answer after {0} model turns (max_turns)")]
    MaxTurns(u32),
    /// [`Agent::run_sync`](crate::Agent::run_sync) was called inside an async runtime, where
    /// blocking would stall it; use `run(..).await` there.
    #[error("run_sync was called inside an async runtime; use `agent.run(prompt).await` instead")]
    InsideRuntime,
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
