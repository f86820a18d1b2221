//! The "Token Tracking" page of mamba-agents, end to end, against a real model.
//!
//! `cargo xtask demo` starts a local llama.cpp server and runs this with `DEMO_LOCAL_LLM_URL`
//! set; with an endpoint or API key configured (config.toml, .env, `MAMBA_*` or `OPENAI_*`
//! variables) it runs against that instead. By hand:
//!
//! ```sh
//! MAMBA_MODEL_BACKEND__BASE_URL=http://127.0.0.1:8080/v1 cargo run -p mamba-agent --example agent_demo
//! OPENAI_API_KEY=sk-... cargo run -p mamba-agent --example agent_demo
//! ```
//!
//! With `DEMO_LEDGER` set (xtask sets it to `.cache/demo/usage.db`), every request is also
//! committed to that SQLite ledger, and the demo ends by reading the books back: they hold
//! every earlier run of the demo too.

use anyhow::{Context, Result};
use mamba_agent::ledger::{Ledger, TimeRange};
use mamba_agent::pricing::{CostBreakdown, CostEstimator, format_usd};
use mamba_agent::settings::AgentSettings;
use mamba_agent::tokens::TokenCounter;
use mamba_agent::{Agent, Labels, UsageTracker};

/// Whether nothing is configured, so the demo needs the local server.
fn needs_local_server(settings: &AgentSettings) -> bool {
    settings.model_backend.base_url.is_none() && settings.model_backend.api_key.is_none()
}

fn settings() -> Result<AgentSettings> {
    let settings = AgentSettings::load().context("loading settings")?;
    if !needs_local_server(&settings) {
        return Ok(settings);
    }
    let url = std::env::var("DEMO_LOCAL_LLM_URL").context(
        "no endpoint or API key is configured: run `cargo xtask demo` (it starts a local model), \
         or set MAMBA_MODEL_BACKEND__BASE_URL / OPENAI_API_KEY",
    )?;
    Ok(AgentSettings::builder()
        .base_url(url)
        .model("smollm2")
        .temperature(0.0)
        .max_tokens(64)
        .build()?)
}

fn print_breakdown(title: &str, cost: &CostBreakdown) {
    println!("{title}");
    println!("  Prompt cost:     {}", format_usd(cost.prompt_cost));
    println!("  Completion cost: {}", format_usd(cost.completion_cost));
    println!("  Total cost:      {}", format_usd(cost.total_cost));
    println!("  Priced as:       {} ({:?})", cost.model, cost.source);
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    if std::env::args().any(|arg| arg == "--needs-local-server") {
        let needs = needs_local_server(&AgentSettings::load()?);
        println!("{}", if needs { "yes" } else { "no" });
        return Ok(());
    }
    // Usage logging: every request logs `Request completed: N tokens, $X` at INFO.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_target(false)
        .init();

    let settings = settings()?;
    let backend = settings
        .model_backend
        .base_url
        .clone()
        .unwrap_or_else(|| "https://api.openai.com/v1".to_owned());
    let model = settings.model_backend.model.clone();
    println!("== Built-in tracking: {model} at {backend}\n");
    // Each run of the demo is one session in the ledger's books.
    let session = format!(
        "demo-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
    );
    let mut builder = Agent::builder(&model)
        .settings(settings)
        .system_prompt("You are a helpful assistant. Answer in two sentences.")
        .labels(Labels::new().session(&session));
    let ledger_path = std::env::var_os("DEMO_LEDGER").map(std::path::PathBuf::from);
    if let Some(path) = &ledger_path {
        builder = builder.ledger(Ledger::open_sqlite(path)?);
    }
    let agent = builder.build()?;

    for query in ["Hello!", "Tell me about Python", "What are decorators?"] {
        let result = agent.run(query).await?;
        println!("> {query}\n{}\n", result.output.trim());
    }

    println!("== Aggregate usage");
    let usage = agent.usage();
    println!("Total tokens:      {}", usage.total_tokens);
    println!(
        "Prompt tokens:     {} ({} cached)",
        usage.prompt_tokens, usage.cached_tokens
    );
    println!("Completion tokens: {}", usage.completion_tokens);
    println!("Requests:          {}\n", usage.request_count);

    println!("== Cost estimation");
    println!("Estimated cost: {}", format_usd(agent.cost()));
    print_breakdown("Breakdown:", &agent.cost_breakdown());
    print_breakdown("The same usage on gpt-4o:", &agent.cost_for("gpt-4o"));
    println!();

    println!("== Usage history");
    for record in agent.usage_history().iter() {
        println!(
            "Time: {}  Model: {}  Prompt: {}  Completion: {}  Total: {}{}{}",
            humantime::format_rfc3339_seconds(record.timestamp()),
            record.model(),
            record.prompt_tokens(),
            record.completion_tokens(),
            record.total_tokens(),
            record
                .tool_name()
                .map(|t| format!("  Tool: {t}"))
                .unwrap_or_default(),
            if record.is_estimated() {
                "  (estimated)"
            } else {
                ""
            },
        );
    }
    println!();

    println!("== Token counting");
    println!(
        "\"Hello, world!\" is {} tokens",
        agent.token_count("Hello, world!")
    );
    println!(
        "The conversation so far is {} tokens\n",
        agent.context_token_count()
    );

    println!("== Reset");
    agent.reset_tracking();
    println!(
        "After reset_tracking: {} requests, {} messages kept",
        agent.usage().request_count,
        agent.conversation().len()
    );
    agent.reset_all();
    println!("After reset_all: {} messages\n", agent.conversation().len());

    println!("== Standalone components");
    let counter = TokenCounter::new("cl100k_base")?;
    println!(
        "TokenCounter(cl100k_base): \"Hello, world!\" = {} tokens",
        counter.count("Hello, world!")
    );
    let tracker = UsageTracker::new();
    tracker.record_usage(100, 50, "gpt-4o");
    println!(
        "UsageTracker: {} tokens recorded",
        tracker.summary().totals.total_tokens
    );
    let cost = CostEstimator::new().estimate(1_000, 500, "gpt-4o");
    println!(
        "CostEstimator: 1000 in + 500 out on gpt-4o = {}",
        format_usd(cost.total_cost)
    );

    if let Some(path) = &ledger_path {
        drop(agent);
        // A fresh handle on the file: what survives the process.
        let books = Ledger::open_sqlite(path)?;
        println!("\n== Durable ledger: sqlite://{}", path.display());
        let sessions = books.by_label("session", TimeRange::ALL)?;
        let this_run = sessions
            .get(&Some(session.clone()))
            .copied()
            .unwrap_or_default();
        let all = books.totals(TimeRange::ALL)?;
        println!(
            "This run: {} requests, {} tokens, {}",
            this_run.usage.request_count,
            this_run.usage.total_tokens,
            format_usd(this_run.cost)
        );
        println!(
            "All {} runs in the books: {} requests, {} tokens, {}",
            sessions.len(),
            all.usage.request_count,
            all.usage.total_tokens,
            format_usd(all.cost)
        );
        for (model, totals) in books.by_model(TimeRange::ALL)? {
            println!("  {model}: {} requests", totals.usage.request_count);
        }
    }
    Ok(())
}
