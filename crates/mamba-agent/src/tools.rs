//! [`Tool`]: a typed async Rust function the model can call, with its argument JSON schema
//! derived by `schemars`.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures::FutureExt;
use mamba_tokens::ToolDefinition;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::AgentError;

type ToolFuture = Pin<Box<dyn Future<Output = Result<String, ToolError>> + Send>>;

/// An error a handler returns, boxed: any `std::error::Error`, a `String` or a `&str`.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a tool call did not produce an output. Its text is what the model is sent back
/// (`Error: {text}`), so it can recover; the run goes on.
///
/// Two errors are equal when they are the same kind with the same text.
///
/// ```
/// use mamba_agent::{Tool, ToolError};
///
/// let tool = Tool::from_json_schema("fail", "Always fails", serde_json::json!({"type": "object"}),
///     |_| async { Err("the disk is full".into()) })?;
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let error = tool.call("{}").await.unwrap_err();
/// assert!(matches!(error, ToolError::Failed { .. }));
/// assert_eq!(error.to_string(), "the disk is full");
/// assert_eq!(tool.call("{").await.unwrap_err().to_string(),
///     "arguments are not valid JSON: EOF while parsing an object at line 1 column 1");
/// # });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The model named a tool the agent does not have.
    #[error("there is no tool named `{name}`")]
    UnknownTool {
        /// The name the model used.
        name: String,
    },
    /// The model's argument text is not JSON.
    #[error("arguments are not valid JSON: {source}")]
    InvalidJson {
        /// The JSON parser's error.
        source: Arc<serde_json::Error>,
    },
    /// The arguments are JSON that does not fit the tool's argument type.
    #[error("invalid arguments: {source}")]
    InvalidArguments {
        /// Why they do not fit (a missing field, a wrong type).
        source: Arc<serde_json::Error>,
    },
    /// The handler returned an error.
    #[error("{source}")]
    Failed {
        /// The handler's error.
        source: Arc<dyn StdError + Send + Sync + 'static>,
    },
    /// The handler panicked; the panic was caught.
    #[error("the tool panicked: {message}")]
    Panicked {
        /// The panic's message (`no message` when it was not text).
        message: String,
    },
}

impl ToolError {
    /// The variant's name in snake case: how serialized errors say which one they are.
    fn kind(&self) -> &'static str {
        match self {
            ToolError::UnknownTool { .. } => "unknown_tool",
            ToolError::InvalidJson { .. } => "invalid_json",
            ToolError::InvalidArguments { .. } => "invalid_arguments",
            ToolError::Failed { .. } => "failed",
            ToolError::Panicked { .. } => "panicked",
        }
    }
}

impl PartialEq for ToolError {
    fn eq(&self, other: &ToolError) -> bool {
        self.kind() == other.kind() && self.to_string() == other.to_string()
    }
}

/// With the `serde` feature: `{"kind": "failed", "message": "the disk is full"}`, the kind
/// in snake case and the message as [`Display`](fmt::Display) writes it (what the model was
/// sent). Sources are not serialized: they are any error type.
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for ToolError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut error = serializer.serialize_struct("ToolError", 2)?;
        error.serialize_field("kind", self.kind())?;
        error.serialize_field("message", &self.to_string())?;
        error.end()
    }
}

/// A tool call's output as `{"ok": "..."}` or `{"error": {...}}`, in the snake case of every
/// other serialized field (serde's own `Result` form is `{"Ok": ...}`).
#[cfg(feature = "serde")]
pub(crate) fn serialize_output<S: serde::Serializer>(
    output: &Result<String, ToolError>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(1))?;
    match output {
        Ok(text) => map.serialize_entry("ok", text)?,
        Err(error) => map.serialize_entry("error", error)?,
    }
    map.end()
}

impl Eq for ToolError {}
type Handler = dyn Fn(Value) -> ToolFuture + Send + Sync;

/// A function the model can call: a name, a description, a JSON schema of its arguments and an
/// async handler.
///
/// The handler's output is sent back to the model: a `String` as is, anything else
/// `Serialize` as JSON. An `Err` (or a panic) is sent back as `Error: ...` so the model can
/// recover; it does not end the run. A handler's error is any `std::error::Error` (or a
/// `String`): [`Tool::call`] returns it as [`ToolError::Failed`], with the error as its source.
///
/// ```
/// use mamba_agent::Tool;
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Weather {
///     /// The city, e.g. Paris.
///     city: String,
/// }
///
/// let tool = Tool::new("get_weather", "Current weather of a city", |args: Weather| async move {
///     Ok::<_, std::convert::Infallible>(format!("Sunny in {}", args.city))
/// })?;
/// assert_eq!(tool.definition().parameters["required"][0], "city");
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// assert_eq!(tool.call(r#"{"city": "Paris"}"#).await, Ok("Sunny in Paris".to_owned()));
/// let error = tool.call(r#"{"town": "Paris"}"#).await.unwrap_err();
/// assert!(matches!(error, mamba_agent::ToolError::InvalidArguments { .. }));
/// assert!(error.to_string().contains("missing field `city`"));
/// # });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Tool {
    definition: ToolDefinition,
    handler: Arc<Handler>,
}

impl fmt::Debug for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tool")
            .field("definition", &self.definition)
            .finish_non_exhaustive()
    }
}

impl Tool {
    /// A tool whose arguments are `A`, with the schema derived from `A`.
    ///
    /// # Errors
    /// [`AgentError::InvalidTool`] for a name the API refuses (empty, or other than ASCII
    /// letters, digits, `_` and `-`, or longer than 64).
    pub fn new<A, F, Fut, O, E>(
        name: &str,
        description: &str,
        handler: F,
    ) -> Result<Tool, AgentError>
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
        O: Serialize,
        E: Into<BoxError>,
    {
        let mut schema = serde_json::to_value(schemars::schema_for!(A)).unwrap_or_default();
        if let Value::Object(object) = &mut schema {
            // Metadata the chat API does not use; it only costs prompt tokens.
            object.remove("$schema");
            object.remove("title");
        }
        let handler = Arc::new(handler);
        Tool::with_handler(name, description, schema, move |arguments: Value| {
            let handler = Arc::clone(&handler);
            async move {
                let args: A =
                    serde_json::from_value(arguments).map_err(|e| ToolError::InvalidArguments {
                        source: Arc::new(e),
                    })?;
                let output = handler(args).await.map_err(into_tool_error)?;
                Ok::<_, ToolError>(output_text(&output))
            }
        })
    }

    /// A tool with a hand-written JSON schema, taking the arguments as JSON: no `schemars` or
    /// serde derives needed. The handler's error is a [`BoxError`], so `?` takes any
    /// `std::error::Error` and `Err("...".into())` a message; a boxed [`ToolError`] is kept as
    /// it is.
    ///
    /// # Errors
    /// As [`Tool::new`].
    pub fn from_json_schema<F, Fut>(
        name: &str,
        description: &str,
        parameters: Value,
        handler: F,
    ) -> Result<Tool, AgentError>
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, BoxError>> + Send + 'static,
    {
        Tool::with_handler(name, description, parameters, move |arguments| {
            let future = handler(arguments);
            async move { future.await.map_err(into_tool_error) }
        })
    }

    fn with_handler<F, Fut>(
        name: &str,
        description: &str,
        parameters: Value,
        handler: F,
    ) -> Result<Tool, AgentError>
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, ToolError>> + Send + 'static,
    {
        validate_name(name)?;
        let handler: Arc<Handler> = Arc::new(move |arguments| Box::pin(handler(arguments)));
        Ok(Tool {
            definition: ToolDefinition::new(name, description, parameters),
            handler,
        })
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.definition.name
    }

    /// The definition sent to the model (and counted by the token counter).
    pub fn definition(&self) -> &ToolDefinition {
        &self.definition
    }

    /// Runs the tool on the model's argument text.
    ///
    /// # Errors
    /// The [`ToolError`] whose text is sent back to the model: bad JSON, arguments that do not
    /// fit, the handler's error, or a panic.
    pub async fn call(&self, arguments: &str) -> Result<String, ToolError> {
        let arguments = if arguments.trim().is_empty() {
            Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_str(arguments).map_err(|e| ToolError::InvalidJson {
                source: Arc::new(e),
            })?
        };
        let future = (self.handler)(arguments);
        match AssertUnwindSafe(future).catch_unwind().await {
            Ok(result) => result,
            Err(panic) => Err(ToolError::Panicked {
                message: panic_message(&*panic),
            }),
        }
    }
}

/// A handler's error as a [`ToolError`]: a `ToolError` stays what it is, anything else is
/// [`ToolError::Failed`].
fn into_tool_error(error: impl Into<BoxError>) -> ToolError {
    match error.into().downcast::<ToolError>() {
        Ok(tool_error) => *tool_error,
        Err(other) => ToolError::Failed {
            source: Arc::from(other),
        },
    }
}

fn output_text<O: Serialize>(output: &O) -> String {
    match serde_json::to_value(output) {
        Ok(Value::String(text)) => text,
        Ok(value) => value.to_string(),
        Err(e) => format!("the tool's output cannot be serialised: {e}"),
    }
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}

fn validate_name(name: &str) -> Result<(), AgentError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(AgentError::InvalidTool {
            name: name.to_owned(),
            reason: "names are 1 to 64 ASCII letters, digits, `_` or `-`".to_owned(),
        })
    }
}
