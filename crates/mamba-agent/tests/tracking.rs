//! One exact record per HTTP response: provider usage with cached and reasoning details,
//! estimates when usage is missing, retries counted once, exact Decimal costs.

mod support;

use std::time::Duration;

use mamba_agent::tokens::{ChatMessage, TokenCounter};
use mamba_agent::{AgentError, TokenUsage};
use rust_decimal::Decimal;
use serde_json::json;
use support::*;
use wiremock::ResponseTemplate;

#[tokio::test]
async fn cached_and_reasoning_tokens_are_recorded_and_priced_exactly() {
    let server = server().await;
    let usage = json!({
        "prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
        "prompt_tokens_details": { "cached_tokens": 1000 },
        "completion_tokens_details": { "reasoning_tokens": 200 },
    });
    then(&server, completion("gpt-4o-2024-08-06", "Hi!", Some(usage))).await;
    let agent = builder(&server, "gpt-4o")
        .system_prompt("Be brief.")
        .build()
        .unwrap();

    let result = agent.run("Hello!").await.unwrap();
    assert_eq!(result.output, "Hi!");

    let records = agent.usage_history().to_vec();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(
        record.model(),
        "gpt-4o-2024-08-06",
        "the model the response names"
    );
    assert_eq!(
        (
            record.prompt_tokens(),
            record.cached_tokens(),
            record.completion_tokens(),
            record.reasoning_tokens()
        ),
        (1200, 1000, 300, 200)
    );
    assert_eq!(record.total_tokens(), 1500);
    assert!(!record.is_estimated());
    assert_eq!(record.request_id(), Some("chatcmpl-1"));
    assert_eq!(record.tool_name(), None);
    assert!(record.latency().is_some());
    assert_eq!(result.records, records);

    let usage = agent.usage();
    assert_eq!(
        (
            usage.request_count,
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (1, 1200, 300, 1500)
    );
    assert_eq!((usage.cached_tokens, usage.reasoning_tokens), (1000, 200));
    // gpt-4o: $2.50 / $1.25 cached / $10 per 1M: 200 x 2.5 + 1000 x 1.25 + 300 x 10 = 4750 / 1M.
    assert_eq!(agent.cost(), Decimal::new(475, 5));
    let breakdown = agent.cost_breakdown();
    assert_eq!(breakdown.input_cost, Decimal::new(5, 4));
    assert_eq!(breakdown.cached_input_cost, Decimal::new(125, 5));
    assert_eq!(breakdown.prompt_cost, Decimal::new(175, 5));
    assert_eq!(breakdown.completion_cost, Decimal::new(3, 3));
    assert_eq!(breakdown.model, "gpt-4o-2024-08-06");
    assert_eq!(result.cost.total_cost, Decimal::new(475, 5));

    // The request as sent.
    let bodies = bodies(&server).await;
    assert_eq!(
        bodies[0],
        json!({
            "model": "gpt-4o",
            "messages": [
                { "role": "system", "content": "Be brief." },
                { "role": "user", "content": "Hello!" },
            ],
        })
    );
    let request = &server.received_requests().await.unwrap()[0];
    assert_eq!(request.headers["authorization"], "Bearer sk-test");
}

#[tokio::test]
async fn a_response_without_usage_is_estimated_never_zero() {
    let server = server().await;
    then(
        &server,
        completion("gpt-4o", "Hello there, how can I help?", None),
    )
    .await;
    let agent = agent(&server, "gpt-4o");
    agent.run("Hello!").await.unwrap();

    let record = agent.usage_history().last().unwrap();
    let counter = TokenCounter::for_model("gpt-4o");
    let prompt = counter.count_messages(&[ChatMessage::user("Hello!")]);
    assert!(record.is_estimated());
    assert_eq!(record.prompt_tokens(), prompt);
    assert_eq!(
        record.completion_tokens(),
        counter.count("Hello there, how can I help?")
    );
    assert!(record.prompt_tokens() > 0 && record.completion_tokens() > 0);
    assert_eq!(agent.usage().estimated_request_count, 1);
}

#[tokio::test]
async fn unknown_fields_such_as_llama_cpp_timings_are_ignored() {
    let server = server().await;
    let body = json!({
        "id": "x", "model": "smollm2", "object": "chat.completion", "system_fingerprint": "b1",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": "ok" }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 32, "completion_tokens": 24, "total_tokens": 56,
                   "prompt_tokens_details": { "cached_tokens": 0 } },
        "timings": { "prompt_n": 32, "predicted_per_second": 101.5 },
    });
    then(&server, ResponseTemplate::new(200).set_body_json(body)).await;
    let agent = agent(&server, "smollm2");
    agent.run("hi").await.unwrap();
    let usage = agent.usage();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (32, 24, 56)
    );
}

#[tokio::test]
async fn a_429_then_success_is_retried_and_recorded_once() {
    let server = server().await;
    let rate_limited = ResponseTemplate::new(429)
        .insert_header("retry-after", "0")
        .set_body_json(json!({ "error": { "message": "slow down", "type": "rate_limit_error" } }));
    then(&server, rate_limited).await;
    then(&server, completion("gpt-4o", "ok", Some(usage(10, 2)))).await;
    let agent = agent(&server, "gpt-4o");
    agent.run("hi").await.unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    assert_eq!(agent.usage().request_count, 1);
    assert_eq!(agent.usage_history().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_up_to_max_retries_and_record_nothing() {
    let server = server().await;
    for _ in 0..3 {
        then(
            &server,
            ResponseTemplate::new(500).set_body_string("upstream exploded"),
        )
        .await;
    }
    let agent = agent(&server, "gpt-4o");
    let error = agent.run("hi").await.unwrap_err().error;
    assert!(
        matches!(&error, AgentError::Api { status: 500, message } if message == "upstream exploded"),
        "{error:?}"
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        3,
        "1 attempt + max_retries 2"
    );
    assert_eq!(agent.usage(), TokenUsage::ZERO);
    assert!(
        agent.conversation().is_empty(),
        "a failed run leaves the conversation as it was"
    );
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let server = server().await;
    let bad = ResponseTemplate::new(400).set_body_json(
        json!({ "error": { "message": "bad model", "type": "invalid_request_error" } }),
    );
    then(&server, bad).await;
    let error = agent(&server, "gpt-4o").run("hi").await.unwrap_err().error;
    assert_eq!(
        error.to_string(),
        "the model endpoint answered 400: bad model"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn malformed_json_is_an_error_and_the_prompt_is_recorded_as_estimated() {
    let server = server().await;
    then(
        &server,
        ResponseTemplate::new(200).set_body_raw("{\"choices\": [", "application/json"),
    )
    .await;
    let agent = agent(&server, "gpt-4o");
    let error = agent.run("Hello!").await.unwrap_err().error;
    assert!(
        matches!(error, AgentError::MalformedResponse(_)),
        "{error:?}"
    );
    let record = agent.usage_history().last().unwrap();
    assert!(record.is_estimated());
    assert_eq!(
        record.prompt_tokens(),
        TokenCounter::for_model("gpt-4o").count_messages(&[ChatMessage::user("Hello!")])
    );
}

#[tokio::test]
async fn a_response_slower_than_the_timeout_times_out_after_retries_and_each_sent_attempt_is_recorded()
 {
    let server = server().await;
    for _ in 0..2 {
        let slow =
            completion("gpt-4o", "late", Some(usage(1, 1))).set_delay(Duration::from_secs(3));
        then(&server, slow).await;
    }
    let settings = mamba_agent::settings::AgentSettings::builder()
        .defaults_only()
        .base_url(format!("{}/v1", server.uri()))
        .timeout(Duration::from_millis(200))
        .max_retries(1)
        .build()
        .unwrap();
    let agent = mamba_agent::Agent::builder("gpt-4o")
        .settings(settings)
        .retry_backoff(Duration::from_millis(5))
        .build()
        .unwrap();
    let error = agent.run("hi").await.unwrap_err().error;
    assert!(
        matches!(error, AgentError::Timeout(t) if t == Duration::from_millis(200)),
        "{error:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    // Both attempts reached the server, which bills them: each is an estimate, cut off.
    let records = agent.usage_history().to_vec();
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.is_estimated() && r.is_cut_off()));
    assert_eq!(agent.usage().request_count, 2);
}

#[tokio::test]
async fn each_request_is_priced_with_its_own_model() {
    let server = server().await;
    then(
        &server,
        completion("gpt-4o", "a", Some(usage(1_000_000, 0))),
    )
    .await;
    then(
        &server,
        completion("gpt-4o-mini", "b", Some(usage(1_000_000, 1_000_000))),
    )
    .await;
    let agent = agent(&server, "gpt-4o");
    agent.run("one").await.unwrap();
    agent.run("two").await.unwrap();
    // gpt-4o: $2.50 for 1M input; gpt-4o-mini: $0.15 + $0.60.
    assert_eq!(agent.cost(), Decimal::new(325, 2));
    let by_model = agent.cost_by_model().by_model;
    assert_eq!(by_model["gpt-4o"].total_cost, Decimal::new(25, 1));
    assert_eq!(by_model["gpt-4o-mini"].total_cost, Decimal::new(75, 2));
    assert_eq!(agent.cost_breakdown().model, "gpt-4o, gpt-4o-mini");
    // All of it as if it were gpt-4o: 2M input, 1M output.
    assert_eq!(agent.cost_for("gpt-4o").total_cost, Decimal::new(15, 0));

    agent.reset_tracking();
    assert_eq!(agent.cost(), Decimal::ZERO);
    assert_eq!(agent.usage(), TokenUsage::ZERO);
    assert!(agent.usage_history().is_empty());
    assert_eq!(
        agent.conversation().len(),
        4,
        "reset_tracking keeps the conversation"
    );
    agent.reset_all();
    assert!(agent.conversation().is_empty());
}

#[tokio::test]
async fn a_loopback_backend_is_local_and_free_unless_priced() {
    let server = server().await;
    then(
        &server,
        completion("smollm2", "a", Some(usage(1_000_000, 1_000_000))),
    )
    .await;
    then(
        &server,
        completion("smollm2", "b", Some(usage(1_000_000, 1_000_000))),
    )
    .await;
    let local = mamba_agent::settings::AgentSettings::builder()
        .defaults_only()
        .base_url(format!("{}/v1", server.uri()))
        .build()
        .unwrap();
    assert!(local.model_backend.is_local());
    let agent = mamba_agent::Agent::builder("whatever-alias")
        .settings(local.clone())
        .build()
        .unwrap();
    agent.run("hi").await.unwrap();
    assert_eq!(agent.cost(), Decimal::ZERO);
    assert!(agent.cost_breakdown().is_fully_priced());
    // The same usage on gpt-4o: $2.50 + $10.
    assert_eq!(agent.cost_for("gpt-4o").total_cost, Decimal::new(125, 1));

    // Priced explicitly, a local model costs what the user said.
    let mut priced = local;
    priced
        .cost_rates
        .insert("smollm2".to_owned(), Decimal::new(1, 3));
    let agent = mamba_agent::Agent::builder("smollm2")
        .settings(priced)
        .build()
        .unwrap();
    agent.run("hi").await.unwrap();
    assert_eq!(agent.cost(), Decimal::new(2, 0));
}

#[tokio::test]
async fn token_counts_of_text_and_context() {
    let server = server().await;
    then(
        &server,
        completion("gpt-4o", "Hi there!", Some(usage(9, 3))),
    )
    .await;
    let agent = agent(&server, "gpt-4o");
    let counter = TokenCounter::for_model("gpt-4o");
    assert_eq!(
        agent.token_count("Hello, world!"),
        counter.count("Hello, world!")
    );
    assert_eq!(
        agent.context_token_count(),
        counter.count_messages::<ChatMessage>(&[])
    );
    agent.run("Hello").await.unwrap();
    let conversation = [
        ChatMessage::user("Hello"),
        ChatMessage::assistant("Hi there!"),
    ];
    assert_eq!(
        agent.context_token_count(),
        counter.count_messages(&conversation)
    );
}
