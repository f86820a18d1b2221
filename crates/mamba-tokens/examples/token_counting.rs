//! The README's main-job demo: counts a text for several models, with the chat and tool overhead
//! of a small request, and says which counts are exact.
//!
//! Runs on an embedded default text with nothing configured:
//!
//! ```text
//! cargo run --example token_counting            # the embedded default
//! cargo run --example token_counting -- FILE    # your own text
//! ```

use mamba_tokens::{ChatMessage, TokenCounter, ToolDefinition};
use serde_json::json;

const DEFAULT_TEXT: &str = "Mamba Agents automatically tracks token usage and estimates costs \
across all agent runs. Every time you run an agent, token usage is recorded: prompt tokens, \
completion tokens, the total, and the number of requests. 東京の天気は？ 🚀";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let text = match std::env::args().nth(1) {
        Some(path) => {
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?
        }
        None => DEFAULT_TEXT.to_owned(),
    };
    let messages = [
        ChatMessage::system("You are a helpful assistant."),
        ChatMessage::user(text.as_str()),
    ];
    let tools = [ToolDefinition::new(
        "get_weather",
        "Get the current weather for a city.",
        json!({"type": "object", "properties": {"city": {"type": "string", "description": "City name"}}}),
    )];

    println!(
        "{} characters, {} bytes\n",
        text.chars().count(),
        text.len()
    );
    println!(
        "{:<22} {:<14} {:>7} {:>9} {:>7}  accuracy",
        "model", "encoding", "text", "messages", "+tools"
    );
    for model in [
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-5",
        "gpt-4",
        "gpt-3.5-turbo",
        "claude-3-5-sonnet",
    ] {
        let counter = TokenCounter::for_model(model);
        let text_tokens = counter.count(&text);
        let prompt = counter.count_messages(&messages);
        let with_tools = prompt + counter.count_tools(&tools);
        println!(
            "{model:<22} {:<14} {text_tokens:>7} {prompt:>9} {with_tools:>7}  {:?}",
            counter.encoding().name(),
            counter.accuracy()
        );
    }
    let counter = TokenCounter::for_model("gpt-4o");
    println!(
        "\nWith a {:.0}% safety margin, gpt-4o budgets {} tokens for the text; fits in 128k: {}",
        counter.safety_margin() * 100.0,
        counter.count_with_margin(&text),
        counter.fits_context(&text, 128_000)
    );
    Ok(())
}
