//! Tool loops, streaming, limits, concurrency, run_sync and the per-request log event, against
//! the loopback server, with the request bodies checked too.

mod support;

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use mamba_agent::settings::UsageLimits;
use mamba_agent::tokens::{ChatMessage, TokenCounter};
use mamba_agent::{
    Agent, AgentError, BoxError, LimitKind, LimitScope, StreamEvent, Tool, ToolError,
};
use rust_decimal::Decimal;
use serde_json::json;
use support::*;

#[tokio::test]
async fn a_two_step_tool_loop_runs_the_tool_and_feeds_the_result_back() {
    let server = server().await;
    then(
        &server,
        tool_call(
            "gpt-4o",
            "get_weather",
            r#"{"city":"Paris"}"#,
            usage(80, 20),
        ),
    )
    .await;
    then(
        &server,
        completion("gpt-4o", "It is sunny in Paris.", Some(usage(120, 10))),
    )
    .await;
    let calls = Arc::new(Mutex::new(Vec::new()));
    let agent = builder(&server, "gpt-4o")
        .tool(weather_tool(Arc::clone(&calls)))
        .build()
        .unwrap();

    let result = agent.run("Weather in Paris?").await.unwrap();
    assert_eq!(result.output, "It is sunny in Paris.");
    assert_eq!(*calls.lock().unwrap(), ["Paris"]);
    assert_eq!(result.tool_calls.len(), 1);
    assert_eq!(
        result.tool_calls[0].output,
        Ok("Sunny, 21C in Paris".to_owned())
    );

    let records = agent.usage_history().to_vec();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].tool_name(), Some("get_weather"));
    assert_eq!(records[1].tool_name(), None);
    assert_eq!(agent.usage().total_tokens, 230);
    // gpt-4o: (80 + 120) x $2.50 + (20 + 10) x $10 per 1M.
    assert_eq!(agent.cost(), Decimal::new(8, 4));

    let bodies = bodies(&server).await;
    let tools = json!([{
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather of a city",
            "parameters": {
                "type": "object",
                "properties": { "city": { "type": "string", "description": "The city." } },
                "required": ["city"],
            },
        },
    }]);
    assert_eq!(bodies[0]["tools"], tools);
    assert_eq!(
        bodies[1]["messages"],
        json!([
            { "role": "user", "content": "Weather in Paris?" },
            { "role": "assistant", "content": "", "tool_calls": [{
                "id": "call_abc", "type": "function",
                "function": { "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" },
            }]},
            { "role": "tool", "content": "Sunny, 21C in Paris", "tool_call_id": "call_abc" },
        ])
    );
    let conversation = agent.conversation();
    assert_eq!(conversation.len(), 4);
    assert_eq!(
        conversation[3],
        ChatMessage::assistant("It is sunny in Paris.")
    );
}

#[tokio::test]
async fn a_failing_or_unknown_tool_is_reported_to_the_model_not_fatal() {
    let server = server().await;
    then(
        &server,
        tool_call(
            "gpt-4o",
            "get_weather",
            r#"{"city":"Atlantis"}"#,
            usage(10, 5),
        ),
    )
    .await;
    then(&server, tool_call("gpt-4o", "teleport", "{}", usage(10, 5))).await;
    then(&server, completion("gpt-4o", "Sorry.", Some(usage(10, 5)))).await;
    let agent = builder(&server, "gpt-4o")
        .tool(weather_tool(Arc::default()))
        .build()
        .unwrap();
    let result = agent.run("Weather in Atlantis?").await.unwrap();
    let outputs: Vec<_> = result.tool_calls.iter().map(|c| c.output.clone()).collect();
    assert_eq!(
        outputs,
        [
            Err(ToolError::Failed {
                source: Arc::from(BoxError::from("no weather station in Atlantis")),
            }),
            Err(ToolError::UnknownTool {
                name: "teleport".to_owned()
            }),
        ]
    );
    // The handler's own error is the source, for a caller that wants it back.
    let Err(ToolError::Failed { source }) = &outputs[0] else {
        unreachable!("checked above")
    };
    assert_eq!(source.to_string(), "no weather station in Atlantis");
    let bodies = bodies(&server).await;
    assert_eq!(
        bodies[1]["messages"][2]["content"],
        "Error: no weather station in Atlantis"
    );
    assert_eq!(result.records.len(), 3);
}

#[tokio::test]
async fn a_tool_that_panics_becomes_an_error_result() {
    let server = server().await;
    then(&server, tool_call("gpt-4o", "boom", "{}", usage(10, 5))).await;
    then(&server, completion("gpt-4o", "ok", Some(usage(10, 5)))).await;
    let boom = Tool::from_json_schema("boom", "Panics", json!({"type": "object"}), |_| async {
        panic!("kaboom")
    })
    .unwrap();
    let agent = builder(&server, "gpt-4o").tool(boom).build().unwrap();
    let result = agent.run("go").await.unwrap();
    assert_eq!(
        result.tool_calls[0].output,
        Err(ToolError::Panicked {
            message: "kaboom".to_owned()
        })
    );
}

#[tokio::test]
async fn max_turns_ends_a_tool_loop_that_never_answers() {
    let server = server().await;
    for _ in 0..3 {
        then(
            &server,
            tool_call("gpt-4o", "get_weather", r#"{"city":"Paris"}"#, usage(10, 5)),
        )
        .await;
    }
    let agent = builder(&server, "gpt-4o")
        .tool(weather_tool(Arc::default()))
        .max_turns(3)
        .build()
        .unwrap();
    let error = agent.run("loop").await.unwrap_err().error;
    assert!(matches!(error, AgentError::MaxTurns(3)), "{error:?}");
    assert_eq!(
        agent.usage().request_count,
        3,
        "the usage of a failed run is kept"
    );
}

#[tokio::test]
async fn streaming_yields_deltas_and_records_the_usage_chunk() {
    let server = server().await;
    then(
        &server,
        sse("gpt-4o", &["Hel", "lo", "!"], Some(usage(12, 3))),
    )
    .await;
    let agent = agent(&server, "gpt-4o");
    let events: Vec<_> = agent.run_stream("Hi").collect().await;
    let events: Vec<StreamEvent> = events.into_iter().map(Result::unwrap).collect();
    let deltas: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deltas, ["Hel", "lo", "!"]);
    let Some(StreamEvent::Done(result)) = events.last() else {
        panic!("the stream ends with Done: {events:?}");
    };
    assert_eq!(result.output, "Hello!");
    let record = agent.usage_history().last().unwrap();
    assert!(!record.is_estimated());
    assert_eq!(
        (record.prompt_tokens(), record.completion_tokens()),
        (12, 3)
    );
    let body = &bodies(&server).await[0];
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({ "include_usage": true }));
    assert_eq!(agent.conversation().len(), 2);
}

#[tokio::test]
async fn a_stream_without_usage_is_estimated() {
    let server = server().await;
    then(&server, sse("gpt-4o", &["Hello", " there"], None)).await;
    let agent = agent(&server, "gpt-4o");
    let events: Vec<_> = agent.run_stream("Hi").collect().await;
    assert!(events.iter().all(Result::is_ok));
    let record = agent.usage_history().last().unwrap();
    let counter = TokenCounter::for_model("gpt-4o");
    assert!(record.is_estimated());
    assert_eq!(
        record.prompt_tokens(),
        counter.count_messages(&[ChatMessage::user("Hi")])
    );
    assert_eq!(record.completion_tokens(), counter.count("Hello there"));
}

#[tokio::test]
async fn a_stream_dropped_mid_response_is_recorded_as_an_estimate() {
    let server = server().await;
    then(
        &server,
        sse("gpt-4o", &["Hello", " there", " friend"], Some(usage(9, 3))),
    )
    .await;
    let agent = agent(&server, "gpt-4o");
    let mut stream = agent.run_stream("Hi");
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first, StreamEvent::TextDelta("Hello".to_owned()));
    drop(stream);
    let record = agent.usage_history().last().unwrap();
    assert!(record.is_estimated());
    assert_eq!(
        record.completion_tokens(),
        TokenCounter::for_model("gpt-4o").count("Hello")
    );
    assert!(agent.conversation().is_empty());
}

#[tokio::test]
async fn a_streamed_tool_loop() {
    let server = server().await;
    let call = json!({
        "id": "s1", "model": "gpt-4o", "object": "chat.completion.chunk",
        "choices": [{ "index": 0, "delta": { "tool_calls": [{ "index": 0, "id": "call_s", "type": "function",
            "function": { "name": "get_weather", "arguments": "{\"city\":" } }] } }],
    });
    let rest = json!({
        "id": "s1", "model": "gpt-4o", "object": "chat.completion.chunk",
        "choices": [{ "index": 0, "delta": { "tool_calls": [{ "index": 0,
            "function": { "arguments": "\"Oslo\"}" } }] }, "finish_reason": "tool_calls" }],
        "usage": { "prompt_tokens": 50, "completion_tokens": 9, "total_tokens": 59 },
    });
    let body = format!("data: {call}\n\ndata: {rest}\n\ndata: [DONE]\n\n");
    then(
        &server,
        wiremock::ResponseTemplate::new(200).set_body_raw(body, "text/event-stream"),
    )
    .await;
    then(&server, sse("gpt-4o", &["Sunny."], Some(usage(70, 2)))).await;
    let calls = Arc::new(Mutex::new(Vec::new()));
    let agent = builder(&server, "gpt-4o")
        .tool(weather_tool(Arc::clone(&calls)))
        .build()
        .unwrap();
    let events: Vec<_> = agent
        .run_stream("Oslo?")
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(*calls.lock().unwrap(), ["Oslo"]);
    assert!(
        matches!(&events[0], StreamEvent::ToolCall(call) if call.arguments == r#"{"city":"Oslo"}"#)
    );
    assert_eq!(agent.usage().total_tokens, 131);
    assert_eq!(
        agent.usage_history().to_vec()[0].tool_name(),
        Some("get_weather")
    );
}

#[tokio::test]
async fn a_request_that_would_exceed_a_limit_is_not_sent() {
    let server = server().await;
    then(&server, completion("gpt-4o", "one", Some(usage(10, 5)))).await;
    then(&server, completion("gpt-4o", "two", Some(usage(10, 5)))).await;
    let agent = builder(&server, "gpt-4o")
        .usage_limits(UsageLimits::default().with_requests(1))
        .build()
        .unwrap();
    agent.run("first").await.unwrap();
    let error = agent.run("second").await.unwrap_err().error;
    let AgentError::LimitExceeded(stop) = &error else {
        panic!("{error:?}");
    };
    assert_eq!(
        (stop.kind, stop.scope),
        (LimitKind::Requests, LimitScope::Agent)
    );
    assert_eq!(
        (stop.limit, stop.used, stop.requested),
        (Decimal::ONE, Decimal::ONE, Decimal::ONE)
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    assert_eq!(
        agent.usage().request_count,
        1,
        "usage recorded so far is kept"
    );
}

#[tokio::test]
async fn a_run_limit_on_input_tokens_stops_before_sending() {
    let server = server().await;
    let agent = builder(&server, "gpt-4o")
        .run_limits(UsageLimits::default().with_input_tokens(5))
        .build()
        .unwrap();
    let error = agent
        .run("This prompt is longer than five tokens.")
        .await
        .unwrap_err()
        .error;
    // The worst case is the counted prompt plus the counter's 10% safety margin.
    let counter = TokenCounter::for_model("gpt-4o");
    let counted =
        counter.count_messages(&[ChatMessage::user("This prompt is longer than five tokens.")]);
    assert_eq!(counted, 15);
    assert_eq!(
        error.to_string(),
        "run limit on input tokens reached: 0 used and 0 reserved of 5, and the next request needs up to 17 more"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_cost_limit_counts_max_tokens_as_the_output() {
    let server = server().await;
    let settings = mamba_agent::settings::AgentSettings::builder()
        .defaults_only()
        .base_url(format!("{}/v1", server.uri()))
        .local(false)
        .max_tokens(100_000)
        .build()
        .unwrap();
    let agent = Agent::builder("gpt-4o")
        .settings(settings)
        .usage_limits(UsageLimits::default().with_cost(Decimal::new(5, 1)))
        .build()
        .unwrap();
    let error = agent.run("hi").await.unwrap_err().error;
    // 100k output tokens of gpt-4o are $1.00 on their own.
    assert!(
        matches!(&error, AgentError::LimitExceeded(stop) if stop.kind == LimitKind::Cost && stop.requested > Decimal::ONE),
        "{error}"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dozens_of_concurrent_runs_on_clones_lose_no_record() {
    let server = server().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(completion("gpt-4o-mini", "ok", Some(usage(100, 7))))
        .mount(&server)
        .await;
    let agent = agent(&server, "gpt-4o-mini");
    let runs = 48;
    let tasks: Vec<_> = (0..runs)
        .map(|i| {
            let agent = agent.clone();
            tokio::spawn(async move { agent.run(&format!("question {i}")).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let usage = agent.usage();
    assert_eq!(usage.request_count, runs);
    assert_eq!(usage.total_tokens, runs * 107);
    assert_eq!(agent.usage_history().len() as u64, runs);
    // gpt-4o-mini: 100 x $0.15 + 7 x $0.60 per 1M, per request.
    assert_eq!(agent.cost(), Decimal::new(192, 7) * Decimal::from(runs));
    assert_eq!(agent.conversation().len() as u64, 2 * runs);
}

#[test]
fn run_sync_works_without_a_runtime_and_refuses_inside_one() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(async {
        let server = server().await;
        then(&server, completion("gpt-4o", "sync ok", Some(usage(5, 2)))).await;
        server
    });
    let agent = agent(&server, "gpt-4o");
    let result = agent.run_sync("Hello").unwrap();
    assert_eq!(result.output, "sync ok");
    assert_eq!(agent.usage().total_tokens, 7);

    let inside = runtime.block_on(async { agent.run_sync("again") });
    assert!(
        matches!(&inside, Err(e) if matches!(e.error, AgentError::InsideRuntime)),
        "{inside:?}"
    );
}

/// Collects formatted log lines.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn each_request_logs_an_info_event_with_gen_ai_fields() {
    let server = server().await;
    then(
        &server,
        completion("gpt-4o-2024-08-06", "hi", Some(usage(30, 15))),
    )
    .await;
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let labels = mamba_agent::Labels::new()
        .user("alice")
        .session("s-1")
        .tag("team", "search")
        .unwrap();
    agent(&server, "gpt-4o")
        .run_with("Hello", mamba_agent::RunOptions::new().labels(labels))
        .await
        .unwrap();
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    // 30 x $2.50 + 15 x $10 per 1M = $0.000225.
    assert!(text.contains("INFO"), "{text}");
    assert!(
        text.contains("Request completed: 45 tokens, $0.000225"),
        "{text}"
    );
    for field in [
        "gen_ai.request.model=\"gpt-4o\"",
        "gen_ai.response.model=\"gpt-4o-2024-08-06\"",
        "gen_ai.usage.input_tokens=30",
        "gen_ai.usage.output_tokens=15",
        "gen_ai.operation.name=\"chat\"",
        "gen_ai.provider.name=\"127.0.0.1\"",
        "gen_ai.usage.cache_read.input_tokens=0",
        "gen_ai.usage.cache_write.input_tokens=0",
        "gen_ai.usage.reasoning.output_tokens=0",
        "mamba.cost.usd=0.000225",
        "mamba.user=\"alice\"",
        "mamba.session=\"s-1\"",
        "mamba.labels=session=s-1;team=search;user=alice",
    ] {
        assert!(text.contains(field), "{field} in {text}");
    }
    assert!(text.contains("agent.run"), "the run span: {text}");
    // The event is inside the request's `chat {model}` span, which has the response's fields.
    let span = text
        .split("chat{")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .unwrap_or_else(|| panic!("no chat span in {text}"));
    for field in [
        "otel.name=chat gpt-4o",
        "gen_ai.provider.name=\"127.0.0.1\"",
        "gen_ai.request.model=\"gpt-4o\"",
        "gen_ai.response.model=\"gpt-4o-2024-08-06\"",
        "gen_ai.usage.input_tokens=30",
        "gen_ai.usage.output_tokens=15",
    ] {
        assert!(span.contains(field), "{field} in the span {span}");
    }
}

#[test]
fn agents_are_clone_send_sync() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<Agent>();
    assert_traits::<Tool>();
}

/// With nothing configured, a request would go to OpenAI's API without a key: it is refused
/// before anything is sent, with an error naming every way to give one.
#[tokio::test]
async fn a_request_for_openai_without_a_key_fails_before_it_is_sent() {
    let settings = mamba_agent::settings::AgentSettings::builder()
        .defaults_only()
        .build()
        .unwrap();
    let agent = Agent::builder("gpt-4o").settings(settings).build().unwrap();
    let error = agent.run("hi").await.unwrap_err();
    assert!(matches!(error.error, AgentError::MissingApiKey { .. }));
    assert_eq!(
        error.error.to_string(),
        "no API key for https://api.openai.com/v1: set OPENAI_API_KEY (or \
         MAMBA_MODEL_BACKEND__API_KEY, or `api_key` under `[model_backend]` in a settings file), \
         or set `model_backend.base_url` to another server, such as a local model (`cargo xtask \
         demo` runs one)"
    );
    assert!(
        error.spent.records.is_empty(),
        "nothing was sent, so nothing is billed"
    );
    let mut stream = agent.run_stream("hi");
    let first = stream.next().await.unwrap();
    assert!(matches!(
        first.map(drop).unwrap_err().error,
        AgentError::MissingApiKey { .. }
    ));
}
