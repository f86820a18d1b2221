//! Limits that hold under concurrency: many runs at once against a scripted loopback server,
//! whose own log shows that no limit was ever exceeded.

mod support;

use std::time::Duration;

use mamba_agent::pricing::{CostEstimator, LimitKind};
use mamba_agent::settings::{AgentSettings, UsageLimits};
use mamba_agent::tokens::{ChatMessage, TokenCounter};
use mamba_agent::workflows::{ReActWorkflow, TerminationReason};
use mamba_agent::{Agent, AgentBuilder, AgentError, LimitScope};
use rust_decimal::Decimal;
use serde_json::json;
use support::scripted::*;

fn settings(server: &Scripted, max_tokens: Option<u32>) -> AgentSettings {
    let mut settings = AgentSettings::builder()
        .defaults_only()
        .base_url(&server.url)
        .local(false)
        .timeout(Duration::from_secs(5))
        .max_retries(0);
    if let Some(max) = max_tokens {
        settings = settings.max_tokens(max);
    }
    settings.build().unwrap()
}

fn builder(server: &Scripted, max_tokens: Option<u32>) -> AgentBuilder {
    Agent::builder("gpt-4o").settings(settings(server, max_tokens))
}

const QUESTION: &str = "What is the capital of France?";

fn prompt() -> u64 {
    TokenCounter::for_model("gpt-4o").count_messages(&[ChatMessage::user(QUESTION)])
}

/// Runs `runs` copies of the question at once; returns the failures.
async fn run_concurrently(agent: &Agent, runs: usize) -> Vec<AgentError> {
    let tasks: Vec<_> = (0..runs)
        .map(|_| {
            let agent = agent.clone();
            tokio::spawn(async move { agent.run(QUESTION).await })
        })
        .collect();
    let mut failures = Vec::new();
    for task in tasks {
        if let Err(failed) = task.await.unwrap() {
            failures.push(failed.error);
        }
    }
    failures
}

/// A slow server (so the runs overlap) reporting the exact prompt and 40 output tokens, or
/// fewer when the request's `max_tokens` says so.
async fn slow_server() -> Scripted {
    Scripted::start(vec![Action::Delay(
        Duration::from_millis(100),
        Box::new(Action::Completion {
            prompt: prompt(),
            completion: 40,
        }),
    )])
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_concurrent_runs_under_a_limit_of_four_requests_send_four() {
    let server = slow_server().await;
    let agent = builder(&server, None)
        .usage_limits(UsageLimits::default().with_requests(4))
        .build()
        .unwrap();
    let failures = run_concurrently(&agent, 12).await;
    assert_eq!(server.served().len(), 4, "the server saw exactly the limit");
    assert_eq!(failures.len(), 8);
    for failure in &failures {
        let AgentError::LimitExceeded(stop) = failure else {
            panic!("{failure:?}");
        };
        assert_eq!(
            (stop.kind, stop.scope),
            (LimitKind::Requests, LimitScope::Agent)
        );
        // What was used plus what was in flight filled the limit.
        assert_eq!(stop.used + stop.reserved, Decimal::from(4), "{stop}");
        assert_eq!(stop.requested, Decimal::ONE);
    }
    assert_eq!(agent.usage().request_count, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_limits_hold_under_concurrency_and_bound_open_ended_answers() {
    let limits = [
        UsageLimits::default().with_total_tokens(300),
        UsageLimits::default().with_output_tokens(100),
        UsageLimits::default().with_input_tokens(3 * prompt() + 5),
    ];
    for limit in limits {
        let server = slow_server().await;
        let agent = builder(&server, None).usage_limits(limit).build().unwrap();
        let failures = run_concurrently(&agent, 16).await;
        let billed = server.billed();
        let input: u64 = billed.iter().map(|s| s.usage.unwrap().0).sum();
        let output: u64 = billed.iter().map(|s| s.usage.unwrap().1).sum();
        assert!(!billed.is_empty(), "{limit:?}: something was sent");
        assert!(
            input + output <= limit.total_tokens.unwrap_or(u64::MAX),
            "{limit:?}"
        );
        assert!(
            output <= limit.output_tokens.unwrap_or(u64::MAX),
            "{limit:?}"
        );
        assert!(input <= limit.input_tokens.unwrap_or(u64::MAX), "{limit:?}");
        assert_eq!(failures.len() + billed.len(), 16, "{limit:?}");
        assert!(
            failures
                .iter()
                .all(|f| matches!(f, AgentError::LimitExceeded(_))),
            "{failures:?}"
        );
        if limit.input_tokens.is_none() {
            // Output is limited: every request said how much it may produce.
            assert!(
                server
                    .served()
                    .iter()
                    .all(|s| s.body["max_tokens"].is_u64()),
                "{limit:?}"
            );
        }
        let usage = agent.usage();
        assert_eq!(
            (usage.prompt_tokens, usage.completion_tokens),
            (input, output)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cost_limit_holds_under_concurrency() {
    let server = slow_server().await;
    let limit = Decimal::new(2, 3); // $0.002
    let agent = builder(&server, None)
        .usage_limits(UsageLimits::default().with_cost(limit))
        .build()
        .unwrap();
    let failures = run_concurrently(&agent, 16).await;
    let estimator = CostEstimator::new();
    let billed_cost: Decimal = server
        .billed()
        .iter()
        .map(|s| {
            let (input, output) = s.usage.unwrap();
            estimator.estimate(input, output, "gpt-4o").total_cost
        })
        .sum();
    assert!(billed_cost <= limit, "{billed_cost} > {limit}");
    assert!(!server.billed().is_empty());
    assert_eq!(agent.cost(), billed_cost);
    assert!(
        failures
            .iter()
            .all(|f| matches!(f, AgentError::LimitExceeded(s) if s.kind == LimitKind::Cost)),
        "{failures:?}"
    );
}

#[tokio::test]
async fn a_response_over_its_reservation_is_recorded_and_blocks_the_scope_until_reset() {
    // The server ignores max_tokens = 20 and answers with 500 output tokens.
    let body = completion_body("gpt-4o", "a long answer", prompt(), 500);
    let server = Scripted::start(vec![json_answer(200, body)]).await;
    let agent = builder(&server, Some(20))
        .usage_limits(UsageLimits::default().with_output_tokens(10_000))
        .build()
        .unwrap();
    agent.run(QUESTION).await.unwrap();
    assert_eq!(agent.usage().completion_tokens, 500, "recorded in full");
    let failed = agent.run(QUESTION).await.unwrap_err();
    let AgentError::Overdrawn { scope, overdrawn } = &failed.error else {
        panic!("{failed:?}");
    };
    assert_eq!(*scope, LimitScope::Agent);
    assert_eq!(
        (overdrawn.kind, overdrawn.reserved, overdrawn.actual),
        (
            LimitKind::OutputTokens,
            Decimal::from(20),
            Decimal::from(500)
        )
    );
    assert_eq!(server.served().len(), 1, "the blocked request was not sent");
    agent.reset_tracking();
    agent.run(QUESTION).await.unwrap();
    assert_eq!(server.served().len(), 2);
}

#[tokio::test]
async fn a_cost_limit_on_an_unpriced_model_refuses_instead_of_guessing() {
    let server = Scripted::completions(10, 1).await;
    let agent = Agent::builder("my-finetune")
        .settings(settings(&server, Some(100)))
        .usage_limits(UsageLimits::default().with_cost(Decimal::ONE))
        .build()
        .unwrap();
    let failed = agent.run(QUESTION).await.unwrap_err();
    assert_eq!(
        failed.error.to_string(),
        "model `my-finetune` has no price, so its requests cannot be kept under the cost limit"
    );
    assert!(server.served().is_empty());
}

#[tokio::test]
async fn run_limits_cover_a_whole_workflow_run() {
    let call = json!({
        "id": "c", "object": "chat.completion", "model": "gpt-4o",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": "I will look.",
            "tool_calls": [{ "id": "call_1", "type": "function",
                "function": { "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" } }] },
            "finish_reason": "tool_calls" }],
        "usage": { "prompt_tokens": 300, "completion_tokens": 20, "total_tokens": 320 },
    });
    let server = Scripted::start(vec![json_answer(200, call)]).await;
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let agent = builder(&server, Some(50))
        .tool(support::weather_tool(calls))
        .run_limits(UsageLimits::default().with_requests(2))
        .build()
        .unwrap();
    let workflow = ReActWorkflow::new(agent.clone());
    let result = workflow.run("Weather in Paris?").await;
    assert_eq!(result.termination, TerminationReason::Error);
    assert_eq!(
        server.served().len(),
        2,
        "two requests in the whole workflow run"
    );
    assert!(
        result
            .error
            .as_deref()
            .unwrap()
            .starts_with("run limit on requests reached"),
        "{:?}",
        result.error
    );
    // The next workflow run has its own run budget.
    let again = workflow.run("Weather in Paris?").await;
    assert_eq!(again.termination, TerminationReason::Error);
    assert_eq!(server.served().len(), 4);
}

/// Under a generous output limit, a request holds no more than the model can produce:
/// gpt-4o's price data give 16,384 output tokens, so each of three concurrent runs holds that,
/// and all three fit a limit of 50,000 (with the budget's u32::MAX cap they could not).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_holds_no_more_output_than_the_model_can_produce() {
    let server = slow_server().await;
    let agent = builder(&server, None)
        .usage_limits(UsageLimits::default().with_output_tokens(50_000))
        .build()
        .unwrap();
    let failures = run_concurrently(&agent, 3).await;
    assert!(failures.is_empty(), "{failures:?}");
    let limits: Vec<u64> = server
        .served()
        .iter()
        .map(|s| s.body["max_tokens"].as_u64().unwrap())
        .collect();
    assert!(limits.iter().all(|&max| max <= 16_384), "{limits:?}");
}
