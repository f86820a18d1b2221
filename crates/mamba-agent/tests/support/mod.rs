//! A loopback chat-completions server (wiremock on 127.0.0.1, started by each test) and
//! agents pointed at it.
#![allow(dead_code)] // Each test binary uses a different part.

pub(crate) mod scripted;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mamba_agent::settings::AgentSettings;
use mamba_agent::{Agent, AgentBuilder, Tool};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(crate) const PATH: &str = "/v1/chat/completions";

pub(crate) async fn server() -> MockServer {
    MockServer::start().await
}

/// Settings for the mock: not local (so built-in prices apply), short timeout, fast retries.
pub(crate) fn settings(server: &MockServer) -> AgentSettings {
    AgentSettings::builder()
        .defaults_only()
        .base_url(format!("{}/v1", server.uri()))
        .api_key("sk-test")
        .local(false)
        .timeout(Duration::from_secs(5))
        .max_retries(2)
        .build()
        .unwrap()
}

pub(crate) fn builder(server: &MockServer, model: &str) -> AgentBuilder {
    Agent::builder(model)
        .settings(settings(server))
        .retry_backoff(Duration::from_millis(5))
}

pub(crate) fn agent(server: &MockServer, model: &str) -> Agent {
    builder(server, model).build().unwrap()
}

/// Serves `response` once, after the responses mounted before it.
pub(crate) async fn then(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(response)
        .up_to_n_times(1)
        .mount(server)
        .await;
}

pub(crate) fn usage(prompt: u64, completion: u64) -> Value {
    json!({ "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion })
}

pub(crate) fn completion(model: &str, content: &str, usage: Option<Value>) -> ResponseTemplate {
    let mut body = json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "finish_reason": "stop",
        }],
    });
    if let Some(usage) = usage {
        body["usage"] = usage;
    }
    ResponseTemplate::new(200).set_body_json(body)
}

pub(crate) fn tool_call(
    model: &str,
    name: &str,
    arguments: &str,
    usage: Value,
) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-tool",
        "object": "chat.completion",
        "model": model,
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": "call_abc",
                    "type": "function",
                    "function": { "name": name, "arguments": arguments },
                }],
            },
            "finish_reason": "tool_calls",
        }],
        "usage": usage,
    }))
}

/// A server-sent-event body: one chunk per text piece, then (optionally) the usage chunk.
pub(crate) fn sse(model: &str, pieces: &[&str], usage: Option<Value>) -> ResponseTemplate {
    let mut body = String::new();
    for piece in pieces {
        let chunk = json!({
            "id": "chatcmpl-s", "object": "chat.completion.chunk", "model": model,
            "choices": [{ "index": 0, "delta": { "content": piece }, "finish_reason": null }],
        });
        body.push_str(&format!("data: {chunk}\n\n"));
    }
    let last = json!({
        "id": "chatcmpl-s", "object": "chat.completion.chunk", "model": model,
        "choices": [{ "index": 0, "delta": {}, "finish_reason": "stop" }],
    });
    body.push_str(&format!("data: {last}\n\n"));
    if let Some(usage) = usage {
        let chunk = json!({
            "id": "chatcmpl-s", "object": "chat.completion.chunk", "model": model,
            "choices": [], "usage": usage,
        });
        body.push_str(&format!("data: {chunk}\n\n"));
    }
    body.push_str("data: [DONE]\n\n");
    ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")
}

/// The JSON bodies the server received, in order.
pub(crate) async fn bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|request| serde_json::from_slice(&request.body).unwrap())
        .collect()
}

#[derive(Deserialize, JsonSchema)]
pub(crate) struct City {
    /// The city.
    city: String,
}

/// `get_weather`: sunny everywhere but Atlantis, which has no station (an error for the
/// model); every city asked for is pushed to `calls`.
pub(crate) fn weather_tool(calls: Arc<Mutex<Vec<String>>>) -> Tool {
    Tool::new(
        "get_weather",
        "Current weather of a city",
        move |args: City| {
            let calls = Arc::clone(&calls);
            async move {
                calls.lock().unwrap().push(args.city.clone());
                if args.city == "Atlantis" {
                    return Err(format!("no weather station in {}", args.city));
                }
                Ok(format!("Sunny, 21C in {}", args.city))
            }
        },
    )
    .unwrap()
}

/// Two iterations: get_weather(Paris), then final_answer.
pub(crate) async fn script_react_weather(server: &MockServer) {
    then(
        server,
        tool_call(
            "gpt-4o",
            "get_weather",
            r#"{"city":"Paris"}"#,
            usage(100, 20),
        ),
    )
    .await;
    then(
        server,
        tool_call(
            "gpt-4o",
            "final_answer",
            r#"{"answer":"Sunny in Paris"}"#,
            usage(150, 10),
        ),
    )
    .await;
}
