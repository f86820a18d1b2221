//! The sections of [`AgentSettings`](crate::AgentSettings) that are not another crate's config
//! type: the model backend, tracking, and usage limits.

use std::net::IpAddr;
use std::time::Duration;

use crate::ApiKey;

/// Where and how the agent calls the model: any OpenAI-compatible chat-completions endpoint.
///
/// ```
/// use mamba_settings::ModelBackendSettings;
///
/// let mut backend = ModelBackendSettings::default();
/// assert_eq!(backend.model, "gpt-4o-mini");
/// assert!(!backend.is_local());
/// backend.base_url = Some("http://127.0.0.1:8080/v1".to_owned());
/// assert!(backend.is_local()); // a loopback server runs on this machine
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ModelBackendSettings {
    /// The model name sent with each request.
    pub model: String,
    /// The endpoint's base URL (`.../v1`); `None`: OpenAI's.
    pub base_url: Option<String>,
    /// The API key; `None` sends no `Authorization` header.
    pub api_key: Option<ApiKey>,
    /// The deadline of one attempt of a request: connecting, sending, and receiving the whole
    /// response (a stream's last chunk included). A retry gets a deadline of its own.
    pub timeout: Duration,
    /// How many times a failed request (429, 5xx, timeout) is retried.
    pub max_retries: u32,
    /// Sampling temperature, 0 to 2; `None`: the server's default.
    pub temperature: Option<f32>,
    /// The most tokens one completion may have; `None`: the server's default.
    pub max_tokens: Option<u32>,
    /// Whether the backend is local. `Some(true)`: every model is free unless priced
    /// explicitly. `None`: local when `base_url` points to a loopback address, and then a model
    /// the price table knows keeps its price (a proxy on localhost bills real prices) while an
    /// unknown one is free.
    pub local: Option<bool>,
}

impl ModelBackendSettings {
    /// The model used when none is configured.
    pub const DEFAULT_MODEL: &'static str = "gpt-4o-mini";
    /// The request timeout used when none is configured.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
    /// The retry count used when none is configured.
    pub const DEFAULT_MAX_RETRIES: u32 = 3;

    /// Whether the backend is local: `local` if set, otherwise whether `base_url` names a
    /// loopback host (`localhost`, `127.0.0.0/8`, `::1`).
    pub fn is_local(&self) -> bool {
        self.local
            .unwrap_or_else(|| self.base_url.as_deref().is_some_and(is_loopback_url))
    }
}

impl Default for ModelBackendSettings {
    fn default() -> Self {
        ModelBackendSettings {
            model: Self::DEFAULT_MODEL.to_owned(),
            base_url: None,
            api_key: None,
            timeout: Self::DEFAULT_TIMEOUT,
            max_retries: Self::DEFAULT_MAX_RETRIES,
            temperature: None,
            max_tokens: None,
            local: None,
        }
    }
}

/// Whether a URL's host is a loopback address.
fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The level of the event the agent logs after each request (`Request completed: ...`).
///
/// ```
/// use mamba_settings::LogLevel;
///
/// assert_eq!("debug".parse::<LogLevel>(), Ok(LogLevel::Debug));
/// assert_eq!(LogLevel::default(), LogLevel::Info);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum LogLevel {
    /// No per-request event.
    Off,
    /// `ERROR`.
    Error,
    /// `WARN`.
    Warn,
    /// `INFO` (the default, as in the Python library).
    #[default]
    Info,
    /// `DEBUG`.
    Debug,
    /// `TRACE`.
    Trace,
}

impl LogLevel {
    /// Every level, in the order of [`name`](LogLevel::name)s an error lists.
    pub const ALL: [LogLevel; 6] = [
        LogLevel::Off,
        LogLevel::Error,
        LogLevel::Warn,
        LogLevel::Info,
        LogLevel::Debug,
        LogLevel::Trace,
    ];

    /// The lowercase name used in settings.
    pub const fn name(self) -> &'static str {
        match self {
            LogLevel::Off => "off",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

impl std::str::FromStr for LogLevel {
    type Err = String;

    /// Parses a level name, ignoring case (`"INFO"`, `"info"`).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        LogLevel::ALL
            .into_iter()
            .find(|level| level.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| format!("`{name}` is not a log level"))
    }
}

/// Usage tracking: how much history to keep, how loudly to log each request, and how many
/// records may wait for each optional sink.
///
/// ```
/// use mamba_settings::{LogLevel, TrackingSettings};
///
/// let tracking = TrackingSettings::default()
///     .with_max_history_records(10_000)
///     .with_log_level(LogLevel::Debug);
/// assert_eq!(tracking.tracker_config().max_history_records, Some(10_000));
/// assert_eq!(tracking.sink_queue_capacity, 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackingSettings {
    /// Keep at most this many per-request records (totals still count every request);
    /// `None`: keep all.
    pub max_history_records: Option<usize>,
    /// The level of the per-request log event.
    pub log_level: LogLevel,
    /// How many records may wait in each optional usage sink's queue before new ones are
    /// dropped for that sink (the tracker keeps them all).
    pub sink_queue_capacity: u32,
}

impl Default for TrackingSettings {
    fn default() -> Self {
        TrackingSettings {
            max_history_records: None,
            log_level: LogLevel::default(),
            sink_queue_capacity: TrackingSettings::DEFAULT_SINK_QUEUE_CAPACITY,
        }
    }
}

impl TrackingSettings {
    /// The default of [`sink_queue_capacity`](Self::sink_queue_capacity).
    pub const DEFAULT_SINK_QUEUE_CAPACITY: u32 = 1024;

    /// Keeping only the `records` most recent records in history.
    #[must_use]
    pub const fn with_max_history_records(mut self, records: usize) -> TrackingSettings {
        self.max_history_records = Some(records);
        self
    }

    /// Logging each request at `level`.
    #[must_use]
    pub const fn with_log_level(mut self, level: LogLevel) -> TrackingSettings {
        self.log_level = level;
        self
    }

    /// With room for `records` records waiting for each optional sink.
    #[must_use]
    pub const fn with_sink_queue_capacity(mut self, records: u32) -> TrackingSettings {
        self.sink_queue_capacity = records;
        self
    }

    /// The tracker's own config type.
    pub fn tracker_config(&self) -> mamba_usage::TrackerConfig {
        let mut config = mamba_usage::TrackerConfig::default();
        config.max_history_records = self.max_history_records;
        config
    }
}

/// The durable usage ledger (`[ledger]`): where it is and how durable each commit is. The
/// agent commits every record to it before the request returns, and a failed commit fails the
/// run (the books must not diverge).
///
/// ```
/// use mamba_settings::AgentSettings;
///
/// let settings = AgentSettings::builder()
///     .defaults_only()
///     .environment([("MAMBA_LEDGER__URL", "sqlite://usage.db")])
///     .build()?;
/// let config = settings.ledger.config().unwrap();
/// assert_eq!(config.to_string(), "sqlite://usage.db");
/// # Ok::<(), mamba_settings::SettingsError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LedgerSettings {
    /// The ledger (`sqlite://usage.db`); `None`: no ledger.
    pub url: Option<mamba_ledger::LedgerConfig>,
    /// How durable each commit is.
    pub durability: mamba_ledger::Durability,
    /// Where records go while the database cannot take them; `None`: a failed commit fails.
    pub spill: Option<std::path::PathBuf>,
    /// Batched writes, this many records per commit; `None`: write-through.
    pub batch_records: Option<u32>,
    /// With `batch_records`, the longest a record waits in a batch.
    pub batch_delay: std::time::Duration,
    /// `[ledger.budgets.NAME]`: fleet budgets in the ledger's database, by name (the agent
    /// holds every request it covers in each before sending it).
    pub budgets: std::collections::BTreeMap<String, mamba_ledger::FleetBudgetSpec>,
}

/// No ledger; write-through, durable past the process, no spill file, and batches (when
/// `batch_records` is set) of at most 100 ms.
impl Default for LedgerSettings {
    fn default() -> LedgerSettings {
        LedgerSettings {
            url: None,
            durability: mamba_ledger::Durability::default(),
            spill: None,
            batch_records: None,
            batch_delay: mamba_ledger::Batching::default().max_delay(),
            budgets: std::collections::BTreeMap::new(),
        }
    }
}

impl LedgerSettings {
    /// The ledger's own config, with the durability, spill file and batching applied; `None`
    /// when no ledger is set.
    ///
    /// ```
    /// use mamba_settings::AgentSettings;
    ///
    /// let settings = AgentSettings::builder()
    ///     .defaults_only()
    ///     .environment([
    ///         ("MAMBA_LEDGER__URL", "sqlite://usage.db"),
    ///         ("MAMBA_LEDGER__BATCH_RECORDS", "500"),
    ///         ("MAMBA_LEDGER__BATCH_DELAY", "50ms"),
    ///     ])
    ///     .build()?;
    /// let batching = settings.ledger.config().unwrap().batching().unwrap();
    /// assert_eq!(batching.max_records().get(), 500);
    /// assert_eq!(batching.max_delay(), std::time::Duration::from_millis(50));
    /// # Ok::<(), mamba_settings::SettingsError>(())
    /// ```
    pub fn config(&self) -> Option<mamba_ledger::LedgerConfig> {
        self.url.clone().map(|config| {
            let mut config = config.durability(self.durability);
            if let Some(path) = &self.spill {
                config = config.spill_to(path);
            }
            let records = self
                .batch_records
                .and_then(|records| usize::try_from(records).ok())
                .and_then(std::num::NonZeroUsize::new);
            if let Some(records) = records {
                config = config.batched(mamba_ledger::Batching::new(records, self.batch_delay));
            }
            config
        })
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback_url;

    #[test]
    fn loopback_urls_are_recognised() {
        let cases = [
            ("http://127.0.0.1:8080/v1", true),
            ("http://127.1.2.3/v1", true),
            ("http://localhost:11434/v1", true),
            ("http://LOCALHOST/v1", true),
            ("http://[::1]:8000/v1", true),
            ("http://user:pw@127.0.0.1:80/v1", true),
            ("127.0.0.1:8080", true),
            ("https://api.openai.com/v1", false),
            ("http://10.0.0.5:8080/v1", false),
            ("http://localhost.example.com/v1", false),
            ("http://[::2]/v1", false),
            ("", false),
        ];
        for (url, expected) in cases {
            assert_eq!(is_loopback_url(url), expected, "{url}");
        }
    }
}
