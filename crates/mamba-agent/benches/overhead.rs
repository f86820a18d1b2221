//! Tracking overhead per request: `Agent::run` (which counts the prompt for limits, records,
//! prices and logs every response) against the same request sent through async-openai with no
//! tracking, both against a loopback chat-completions server. Target: within noise (the
//! tracked side also keeps a deadline per attempt, which the untracked one does not).
//!
//! The server is a minimal keep-alive HTTP/1.1 responder on 127.0.0.1 with a canned body, so
//! the measurement is dominated by the client side rather than by a mock framework's matching.
//!
//! `agent_request_100k_tokens` sends a 100k-token prompt under a request limit, where counting
//! the prompt (for the reservation, and for the context trigger) dominates.

use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mamba_agent::Agent;
use mamba_agent::settings::{AgentSettings, UsageLimits};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Answers every request on every connection with `body`; returns the port.
async fn serve_forever(body: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let response = response.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0_u8; 64 * 1024];
                let mut pending = Vec::new();
                loop {
                    let n = match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&buffer[..n]);
                    // One response per complete request (headers + content-length body).
                    while let Some(end) = request_end(&pending) {
                        pending.drain(..end);
                        if socket.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    port
}

/// The length of the first complete request in `data`, if it has arrived.
fn request_end(data: &[u8]) -> Option<usize> {
    let header_end = data.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let headers = std::str::from_utf8(&data[..header_end])
        .ok()?
        .to_ascii_lowercase();
    let length = headers
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    (data.len() >= header_end + length).then_some(header_end + length)
}

fn overhead(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let body = json!({
        "id": "b", "model": "gpt-4o-mini",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": "Hello! How can I help you today?" }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18,
                   "prompt_tokens_details": { "cached_tokens": 0 } },
    })
    .to_string();
    let port = runtime.block_on(serve_forever(body));
    let base_url = format!("http://127.0.0.1:{port}/v1");
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

    // A request limit makes the agent count the prompt to reserve it; at 100k tokens that
    // count is most of the client's time, so it must be made once per request.
    let limited = runtime.block_on(async {
        Agent::builder("gpt-4o-mini")
            .settings(agent.settings().clone())
            .usage_limits(UsageLimits::default().with_requests(u64::MAX))
            .build()
            .unwrap()
    });
    let long_prompt = "The quick brown fox jumps over the lazy dog. ".repeat(10_000);
    let mut group = c.benchmark_group("agent_request_100k_tokens");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("tracked_agent_run_request_limit", |b| {
        b.to_async(&runtime).iter_batched(
            || limited.reset_all(),
            |()| async { limited.run(&long_prompt).await.unwrap() },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
