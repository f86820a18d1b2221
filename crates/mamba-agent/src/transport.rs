//! The HTTP side: an async-openai client configured from settings (base URL, key, timeouts,
//! our retry service), sending our wire types and mapping its errors onto [`AgentError`].

use std::pin::Pin;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use futures::Stream;
use mamba_settings::ModelBackendSettings;

use crate::AgentError;
use crate::retry::{AttemptTimedOut, RetryPolicy, RetryService};
use crate::wire::{ChatChunk, ChatRequest, ChatResponse};

/// OpenAI's endpoint, used when no base URL is configured.
pub(crate) const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// Server-sent chunks of a streamed response.
pub(crate) type ChunkStream = Pin<Box<dyn Stream<Item = Result<ChatChunk, OpenAIError>> + Send>>;

/// A configured chat-completions client; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    client: Client<OpenAIConfig>,
    timeout: Duration,
}

impl Transport {
    pub(crate) fn new(
        backend: &ModelBackendSettings,
        base_delay: Duration,
    ) -> Result<Transport, AgentError> {
        // Every field set explicitly: async-openai's defaults read OPENAI_* variables, and the
        // environment is mamba-settings' business.
        let config = OpenAIConfig::new()
            .with_api_base(backend.base_url.as_deref().unwrap_or(OPENAI_BASE_URL))
            .with_api_key(
                backend
                    .api_key
                    .as_ref()
                    .map(|key| key.expose_secret().to_owned())
                    .unwrap_or_default(),
            )
            .with_org_id("")
            .with_project_id("");
        let http = reqwest::Client::builder()
            .connect_timeout(backend.timeout)
            // Bounds each read of the body too, so a stalled stream ends instead of hanging.
            .read_timeout(backend.timeout)
            .build()
            .map_err(|e| AgentError::Client(Box::new(e)))?;
        let policy = RetryPolicy {
            max_retries: backend.max_retries,
            timeout: backend.timeout,
            base_delay,
        };
        let client = Client::with_config(config)
            .with_http_client(http.clone())
            .with_http_service(RetryService::new(http, policy));
        Ok(Transport {
            client,
            timeout: backend.timeout,
        })
    }

    /// Sends a non-streamed request.
    pub(crate) async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, AgentError> {
        self.client
            .chat()
            .create_byot(request)
            .await
            .map_err(|e| self.error(e))
    }

    /// Sends a streamed request.
    pub(crate) async fn stream(&self, request: &ChatRequest) -> Result<ChunkStream, AgentError> {
        let stream = self
            .client
            .chat()
            .create_stream_byot(request)
            .await
            .map_err(|e| self.error(e))?;
        Ok(Box::pin(stream))
    }

    pub(crate) fn error(&self, error: OpenAIError) -> AgentError {
        match error {
            OpenAIError::ApiError(response) => AgentError::Api {
                status: response.status_code.as_u16(),
                message: response.api_error.message,
            },
            OpenAIError::Reqwest(e) if e.is_timeout() => AgentError::Timeout(self.timeout),
            OpenAIError::Reqwest(e) => AgentError::Connection(Box::new(e)),
            OpenAIError::Boxed(e) if e.is::<AttemptTimedOut>() => AgentError::Timeout(self.timeout),
            OpenAIError::JSONDeserialize(e, content) => {
                AgentError::MalformedResponse(format!("{e} in {}", truncate(&content, 200)))
            }
            OpenAIError::StreamError(e) => AgentError::MalformedResponse(e.to_string()),
            other => AgentError::Connection(Box::new(other)),
        }
    }
}

/// At most `max` characters of `text`, marked when cut.
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}
