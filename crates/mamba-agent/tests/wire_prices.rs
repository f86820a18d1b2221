//! What a response says about its billing reaches the record and its price: the service tier
//! (`service_tier`), OpenAI's `cache_write_tokens` and Anthropic's cache writes by lifetime,
//! on plain and streamed responses from the scripted loopback server.

mod support;

use std::time::Duration;

use futures::StreamExt;
use mamba_agent::settings::AgentSettings;
use mamba_agent::{Agent, ServiceTier};
use rust_decimal::Decimal;
use serde_json::json;
use support::scripted::*;

fn agent(server: &Scripted, model: &str) -> Agent {
    let settings = AgentSettings::builder()
        .defaults_only()
        .base_url(&server.url)
        .local(false)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    Agent::builder(model).settings(settings).build().unwrap()
}

fn answer(model: &str, usage: serde_json::Value, service_tier: Option<&str>) -> Action {
    let mut body = completion_body(model, "ok", 0, 0);
    body["usage"] = usage;
    if let Some(tier) = service_tier {
        body["service_tier"] = json!(tier);
    }
    json_answer(200, body)
}

#[tokio::test]
async fn a_flex_response_is_recorded_as_flex_and_priced_at_flex_prices() {
    let usage = json!({"prompt_tokens": 1_000_000, "completion_tokens": 100_000,
        "total_tokens": 1_100_000, "prompt_tokens_details": {"cached_tokens": 0}});
    let server = Scripted::start(vec![answer("gpt-5", usage, Some("flex"))]).await;
    let agent = agent(&server, "gpt-5");
    agent.run("hi").await.unwrap();
    let record = agent.usage_history().last().unwrap();
    assert_eq!(record.service_tier(), Some(ServiceTier::Flex));
    // 1M x $0.625 + 100k x $5 per 1M (standard would be $1.25 + $1.00).
    assert_eq!(agent.cost(), Decimal::new(1_125, 3));
}

#[tokio::test]
async fn an_unknown_service_tier_is_priced_at_standard_prices() {
    let usage =
        json!({"prompt_tokens": 1_000_000, "completion_tokens": 0, "total_tokens": 1_000_000});
    let server = Scripted::start(vec![answer("gpt-5", usage, Some("scale"))]).await;
    let agent = agent(&server, "gpt-5");
    agent.run("hi").await.unwrap();
    assert_eq!(agent.usage_history().last().unwrap().service_tier(), None);
    assert_eq!(agent.cost(), Decimal::new(125, 2));
}

#[tokio::test]
async fn cache_writes_by_lifetime_reach_the_record_and_its_price() {
    // LiteLLM in front of Anthropic: prompt_tokens includes the cache, Anthropic's fields beside.
    let usage = json!({"prompt_tokens": 1_000_000, "completion_tokens": 0, "total_tokens": 1_000_000,
        "cache_creation_input_tokens": 1_000_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 500_000, "ephemeral_1h_input_tokens": 500_000}});
    let openai_style = json!({"prompt_tokens": 1_000, "completion_tokens": 0, "total_tokens": 1_000,
        "prompt_tokens_details": {"cached_tokens": 200, "cache_write_tokens": 300}});
    let server = Scripted::start(vec![
        answer("claude-sonnet-4-6", usage, None),
        answer("claude-sonnet-4-6", openai_style, None),
    ])
    .await;
    let agent = agent(&server, "claude-sonnet-4-6");
    agent.run("one").await.unwrap();
    let record = agent.usage_history().last().unwrap();
    assert_eq!(
        (record.cache_write_tokens(), record.cache_write_1h_tokens()),
        (1_000_000, 500_000)
    );
    // 500k x $3.75 + 500k x $6.00 per 1M.
    assert_eq!(agent.cost(), Decimal::new(4_875, 3));
    agent.run("two").await.unwrap();
    let record = agent.usage_history().last().unwrap();
    assert_eq!(
        (
            record.cached_tokens(),
            record.cache_write_tokens(),
            record.cache_write_1h_tokens()
        ),
        (200, 300, 0)
    );
}

#[tokio::test]
async fn a_streamed_response_carries_its_service_tier() {
    let mut usage = usage_chunk(1_000_000, 0);
    usage["service_tier"] = json!("priority");
    let server = Scripted::start(vec![Action::Sse {
        events: vec![text_chunk("ok"), finish_chunk(), usage],
        end: SseEnd::Done,
    }])
    .await;
    let agent = agent(&server, "gpt-5");
    let events: Vec<_> = agent.run_stream("hi").collect().await;
    assert!(events.iter().all(Result::is_ok), "{events:?}");
    let record = agent.usage_history().last().unwrap();
    assert_eq!(record.service_tier(), Some(ServiceTier::Priority));
    // The chunks name gpt-4o, so the record does: 1M x gpt-4o's priority $4.25.
    assert_eq!(record.model(), "gpt-4o");
    assert_eq!(agent.cost(), Decimal::new(425, 2));
}

#[tokio::test]
async fn an_unreadable_usage_is_estimated_not_lost() {
    let usage = json!({"prompt_tokens": "many", "completion_tokens": 3, "total_tokens": 9});
    let server = Scripted::start(vec![answer("gpt-4o", usage, None)]).await;
    let agent = agent(&server, "gpt-4o");
    agent.run("hi").await.unwrap();
    let record = agent.usage_history().last().unwrap();
    assert!(record.is_estimated());
    assert!(record.prompt_tokens() > 0);
    assert_eq!(agent.usage().request_count, 1);
}
