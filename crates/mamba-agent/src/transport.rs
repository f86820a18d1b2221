//! The HTTP side: an async-openai client configured from settings (base URL, key, timeouts,
//! our retry service), sending our wire types and mapping its errors onto [`AgentError`].

use std::pin::Pin;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use futures::Stream;
use mamba_settings::ModelBackendSettings;

use std::sync::Arc;

use crate::AgentError;
use crate::attempt::{AttemptLog, BodyFailure, error_chain};
use crate::retry::{ApiFailure, RetryPolicy, RetryService};
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
    /// Requests would go to OpenAI's API without a key: refused before anything is sent.
    missing_key: bool,
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
        // `timeout` is the deadline of a whole attempt, enforced by the retry service (body and
        // stream included); connecting is part of it.
        let http = reqwest::Client::builder()
            .connect_timeout(backend.timeout)
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
            missing_key: backend.base_url.is_none() && backend.api_key.is_none(),
        })
    }

    /// Sends a non-streamed request; its attempts are reported to `log`.
    /// A request for OpenAI's API with no key would only come back 401 (or, offline, a DNS
    /// error that hides the cause): it is refused here, naming the ways to give a key.
    fn check_key(&self) -> Result<(), AgentError> {
        if self.missing_key {
            Err(AgentError::MissingApiKey {
                endpoint: OPENAI_BASE_URL,
            })
        } else {
            Ok(())
        }
    }

    pub(crate) async fn complete(
        &self,
        request: &ChatRequest,
        log: &Arc<AttemptLog>,
    ) -> Result<ChatResponse, AgentError> {
        self.check_key()?;
        log.scope(self.client.chat().create_byot(request))
            .await
            .map_err(|e| self.error(e, log))
    }

    /// Sends a streamed request; its attempts are reported to `log`.
    pub(crate) async fn stream(
        &self,
        request: &ChatRequest,
        log: &Arc<AttemptLog>,
    ) -> Result<ChunkStream, AgentError> {
        self.check_key()?;
        let stream = log
            .scope(self.client.chat().create_stream_byot(request))
            .await
            .map_err(|e| self.error(e, log))?;
        Ok(Box::pin(stream))
    }

    /// Our error for one of async-openai's. A body that broke off is a timeout or a
    /// connection error (as `log` saw it), never a malformed response.
    pub(crate) fn error(&self, error: OpenAIError, log: &AttemptLog) -> AgentError {
        if let OpenAIError::Reqwest(e) = &error {
            log.note_read_error(e);
        }
        match log.body_failure() {
            Some(BodyFailure::Timeout) => return AgentError::Timeout(self.timeout),
            Some(BodyFailure::Connection(reason)) => {
                return AgentError::Connection(reason.into());
            }
            None => {}
        }
        match error {
            OpenAIError::ApiError(response) => AgentError::Api {
                status: response.status_code.as_u16(),
                message: response.api_error.message,
            },
            OpenAIError::Boxed(e) => match e.downcast::<ApiFailure>() {
                Ok(failure) => AgentError::Api {
                    status: failure.status,
                    message: failure.message,
                },
                Err(other) => AgentError::Connection(error_chain(&*other).into()),
            },
            OpenAIError::Reqwest(e) if e.is_timeout() => AgentError::Timeout(self.timeout),
            OpenAIError::Reqwest(e) => AgentError::Connection(Box::new(e)),
            OpenAIError::JSONDeserialize(e, content) => {
                AgentError::MalformedResponse(format!("{e} in {}", truncate(&content, 200)))
            }
            OpenAIError::StreamError(e) => AgentError::MalformedResponse(e.to_string()),
            other => AgentError::Connection(Box::new(other)),
        }
    }
}

/// At most `max` characters of `text`, marked when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}
