//! OpenTelemetry metrics of every record, on the GenAI semantic conventions (the `otel`
//! feature): [`MetricsSink`], attached with [`AgentBuilder::metrics`](crate::AgentBuilder::metrics).
//!
//! The instruments are the conventions' client metrics, `gen_ai.client.token.usage` (a
//! histogram of tokens per request, `gen_ai.token.type` = `input` or `output`, with the
//! conventions' bucket boundaries) and `gen_ai.client.operation.duration` (seconds), plus
//! `mamba.cost.usd`, a counter of the requests' cost until the conventions name one. Telemetry
//! carries the cost as an `f64`; the books keep the exact `Decimal`.
//!
//! Only the API crate `opentelemetry` is a dependency: bring the SDK and the exporter of your
//! choice (OTLP with `opentelemetry-otlp`, Prometheus ...) and hand its meter to the agent.

use mamba_pricing::CostBreakdown;
use mamba_usage::{SinkError, UsageRecord, UsageSink};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};
use rust_decimal::prelude::ToPrimitive;

/// `gen_ai.client.token.usage`'s bucket boundaries: powers of 4 from 1 to 4^13.
pub const TOKEN_BUCKETS: [f64; 14] = [
    1.0,
    4.0,
    16.0,
    64.0,
    256.0,
    1_024.0,
    4_096.0,
    16_384.0,
    65_536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
];

/// `gen_ai.client.operation.duration`'s bucket boundaries in seconds: 0.01 doubling to 81.92.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// A sink that turns each record into OpenTelemetry measurements.
///
/// Every measurement carries `gen_ai.operation.name` (`chat`), `gen_ai.provider.name`,
/// `gen_ai.request.model` when known and `gen_ai.response.model` (the record's model). Labels
/// are not attributes: user and session ids would make a series per user; break spend down by
/// label from the tracker or the ledger instead.
///
/// ```
/// use mamba_agent::otel::MetricsSink;
/// use mamba_agent::pricing::CostEstimator;
/// use mamba_agent::usage::{UsageRecord, UsageSink};
/// use opentelemetry::metrics::MeterProvider;
///
/// // A no-op meter keeps the example self-contained; use your SDK's meter provider.
/// let meter = opentelemetry::metrics::noop::NoopMeterProvider::new().meter("mamba");
/// let sink = MetricsSink::new(&meter, "openai").with_request_model("gpt-4o");
/// let record = UsageRecord::new(1_000, 100, "gpt-4o-2024-08-06");
/// sink.record(&record, &CostEstimator::new().estimate_record(&record))?;
/// # Ok::<(), mamba_agent::usage::SinkError>(())
/// ```
#[derive(Debug, Clone)]
pub struct MetricsSink {
    tokens: Histogram<u64>,
    duration: Histogram<f64>,
    cost: Counter<f64>,
    provider: String,
    request_model: Option<String>,
}

impl MetricsSink {
    /// The instruments on `meter`, for requests to `provider` (a `gen_ai.provider.name`:
    /// `openai`, `anthropic`, `gcp.gemini`, or the backend's host).
    pub fn new(meter: &Meter, provider: &str) -> MetricsSink {
        MetricsSink {
            tokens: meter
                .u64_histogram("gen_ai.client.token.usage")
                .with_unit("{token}")
                .with_description("Number of input and output tokens used per request")
                .with_boundaries(TOKEN_BUCKETS.to_vec())
                .build(),
            duration: meter
                .f64_histogram("gen_ai.client.operation.duration")
                .with_unit("s")
                .with_description("GenAI operation duration")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            cost: meter
                .f64_counter("mamba.cost.usd")
                .with_unit("USD")
                .with_description("Cost of the requests, in US dollars (the books keep it exact)")
                .build(),
            provider: provider.to_owned(),
            request_model: None,
        }
    }

    /// With `gen_ai.request.model` set to `model` (the model the agent asks for).
    #[must_use]
    pub fn with_request_model(mut self, model: &str) -> MetricsSink {
        self.request_model = Some(model.to_owned());
        self
    }

    fn attributes(&self, record: &UsageRecord) -> Vec<KeyValue> {
        let mut attributes = vec![
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new("gen_ai.provider.name", self.provider.clone()),
            KeyValue::new("gen_ai.response.model", record.model().to_owned()),
        ];
        if let Some(model) = &self.request_model {
            attributes.push(KeyValue::new("gen_ai.request.model", model.clone()));
        }
        attributes
    }
}

impl UsageSink<CostBreakdown> for MetricsSink {
    fn record(&self, record: &UsageRecord, cost: &CostBreakdown) -> Result<(), SinkError> {
        let attributes = self.attributes(record);
        for (kind, tokens) in [
            ("input", record.prompt_tokens()),
            ("output", record.completion_tokens()),
        ] {
            let mut with_type = attributes.clone();
            with_type.push(KeyValue::new("gen_ai.token.type", kind));
            self.tokens.record(tokens, &with_type);
        }
        if let Some(latency) = record.latency() {
            self.duration.record(latency.as_secs_f64(), &attributes);
        }
        // Telemetry carries a number; a cost too large for f64 cannot occur in practice.
        if let Some(usd) = cost.total_cost.to_f64() {
            self.cost.add(usd, &attributes);
        }
        Ok(())
    }
}
