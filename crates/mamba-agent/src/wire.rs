//! The chat-completions wire format, as sent through async-openai's bring-your-own-types calls.
//!
//! Our own serde types instead of async-openai's keep its types out of our API and accept what
//! real OpenAI-compatible servers send: every response field but `choices` is optional, unknown
//! fields (llama.cpp's `timings`) are ignored.

use mamba_tokens::{ChatMessage, Role, ToolCall, ToolDefinition};
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
    pub(crate) usage: Option<WireUsage>,
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

/// `usage` as OpenAI reports it: cached tokens inside `prompt_tokens`, reasoning tokens inside
/// `completion_tokens` (the meaning of our records, so no conversion is needed). A count the
/// server left out is `None`, never zero: `"usage": {}` carries no usage at all.
///
/// OpenAI-compatible proxies in front of Anthropic (LiteLLM) add Anthropic's cache fields
/// beside OpenAI's: `cache_read_input_tokens`, `cache_creation_input_tokens` and the
/// `cache_creation` split by lifetime. `prompt_tokens` still includes them.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub(crate) struct WireUsage {
    #[serde(default)]
    pub(crate) cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) cache_creation: Option<CacheCreation>,
    #[serde(default)]
    pub(crate) prompt_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) completion_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) total_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    pub(crate) completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub(crate) struct PromptDetails {
    #[serde(default)]
    pub(crate) cached_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) cache_write_tokens: Option<u64>,
}

/// Anthropic's cache writes by lifetime.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub(crate) struct CacheCreation {
    #[serde(default)]
    pub(crate) ephemeral_5m_input_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) ephemeral_1h_input_tokens: Option<u64>,
}

impl WireUsage {
    /// Cache reads: OpenAI's `prompt_tokens_details.cached_tokens`, else Anthropic's field.
    pub(crate) fn cached(&self) -> u64 {
        self.prompt_tokens_details
            .and_then(|d| d.cached_tokens)
            .or(self.cache_read_input_tokens)
            .unwrap_or(0)
    }

    /// Cache writes: OpenAI's `prompt_tokens_details.cache_write_tokens`, else Anthropic's
    /// `cache_creation_input_tokens`, else the sum of its lifetime split.
    pub(crate) fn cache_write(&self) -> u64 {
        let split = self.cache_creation.map(|c| {
            c.ephemeral_5m_input_tokens
                .unwrap_or(0)
                .saturating_add(c.ephemeral_1h_input_tokens.unwrap_or(0))
        });
        self.prompt_tokens_details
            .and_then(|d| d.cache_write_tokens)
            .or(self.cache_creation_input_tokens)
            .or(split)
            .unwrap_or(0)
    }

    /// One-hour cache writes (Anthropic's `cache_creation.ephemeral_1h_input_tokens`).
    pub(crate) fn cache_write_1h(&self) -> u64 {
        self.cache_creation
            .and_then(|c| c.ephemeral_1h_input_tokens)
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub(crate) struct CompletionDetails {
    #[serde(default)]
    pub(crate) reasoning_tokens: Option<u64>,
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
    pub(crate) usage: Option<WireUsage>,
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
