//! Tracking overhead per request: `Agent::run` (which counts the prompt for limits, records,
//! prices and logs every response) against the same request sent through async-openai with no
//! tracking, both against a loopback chat-completions server. Target: < 2% slower.

use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mamba_agent::Agent;
use mamba_agent::settings::AgentSettings;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn overhead(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(async {
        let server = MockServer::start().await;
        let body = json!({
            "id": "b", "model": "gpt-4o-mini",
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": "Hello! How can I help you today?" }, "finish_reason": "stop" }],
            "usage": { "prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18,
                       "prompt_tokens_details": { "cached_tokens": 0 } },
        });
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&server)
            .await;
        server
    });
    let base_url = format!("{}/v1", server.uri());
    let settings = AgentSettings::builder()
        .defaults_only()
        .base_url(base_url.clone())
        .local(false)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let agent = runtime.block_on(async {
        Agent::builder("gpt-4o-mini")
            .settings(settings)
            .build()
            .unwrap()
    });
    let raw = Client::with_config(
        OpenAIConfig::new()
            .with_api_base(base_url)
            .with_api_key("x"),
    );
    let request =
        json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "Hello!" }] });

    let mut group = c.benchmark_group("agent_request");
    group
        .sample_size(200)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("untracked_async_openai", |b| {
        b.to_async(&runtime).iter(|| async {
            let response: Value = raw.chat().create_byot(&request).await.unwrap();
            response
        })
    });
    group.bench_function("tracked_agent_run", |b| {
        // Resetting between requests (untimed) keeps every request the same size.
        b.to_async(&runtime).iter_batched(
            || agent.reset_all(),
            |()| async { agent.run("Hello!").await.unwrap() },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
