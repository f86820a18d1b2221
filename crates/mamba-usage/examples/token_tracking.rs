//! The README's main-job demo: a short scripted agent session, tracked request by request.
//!
//! With nothing configured and no model server, each "request" is a canned exchange whose
//! tokens are counted with mamba-tokens (and so recorded as estimated, as the agent does when a
//! provider reports no usage). The tracker then shows what the seed's Token Tracking page shows:
//! totals, per-request history, per-model and per-tool breakdowns, and a CSV export.
//!
//! ```text
//! cargo run --example token_tracking
//! ```

use std::time::Duration;

use mamba_tokens::{ChatMessage, TokenCounter};
use mamba_usage::{UsageRecord, UsageTracker};

/// (model, user prompt, tool the model called, reply)
const SESSION: &[(&str, &str, Option<&str>, &str)] = &[
    ("gpt-4o", "Hello!", None, "Hi! How can I help you today?"),
    (
        "gpt-4o",
        "Tell me about Python",
        Some("search"),
        "Python is a high-level, general-purpose programming language.",
    ),
    (
        "gpt-4o-mini",
        "What are decorators?",
        None,
        "Decorators wrap a function to extend its behaviour without changing its code.",
    ),
    (
        "claude-3-5-sonnet",
        "Summarise that in five words.",
        None,
        "Functions wrapping functions, adding behaviour.",
    ),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tracker = UsageTracker::new();
    let mut conversation = vec![ChatMessage::system("You are a helpful assistant.")];
    for (turn, &(model, prompt, tool, reply)) in SESSION.iter().enumerate() {
        conversation.push(ChatMessage::user(prompt));
        let counter = TokenCounter::for_model(model);
        let mut record = UsageRecord::builder(model)
            .prompt_tokens(counter.count_messages(&conversation))
            .completion_tokens(counter.count(reply))
            .estimated(true)
            .request_id(&format!("demo-{turn}"))
            .latency(Duration::from_millis(180 + 40 * turn as u64));
        if let Some(tool) = tool {
            record = record.tool_name(tool);
        }
        tracker.record(&record.build()?);
        conversation.push(ChatMessage::assistant(reply));
    }

    let summary = tracker.summary();
    let usage = summary.totals;
    println!("Total tokens: {}", usage.total_tokens);
    println!("Prompt tokens: {}", usage.prompt_tokens);
    println!("Completion tokens: {}", usage.completion_tokens);
    println!(
        "Requests: {} ({} estimated)\n",
        usage.request_count, usage.estimated_request_count
    );

    for record in &tracker.history() {
        println!(
            "Time: {}",
            humantime::format_rfc3339_millis(record.timestamp())
        );
        println!("Prompt tokens: {}", record.prompt_tokens());
        println!("Completion tokens: {}", record.completion_tokens());
        println!("Total: {}", record.total_tokens());
        println!("Model: {}", record.model());
        if let Some(tool) = record.tool_name() {
            println!("Tool: {tool}");
        }
        println!("---");
    }

    println!("\nBy model:");
    for (model, usage) in tracker.by_model() {
        println!(
            "  {model:<20} {:>4} tokens in {} request(s)",
            usage.total_tokens, usage.request_count
        );
    }
    println!("By tool:");
    for (tool, usage) in tracker.by_tool() {
        println!(
            "  {:<20} {:>4} tokens",
            tool.as_deref().unwrap_or("(no tool)"),
            usage.total_tokens
        );
    }

    println!("\nCSV export:");
    tracker.history().write_csv(std::io::stdout().lock())?;
    Ok(())
}
