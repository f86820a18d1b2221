//! Tool (function) definitions as the counter sees them.
//!
//! OpenAI renders tool definitions into the prompt in a hidden format; the cookbook's
//! `num_tokens_for_tools` reproduces its cost from the name, description and parameter properties
//! plus fixed overheads per model family, applied by
//! [`TokenCounter::count_tools`](crate::TokenCounter::count_tools).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A function the model may call: name, description and a JSON Schema for its parameters.
///
/// This is the `function` object of an OpenAI `tools` entry.
///
/// ```
/// use mamba_tokens::{TokenCounter, ToolDefinition};
/// use serde_json::json;
///
/// let tool = ToolDefinition::new(
///     "get_time",
///     "Get the current time",
///     json!({"type": "object", "properties": {}}),
/// );
/// let counter = TokenCounter::for_model("gpt-4o");
/// // 7 to open the function, "get_time:Get the current time" is 6, 12 to close the list.
/// assert_eq!(counter.count("get_time:Get the current time"), 6);
/// assert_eq!(counter.count_tools(&[tool]), 7 + 6 + 12);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolDefinition {
    /// The function name.
    pub name: String,
    /// What the function does.
    #[serde(default)]
    pub description: String,
    /// JSON Schema of the arguments (`{"type": "object", "properties": {...}}`).
    #[serde(default)]
    pub parameters: Value,
}

impl ToolDefinition {
    /// A definition from its parts (see the type's example).
    pub fn new(name: impl Into<String>, description: impl Into<String>, parameters: Value) -> Self {
        ToolDefinition {
            name: name.into(),
            description: description.into(),
            parameters,
        }
    }
}

/// One property of a tool's parameters, as the cookbook formula reads it.
///
/// ```
/// use mamba_tokens::{TokenizedTool, ToolDefinition};
/// use serde_json::json;
///
/// let tool = ToolDefinition::new("set_unit", "", json!({"properties": {
///     "unit": {"type": "string", "description": "Unit", "enum": ["C", "F"]}}}));
/// let properties = tool.tool_properties();
/// assert_eq!((properties[0].name, properties[0].type_name.as_str()), ("unit", "string"));
/// assert_eq!(properties[0].enum_values, ["C", "F"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ToolProperty<'a> {
    /// The property name.
    pub name: &'a str,
    /// Its JSON type (`"string"`, ...); a type list is given as compact JSON.
    pub type_name: String,
    /// Its description.
    pub description: &'a str,
    /// The allowed values, if the property is an enum.
    pub enum_values: Vec<String>,
}

/// A tool definition the counter can count: implemented for [`ToolDefinition`] and for
/// OpenAI-shaped JSON (`{"type": "function", "function": {...}}` or the bare function object).
///
/// ```
/// use mamba_tokens::{TokenCounter, TokenizedTool, ToolDefinition};
/// use serde_json::json;
///
/// let as_json = json!({"type": "function", "function": {
///     "name": "get_time", "description": "Get the current time",
///     "parameters": {"type": "object", "properties": {}}}});
/// let typed = ToolDefinition::new("get_time", "Get the current time", json!({"type": "object"}));
/// assert_eq!(as_json.tool_name(), "get_time");
/// let counter = TokenCounter::for_model("gpt-4o");
/// assert_eq!(counter.count_tools(&[as_json]), counter.count_tools(&[typed]));
/// ```
pub trait TokenizedTool {
    /// The function name.
    fn tool_name(&self) -> &str;
    /// The function description ("" when absent).
    fn tool_description(&self) -> &str;
    /// The properties of the parameter schema (their order does not change the count).
    fn tool_properties(&self) -> Vec<ToolProperty<'_>>;
}

impl<T: TokenizedTool + ?Sized> TokenizedTool for &T {
    fn tool_name(&self) -> &str {
        (**self).tool_name()
    }
    fn tool_description(&self) -> &str {
        (**self).tool_description()
    }
    fn tool_properties(&self) -> Vec<ToolProperty<'_>> {
        (**self).tool_properties()
    }
}

impl TokenizedTool for ToolDefinition {
    fn tool_name(&self) -> &str {
        &self.name
    }
    fn tool_description(&self) -> &str {
        &self.description
    }
    fn tool_properties(&self) -> Vec<ToolProperty<'_>> {
        schema_properties(&self.parameters)
    }
}

impl TokenizedTool for Value {
    fn tool_name(&self) -> &str {
        str_field(function_object(self), "name")
    }
    fn tool_description(&self) -> &str {
        str_field(function_object(self), "description")
    }
    fn tool_properties(&self) -> Vec<ToolProperty<'_>> {
        function_object(self)
            .get("parameters")
            .map(schema_properties)
            .unwrap_or_default()
    }
}

/// The `function` object of a `tools` entry, or the value itself when it is already one.
fn function_object(tool: &Value) -> &Value {
    tool.get("function").unwrap_or(tool)
}

fn str_field<'a>(object: &'a Value, field: &str) -> &'a str {
    object
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The properties of a JSON Schema object.
fn schema_properties(schema: &Value) -> Vec<ToolProperty<'_>> {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, property)| ToolProperty {
            name,
            type_name: property.get("type").map(json_text).unwrap_or_default(),
            description: str_field(property, "description"),
            enum_values: property
                .get("enum")
                .and_then(Value::as_array)
                .map(|values| values.iter().map(json_text).collect())
                .unwrap_or_default(),
        })
        .collect()
}

/// A JSON value as the text the model sees: strings bare, anything else as compact JSON.
fn json_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
