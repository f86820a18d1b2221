//! Retries below async-openai's response parsing, so a retried request is parsed, recorded and
//! priced once: 429 (waiting `Retry-After` when given), 5xx, timeouts and connection errors,
//! with exponential backoff, at most `max_retries` times.
//!
//! Each attempt has one deadline, `timeout`: connecting, sending, and receiving the whole
//! response (for a stream, its last chunk). It is reqwest's per-request timeout, one timer per
//! attempt for all of that (a timer of our own around the send and another around every body
//! chunk cost more than tracking itself: the overhead bench). Every attempt is reported to the request's
//! [`AttemptLog`], so the books know which attempts were billed. An error status becomes
//! [`ApiFailure`] here, read leniently (numeric or string codes, no `type`, non-JSON bodies),
//! instead of async-openai's strict error type.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use reqwest::Response;
use reqwest::header::{CONTENT_LENGTH, HeaderValue, RETRY_AFTER};
use tower::Service;

use crate::attempt::AttemptLog;
use crate::inner::Answer;

/// The longest wait between attempts, whatever `Retry-After` asks for.
const MAX_DELAY: Duration = Duration::from_secs(60);

/// How requests are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Retries after the first attempt.
    pub(crate) max_retries: u32,
    /// The deadline of one attempt, body or stream included.
    pub(crate) timeout: Duration,
    /// The wait before the first retry; doubled for each later one.
    pub(crate) base_delay: Duration,
}

impl RetryPolicy {
    fn backoff(&self, retry: u32) -> Duration {
        self.base_delay
            .saturating_mul(2_u32.saturating_pow(retry))
            .min(MAX_DELAY)
    }
}

/// An error status from the server, with the message it gave.
#[derive(Debug, thiserror::Error)]
#[error("HTTP {status}: {message}")]
pub(crate) struct ApiFailure {
    pub(crate) status: u16,
    pub(crate) message: String,
}

/// The HTTP service with our retry policy around it.
#[derive(Debug, Clone)]
pub(crate) struct RetryService {
    client: reqwest::Client,
    policy: RetryPolicy,
}

impl RetryService {
    pub(crate) fn new(client: reqwest::Client, policy: RetryPolicy) -> RetryService {
        RetryService { client, policy }
    }
}

type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response, OpenAIError>> + Send>>;

/// What one attempt came to.
enum Outcome {
    /// A 2xx response, its body still to be read (bounded by the attempt's deadline).
    Success(Response),
    /// An error status, its body read.
    Status {
        status: u16,
        retry_after: Option<Duration>,
        message: String,
    },
    /// No response: a timeout or a connection error.
    Failed(OpenAIError),
}

impl Service<HttpRequestFactory> for RetryService {
    type Response = Response;
    type Error = OpenAIError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: HttpRequestFactory) -> Self::Future {
        let client = self.client.clone();
        let policy = self.policy;
        // Requests made outside an agent's request scope (none today) keep a log of their own.
        let log = AttemptLog::current().unwrap_or_else(|| AttemptLog::new(Answer::Whole, true));
        Box::pin(async move {
            let mut retry = 0;
            loop {
                log.start_attempt();
                let outcome = attempt(&client, &request, &log, policy.timeout).await;
                let wait = match &outcome {
                    Outcome::Success(_) => None,
                    Outcome::Status {
                        status,
                        retry_after,
                        ..
                    } => match status {
                        429 => Some(retry_after.unwrap_or_else(|| policy.backoff(retry))),
                        500..=599 => Some(policy.backoff(retry)),
                        _ => None,
                    },
                    Outcome::Failed(error) => {
                        let billed = log.attempt_failed();
                        let transient = match error {
                            OpenAIError::Reqwest(e) => e.is_connect() || e.is_timeout(),
                            _ => false,
                        };
                        (transient && (!billed || log.may_retry_billed()))
                            .then(|| policy.backoff(retry))
                    }
                };
                let wait = wait.map(|wait| wait.min(MAX_DELAY));
                match (wait, outcome) {
                    (Some(wait), outcome) if retry < policy.max_retries => {
                        retry += 1;
                        tracing::warn!(
                            attempt = retry + 1,
                            max_attempts = policy.max_retries + 1,
                            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                            reason = %describe(&outcome),
                            "retrying the model request"
                        );
                        tokio::time::sleep(wait).await;
                    }
                    (_, Outcome::Success(response)) => {
                        return Ok(log.observed_response(response));
                    }
                    (
                        _,
                        Outcome::Status {
                            status, message, ..
                        },
                    ) => {
                        return Err(OpenAIError::Boxed(Box::new(ApiFailure { status, message })));
                    }
                    (_, Outcome::Failed(error)) => return Err(error),
                }
            }
        })
    }
}

/// One attempt, up to its status (and, for an error status, its body), within `timeout`.
async fn attempt(
    client: &reqwest::Client,
    factory: &HttpRequestFactory,
    log: &Arc<AttemptLog>,
    timeout: Duration,
) -> Outcome {
    let send = async {
        let mut request = factory.build().await?;
        *request.timeout_mut() = Some(timeout);
        let bytes = request
            .body()
            .and_then(reqwest::Body::as_bytes)
            .map(<[u8]>::to_vec);
        if let Some(bytes) = bytes {
            request
                .headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            *request.body_mut() = Some(log.observed_body(bytes));
        }
        let response = client.execute(request).await?;
        let status = response.status();
        if status.is_success() {
            log.attempt_answered(true);
            return Ok(Outcome::Success(response));
        }
        log.attempt_answered(false);
        let retry_after = retry_after(&response);
        // A body that does not come within the deadline leaves the message to the status.
        let body = response.bytes().await.unwrap_or_default();
        Ok(Outcome::Status {
            status: status.as_u16(),
            retry_after,
            message: error_message(&body, status),
        })
    };
    match send.await {
        Err(error) => Outcome::Failed(error),
        Ok(outcome) => outcome,
    }
}

/// The message of an error body: `error.message` (whatever the type of `error.code`),
/// `error` as text, a top-level `message`, or the body itself (cut to 300 characters).
pub(crate) fn error_message(body: &[u8], status: reqwest::StatusCode) -> String {
    use serde_json::Value;
    let text = String::from_utf8_lossy(body);
    let from_json = serde_json::from_slice::<Value>(body).ok().and_then(|json| {
        let message = match &json["error"] {
            Value::Object(error) => error.get("message").and_then(Value::as_str),
            Value::String(message) => Some(message.as_str()),
            _ => None,
        };
        message
            .or_else(|| json["message"].as_str())
            .map(str::to_owned)
    });
    match from_json {
        Some(message) => message,
        None if text.trim().is_empty() => {
            status.canonical_reason().unwrap_or("no message").to_owned()
        }
        None => crate::transport::truncate(text.trim(), 300),
    }
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Success(response) => format!("HTTP {}", response.status()),
        Outcome::Status {
            status, message, ..
        } => format!("HTTP {status}: {message}"),
        Outcome::Failed(error) => error.to_string(),
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare for APIs and falls back to backoff).
fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    value
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy {
            max_retries: 10,
            timeout: Duration::from_secs(1),
            base_delay: Duration::from_millis(500),
        };
        let waits: Vec<u64> = (0..9)
            .map(|n| policy.backoff(n).as_millis() as u64)
            .collect();
        assert_eq!(
            waits,
            [
                500, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000
            ]
        );
    }
}
