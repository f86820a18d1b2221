//! Whose requests an agent's books cover (`cost_for` and `reset_tracking` with shared and
//! bounded trackers) and what local backends cost, against the scripted loopback server.

mod support;

use std::time::Duration;

use mamba_agent::pricing::PriceSource;
use mamba_agent::settings::{AgentSettings, SettingsBuilder};
use mamba_agent::{Agent, UsageTracker};
use rust_decimal::Decimal;
use support::scripted::*;

/// Settings on the scripted (loopback) server, with `local` as given (unset: inferred).
fn on(server: &Scripted) -> SettingsBuilder {
    AgentSettings::builder()
        .defaults_only()
        .base_url(&server.url)
        .timeout(Duration::from_secs(5))
}

/// 1000 in, 100 out: $0.0035 on gpt-4o, $0.00021 on gpt-4o-mini.
async fn server() -> Scripted {
    Scripted::completions(1_000, 100).await
}

const GPT_4O: Decimal = Decimal::from_parts(35, 0, 0, false, 4);
const GPT_4O_MINI: Decimal = Decimal::from_parts(21, 0, 0, false, 5);

#[tokio::test]
async fn cost_for_covers_exactly_this_agents_requests_with_a_shared_tracker() {
    let server = server().await;
    let shared = UsageTracker::new();
    let settings = on(&server).local(false).build().unwrap();
    let big = Agent::builder("gpt-4o")
        .settings(settings.clone())
        .tracker(shared.clone())
        .build()
        .unwrap();
    let small = Agent::builder("gpt-4o-mini")
        .settings(settings)
        .tracker(shared.clone())
        .build()
        .unwrap();
    big.run("one").await.unwrap();
    small.run("two").await.unwrap();
    small.run("three").await.unwrap();
    assert_eq!(shared.history().len(), 3);
    assert_eq!(small.cost(), GPT_4O_MINI * Decimal::TWO);
    assert_eq!(small.cost_for("gpt-4o").total_cost, GPT_4O * Decimal::TWO);
    assert_eq!(big.cost_for("gpt-4o").total_cost, big.cost());
    assert_eq!(big.cost_for("gpt-4o-mini").total_cost, GPT_4O_MINI);
}

#[tokio::test]
async fn cost_for_covers_requests_a_bounded_history_dropped() {
    let server = server().await;
    let settings = on(&server)
        .local(false)
        .max_history_records(2)
        .build()
        .unwrap();
    let agent = Agent::builder("gpt-4o").settings(settings).build().unwrap();
    for _ in 0..4 {
        agent.run("hi").await.unwrap();
    }
    assert_eq!(agent.usage_history().len(), 2);
    assert_eq!(agent.usage().request_count, 4);
    assert_eq!(
        agent.cost_for("gpt-4o").total_cost,
        GPT_4O * Decimal::from(4)
    );
    assert_eq!(
        agent.cost_for("gpt-4o-mini").total_cost,
        GPT_4O_MINI * Decimal::from(4)
    );
}

#[tokio::test]
async fn reset_tracking_resets_the_agent_and_clears_only_a_tracker_of_its_own() {
    let server = server().await;
    let shared = UsageTracker::new();
    let settings = on(&server).local(false).build().unwrap();
    let first = Agent::builder("gpt-4o")
        .settings(settings.clone())
        .tracker(shared.clone())
        .build()
        .unwrap();
    let second = Agent::builder("gpt-4o")
        .settings(settings.clone())
        .tracker(shared.clone())
        .build()
        .unwrap();
    first.run("a").await.unwrap();
    second.run("b").await.unwrap();
    first.reset_tracking();
    assert_eq!(first.usage().request_count, 0);
    assert!(first.cost().is_zero());
    assert_eq!(
        second.usage().request_count,
        1,
        "the other agent's books are untouched"
    );
    assert_eq!(
        shared.summary().totals.request_count,
        2,
        "a shared tracker keeps every record"
    );
    assert_eq!(shared.history().len(), 2);

    let alone = Agent::builder("gpt-4o").settings(settings).build().unwrap();
    alone.run("c").await.unwrap();
    alone.reset_tracking();
    assert!(
        alone.usage_history().is_empty(),
        "its own tracker is cleared"
    );
}

#[tokio::test]
async fn a_loopback_backend_prices_known_models_and_frees_unknown_ones() {
    // The scripted server echoes the requested model, as LiteLLM proxies and vLLM do.
    let server = server().await;
    let proxied = Agent::builder("gpt-4o")
        .settings(on(&server).build().unwrap())
        .build()
        .unwrap();
    proxied.run("hi").await.unwrap();
    proxied.run("hi").await.unwrap();
    assert_eq!(
        proxied.cost(),
        GPT_4O * Decimal::TWO,
        "a real gpt-4o behind localhost"
    );
    assert_eq!(proxied.cost_breakdown().source, PriceSource::BuiltIn);

    let local = Agent::builder("smollm2")
        .settings(on(&server).build().unwrap())
        .build()
        .unwrap();
    local.run("hi").await.unwrap();
    let breakdown = local.cost_breakdown();
    assert!(breakdown.total_cost.is_zero() && breakdown.is_fully_priced());
    assert_eq!(breakdown.source, PriceSource::Local);
}

#[tokio::test]
async fn a_backend_declared_local_costs_nothing_unless_priced() {
    let server = server().await;
    let agent = Agent::builder("gpt-4o")
        .settings(on(&server).local(true).build().unwrap())
        .build()
        .unwrap();
    agent.run("hi").await.unwrap();
    assert!(agent.cost().is_zero());
    assert_eq!(agent.cost_breakdown().source, PriceSource::Local);
    assert_eq!(agent.cost_for("gpt-4o").total_cost, Decimal::ZERO);

    let mut prices = mamba_agent::pricing::CostEstimator::new();
    prices.set_rate("gpt-4o", Decimal::new(1, 3)).unwrap(); // $0.001 per 1K, blended
    let priced = Agent::builder("gpt-4o")
        .settings(on(&server).local(true).build().unwrap())
        .prices(prices)
        .build()
        .unwrap();
    priced.run("hi").await.unwrap();
    assert_eq!(
        priced.cost(),
        Decimal::new(11, 4),
        "1100 tokens at the user's rate"
    );
}
