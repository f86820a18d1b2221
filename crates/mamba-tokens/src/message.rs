//! Chat messages as the counter sees them: a small typed message, or OpenAI-shaped JSON.
//!
//! Both are counted with the OpenAI cookbook formula (`num_tokens_from_messages`): every message
//! costs a fixed overhead plus the tokens of each of its string fields (role, content, name,
//! tool call id), a `name` costs one more token, and the reply is primed with 3 tokens once per
//! request. The cookbook does not cover assistant tool calls; we add the tokens of each call's
//! function name and arguments, which is an estimate (OpenAI does not publish that framing).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who wrote a message.
///
/// ```
/// use mamba_tokens::Role;
///
/// assert_eq!(Role::Assistant.as_str(), "assistant");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Role {
    /// Instructions from the application.
    System,
    /// Instructions from the application to reasoning models (OpenAI's newer name for system).
    Developer,
    /// The end user.
    User,
    /// The model.
    Assistant,
    /// The result of a tool call.
    Tool,
}

impl Role {
    /// The role as it appears on the wire (and as the cookbook formula counts it).
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// A tool call made by the assistant.
///
/// ```
/// use mamba_tokens::ToolCall;
///
/// let call = ToolCall::new("call_1", "get_weather", r#"{"city":"Paris"}"#);
/// assert_eq!(call.name, "get_weather");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolCall {
    /// The call id the tool result refers back to.
    pub id: String,
    /// The function name.
    pub name: String,
    /// The arguments as a JSON text, exactly as the model produced them.
    pub arguments: String,
}

impl ToolCall {
    /// A tool call from its id, function name and JSON arguments (see the type's example).
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
        }
    }
}

/// A chat message: role, content, and the optional name, tool calls and tool call id.
///
/// ```
/// use mamba_tokens::{ChatMessage, Role, TokenCounter};
///
/// let messages = [
///     ChatMessage::system("You are terse."),
///     ChatMessage::user("Hello").with_name("ada"),
/// ];
/// assert_eq!(messages[1].role, Role::User);
/// let counter = TokenCounter::for_model("gpt-4o");
/// // 3 + 3 + 1 + 1 ("system", "user", "Hello" and "ada" are one token each, "You are terse."
/// // is four), +1 for the name, +3 to prime the reply.
/// assert_eq!(counter.count_messages(&messages), 3 + 1 + 4 + 3 + 1 + 1 + 1 + 1 + 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// The text.
    pub content: String,
    /// An optional participant name (costs one extra token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tool calls made by the assistant in this message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For [`Role::Tool`] messages: the id of the call this message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// A message with a role and content.
    ///
    /// ```
    /// use mamba_tokens::{ChatMessage, Role};
    ///
    /// let message = ChatMessage::new(Role::Developer, "Answer in French.");
    /// assert_eq!((message.role, message.content.as_str()), (Role::Developer, "Answer in French."));
    /// ```
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        ChatMessage {
            role,
            content: content.into(),
            name: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// A system message.
    ///
    /// ```
    /// assert_eq!(mamba_tokens::ChatMessage::system("Be brief.").role, mamba_tokens::Role::System);
    /// ```
    pub fn system(content: impl Into<String>) -> Self {
        ChatMessage::new(Role::System, content)
    }

    /// A user message.
    ///
    /// ```
    /// assert_eq!(mamba_tokens::ChatMessage::user("Hi").role, mamba_tokens::Role::User);
    /// ```
    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage::new(Role::User, content)
    }

    /// An assistant message.
    ///
    /// ```
    /// assert_eq!(mamba_tokens::ChatMessage::assistant("Hello!").role, mamba_tokens::Role::Assistant);
    /// ```
    pub fn assistant(content: impl Into<String>) -> Self {
        ChatMessage::new(Role::Assistant, content)
    }

    /// A tool result answering the call `tool_call_id`.
    ///
    /// ```
    /// use mamba_tokens::{ChatMessage, Role};
    ///
    /// let result = ChatMessage::tool("call_1", "18C");
    /// assert_eq!((result.role, result.tool_call_id.as_deref()), (Role::Tool, Some("call_1")));
    /// ```
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            tool_call_id: Some(tool_call_id.into()),
            ..ChatMessage::new(Role::Tool, content)
        }
    }

    /// Sets the participant name.
    ///
    /// ```
    /// let message = mamba_tokens::ChatMessage::user("Hi").with_name("ada");
    /// assert_eq!(message.name.as_deref(), Some("ada"));
    /// ```
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Adds the assistant's tool calls.
    ///
    /// ```
    /// use mamba_tokens::{ChatMessage, ToolCall};
    ///
    /// let message = ChatMessage::assistant("")
    ///     .with_tool_calls([ToolCall::new("call_1", "get_weather", r#"{"city":"Paris"}"#)]);
    /// assert_eq!(message.tool_calls.len(), 1);
    /// ```
    #[must_use]
    pub fn with_tool_calls(mut self, calls: impl IntoIterator<Item = ToolCall>) -> Self {
        self.tool_calls.extend(calls);
        self
    }
}

/// The parts of a message that cost tokens, handed to a visitor one by one.
///
/// ```
/// use mamba_tokens::{ChatMessage, MessagePart, TokenizedMessage};
///
/// let mut names = Vec::new();
/// ChatMessage::user("Hi").with_name("ada").visit_parts(&mut |part| {
///     if let MessagePart::Name(name) = part {
///         names.push(name.to_owned());
///     }
/// });
/// assert_eq!(names, ["ada"]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessagePart<'a> {
    /// A string field counted by its tokens (role, content, tool call id, a tool call's name or
    /// arguments, any other string field of a JSON message).
    Text(&'a str),
    /// The participant name: its tokens plus the per-name overhead.
    Name(&'a str),
}

/// A message the counter can count: implemented for [`ChatMessage`] and for OpenAI-shaped
/// [`serde_json::Value`] messages; implement it to count your own message type without converting.
///
/// ```
/// use mamba_tokens::{MessagePart, TokenCounter, TokenizedMessage};
///
/// struct Line(&'static str);
/// impl TokenizedMessage for Line {
///     fn visit_parts(&self, visit: &mut dyn FnMut(MessagePart<'_>)) {
///         visit(MessagePart::Text("user"));
///         visit(MessagePart::Text(self.0));
///     }
/// }
///
/// let counter = TokenCounter::for_model("gpt-4o");
/// assert_eq!(counter.count_messages(&[Line("Hello")]), 3 + 1 + 1 + 3);
/// ```
pub trait TokenizedMessage {
    /// Calls `visit` once for every part of the message that costs tokens.
    fn visit_parts(&self, visit: &mut dyn FnMut(MessagePart<'_>));
}

impl<M: TokenizedMessage + ?Sized> TokenizedMessage for &M {
    fn visit_parts(&self, visit: &mut dyn FnMut(MessagePart<'_>)) {
        (**self).visit_parts(visit);
    }
}

impl TokenizedMessage for ChatMessage {
    fn visit_parts(&self, visit: &mut dyn FnMut(MessagePart<'_>)) {
        visit(MessagePart::Text(self.role.as_str()));
        visit(MessagePart::Text(&self.content));
        if let Some(name) = &self.name {
            visit(MessagePart::Name(name));
        }
        for call in &self.tool_calls {
            visit(MessagePart::Text(&call.name));
            visit(MessagePart::Text(&call.arguments));
        }
        if let Some(id) = &self.tool_call_id {
            visit(MessagePart::Text(id));
        }
    }
}

/// An OpenAI chat message as JSON: every string field counts (as in the cookbook), `name` also
/// costs the name overhead, `content` may be a list of parts (their [`part_text`] counts: text
/// and refusals; images, audio and files are not counted), and `tool_calls` count each
/// function's name and arguments.
/// A value that is not an object counts as one text: its string, or its JSON form.
impl TokenizedMessage for Value {
    fn visit_parts(&self, visit: &mut dyn FnMut(MessagePart<'_>)) {
        let Value::Object(fields) = self else {
            visit_json(self, visit);
            return;
        };
        for (key, value) in fields {
            match (key.as_str(), value) {
                ("name", Value::String(name)) => visit(MessagePart::Name(name)),
                ("content", Value::Array(parts)) => {
                    for text in parts.iter().filter_map(part_text) {
                        visit_json(text, visit);
                    }
                }
                ("tool_calls", Value::Array(calls)) => {
                    for function in calls.iter().filter_map(|call| call.get("function")) {
                        for field in ["name", "arguments"] {
                            if let Some(text) = function.get(field) {
                                visit_json(text, visit);
                            }
                        }
                    }
                }
                (_, Value::Null) => {}
                (_, value) => visit_json(value, visit),
            }
        }
    }
}

/// The words of a content part: a `text` part's `text`, or an assistant `refusal` part's
/// `refusal`. Images, audio and files carry none and are not counted here; providers bill them
/// by their own rules (size, detail, duration).
///
/// ```
/// use mamba_tokens::part_text;
/// use serde_json::json;
///
/// let refusal = json!({"type": "refusal", "refusal": "I can't help with that."});
/// assert_eq!(part_text(&refusal), Some(&json!("I can't help with that.")));
/// assert_eq!(part_text(&json!({"type": "image_url", "image_url": {"url": "cat.png"}})), None);
/// ```
pub fn part_text(part: &Value) -> Option<&Value> {
    part.get("text").or_else(|| part.get("refusal"))
}

/// Visits a JSON value as text: strings as they are, anything else (not null) as compact JSON.
fn visit_json(value: &Value, visit: &mut dyn FnMut(MessagePart<'_>)) {
    match value {
        Value::Null => {}
        Value::String(text) => visit(MessagePart::Text(text)),
        other => visit(MessagePart::Text(&other.to_string())),
    }
}
