//! The `serde` feature: a run's and a workflow's results as JSON, exact amounts as decimal
//! text, tool errors as their kind and message, from real runs against the loopback server.

mod support;

use std::sync::Arc;

use mamba_agent::workflows::ReActWorkflow;
use serde_json::{Value, json};
use support::*;

#[tokio::test]
async fn a_run_result_serializes_its_answer_usage_cost_and_every_tool_call() {
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
    then(
        &server,
        tool_call("gpt-4o", "get_weather", "{\"city\":", usage(10, 5)),
    )
    .await;
    then(&server, completion("gpt-4o", "Sorry.", Some(usage(20, 4)))).await;
    let agent = builder(&server, "gpt-4o")
        .tool(weather_tool(Arc::default()))
        .build()
        .unwrap();
    let result = agent.run("Weather in Atlantis?").await.unwrap();

    let value = serde_json::to_value(&result).unwrap();
    assert_eq!(value["output"], "Sorry.");
    assert_eq!(
        value["tool_calls"],
        json!([
            { "name": "get_weather", "arguments": "{\"city\":\"Atlantis\"}",
              "output": { "error": { "kind": "failed", "message": "no weather station in Atlantis" } } },
            { "name": "teleport", "arguments": "{}",
              "output": { "error": { "kind": "unknown_tool", "message": "there is no tool named `teleport`" } } },
            { "name": "get_weather", "arguments": "{\"city\":",
              "output": { "error": { "kind": "invalid_json",
                  "message": "arguments are not valid JSON: EOF while parsing a value at line 1 column 8" } } },
        ])
    );
    assert_eq!(
        value["usage"],
        json!({
            "prompt_tokens": 50, "completion_tokens": 19, "total_tokens": 69,
            "cached_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0,
            "request_count": 4, "estimated_request_count": 0,
        })
    );
    // gpt-4o: 50 x $2.50 + 19 x $10 per 1M = $0.000315, as exact decimal text.
    assert_eq!(value["cost"]["total_cost"], "0.0003150");
    let records = value["records"].as_array().unwrap();
    assert_eq!(records.len(), 4);
    assert_eq!(
        (
            &records[3]["model"],
            &records[3]["prompt_tokens"],
            &records[3]["completion_tokens"]
        ),
        (&json!("gpt-4o"), &json!(20), &json!(4))
    );
}

#[tokio::test]
async fn a_completion_serializes_its_tool_calls_record_and_cost() {
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
    let agent = agent(&server, "gpt-4o");
    let completion = agent
        .complete(&[mamba_agent::ChatMessage::user("Weather?")], &[])
        .await
        .unwrap();
    let value = serde_json::to_value(&completion).unwrap();
    assert_eq!(value["content"], "");
    assert_eq!(
        value["tool_calls"],
        json!([{ "id": "call_abc", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" }])
    );
    assert_eq!(value["record"]["total_tokens"], 100);
    // 80 x $2.50 + 20 x $10 per 1M.
    assert_eq!(value["cost"]["total_cost"], "0.0004000");
}

#[tokio::test]
async fn a_workflow_result_serializes_its_steps_in_snake_case() {
    let server = server().await;
    script_react_weather(&server).await;
    let agent = builder(&server, "gpt-4o")
        .tool(weather_tool(Arc::default()))
        .build()
        .unwrap();
    let result = ReActWorkflow::new(agent).run("Weather in Paris?").await;
    let value = serde_json::to_value(&result).unwrap();
    assert_eq!(
        (
            &value["success"],
            &value["output"],
            &value["termination"],
            &value["error"]
        ),
        (
            &json!(true),
            &json!("Sunny in Paris"),
            &json!("completed"),
            &Value::Null
        )
    );
    let steps: Vec<(&Value, &Value, &Value)> = value["state"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| (&step["kind"], &step["usage"]["total_tokens"], &step["cost"]))
        .collect();
    assert_eq!(
        steps,
        [
            (&json!("thought"), &json!(120), &json!("0.0004500")),
            (&json!("action"), &json!(0), &json!("0")),
            (&json!("observation"), &json!(0), &json!("0")),
            (&json!("thought"), &json!(160), &json!("0.0004750")),
            (&json!("final_answer"), &json!(0), &json!("0")),
        ]
    );
    assert_eq!(
        value["state"]["context"],
        json!({
            "scratchpad": ["Action: get_weather({\"city\":\"Paris\"})", "Observation: Sunny, 21C in Paris"],
            "final_answer": "Sunny in Paris",
        })
    );
    assert_eq!(value["cost"], "0.0009250");
    assert_eq!(value["hook_errors"], json!([]));
}
