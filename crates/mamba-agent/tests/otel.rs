//! The `otel` feature against the OpenTelemetry SDK's in-memory exporter: the token histogram's
//! sums per `gen_ai.token.type` equal the tracker's totals exactly, with the conventions' names,
//! unit, attributes and bucket boundaries; the cost counter equals the books' cost.
#![cfg(feature = "otel")]

mod support;

use std::time::Duration;

use mamba_agent::Agent;
use mamba_agent::otel::TOKEN_BUCKETS;
use mamba_agent::settings::AgentSettings;
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use rust_decimal::prelude::ToPrimitive;
use support::scripted::*;

fn attribute<'a>(attributes: impl Iterator<Item = &'a KeyValue>, key: &str) -> Option<String> {
    attributes
        .into_iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

fn metric<'a>(metrics: &[&'a Metric], name: &str) -> &'a Metric {
    metrics
        .iter()
        .copied()
        .find(|metric| metric.name() == name)
        .unwrap_or_else(|| panic!("no metric {name}"))
}

#[tokio::test]
async fn token_histograms_sum_exactly_to_the_trackers_totals() {
    let server = Scripted::start(vec![
        Action::Completion {
            prompt: 1_000,
            completion: 100,
        },
        Action::Completion {
            prompt: 70_000,
            completion: 3,
        },
        Action::Completion {
            prompt: 5,
            completion: 2,
        },
    ])
    .await;
    let exporter = InMemoryMetricExporter::default();
    let reader = PeriodicReader::builder(exporter.clone())
        .with_interval(Duration::from_secs(3600))
        .build();
    let provider = SdkMeterProvider::builder().with_reader(reader).build();
    let meter = provider.meter("mamba-test");
    let settings = AgentSettings::builder()
        .defaults_only()
        .base_url(&server.url)
        .local(false)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let agent = Agent::builder("gpt-4o")
        .settings(settings)
        .metrics(&meter)
        .build()
        .unwrap();
    // The counter adds each request's cost as an f64, in order: the same additions here.
    let mut costs_as_f64 = 0.0_f64;
    for _ in 0..3 {
        let result = agent.run("hi").await.unwrap();
        costs_as_f64 += result.cost.total_cost.to_f64().unwrap();
    }
    provider.force_flush().unwrap();
    let exported = exporter.get_finished_metrics().unwrap();
    let metrics: Vec<&Metric> = exported
        .last()
        .unwrap()
        .scope_metrics()
        .flat_map(|scope| scope.metrics())
        .collect();

    let tokens = metric(&metrics, "gen_ai.client.token.usage");
    assert_eq!(tokens.unit(), "{token}");
    let AggregatedMetrics::U64(MetricData::Histogram(histogram)) = tokens.data() else {
        panic!(
            "gen_ai.client.token.usage is not a u64 histogram: {:?}",
            tokens.data()
        );
    };
    let usage = agent.tracker().summary().totals;
    let mut seen = Vec::new();
    for point in histogram.data_points() {
        let kind = attribute(point.attributes(), "gen_ai.token.type").unwrap();
        let expected = match kind.as_str() {
            "input" => usage.prompt_tokens,
            "output" => usage.completion_tokens,
            other => panic!("token type {other}"),
        };
        assert_eq!(point.sum(), expected, "{kind}");
        assert_eq!(point.count(), 3, "{kind}");
        assert_eq!(point.bounds().collect::<Vec<_>>(), TOKEN_BUCKETS.to_vec());
        assert_eq!(
            attribute(point.attributes(), "gen_ai.provider.name").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            attribute(point.attributes(), "gen_ai.request.model").as_deref(),
            Some("gpt-4o")
        );
        assert_eq!(
            attribute(point.attributes(), "gen_ai.operation.name").as_deref(),
            Some("chat")
        );
        seen.push(kind);
    }
    seen.sort();
    assert_eq!(seen, ["input", "output"]);
    assert_eq!(
        (usage.prompt_tokens, usage.completion_tokens),
        (71_005, 105)
    );

    let duration = metric(&metrics, "gen_ai.client.operation.duration");
    assert_eq!(duration.unit(), "s");
    let AggregatedMetrics::F64(MetricData::Histogram(duration)) = duration.data() else {
        panic!("the duration is not an f64 histogram");
    };
    assert_eq!(duration.data_points().map(|p| p.count()).sum::<u64>(), 3);

    let cost = metric(&metrics, "mamba.cost.usd");
    let AggregatedMetrics::F64(MetricData::Sum(cost)) = cost.data() else {
        panic!("the cost is not an f64 sum");
    };
    let points: Vec<f64> = cost.data_points().map(|p| p.value()).collect();
    assert_eq!(points, [costs_as_f64]);
    // The books are exact: 71,005 x $2.50 + 105 x $10 per 1M.
    assert_eq!(agent.cost().to_string(), "0.1785625");
}
