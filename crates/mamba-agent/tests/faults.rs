//! Fault injection: the agent's books against what a scripted loopback server billed. Every
//! scenario asserts `recorded == billed` from the server's own log: each billed attempt is
//! recorded once (an estimate, marked, when it has no usage), and a refused request never.

mod support;

use std::time::Duration;

use futures::StreamExt;
use mamba_agent::settings::AgentSettings;
use mamba_agent::tokens::{ChatMessage, TokenCounter};
use mamba_agent::{Agent, AgentBuilder, AgentError, RunError};
use serde_json::json;
use support::scripted::*;

/// An agent on the scripted server: remote prices, a 1 s attempt deadline, 2 retries.
fn builder(server: &Scripted, model: &str) -> AgentBuilder {
    builder_with(server, model, Duration::from_secs(1))
}

fn builder_with(server: &Scripted, model: &str, timeout: Duration) -> AgentBuilder {
    let settings = AgentSettings::builder()
        .defaults_only()
        .base_url(&server.url)
        .api_key("sk-test")
        .local(false)
        .timeout(timeout)
        .max_retries(2)
        .build()
        .unwrap();
    Agent::builder(model)
        .settings(settings)
        .retry_backoff(Duration::from_millis(5))
}

/// The counter's prompt for one user message to gpt-4o.
fn prompt_of(text: &str) -> u64 {
    TokenCounter::for_model("gpt-4o").count_messages(&[ChatMessage::user(text)])
}

/// The books agree with the server: one record per billed request, in order, with the
/// server's usage where it reported one and an estimate, marked, where it did not.
fn assert_books_match(agent: &Agent, server: &Scripted) {
    let billed = server.billed();
    let records = agent.usage_history().to_vec();
    assert_eq!(
        records.len(),
        billed.len(),
        "recorded {records:?}\nbilled {billed:?}"
    );
    for (record, served) in records.iter().zip(&billed) {
        match served.usage {
            Some((prompt, completion)) => {
                assert!(!record.is_estimated(), "{record:?} for {served:?}");
                assert_eq!(
                    (record.prompt_tokens(), record.completion_tokens()),
                    (prompt, completion)
                );
            }
            None => {
                assert!(record.is_estimated(), "{record:?} for {served:?}");
                assert!(record.prompt_tokens() > 0, "never zero: {record:?}");
            }
        }
    }
    assert_eq!(agent.usage().request_count, billed.len() as u64);
}

fn api_error(failed: RunError) -> (u16, String) {
    match failed.error {
        AgentError::Api { status, message } => (status, message),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn error_bodies_of_every_shape_are_api_errors_and_record_nothing() {
    let context = "the request exceeds the context size";
    let cases = [
        (
            json_answer(
                400,
                json!({"error": {"code": 400, "message": context, "type": "invalid_request_error"}}),
            ),
            (400, context),
        ),
        (
            json_answer(
                400,
                json!({"error": {"code": "context_length_exceeded", "message": context}}),
            ),
            (400, context),
        ),
        (
            json_answer(
                422,
                json!({"error": {"code": null, "message": "bad tool schema"}}),
            ),
            (422, "bad tool schema"),
        ),
        (
            json_answer(404, json!({"error": "model `x` not found"})),
            (404, "model `x` not found"),
        ),
        (
            json_answer(401, json!({"message": "invalid api key"})),
            (401, "invalid api key"),
        ),
        (
            Action::Raw {
                status: 403,
                content_type: "text/html",
                body: "<h1>Forbidden</h1>".to_owned(),
            },
            (403, "<h1>Forbidden</h1>"),
        ),
        (
            Action::Raw {
                status: 400,
                content_type: "text/plain",
                body: String::new(),
            },
            (400, "Bad Request"),
        ),
    ];
    for (action, (status, message)) in cases {
        let server = Scripted::start(vec![action]).await;
        let agent = builder(&server, "gpt-4o").build().unwrap();
        let failed = agent.run("hi").await.unwrap_err();
        assert_eq!(failed.spent.usage.request_count, 0);
        assert_eq!(api_error(failed), (status, message.to_owned()));
        assert_eq!(server.served().len(), 1, "a 4xx is not retried");
        assert_books_match(&agent, &server);
        assert_eq!(agent.usage().request_count, 0);
    }
}

#[tokio::test]
async fn a_429_that_persists_through_every_retry_is_an_api_error_and_records_nothing() {
    let limited = Action::Json {
        status: 429,
        body: json!({"error": {"code": 429, "message": "slow down"}}),
        headers: vec![("retry-after", "0".to_owned())],
    };
    let server = Scripted::start(vec![limited]).await;
    let agent = builder(&server, "gpt-4o").build().unwrap();
    let failed = agent.run("hi").await.unwrap_err();
    assert_eq!(api_error(failed), (429, "slow down".to_owned()));
    assert_eq!(server.served().len(), 3, "1 attempt + 2 retries");
    assert_books_match(&agent, &server);
}

#[tokio::test]
async fn server_errors_then_success_record_only_the_success() {
    let server = Scripted::start(vec![
        json_answer(
            503,
            json!({"error": {"code": 503, "message": "loading model"}}),
        ),
        Action::Raw {
            status: 502,
            content_type: "text/plain",
            body: "bad gateway".to_owned(),
        },
        Action::Completion {
            prompt: 8,
            completion: 3,
        },
    ])
    .await;
    let agent = builder(&server, "gpt-4o").build().unwrap();
    agent.run("hi").await.unwrap();
    assert_eq!(server.served().len(), 3);
    assert_books_match(&agent, &server);
    assert_eq!(agent.usage().total_tokens, 11);
}

#[tokio::test]
async fn usage_without_counts_is_estimated_never_zero() {
    let answers = [
        json!({}),
        json!({"total_tokens": 12}),
        json!({"prompt_tokens_details": {"cached_tokens": 0}}),
    ];
    for usage in answers {
        let mut body = completion_body("gpt-4o", "Hello there", 0, 0);
        body["usage"] = usage.clone();
        let server = Scripted::start(vec![json_answer(200, body)]).await;
        let agent = builder(&server, "gpt-4o").build().unwrap();
        agent.run("hi").await.unwrap();
        let record = agent.usage_history().last().unwrap();
        assert!(record.is_estimated(), "{usage}: {record:?}");
        assert!(!record.is_cut_off());
        assert_eq!(record.prompt_tokens(), prompt_of("hi"), "{usage}");
        let reply = TokenCounter::for_model("gpt-4o").count("Hello there");
        assert_eq!(record.completion_tokens(), reply, "{usage}");
        assert_books_match(&agent, &server);
    }
}

#[tokio::test]
async fn a_usage_object_with_one_count_keeps_it_and_estimates_the_other() {
    let mut body = completion_body("gpt-4o", "Hello there", 0, 0);
    body["usage"] = json!({"prompt_tokens": 41});
    let server = Scripted::start(vec![json_answer(200, body)]).await;
    let agent = builder(&server, "gpt-4o").build().unwrap();
    agent.run("hi").await.unwrap();
    let record = agent.usage_history().last().unwrap();
    assert!(record.is_estimated());
    assert_eq!(record.prompt_tokens(), 41);
    assert_eq!(
        record.completion_tokens(),
        TokenCounter::for_model("gpt-4o").count("Hello there")
    );
}

#[tokio::test]
async fn a_stream_cut_after_its_usage_chunk_keeps_the_providers_usage() {
    let server = Scripted::start(vec![Action::Sse {
        events: vec![
            text_chunk("Hel"),
            text_chunk("lo"),
            finish_chunk(),
            usage_chunk(37, 2),
        ],
        end: SseEnd::Close,
    }])
    .await;
    let agent = builder(&server, "gpt-4o").build().unwrap();
    let events: Vec<_> = agent.run_stream("hi").collect().await;
    assert!(
        matches!(events.last(), Some(Ok(mamba_agent::StreamEvent::Done(r))) if r.output == "Hello"),
        "{events:?}"
    );
    let record = agent.usage_history().last().unwrap();
    assert_eq!(
        (record.prompt_tokens(), record.completion_tokens()),
        (37, 2)
    );
    assert!(!record.is_estimated());
    assert_books_match(&agent, &server);
}

#[tokio::test]
async fn a_stream_that_ends_before_its_finish_reason_is_truncated_not_an_answer() {
    for end in [SseEnd::Close, SseEnd::Done] {
        let server = Scripted::start(vec![Action::Sse {
            events: vec![text_chunk("The answer is")],
            end,
        }])
        .await;
        let agent = builder(&server, "gpt-4o").build().unwrap();
        let events: Vec<_> = agent.run_stream("hi").collect().await;
        let Some(Err(failed)) = events.last() else {
            panic!("{end:?}: {events:?}");
        };
        assert!(
            matches!(&failed.error, AgentError::Truncated { partial } if partial == "The answer is"),
            "{end:?}: {failed:?}"
        );
        assert_eq!(failed.spent.records.len(), 1);
        let record = agent.usage_history().last().unwrap();
        assert!(record.is_estimated() && record.is_cut_off(), "{record:?}");
        assert_eq!(record.prompt_tokens(), prompt_of("hi"));
        assert_books_match(&agent, &server);
        assert!(agent.conversation().is_empty());
    }
}

#[tokio::test]
async fn a_stalled_stream_is_a_timeout_and_a_dropped_one_a_connection_error() {
    let stalled = Scripted::start(vec![Action::Sse {
        events: vec![text_chunk("Once upon")],
        end: SseEnd::Stall,
    }])
    .await;
    let agent = builder_with(&stalled, "gpt-4o", Duration::from_millis(300))
        .build()
        .unwrap();
    let events: Vec<_> = agent.run_stream("hi").collect().await;
    let Some(Err(failed)) = events.last() else {
        panic!("{events:?}");
    };
    assert!(
        matches!(failed.error, AgentError::Timeout(t) if t == Duration::from_millis(300)),
        "{failed:?}"
    );
    assert!(agent.usage_history().last().unwrap().is_cut_off());
    assert_books_match(&agent, &stalled);

    // A 200 whose body stalls past the deadline, and one cut after a few bytes.
    for (action, timeout) in [(Action::StallBody, true), (Action::CutBody, false)] {
        let server = Scripted::start(vec![action]).await;
        let agent = builder_with(&server, "gpt-4o", Duration::from_millis(300))
            .build()
            .unwrap();
        let failed = agent.run("hi").await.unwrap_err();
        match (&failed.error, timeout) {
            (AgentError::Timeout(_), true) | (AgentError::Connection(_), false) => {}
            (other, _) => panic!("never a malformed response: {other:?}"),
        }
        assert!(agent.usage_history().last().unwrap().is_cut_off());
        assert_books_match(&agent, &server);
    }

    // A stream whose server closes mid-answer: truncated (an error), never a malformed
    // response and never a clean answer.
    let cut = Scripted::start(vec![Action::Sse {
        events: vec![text_chunk("Once upon")],
        end: SseEnd::Close,
    }])
    .await;
    let agent = builder(&cut, "gpt-4o").build().unwrap();
    let events: Vec<_> = agent.run_stream("hi").collect().await;
    assert!(
        matches!(events.last(), Some(Err(f)) if matches!(&f.error, AgentError::Truncated { partial } if partial == "Once upon")),
        "{events:?}"
    );
    assert_books_match(&agent, &cut);
}

#[tokio::test]
async fn a_connection_dropped_after_the_request_was_read_is_billed_and_recorded_once() {
    let server = Scripted::start(vec![Action::DropAfterRead]).await;
    let agent = builder(&server, "gpt-4o").build().unwrap();
    let failed = agent.run("hi").await.unwrap_err();
    assert!(
        matches!(failed.error, AgentError::Connection(_)),
        "{failed:?}"
    );
    assert_eq!(failed.spent.records.len(), 1);
    let record = agent.usage_history().last().unwrap();
    assert!(record.is_estimated() && record.is_cut_off());
    assert_books_match(&agent, &server);
}

#[tokio::test]
async fn a_refused_connection_records_nothing() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    let settings = AgentSettings::builder()
        .defaults_only()
        .base_url(url)
        .local(false)
        .max_retries(1)
        .build()
        .unwrap();
    let agent = Agent::builder("gpt-4o")
        .settings(settings)
        .retry_backoff(Duration::from_millis(5))
        .build()
        .unwrap();
    let failed = agent.run("hi").await.unwrap_err();
    assert!(
        matches!(failed.error, AgentError::Connection(_)),
        "{failed:?}"
    );
    assert_eq!(agent.usage().request_count, 0);
}

#[tokio::test]
async fn timed_out_attempts_that_were_sent_are_each_recorded_and_retried() {
    let server = Scripted::start(vec![
        Action::Stall,
        Action::Stall,
        Action::Completion {
            prompt: 8,
            completion: 2,
        },
    ])
    .await;
    let agent = builder_with(&server, "gpt-4o", Duration::from_millis(200))
        .build()
        .unwrap();
    let result = agent.run("hi").await.unwrap();
    assert_eq!(result.records.len(), 3, "two cut off, one answered");
    let records = agent.usage_history().to_vec();
    assert!(
        records[..2]
            .iter()
            .all(|r| r.is_cut_off() && r.is_estimated())
    );
    assert!(!records[2].is_estimated());
    assert_books_match(&agent, &server);
}

#[tokio::test]
async fn a_request_cancelled_by_the_caller_after_it_was_sent_is_recorded_as_cut_off() {
    let server = Scripted::start(vec![Action::Stall]).await;
    let agent = builder_with(&server, "gpt-4o", Duration::from_secs(10))
        .build()
        .unwrap();
    let cancelled = tokio::time::timeout(Duration::from_millis(300), agent.run("hi")).await;
    assert!(cancelled.is_err(), "the caller's timeout ended the run");
    let record = agent.usage_history().last().unwrap();
    assert!(record.is_cut_off() && record.is_estimated());
    assert_eq!(record.prompt_tokens(), prompt_of("hi"));
    assert_books_match(&agent, &server);

    // An aborted task, once its request reached the server.
    let server = Scripted::start(vec![Action::Stall]).await;
    let agent = builder_with(&server, "gpt-4o", Duration::from_secs(10))
        .build()
        .unwrap();
    let task = tokio::spawn({
        let agent = agent.clone();
        async move { agent.run("hi").await }
    });
    while server.served().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_books_match(&agent, &server);
    assert!(agent.usage_history().last().unwrap().is_cut_off());
}

#[tokio::test]
async fn a_failed_run_carries_the_records_of_what_it_spent() {
    let tool_call = json!({
        "id": "chatcmpl-tool", "object": "chat.completion", "model": "gpt-4o",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": null,
            "tool_calls": [{ "id": "call_1", "type": "function",
                "function": { "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}" } }] },
            "finish_reason": "tool_calls" }],
        "usage": { "prompt_tokens": 60, "completion_tokens": 12, "total_tokens": 72 },
    });
    let server = Scripted::start(vec![
        json_answer(200, tool_call),
        json_answer(400, json!({"error": {"code": 400, "message": "too long"}})),
    ])
    .await;
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let agent = builder(&server, "gpt-4o")
        .tool(support::weather_tool(calls))
        .build()
        .unwrap();
    let failed = agent.run("Weather in Oslo?").await.unwrap_err();
    assert_eq!(failed.spent.records.len(), 1);
    assert_eq!(failed.spent.usage.total_tokens, 72);
    // gpt-4o: 60 x $2.50 + 12 x $10 per 1M.
    assert_eq!(
        failed.spent.cost.total_cost,
        rust_decimal::Decimal::new(27, 5)
    );
    assert_eq!(failed.spent.tool_calls.len(), 1);
    assert_books_match(&agent, &server);
}

#[tokio::test]
async fn requests_are_sent_with_a_content_length_not_chunked() {
    let server = Scripted::completions(8, 1).await;
    let agent = builder(&server, "gpt-4o").build().unwrap();
    agent.run("hi").await.unwrap();
    // The scripted server answers a chunked request 411 without logging it.
    assert_eq!(server.served().len(), 1);
    assert_eq!(server.served()[0].body["messages"][0]["content"], "hi");
}
