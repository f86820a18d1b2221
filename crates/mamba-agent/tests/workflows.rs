//! ReActWorkflow against the loopback server: exact usage and cost per step and in total, the
//! hooks' call order, failing tools and hooks, max iterations, limits inside workflows.

mod support;

use std::sync::{Arc, Mutex};

use mamba_agent::Agent;
use mamba_agent::settings::UsageLimits;
use mamba_agent::workflows::{
    ReActConfig, ReActState, ReActWorkflow, StepKind, TerminationReason, Workflow, WorkflowHooks,
    WorkflowState, WorkflowStep,
};
use rust_decimal::Decimal;
use serde_json::json;
use support::*;
use wiremock::MockServer;

async fn weather_agent(server: &MockServer) -> Agent {
    builder(server, "gpt-4o")
        .tool(weather_tool(Arc::default()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_react_run_has_exact_usage_and_cost_per_step_and_in_total() {
    let server = server().await;
    // An unrelated earlier run of the same agent: not the workflow's.
    then(
        &server,
        completion("gpt-4o", "hi", Some(usage(1_000, 1_000))),
    )
    .await;
    script_react_weather(&server).await;
    let agent = weather_agent(&server).await;
    agent.run("hello").await.unwrap();

    let workflow = ReActWorkflow::new(agent.clone());
    let result = workflow.run("Weather in Paris?").await;
    assert!(result.success, "{result:?}");
    assert_eq!(result.output.as_deref(), Some("Sunny in Paris"));
    assert_eq!(result.termination, TerminationReason::Completed);

    let steps: Vec<(u32, StepKind, u64, Decimal)> = result
        .state
        .steps
        .iter()
        .map(|s| (s.number, s.kind.clone(), s.usage.total_tokens, s.cost))
        .collect();
    // gpt-4o: 100 x $2.50 + 20 x $10 = $0.00045; 150 x $2.50 + 10 x $10 = $0.000475 (per 1M).
    assert_eq!(
        steps,
        [
            (1, StepKind::Thought, 120, Decimal::new(45, 5)),
            (2, StepKind::Action, 0, Decimal::ZERO),
            (3, StepKind::Observation, 0, Decimal::ZERO),
            (4, StepKind::Thought, 160, Decimal::new(475, 6)),
            (5, StepKind::FinalAnswer, 0, Decimal::ZERO),
        ]
    );
    assert_eq!(
        result.state.steps[1].output.as_deref(),
        Some("Sunny, 21C in Paris")
    );
    assert_eq!(result.usage.total_tokens, 280);
    assert_eq!(result.usage.request_count, 2);
    assert_eq!(result.cost, Decimal::new(925, 6));
    assert_eq!(workflow.token_usage(), result.usage);
    assert_eq!(workflow.cost(), Decimal::new(925, 6));
    // The agent's own totals include the earlier run as well.
    assert_eq!(agent.usage().total_tokens, 2_280);
    assert_eq!(
        result.state.context.scratchpad,
        [
            "Action: get_weather({\"city\":\"Paris\"})",
            "Observation: Sunny, 21C in Paris",
        ]
    );
    assert_eq!(
        result.state.context.final_answer.as_deref(),
        Some("Sunny in Paris")
    );

    // The requests offered the agent's tools and final_answer; the second carried the result.
    let bodies = bodies(&server).await;
    let names: Vec<_> = bodies[1]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].clone())
        .collect();
    assert_eq!(names, [json!("get_weather"), json!("final_answer")]);
    assert_eq!(
        bodies[2]["messages"][2],
        json!({ "role": "tool", "content": "Sunny, 21C in Paris", "tool_call_id": "call_abc" })
    );
    // Through the trait too.
    assert_eq!(Workflow::cost(&workflow), workflow.cost());
}

#[tokio::test]
async fn hooks_are_called_in_order_and_see_the_running_usage() {
    let server = server().await;
    script_react_weather(&server).await;
    let calls = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = |calls: &Arc<Mutex<Vec<String>>>| Arc::clone(calls);
    let (c1, c2, c3, c4, c5, c6, c7, c8) = (
        log(&calls),
        log(&calls),
        log(&calls),
        log(&calls),
        log(&calls),
        log(&calls),
        log(&calls),
        log(&calls),
    );
    let hooks = WorkflowHooks::new()
        .on_workflow_start(move |_: &WorkflowState<ReActState>, _: &()| {
            c1.lock().unwrap().push("workflow_start".into())
        })
        .on_workflow_complete(move |s: &WorkflowState<ReActState>, _: &()| {
            c2.lock()
                .unwrap()
                .push(format!("workflow_complete {}", s.usage.total_tokens))
        })
        .on_workflow_error(move |_: &WorkflowState<ReActState>, e: &String| {
            c3.lock().unwrap().push(format!("workflow_error {e}"))
        })
        .on_step_start(move |_: &WorkflowState<ReActState>, step: &WorkflowStep| {
            c4.lock()
                .unwrap()
                .push(format!("step_start {} {}", step.number, step.kind))
        })
        // The seed's log_usage: the state carries the running usage.
        .on_step_complete(
            move |state: &WorkflowState<ReActState>, step: &WorkflowStep| {
                c5.lock().unwrap().push(format!(
                    "step_complete {} used {}",
                    step.number, state.usage.total_tokens
                ))
            },
        )
        .on_step_error(move |_: &WorkflowState<ReActState>, step: &WorkflowStep| {
            c6.lock()
                .unwrap()
                .push(format!("step_error {}", step.number))
        })
        .on_iteration_start(move |_: &WorkflowState<ReActState>, i: &u32| {
            c7.lock().unwrap().push(format!("iteration_start {i}"))
        })
        .on_iteration_complete_async(move |_: WorkflowState<ReActState>, i: u32| {
            let c8 = Arc::clone(&c8);
            async move { c8.lock().unwrap().push(format!("iteration_complete {i}")) }
        });
    let workflow = ReActWorkflow::new(weather_agent(&server).await).with_hooks(hooks);
    let result = workflow.run("Weather in Paris?").await;
    assert!(result.success);
    assert!(result.hook_errors.is_empty());
    assert_eq!(
        *calls.lock().unwrap(),
        [
            "workflow_start",
            "iteration_start 1",
            "step_start 1 thought",
            "step_complete 1 used 120",
            "step_start 2 action",
            "step_complete 2 used 120",
            "step_start 3 observation",
            "step_complete 3 used 120",
            "iteration_complete 1",
            "iteration_start 2",
            "step_start 4 thought",
            "step_complete 4 used 280",
            "step_start 5 final_answer",
            "step_complete 5 used 280",
            "iteration_complete 2",
            "workflow_complete 280",
        ]
    );
}

#[tokio::test]
async fn a_failing_tool_is_a_failed_step_and_the_run_goes_on() {
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
    then(
        &server,
        tool_call(
            "gpt-4o",
            "final_answer",
            r#"{"answer":"unknown"}"#,
            usage(10, 5),
        ),
    )
    .await;
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&errors);
    let hooks = WorkflowHooks::new().on_step_error(
        move |_: &WorkflowState<ReActState>, step: &WorkflowStep| {
            seen.lock().unwrap().push((step.number, step.error.clone()));
        },
    );
    let workflow = ReActWorkflow::new(weather_agent(&server).await).with_hooks(hooks);
    let result = workflow.run("Weather in Atlantis?").await;
    assert!(result.success);
    assert_eq!(
        *errors.lock().unwrap(),
        [(2, Some("no weather station in Atlantis".to_owned()))]
    );
    assert_eq!(
        result.state.steps[2].output.as_deref(),
        Some("Error: no weather station in Atlantis")
    );
}

#[tokio::test]
async fn failing_and_panicking_hooks_do_not_end_the_run_or_change_its_usage() {
    let server = server().await;
    script_react_weather(&server).await;
    let hooks = WorkflowHooks::new()
        .on_step_complete(|_: &WorkflowState<ReActState>, step: &WorkflowStep| {
            if step.number == 1 {
                panic!("hook bug");
            }
        })
        .on_iteration_start(
            |_: &WorkflowState<ReActState>, i: &u32| {
                if *i == 2 { Err("refused") } else { Ok(()) }
            },
        );
    let workflow = ReActWorkflow::new(weather_agent(&server).await).with_hooks(hooks);
    let result = workflow.run("Weather in Paris?").await;
    assert!(result.success);
    assert_eq!(result.usage.total_tokens, 280);
    assert_eq!(result.state.steps.len(), 5);
    let failures: Vec<String> = result.hook_errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        failures,
        [
            "on_step_complete hook failed: panicked: hook bug",
            "on_iteration_start hook failed: refused",
        ]
    );
}

#[tokio::test]
async fn max_iterations_ends_with_an_error_result_that_keeps_the_usage() {
    let server = server().await;
    for _ in 0..2 {
        then(
            &server,
            tool_call(
                "gpt-4o",
                "get_weather",
                r#"{"city":"Paris"}"#,
                usage(100, 20),
            ),
        )
        .await;
    }
    let workflow = ReActWorkflow::new(weather_agent(&server).await)
        .with_config(ReActConfig::default().with_max_iterations(2));
    let result = workflow.run("Loop forever").await;
    assert!(!result.success);
    assert_eq!(result.termination, TerminationReason::MaxIterations);
    assert_eq!(
        result.error.as_deref(),
        Some("no answer after 2 iterations (max_iterations)")
    );
    assert_eq!(result.usage.total_tokens, 240);
    assert_eq!(result.cost, Decimal::new(9, 4));
    assert_eq!(workflow.cost(), Decimal::new(9, 4));
}

#[tokio::test]
async fn the_agents_limits_apply_inside_workflows() {
    let server = server().await;
    script_react_weather(&server).await;
    let agent = builder(&server, "gpt-4o")
        .tool(weather_tool(Arc::default()))
        .usage_limits(UsageLimits::default().with_requests(1))
        .build()
        .unwrap();
    let result = ReActWorkflow::new(agent).run("Weather in Paris?").await;
    assert!(!result.success);
    assert_eq!(result.termination, TerminationReason::Error);
    assert!(
        result
            .error
            .as_deref()
            .unwrap()
            .starts_with("agent limit on requests reached"),
        "{result:?}"
    );
    assert_eq!(result.usage.request_count, 1);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    let last = result.state.steps.last().unwrap();
    assert_eq!(
        (last.kind.clone(), last.error.is_some()),
        (StepKind::Thought, true)
    );
}

#[tokio::test]
async fn a_workflows_labels_go_over_the_agents_on_every_record_it_makes() {
    let server = server().await;
    script_react_weather(&server).await;
    let agent = builder(&server, "gpt-4o")
        .tool(weather_tool(Arc::default()))
        .labels(
            mamba_agent::Labels::new()
                .user("service")
                .tag("team", "search")
                .unwrap(),
        )
        .build()
        .unwrap();
    let labels = mamba_agent::Labels::new()
        .user("alice")
        .tag("workflow", "react")
        .unwrap();
    let result = ReActWorkflow::new(agent.clone())
        .with_labels(labels)
        .run("Weather in Paris?")
        .await;
    assert_eq!(result.output.as_deref(), Some("Sunny in Paris"));
    let history = agent.usage_history();
    assert_eq!(history.len(), 2);
    for record in &history {
        assert_eq!(
            record.labels().to_string(),
            "team=search;user=alice;workflow=react"
        );
    }
    assert_eq!(
        agent.tracker().by_label("workflow")[&Some("react".into())].prompt_tokens,
        250
    );
}
