//! [`AgentBuilder`]: settings, system prompt, tools, limits, a shared tracker, sinks, labels,
//! prices.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mamba_pricing::{CostBreakdown, CostEstimator};
use mamba_settings::{AgentSettings, UsageLimits};
use mamba_tokens::{ChatMessage, TokenCounter};
use mamba_usage::{Labels, UsageSink, UsageTracker};

use crate::agent::Agent;
use crate::books::{AgentBooks, Locality};
use crate::inner::{Inner, Parts};
use crate::sinks::{AgentSink, Outlets};
use crate::transport::Transport;
use crate::{AgentError, Tool};

/// A sink given to the builder, and how the agent feeds it.
enum GivenSink {
    Optional(Arc<AgentSink>),
    Required(Arc<AgentSink>),
}

impl fmt::Debug for GivenSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GivenSink::Optional(_) => "Optional(..)",
            GivenSink::Required(_) => "Required(..)",
        })
    }
}

/// Opens the ledger `config` names as the agent's own (a backend this build lacks is
/// mamba-ledger's error).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn open_ledger(
    config: &mamba_ledger::LedgerConfig,
    outlets: &mut Outlets,
) -> Result<(), AgentError> {
    let ledger = mamba_ledger::Ledger::open(config).map_err(AgentError::Ledger)?;
    outlets.set_ledger(ledger);
    Ok(())
}

/// Without the `sqlite` and `postgres` features there is no ledger to open: a configured one
/// is an error rather than books silently not kept.
#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
fn open_ledger(config: &mamba_ledger::LedgerConfig, _: &mut Outlets) -> Result<(), AgentError> {
    Err(AgentError::Ledger(mamba_ledger::LedgerError::BadUrl {
        url: config.to_string(),
        problem: "this build of mamba-agent has no ledger backend: enable its `sqlite` or \
                  `postgres` feature"
            .to_owned(),
    }))
}

/// Opens each fleet budget `specs` defines on the agent's `ledger`.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn open_fleet_budgets(
    specs: Vec<mamba_ledger::FleetBudgetSpec>,
    ledger: Option<&mamba_ledger::Ledger>,
) -> Result<Vec<mamba_ledger::FleetBudget>, AgentError> {
    specs
        .into_iter()
        .map(|spec| match ledger {
            Some(ledger) => ledger.fleet_budget(spec).map_err(AgentError::FleetBudget),
            None => Err(AgentError::FleetBudget(
                mamba_ledger::LedgerError::BadBudget {
                    budget: spec.name().to_owned(),
                    problem: "it lives in the agent's ledger, and the agent has none: set \
                          `[ledger] url` or call `AgentBuilder::ledger`"
                        .to_owned(),
                },
            )),
        })
        .collect()
}

impl Agent {
    /// An agent for `model` with settings from [`AgentSettings::load`].
    ///
    /// # Errors
    /// [`AgentError::Settings`] when the settings cannot be loaded.
    pub fn new(model: &str) -> Result<Agent, AgentError> {
        Agent::builder(model).build()
    }

    /// An agent for the model and backend the settings name.
    ///
    /// # Errors
    /// [`AgentError::Tokens`] for invalid tokenizer settings set in code.
    pub fn from_settings(settings: AgentSettings) -> Result<Agent, AgentError> {
        let model = settings.model_backend.model.clone();
        Agent::builder(&model).settings(settings).build()
    }

    /// A builder for `model`: settings, system prompt, tools, limits, tracker, prices.
    pub fn builder(model: &str) -> AgentBuilder {
        AgentBuilder::new(model)
    }
}

/// Builds an [`Agent`].
///
/// ```
/// use mamba_agent::{Agent, UsageTracker};
/// use mamba_agent::settings::{AgentSettings, UsageLimits};
///
/// let settings = AgentSettings::builder()
///     .defaults_only()
///     .base_url("http://127.0.0.1:8080/v1")
///     .build()?;
/// let shared = UsageTracker::new();
/// let agent = Agent::builder("smollm2")
///     .settings(settings)
///     .system_prompt("You are terse.")
///     .usage_limits(UsageLimits::default().with_requests(100))
///     .tracker(shared.clone())
///     .max_turns(4)
///     .build()?;
/// assert_eq!(agent.model(), "smollm2");
/// assert_eq!(agent.context_token_count(), 11); // the system prompt, as the model sees it
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct AgentBuilder {
    model: String,
    settings: Option<AgentSettings>,
    system_prompt: Option<String>,
    tools: Vec<Tool>,
    usage_limits: Option<UsageLimits>,
    run_limits: UsageLimits,
    tracker: Option<UsageTracker>,
    estimator: Option<CostEstimator>,
    max_turns: u32,
    retry_backoff: Duration,
    conversation: Vec<ChatMessage>,
    stream_usage: bool,
    sinks: Vec<GivenSink>,
    sink_queue: Option<usize>,
    labels: Labels,
    compaction_model: Option<Agent>,
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    ledgers: Vec<mamba_ledger::Ledger>,
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    fleet_budgets: Vec<mamba_ledger::FleetBudgetSpec>,
    #[cfg(feature = "otel")]
    meter: Option<opentelemetry::metrics::Meter>,
}

impl AgentBuilder {
    /// How many model requests one run may make by default (tool loops included).
    pub const DEFAULT_MAX_TURNS: u32 = 10;
    /// The wait before the first retry by default; doubled for each later one.
    pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_millis(500);

    pub(crate) fn new(model: &str) -> AgentBuilder {
        AgentBuilder {
            model: model.to_owned(),
            settings: None,
            system_prompt: None,
            tools: Vec::new(),
            usage_limits: None,
            run_limits: UsageLimits::default(),
            tracker: None,
            estimator: None,
            max_turns: Self::DEFAULT_MAX_TURNS,
            retry_backoff: Self::DEFAULT_RETRY_BACKOFF,
            conversation: Vec::new(),
            stream_usage: true,
            sinks: Vec::new(),
            sink_queue: None,
            labels: Labels::new(),
            compaction_model: None,
            #[cfg(any(feature = "sqlite", feature = "postgres"))]
            ledgers: Vec::new(),
            #[cfg(any(feature = "sqlite", feature = "postgres"))]
            fleet_budgets: Vec::new(),
            #[cfg(feature = "otel")]
            meter: None,
        }
    }

    /// The agent asked for compaction summaries and importance scores (see
    /// [`Agent::compact`]) instead of this one or the `[context] summarization_model`. Its
    /// requests are recorded in its own books and count towards its own limits.
    pub fn compaction_model(mut self, agent: Agent) -> Self {
        self.compaction_model = Some(agent);
        self
    }

    /// Records OpenTelemetry metrics of every request on `meter` (the `otel` feature): the
    /// GenAI conventions' `gen_ai.client.token.usage` and `gen_ai.client.operation.duration`,
    /// and `mamba.cost.usd`, with the backend's `gen_ai.provider.name` and the agent's model
    /// as `gen_ai.request.model` (see [`MetricsSink`](crate::otel::MetricsSink)). The
    /// measurements are made on the request path; they only update the SDK's memory.
    ///
    /// ```
    /// use mamba_agent::Agent;
    /// use mamba_agent::settings::AgentSettings;
    /// use opentelemetry::metrics::MeterProvider;
    ///
    /// let meter = opentelemetry::metrics::noop::NoopMeterProvider::new().meter("my-service");
    /// let settings = AgentSettings::builder().defaults_only().build()?;
    /// let agent = Agent::builder("gpt-4o").settings(settings).metrics(&meter).build()?;
    /// assert_eq!(agent.model(), "gpt-4o");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "otel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
    pub fn metrics(mut self, meter: &opentelemetry::metrics::Meter) -> Self {
        self.meter = Some(meter.clone());
        self
    }

    /// The settings to use instead of [`AgentSettings::load`]; the builder's model wins over
    /// `model_backend.model`.
    pub fn settings(mut self, settings: AgentSettings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// A system prompt sent before the conversation with every request.
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.system_prompt = Some(prompt.into());
        self
    }

    /// Registers a tool.
    pub fn tool(mut self, tool: Tool) -> Self {
        self.tools.push(tool);
        self
    }

    /// Limits for the agent and its clones until [`Agent::reset_tracking`]; default: the
    /// settings' `usage_limits`.
    pub fn usage_limits(mut self, limits: UsageLimits) -> Self {
        self.usage_limits = Some(limits);
        self
    }

    /// Limits for each run; default: none.
    pub fn run_limits(mut self, limits: UsageLimits) -> Self {
        self.run_limits = limits;
        self
    }

    /// Records into this tracker instead of a new one, e.g. to see several agents' requests
    /// in one history. The agent does not own it: [`Agent::reset_tracking`](crate::Agent::reset_tracking)
    /// resets the agent's totals and leaves the tracker's history alone.
    pub fn tracker(mut self, tracker: UsageTracker) -> Self {
        self.tracker = Some(tracker);
        self
    }

    /// Also records to `sink`, an optional one: it gets every record with its cost through a
    /// bounded queue on a thread of its own, so a slow or failing sink never holds up a request
    /// and never fails a run. When its queue is full a record is dropped for it (and counted in
    /// [`Agent::sink_stats`](crate::Agent::sink_stats)); its errors are counted and logged.
    /// The tracker keeps every record regardless. Dropping the agent's last clone waits until
    /// each queue has handed over what it holds (call
    /// [`flush_sinks`](crate::Agent::flush_sinks) first in async code, so the wait is not on a
    /// runtime thread).
    ///
    /// ```
    /// use mamba_agent::{Agent, pricing::CostBreakdown};
    /// use mamba_agent::settings::AgentSettings;
    /// use mamba_agent::usage::{SinkError, UsageRecord, UsageSink};
    ///
    /// /// Prints each request's cost.
    /// struct Print;
    /// impl UsageSink<CostBreakdown> for Print {
    ///     fn record(&self, record: &UsageRecord, cost: &CostBreakdown) -> Result<(), SinkError> {
    ///         println!("{}: {} tokens, ${}", record.model(), record.total_tokens(), cost.total_cost);
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let settings = AgentSettings::builder().defaults_only().build()?;
    /// let agent = Agent::builder("gpt-4o").settings(settings).sink(Print).build()?;
    /// assert_eq!(agent.sink_stats().len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sink(mut self, sink: impl UsageSink<CostBreakdown> + 'static) -> Self {
        self.sinks.push(GivenSink::Optional(Arc::new(sink)));
        self
    }

    /// Also records to `sink`, a required one: each request waits until the sink has its
    /// record (called on a blocking thread, so a sink that writes to a database does not
    /// stall the runtime), and the run fails with [`AgentError::Sink`] if it fails. For books
    /// that must not diverge, such as a ledger that enforces budgets. The tracker keeps the
    /// record either way, and the failed run's `spent` has it.
    pub fn required_sink(mut self, sink: impl UsageSink<CostBreakdown> + 'static) -> Self {
        self.sinks.push(GivenSink::Required(Arc::new(sink)));
        self
    }

    /// Commits every record to `ledger` before its request returns (a required sink: a failed
    /// commit fails the run with [`AgentError::Sink`]). The settings' `[ledger] url` attaches
    /// one too; this adds another, or one opened your way.
    ///
    /// ```
    /// use mamba_agent::Agent;
    /// use mamba_agent::ledger::Ledger;
    /// use mamba_agent::settings::AgentSettings;
    ///
    /// let path = std::env::temp_dir().join(format!("agent-ledger-{}.db", std::process::id()));
    /// let ledger = Ledger::open_sqlite(&path)?;
    /// let settings = AgentSettings::builder().defaults_only().build()?;
    /// let agent = Agent::builder("gpt-4o").settings(settings).ledger(ledger.clone()).build()?;
    /// assert_eq!(agent.model(), "gpt-4o");
    /// # drop((agent, ledger));
    /// # for suffix in ["", "-wal", "-shm"] { let _ = std::fs::remove_file(format!("{}{suffix}", path.display())); }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
    pub fn ledger(mut self, ledger: mamba_ledger::Ledger) -> Self {
        self.ledgers.push(ledger);
        self
    }

    /// Holds every request's worst case in the fleet budget `spec` defines (besides those of
    /// the settings' `[ledger.budgets.NAME]`; this one replaces a settings budget of its
    /// name), on the agent's ledger (the settings' `[ledger] url`, else the first
    /// [`ledger`](Self::ledger)), when
    /// the budget covers the request (its model, its labels), before the request is sent; a
    /// refusal fails the run with [`AgentError::FleetBudget`] and nothing is sent. The
    /// request's record settles the hold in its own ledger insert. Every process of a fleet
    /// that opens the same budget name on the same database shares the budget.
    ///
    /// The worst case is the counted prompt (with the counter's margin) and the most output
    /// the request may produce: `max_tokens` when set, else the bound the local limits allow,
    /// else the model's output limit from its price data.
    ///
    /// ```
    /// use mamba_agent::Agent;
    /// use mamba_agent::ledger::{FleetBudgetSpec, Ledger};
    /// use mamba_agent::pricing::UsageLimits;
    /// use mamba_agent::settings::AgentSettings;
    ///
    /// let path = std::env::temp_dir().join(format!("agent-fleet-{}.db", std::process::id()));
    /// let settings = AgentSettings::builder().defaults_only().max_tokens(256).build()?;
    /// let agent = Agent::builder("gpt-4o")
    ///     .settings(settings)
    ///     .ledger(Ledger::open_sqlite(&path)?)
    ///     .fleet_budget(FleetBudgetSpec::new("all-agents", UsageLimits::default().with_total_tokens(1_000_000)))
    ///     .build()?;
    /// assert_eq!(agent.model(), "gpt-4o");
    /// # drop(agent);
    /// # for suffix in ["", "-wal", "-shm"] { let _ = std::fs::remove_file(format!("{}{suffix}", path.display())); }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
    pub fn fleet_budget(mut self, spec: mamba_ledger::FleetBudgetSpec) -> Self {
        self.fleet_budgets.push(spec);
        self
    }

    /// How many records may wait in each optional sink's queue; default: the settings'
    /// `tracking.sink_queue_capacity` (1024).
    pub fn sink_queue_capacity(mut self, records: usize) -> Self {
        self.sink_queue = Some(records);
        self
    }

    /// Labels every record of the agent carries (a run's own labels, given with
    /// [`Agent::run_with`](crate::Agent::run_with), go over them).
    ///
    /// ```
    /// use mamba_agent::{Agent, Labels};
    /// use mamba_agent::settings::AgentSettings;
    ///
    /// let settings = AgentSettings::builder().defaults_only().build()?;
    /// let agent = Agent::builder("gpt-4o")
    ///     .settings(settings)
    ///     .labels(Labels::new().tag("team", "search")?.tag("feature", "answers")?)
    ///     .build()?;
    /// assert_eq!(agent.labels().get("team"), Some("search"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn labels(mut self, labels: Labels) -> Self {
        self.labels = labels;
        self
    }

    /// Prices with this estimator instead of the one the settings make.
    pub fn prices(mut self, estimator: CostEstimator) -> Self {
        self.estimator = Some(estimator);
        self
    }

    /// The most model requests in one run.
    pub fn max_turns(mut self, turns: u32) -> Self {
        self.max_turns = turns;
        self
    }

    /// The wait before the first retry of a failed request (then doubled each time).
    pub fn retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    /// Starts from this conversation (without the system prompt): to resume a saved one, or to
    /// show a small model an example exchange.
    pub fn conversation(mut self, messages: Vec<ChatMessage>) -> Self {
        self.conversation = messages;
        self
    }

    /// Whether streamed requests ask for the usage chunk (`stream_options.include_usage`,
    /// on by default). Turn it off only for servers that reject `stream_options`; streamed
    /// usage is then estimated with the token counter and marked estimated.
    pub fn stream_usage(mut self, include_usage: bool) -> Self {
        self.stream_usage = include_usage;
        self
    }

    /// Builds the agent.
    ///
    /// # Errors
    /// [`AgentError::Settings`] when no settings were given and loading them fails, or their
    /// prices are invalid; [`AgentError::Tokens`] for invalid tokenizer settings;
    /// [`AgentError::InvalidTool`] for two tools with one name; [`AgentError::Client`] when the
    /// HTTP client cannot be made; [`AgentError::Ledger`] when the settings' ledger cannot be
    /// opened; [`AgentError::Sink`] when an optional sink's thread cannot be started;
    /// [`AgentError::CompactionTarget`] when `[context] target_tokens` is not below the
    /// compaction trigger the model gets.
    pub fn build(self) -> Result<Agent, AgentError> {
        let mut settings = match self.settings {
            Some(settings) => settings,
            None => AgentSettings::load()?,
        };
        settings.model_backend.model.clone_from(&self.model);
        let mut names = HashSet::new();
        if let Some(duplicate) = self.tools.iter().find(|tool| !names.insert(tool.name())) {
            return Err(AgentError::InvalidTool {
                name: duplicate.name().to_owned(),
                reason: "another tool has this name".to_owned(),
            });
        }
        let counter = TokenCounter::for_model_with_config(&self.model, &settings.tokenizer)?;
        let estimator = match self.estimator {
            Some(estimator) => estimator,
            None => settings.cost_estimator()?,
        };
        crate::context::check_compaction_target(
            &settings.context,
            &self.model,
            estimator.context_window(&self.model),
        )?;
        let owns_tracker = self.tracker.is_none();
        let tracker = self
            .tracker
            .unwrap_or_else(|| UsageTracker::with_config(settings.tracker_config()));
        let compaction_model = match (
            self.compaction_model,
            settings.context.summarization_model(),
        ) {
            (Some(agent), _) => Some(agent),
            (None, Some(model)) if model != self.model => Some(
                // The same settings, backend and ledger; its records go to the same tracker.
                // Its conversation is never compacted (it only writes summaries and scores),
                // so the target, checked for this agent's model, is not checked for its own.
                Agent::builder(model)
                    .settings(summarizer_settings(&settings))
                    .tracker(tracker.clone())
                    .labels(self.labels.clone())
                    .retry_backoff(self.retry_backoff)
                    .build()?,
            ),
            (None, _) => None,
        };
        let backend = &settings.model_backend;
        let locality = match backend.local {
            Some(true) => Locality::Declared,
            None if backend.is_local() => Locality::Loopback,
            _ => Locality::Remote,
        };
        let provider = crate::books::provider_name(backend.base_url.as_deref());
        let mut outlets = Outlets::new(tracker);
        #[cfg(feature = "otel")]
        if let Some(meter) = &self.meter {
            let metrics =
                crate::otel::MetricsSink::new(meter, &provider).with_request_model(&self.model);
            outlets.add_inline(Arc::new(metrics));
        }
        let capacity = self.sink_queue.unwrap_or_else(|| {
            usize::try_from(settings.tracking.sink_queue_capacity).unwrap_or(usize::MAX)
        });
        if let Some(config) = settings.ledger.config() {
            open_ledger(&config, &mut outlets)?;
        }
        #[cfg(any(feature = "sqlite", feature = "postgres"))]
        let fleet_budgets = {
            for ledger in self.ledgers {
                // The first ledger is the agent's own unless the settings named one.
                if outlets.ledger().is_none() {
                    outlets.set_ledger(ledger);
                } else {
                    outlets.add_required(Arc::new(ledger));
                }
            }
            // The settings' budgets, then those set in code (which replace one of the same name).
            let mut specs = settings.ledger.budgets.clone();
            for spec in self.fleet_budgets {
                specs.insert(spec.name().to_owned(), spec);
            }
            open_fleet_budgets(specs.into_values().collect(), outlets.ledger())?
        };
        #[cfg(not(any(feature = "sqlite", feature = "postgres")))]
        let fleet_budgets = match settings.ledger.budgets.keys().next() {
            None => Vec::new(),
            Some(name) => {
                return Err(AgentError::FleetBudget(
                    mamba_ledger::LedgerError::BadBudget {
                        budget: name.clone(),
                        problem: "this build of mamba-agent has no ledger backend: enable its \
                              `sqlite` or `postgres` feature"
                            .to_owned(),
                    },
                ));
            }
        };
        for sink in self.sinks {
            match sink {
                GivenSink::Optional(sink) => outlets.add_queued(sink, capacity)?,
                GivenSink::Required(sink) => outlets.add_required(sink),
            }
        }
        let ledger = AgentBooks::new(
            outlets,
            owns_tracker,
            estimator,
            locality,
            settings.tracking.log_level,
            provider,
        );
        let transport = Transport::new(&settings.model_backend, self.retry_backoff)?;
        Ok(Agent::from_inner(Inner::new(Parts {
            model: self.model,
            transport,
            counter,
            system_prompt: self.system_prompt,
            tools: self.tools,
            max_turns: self.max_turns,
            agent_limits: self.usage_limits.unwrap_or(settings.usage_limits),
            run_limits: self.run_limits,
            ledger,
            conversation: self.conversation,
            stream_usage: self.stream_usage,
            labels: self.labels,
            fleet_budgets,
            compaction_model,
            settings,
        })))
    }
}

/// The settings of the agent that writes a `[context] summarization_model`'s summaries: this
/// agent's, without a compaction target of its own.
fn summarizer_settings(settings: &AgentSettings) -> AgentSettings {
    let mut settings = settings.clone();
    settings.context.target_tokens = None;
    settings
}
