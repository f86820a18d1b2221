//! Against a real model: llama.cpp serving SmolLM2-135M on 127.0.0.1, set up and started by
//! `cargo xtask llm-server start` (and by `cargo xtask ci`, which passes its URL in
//! `LOCAL_LLM_URL`). Without a server they skip, saying so, on a developer machine, and fail
//! in CI (`CI` set).

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use mamba_agent::settings::{AgentSettings, UsageLimits};
use mamba_agent::tokens::ChatMessage;
use mamba_agent::{Agent, AgentBuilder, AgentError, LimitKind, StreamEvent, ToolCall};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use support::weather_tool;

/// One request at a time: the tiny model shares two cores with everything else.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn server_url() -> Option<String> {
    if let Ok(url) = std::env::var("LOCAL_LLM_URL") {
        return Some(url);
    }
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.cache/llm/server.url");
    if let Ok(url) = std::fs::read_to_string(file) {
        return Some(url.trim().to_owned());
    }
    // In CI the server is required; elsewhere a missing one skips these tests, loudly.
    let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    assert!(
        !in_ci,
        "no local model server in CI: `cargo xtask ci` starts it and sets LOCAL_LLM_URL"
    );
    eprintln!(
        "\n!!! SKIPPING the local-model tests: no local model server runs, so nothing here was \
         checked against a real model. Run `cargo xtask llm-server start` to run them. !!!\n"
    );
    None
}

fn builder(url: &str) -> AgentBuilder {
    let settings = AgentSettings::builder()
        .defaults_only()
        .base_url(url)
        .temperature(0.0)
        .max_tokens(24)
        // Generous: a build beside the tests makes the model up to 100x slower.
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    Agent::builder("smollm2").settings(settings)
}

async fn post(url: &str, path: &str, body: &Value) -> Value {
    let root = url.trim_end_matches("/v1");
    let text = reqwest::Client::new()
        .post(format!("{root}{path}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The prompt tokens of `messages` as the server counts them: its template, then its tokenizer.
async fn server_prompt_tokens(url: &str, messages: &Value) -> u64 {
    let prompt = post(url, "/apply-template", &json!({ "messages": messages })).await;
    let tokens = post(
        url,
        "/tokenize",
        &json!({ "content": prompt["prompt"], "add_special": true, "parse_special": true }),
    )
    .await;
    tokens["tokens"].as_array().unwrap().len() as u64
}

#[tokio::test]
async fn recorded_usage_equals_what_the_server_reports() {
    let Some(url) = server_url() else { return };
    let _serial = SERIAL.lock().await;
    let agent = builder(&url).build().unwrap();
    let result = agent.run("Hello!").await.unwrap();
    assert!(!result.output.is_empty());
    let record = agent.usage_history().last().unwrap();
    assert_eq!(record.model(), "smollm2", "the server's alias");
    assert!(!record.is_estimated());

    // Independently: the server's own template and tokenizer give the prompt count...
    let messages = json!([{ "role": "user", "content": "Hello!" }]);
    assert_eq!(
        record.prompt_tokens(),
        server_prompt_tokens(&url, &messages).await
    );
    // ...and the same request sent directly reports the same usage (temperature 0).
    let direct = post(
        &url,
        "/v1/chat/completions",
        &json!({ "model": "smollm2", "messages": messages, "temperature": 0.0, "max_tokens": 24 }),
    )
    .await;
    assert_eq!(
        record.prompt_tokens(),
        direct["usage"]["prompt_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        record.completion_tokens(),
        direct["usage"]["completion_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        direct["choices"][0]["message"]["content"],
        result.output.as_str()
    );

    // A loopback backend is local: free, and priced on gpt-4o on request.
    assert_eq!(agent.cost(), Decimal::ZERO);
    assert!(agent.cost_for("gpt-4o").total_cost > Decimal::ZERO);
}

#[tokio::test]
async fn a_repeated_prompt_reports_cached_tokens() {
    let Some(url) = server_url() else { return };
    let _serial = SERIAL.lock().await;
    let agent = builder(&url).build().unwrap();
    let prompt = "Repeat after me: the quick brown fox jumps over the lazy dog.";
    agent.run(prompt).await.unwrap();
    agent.reset_all();
    agent.run(prompt).await.unwrap();
    let record = agent.usage_history().last().unwrap();
    assert!(record.cached_tokens() > 0, "{record:?}");
    assert!(record.cached_tokens() < record.prompt_tokens());
    assert_eq!(agent.usage().cached_tokens, record.cached_tokens());
}

#[tokio::test]
async fn streamed_usage_is_the_servers_and_estimated_without_the_usage_chunk() {
    let Some(url) = server_url() else { return };
    let _serial = SERIAL.lock().await;
    let messages = json!([{ "role": "user", "content": "Name a colour." }]);
    let expected_prompt = server_prompt_tokens(&url, &messages).await;

    let agent = builder(&url).build().unwrap();
    let events: Vec<StreamEvent> = agent
        .run_stream("Name a colour.")
        .map(Result::unwrap)
        .collect()
        .await;
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    let Some(StreamEvent::Done(result)) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(result.output, text);
    let record = agent.usage_history().last().unwrap();
    assert!(!record.is_estimated());
    assert_eq!(record.prompt_tokens(), expected_prompt);
    assert!(record.completion_tokens() > 0);

    let no_usage = builder(&url).stream_usage(false).build().unwrap();
    let _: Vec<_> = no_usage.run_stream("Name a colour.").collect().await;
    let estimated = no_usage.usage_history().last().unwrap();
    assert!(estimated.is_estimated());
    assert!(estimated.prompt_tokens() > 0 && estimated.completion_tokens() > 0);
}

#[tokio::test]
async fn a_complete_tool_loop_with_a_rust_tool() {
    let Some(url) = server_url() else { return };
    let _serial = SERIAL.lock().await;
    let weather = weather_tool(Arc::default());
    // One example exchange steers the 135M model to the tool-call format.
    let example = vec![
        ChatMessage::user("What is the weather in Rome?"),
        ChatMessage::assistant("").with_tool_calls([ToolCall::new(
            "ex1",
            "get_weather",
            r#"{"city": "Rome"}"#,
        )]),
        ChatMessage::tool("ex1", "Rainy, 14C in Rome"),
        ChatMessage::assistant("It is rainy in Rome, 14C."),
    ];
    let agent = builder(&url)
        .tool(weather)
        .conversation(example)
        .max_turns(3)
        .build()
        .unwrap();
    let result = agent.run("What is the weather in Paris?").await.unwrap();
    assert_eq!(result.tool_calls.len(), 1, "{result:?}");
    assert_eq!(result.tool_calls[0].name, "get_weather");
    assert_eq!(
        result.tool_calls[0].output,
        Ok("Sunny, 21C in Paris".to_owned())
    );
    let records = agent.usage_history().to_vec();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].tool_name(), Some("get_weather"));
    assert!(records.iter().all(|r| !r.is_estimated()));
}

#[tokio::test]
async fn a_limit_stops_the_run_before_the_request_is_sent() {
    let Some(url) = server_url() else { return };
    let _serial = SERIAL.lock().await;
    let agent = builder(&url)
        .run_limits(UsageLimits::default().with_total_tokens(10))
        .build()
        .unwrap();
    let error = agent
        .run("Write a long story about dragons.")
        .await
        .unwrap_err()
        .error;
    assert!(
        matches!(&error, AgentError::LimitExceeded(stop) if stop.kind == LimitKind::TotalTokens),
        "{error}"
    );
    assert_eq!(agent.usage().request_count, 0);
    assert!(agent.usage_history().is_empty());
}

#[tokio::test]
async fn a_react_workflow_on_the_real_model() {
    use mamba_agent::workflows::{ReActConfig, ReActWorkflow, StepKind};

    let Some(url) = server_url() else { return };
    let _serial = SERIAL.lock().await;
    let weather = weather_tool(Arc::default());
    let agent = builder(&url).tool(weather).build().unwrap();
    let instructions = ReActConfig::default().instructions;
    // One example exchange steers the 135M model through Action and final_answer.
    let examples = vec![
        ChatMessage::user(format!(
            "{instructions}\n\nTask: What is the weather in Rome?"
        )),
        ChatMessage::assistant("").with_tool_calls([ToolCall::new(
            "ex1",
            "get_weather",
            r#"{"city": "Rome"}"#,
        )]),
        ChatMessage::tool("ex1", "Rainy, 14C in Rome"),
        ChatMessage::assistant("").with_tool_calls([ToolCall::new(
            "ex2",
            "final_answer",
            r#"{"answer": "Rainy, 14C in Rome"}"#,
        )]),
        ChatMessage::tool("ex2", "Answer received."),
    ];
    let workflow = ReActWorkflow::new(agent.clone()).with_config(
        ReActConfig::default()
            .with_max_iterations(4)
            .with_examples(examples),
    );
    let result = workflow.run("What is the weather in Paris?").await;
    assert!(result.success, "{result:#?}");
    assert!(
        result
            .state
            .steps
            .iter()
            .any(|s| s.kind == StepKind::Action)
    );
    assert_eq!(
        result.state.steps.last().map(|s| s.kind.clone()),
        Some(StepKind::FinalAnswer)
    );
    // Every request of the run is in the steps, with the server's own usage.
    let thoughts: u64 = result
        .state
        .steps
        .iter()
        .map(|s| s.usage.total_tokens)
        .sum();
    assert_eq!(thoughts, result.usage.total_tokens);
    assert_eq!(workflow.token_usage(), result.usage);
    assert_eq!(agent.usage(), result.usage);
    assert!(agent.usage_history().iter().all(|r| !r.is_estimated()));
}

/// `summarize_older` against the real model: the older turns (a tool call and its result
/// among them) become the model's summary, the result is within the target, no tool result is
/// left without its call, and the summary request is in the books as compaction usage.
#[tokio::test]
async fn summarize_older_compacts_within_the_target_with_the_real_models_summary() {
    use mamba_agent::context::{CompactionConfig, CompactionStrategy, ContextManager};
    use mamba_agent::tokens::{Role, TokenCounter};

    let Some(url) = server_url() else { return };
    let _serial = SERIAL.lock().await;
    let agent = builder(&url).build().unwrap();
    let counter = TokenCounter::for_model("smollm2");
    let older = [
        ChatMessage::user("I am planning a trip to Rome in May with two friends."),
        ChatMessage::assistant("").with_tool_calls([ToolCall::new(
            "call_1",
            "get_weather",
            r#"{"city":"Rome"}"#,
        )]),
        ChatMessage::tool("call_1", "Rome in May: sunny, 24 degrees, little rain."),
        ChatMessage::assistant("May is warm and sunny in Rome, a good time to visit."),
        ChatMessage::user("We like museums and food markets."),
        ChatMessage::assistant("Visit the Vatican Museums and the Campo de' Fiori market."),
    ];
    let last = [ChatMessage::user("What should we pack?")];
    let last_tokens = counter.count_messages(&last);
    // The last turn, and room for a summary of at most 24 model tokens (max_tokens) with its
    // heading, in the counter's tokens.
    let target = last_tokens + 60;
    let config = CompactionConfig::default()
        .with_strategy(CompactionStrategy::SummarizeOlder)
        .with_thresholds(target + 1, target)
        .with_preserve_recent_turns(1);
    let mut context = ContextManager::new(config, counter.clone()).with_model(agent.clone());
    context.add_messages(older.iter().cloned().chain(last.iter().cloned()));
    assert!(context.token_count() > target);

    let result = context.compact().await.unwrap();
    assert_eq!(result.removed_count, older.len());
    assert!(result.tokens_after <= target, "{result:?}");
    assert_eq!(
        result.tokens_after,
        counter.count_messages(context.messages())
    );
    assert!(context.messages().iter().all(|m| m.role != Role::Tool));
    assert_eq!(&context.messages()[1..], &last);
    assert!(
        context.messages()[0]
            .content
            .starts_with("Summary of the earlier conversation:\n")
    );
    let records = agent.usage_history().to_vec();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].labels().get("operation"), Some("compaction"));
    assert!(records[0].prompt_tokens() > 0 && records[0].completion_tokens() > 0);
    assert_eq!(result.usage.total_tokens, agent.usage().total_tokens);
}
