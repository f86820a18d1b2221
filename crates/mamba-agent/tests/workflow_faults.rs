//! Workflows when things go wrong, against the scripted loopback server: hooks that panic
//! however they panic, a timeout that bounds tools and requests alike (the request in flight
//! recorded as cut off), and the full hook order on error paths.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mamba_agent::settings::AgentSettings;
use mamba_agent::workflows::{
    ReActState, ReActWorkflow, StepKind, TerminationReason, WorkflowConfig, WorkflowHooks,
    WorkflowState, WorkflowStep,
};
use mamba_agent::{Agent, AgentBuilder, Tool};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use support::scripted::*;

fn builder(server: &Scripted) -> AgentBuilder {
    let settings = AgentSettings::builder()
        .defaults_only()
        .base_url(&server.url)
        .local(false)
        .timeout(Duration::from_secs(10))
        .max_retries(0)
        .build()
        .unwrap();
    Agent::builder("gpt-4o").settings(settings)
}

fn tool_call(name: &str, arguments: &str) -> Action {
    json_answer(
        200,
        json!({
            "id": "c", "object": "chat.completion", "model": "gpt-4o",
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": "Let me check.",
                "tool_calls": [{ "id": "call_1", "type": "function",
                    "function": { "name": name, "arguments": arguments } }] },
                "finish_reason": "tool_calls" }],
            "usage": { "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120 },
        }),
    )
}

#[derive(Deserialize, JsonSchema)]
struct Nothing {}

/// A tool that takes 1.5 s and says whether it ever finished.
fn slow_tool(finished: Arc<AtomicBool>) -> Tool {
    Tool::new("slow", "Takes its time", move |_: Nothing| {
        let finished = Arc::clone(&finished);
        async move {
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            finished.store(true, Ordering::SeqCst);
            Ok::<_, String>("done".to_owned())
        }
    })
    .unwrap()
}

#[tokio::test]
async fn an_async_hook_that_panics_before_returning_its_future_is_collected() {
    let server = Scripted::start(vec![tool_call("final_answer", r#"{"answer":"42"}"#)]).await;
    let hooks = WorkflowHooks::new()
        .on_step_start_async(|_: WorkflowState<ReActState>, step: WorkflowStep| {
            if step.number == 1 {
                panic!("broken before the future");
            }
            async {}
        })
        .on_workflow_complete_async(|state: WorkflowState<ReActState>, _: ()| async move {
            if state.iteration > 0 {
                panic!("broken inside the future");
            }
        });
    let workflow = ReActWorkflow::new(builder(&server).build().unwrap()).with_hooks(hooks);
    let result = workflow.run("The answer?").await;
    assert!(result.success, "{:?}", result.error);
    assert_eq!(result.output.as_deref(), Some("42"));
    let failures: Vec<String> = result.hook_errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        failures,
        [
            "on_step_start hook failed: panicked: broken before the future",
            "on_workflow_complete hook failed: panicked: broken inside the future",
        ]
    );
}

#[tokio::test]
async fn the_timeout_bounds_a_slow_tool() {
    let server = Scripted::start(vec![tool_call("slow", "{}")]).await;
    let finished = Arc::new(AtomicBool::new(false));
    let agent = builder(&server)
        .tool(slow_tool(Arc::clone(&finished)))
        .build()
        .unwrap();
    let config = WorkflowConfig::default().with_timeout(Duration::from_millis(400));
    let workflow = ReActWorkflow::new(agent).with_workflow_config(config);
    let result = workflow.run("Do the slow thing").await;
    assert_eq!(result.termination, TerminationReason::Timeout);
    assert!(!finished.load(Ordering::SeqCst), "the tool was stopped");
    let action = &result.state.steps[1];
    assert_eq!(action.kind, StepKind::Action);
    assert_eq!(
        action.error.as_deref(),
        Some("the workflow timed out after 400ms")
    );
    assert_eq!(
        result.usage.total_tokens, 120,
        "the thought before it counts"
    );
}

#[tokio::test]
async fn the_timeout_records_the_request_in_flight_as_cut_off() {
    let server = Scripted::start(vec![Action::Stall]).await;
    let agent = builder(&server).build().unwrap();
    let config = WorkflowConfig::default().with_timeout(Duration::from_millis(300));
    let workflow = ReActWorkflow::new(agent.clone()).with_workflow_config(config);
    let result = workflow.run("Think").await;
    assert_eq!(result.termination, TerminationReason::Timeout);
    assert_eq!(result.usage.request_count, 1, "the run's books have it");
    assert_eq!(
        result.state.steps[0].usage.request_count, 1,
        "so does its step"
    );
    let record = agent.usage_history().last().unwrap();
    assert!(record.is_cut_off() && record.is_estimated());
    assert_eq!(server.billed().len(), 1);
    assert_eq!(workflow.token_usage().request_count, 1);
}

#[tokio::test]
async fn every_started_iteration_is_completed_on_error_paths_too() {
    let server = Scripted::start(vec![
        tool_call("get_weather", r#"{"city":"Paris"}"#),
        json_answer(
            400,
            json!({"error": {"code": 400, "message": "context too long"}}),
        ),
    ])
    .await;
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let push = |events: &Arc<Mutex<Vec<String>>>| {
        let events = Arc::clone(events);
        move |text: String| events.lock().unwrap().push(text)
    };
    let (e1, e2, e3, e4, e5, e6, e7) = (
        push(&events),
        push(&events),
        push(&events),
        push(&events),
        push(&events),
        push(&events),
        push(&events),
    );
    let hooks = WorkflowHooks::new()
        .on_workflow_start(move |_: &WorkflowState<ReActState>, _: &()| e1("workflow_start".into()))
        .on_workflow_error(move |_: &WorkflowState<ReActState>, e: &String| {
            e2(format!("workflow_error {e}"))
        })
        .on_step_start(move |_: &WorkflowState<ReActState>, s: &WorkflowStep| {
            e3(format!("step_start {} {}", s.number, s.kind))
        })
        .on_step_complete(move |_: &WorkflowState<ReActState>, s: &WorkflowStep| {
            e4(format!("step_complete {}", s.number))
        })
        .on_step_error(move |_: &WorkflowState<ReActState>, s: &WorkflowStep| {
            e5(format!("step_error {}", s.number))
        })
        .on_iteration_start(move |_: &WorkflowState<ReActState>, i: &u32| {
            e6(format!("iteration_start {i}"))
        })
        .on_iteration_complete(move |_: &WorkflowState<ReActState>, i: &u32| {
            e7(format!("iteration_complete {i}"))
        });
    let agent = builder(&server)
        .tool(support::weather_tool(Arc::default()))
        .build()
        .unwrap();
    let result = ReActWorkflow::new(agent)
        .with_hooks(hooks)
        .run("Weather?")
        .await;
    assert_eq!(result.termination, TerminationReason::Error);
    let message = "the model endpoint answered 400: context too long";
    assert_eq!(result.error.as_deref(), Some(message));
    assert_eq!(
        *events.lock().unwrap(),
        [
            "workflow_start".to_owned(),
            "iteration_start 1".to_owned(),
            "step_start 1 thought".to_owned(),
            "step_complete 1".to_owned(),
            "step_start 2 action".to_owned(),
            "step_complete 2".to_owned(),
            "step_start 3 observation".to_owned(),
            "step_complete 3".to_owned(),
            "iteration_complete 1".to_owned(),
            "iteration_start 2".to_owned(),
            "step_start 4 thought".to_owned(),
            "step_error 4".to_owned(),
            "iteration_complete 2".to_owned(),
            format!("workflow_error {message}"),
        ]
    );
    let last: &Value = &server.served()[1].body;
    // The task, the tool call and its result went into the request that failed.
    assert_eq!(last["messages"].as_array().map(Vec::len), Some(3));
}
