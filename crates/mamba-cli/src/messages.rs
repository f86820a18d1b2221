//! `mamba messages`: the prompt tokens of an OpenAI-format conversation, message by message,
//! with the tools' tokens and the chat format's overhead, as `TokenCounter::count_messages`
//! and `count_tools` count them.
//!
//! The file is a chat request body (`{"messages": [...], "tools": [...]}`, other fields
//! ignored) or a bare list of messages.

use std::io::Read;
use std::path::PathBuf;

use mamba_tokens::part_text;
use serde_json::{Value, json};

use crate::count::{counter, parse_encoding};
use crate::table::{Align, Table, grouped};
use crate::{Error, Outcome, Result, print_out};

/// What `count_messages` adds once, whatever the messages: the tokens priming the reply.
const REPLY_PRIMING: u64 = 3;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  mamba messages request.json --model gpt-4o\n  mamba messages - --json < conversation.json"
)]
pub(crate) struct Args {
    /// The conversation: a chat request body or a JSON list of messages; `-` reads stdin.
    file: PathBuf,
    /// Count as this model does (its encoding and chat format), e.g. gpt-4o.
    #[arg(long, conflicts_with = "encoding")]
    model: Option<String>,
    /// Count with this encoding instead of a model's.
    #[arg(long, value_parser = parse_encoding)]
    encoding: Option<mamba_tokens::Encoding>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &Args) -> Result<Outcome> {
    let name = args.file.display().to_string();
    let text = if args.file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|error| Error::new(format!("could not read stdin: {error}")))?;
        text
    } else {
        std::fs::read_to_string(&args.file)
            .map_err(|error| Error::new(format!("could not read {name}: {error}")))?
    };
    let value: Value = serde_json::from_str(&text)
        .map_err(|error| Error::new(format!("{name} is not JSON: {error}")))?;
    let (messages, tools) = conversation(&name, &value)?;
    let (counter, note) = counter(args.model.as_deref(), args.encoding);
    if let Some(note) = note {
        eprintln!("mamba: note: {note}");
    }
    let uncounted = uncounted_parts(messages);
    if !uncounted.is_empty() {
        let listed: Vec<String> = uncounted
            .iter()
            .map(|(message, kind)| format!("message {message} ({kind})"))
            .collect();
        eprintln!(
            "mamba: note: content parts without text are not counted, and providers bill them by \
             their own rules (image size and detail, audio length): {}; the totals leave them out",
            listed.join(", ")
        );
    }
    let per_message: Vec<u64> = messages
        .iter()
        .map(|message| counter.count_messages(std::slice::from_ref(message)) - REPLY_PRIMING)
        .collect();
    let tool_tokens = counter.count_tools(tools);
    let total = counter.count_messages(messages).saturating_add(tool_tokens);

    if args.json {
        let listed: Vec<Value> = messages
            .iter()
            .zip(&per_message)
            .map(|(message, tokens)| json!({ "role": message["role"], "tokens": tokens }))
            .collect();
        let value = json!({
            "encoding": counter.encoding().name(),
            "model": args.model,
            "exact": counter.is_exact(),
            "messages": listed,
            "uncounted_parts": uncounted
                .iter()
                .map(|(message, kind)| json!({ "message": message, "type": kind }))
                .collect::<Vec<_>>(),
            "tools_tokens": tool_tokens,
            "reply_priming_tokens": REPLY_PRIMING,
            "total_tokens": total,
        });
        print_out(&format!("{value:#}\n"))?;
        return Ok(Outcome::Done);
    }
    let mut table = Table::new(&[
        ("#", Align::Right),
        ("ROLE", Align::Left),
        ("TOKENS", Align::Right),
    ]);
    for (index, (message, tokens)) in messages.iter().zip(&per_message).enumerate() {
        let role = message["role"].as_str().unwrap_or_default().to_owned();
        table.row(vec![(index + 1).to_string(), role, grouped(*tokens)]);
    }
    if !tools.is_empty() {
        table.row(vec![
            String::new(),
            format!("tools ({})", tools.len()),
            grouped(tool_tokens),
        ]);
    }
    table.row(vec![
        String::new(),
        "reply priming".to_owned(),
        REPLY_PRIMING.to_string(),
    ]);
    table.row(vec![String::new(), "total".to_owned(), grouped(total)]);
    print_out(&table.render())?;
    Ok(Outcome::Done)
}

/// The messages and tools of a conversation file, each message checked to be an object with
/// a string `role`.
fn conversation<'a>(name: &str, value: &'a Value) -> Result<(&'a [Value], &'a [Value])> {
    let (messages, tools) = match value {
        Value::Array(messages) => (messages.as_slice(), &[][..]),
        Value::Object(body) => {
            let messages = body.get("messages").and_then(Value::as_array).ok_or_else(|| {
                Error::new(format!(
                    "{name} has no `messages` list (expected a chat request body or a list of messages)"
                ))
            })?;
            let tools = match body.get("tools") {
                None | Some(Value::Null) => &[][..],
                Some(Value::Array(tools)) => tools.as_slice(),
                Some(other) => {
                    return Err(Error::new(format!(
                        "{name}: `tools` must be a list, not {}",
                        kind(other)
                    )));
                }
            };
            (messages.as_slice(), tools)
        }
        other => {
            return Err(Error::new(format!(
                "{name} must hold a chat request body or a list of messages, not {}",
                kind(other)
            )));
        }
    };
    for (index, message) in messages.iter().enumerate() {
        if !message.get("role").is_some_and(Value::is_string) {
            return Err(Error::new(format!(
                "{name}: message {} has no string `role`",
                index + 1
            )));
        }
    }
    Ok((messages, tools))
}

/// The content parts that carry no text to count (images, audio, files), as (message number
/// from 1, the part's `type`), in order.
fn uncounted_parts(messages: &[Value]) -> Vec<(usize, String)> {
    let mut uncounted = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let Some(parts) = message.get("content").and_then(Value::as_array) else {
            continue;
        };
        for part in parts.iter().filter(|part| part_text(part).is_none()) {
            let kind = part
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("untyped");
            uncounted.push((index + 1, kind.to_owned()));
        }
    }
    uncounted
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
