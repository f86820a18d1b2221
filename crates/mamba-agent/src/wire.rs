//! The chat-completions wire format, as sent through async-openai's bring-your-own-types calls.
//!
//! Our own serde types instead of async-openai's keep its types out of our API and accept what
//! real OpenAI-compatible servers send: every response field but `choices` is optional, unknown
//! fields (llama.cpp's `timings`) are ignored.

use mamba_tokens::{ChatMessage, Role, ToolCall, ToolDefinition};
use mamba_usage::{ProviderUsage, UsageFormat};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A chat-completions request body.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ChatRequest {
    pub(crate) model: String,
    pub(crate) messages: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) tools: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stream_options: Option<StreamOptions>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct StreamOptions {
    pub(crate) include_usage: bool,
}

/// A message in OpenAI's JSON shape.
pub(crate) fn message_json(message: &ChatMessage) -> Value {
    let role = match message.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
        Role::Developer => "developer",
        // Roles added to mamba-tokens later are sent as user turns until mapped here.
        _ => "user",
    };
    let mut object = json!({ "role": role, "content": message.content });
    if let Some(name) = &message.name {
        object["name"] = json!(name);
    }
    if !message.tool_calls.is_empty() {
        let calls: Vec<Value> = message
            .tool_calls
            .iter()
            .map(|call| {
                json!({
                    "id": call.id,
                    "type": "function",
                    "function": { "name": call.name, "arguments": call.arguments },
                })
            })
            .collect();
        object["tool_calls"] = Value::Array(calls);
    }
    if let Some(id) = &message.tool_call_id {
        object["tool_call_id"] = json!(id);
    }
    object
}

/// A tool definition in OpenAI's JSON shape.
pub(crate) fn tool_json(tool: &ToolDefinition) -> Value {
    json!({
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    })
}

/// A non-streamed response.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ChatResponse {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) model: Option<String>,
    pub(crate) choices: Vec<Choice>,
    #[serde(default)]
    pub(crate) usage: Option<Value>,
    /// The service tier that served the request (`default`, `flex`, `priority`).
    #[serde(default)]
    pub(crate) service_tier: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Choice {
    pub(crate) message: ResponseMessage,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ResponseMessage {
    #[serde(default)]
    pub(crate) content: Option<String>,
    #[serde(default)]
    pub(crate) tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct WireToolCall {
    #[serde(default)]
    pub(crate) id: Option<String>,
    pub(crate) function: WireFunction,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct WireFunction {
    pub(crate) name: String,
    /// A JSON string per the protocol; some servers send an object, which we re-serialise.
    #[serde(default, deserialize_with = "arguments_text")]
    pub(crate) arguments: String,
}

fn arguments_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) => text,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// A response's `usage` object as it came, read by mamba-usage's OpenAI Chat Completions
/// reader ([`ProviderUsage`]): the one place provider usage becomes our counts. A usage object
/// that does not read (a count that is not a number) is logged and treated as absent, so the
/// request is estimated rather than lost.
pub(crate) fn provider_usage(usage: Option<&Value>) -> Option<ProviderUsage> {
    let usage = usage?;
    match ProviderUsage::parse(UsageFormat::OpenAiChat, usage) {
        Ok(usage) => Some(usage),
        Err(error) => {
            tracing::warn!(%error, "unreadable usage from the provider; the request is estimated");
            None
        }
    }
}

/// One server-sent event of a streamed response.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ChatChunk {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) model: Option<String>,
    #[serde(default)]
    pub(crate) choices: Vec<ChunkChoice>,
    #[serde(default)]
    pub(crate) usage: Option<Value>,
    #[serde(default)]
    pub(crate) service_tier: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ChunkChoice {
    #[serde(default)]
    pub(crate) delta: Delta,
    /// Set on the choice's last chunk; a stream that ends before it is truncated.
    #[serde(default)]
    pub(crate) finish_reason: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Delta {
    #[serde(default)]
    pub(crate) content: Option<String>,
    #[serde(default)]
    pub(crate) tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ToolCallDelta {
    #[serde(default)]
    pub(crate) index: usize,
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) function: Option<FunctionDelta>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct FunctionDelta {
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default, deserialize_with = "arguments_text")]
    pub(crate) arguments: String,
}

/// Tool calls from a response, with an id made up for servers that send none (the id is how
/// the tool result is matched to its call).
pub(crate) fn tool_calls(calls: Option<Vec<WireToolCall>>, turn: u32) -> Vec<ToolCall> {
    calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, call)| {
            let id = call_id(call.id, turn, i);
            ToolCall::new(id, call.function.name, call.function.arguments)
        })
        .collect()
}

/// The id a server gave a tool call, or one made up from the turn and position.
pub(crate) fn call_id(id: Option<String>, turn: u32, index: usize) -> String {
    id.filter(|id| !id.is_empty())
        .unwrap_or_else(|| format!("call_{turn}_{index}"))
}
