//! Retries below async-openai's response parsing, so a retried request is parsed, recorded and
//! priced once: 429 (waiting `Retry-After` when given), 5xx, timeouts and connection errors,
//! with exponential backoff, at most `max_retries` times.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_openai::error::OpenAIError;
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use reqwest::Response;
use reqwest::header::RETRY_AFTER;
use tower::Service;

/// The longest wait between attempts, whatever `Retry-After` asks for.
const MAX_DELAY: Duration = Duration::from_secs(60);

/// How requests are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Retries after the first attempt.
    pub(crate) max_retries: u32,
    /// How long one attempt may wait for the response headers.
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

/// An attempt that timed out, carried through async-openai's boxed error.
#[derive(Debug, thiserror::Error)]
#[error("no response within {0:?}")]
pub(crate) struct AttemptTimedOut(pub(crate) Duration);

/// The HTTP service with our retry policy around it.
#[derive(Debug, Clone)]
pub(crate) struct RetryService {
    inner: ReqwestService,
    policy: RetryPolicy,
}

impl RetryService {
    pub(crate) fn new(client: reqwest::Client, policy: RetryPolicy) -> RetryService {
        RetryService {
            inner: ReqwestService::new(client),
            policy,
        }
    }
}

type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response, OpenAIError>> + Send>>;

impl Service<HttpRequestFactory> for RetryService {
    type Response = Response;
    type Error = OpenAIError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: HttpRequestFactory) -> Self::Future {
        let mut inner = self.inner.clone();
        let policy = self.policy;
        Box::pin(async move {
            let mut retry = 0;
            loop {
                let attempt = tokio::time::timeout(policy.timeout, inner.call(request.clone()));
                let outcome = match attempt.await {
                    Err(_) => Err(OpenAIError::Boxed(Box::new(AttemptTimedOut(
                        policy.timeout,
                    )))),
                    Ok(result) => result,
                };
                let Some(wait) = retry_wait(&outcome, &policy, retry) else {
                    return outcome;
                };
                if retry >= policy.max_retries {
                    return outcome;
                }
                retry += 1;
                tracing::warn!(
                    attempt = retry + 1,
                    max_attempts = policy.max_retries + 1,
                    wait_ms = wait.as_millis() as u64,
                    reason = %describe(&outcome),
                    "retrying the model request"
                );
                tokio::time::sleep(wait).await;
            }
        })
    }
}

/// How long to wait before retrying `outcome`, or `None` if it is final.
fn retry_wait(
    outcome: &Result<Response, OpenAIError>,
    policy: &RetryPolicy,
    retry: u32,
) -> Option<Duration> {
    match outcome {
        Ok(response) if response.status().as_u16() == 429 => Some(
            retry_after(response)
                .unwrap_or_else(|| policy.backoff(retry))
                .min(MAX_DELAY),
        ),
        Ok(response) if response.status().is_server_error() => Some(policy.backoff(retry)),
        Ok(_) => None,
        Err(OpenAIError::Reqwest(error)) if error.is_connect() || error.is_timeout() => {
            Some(policy.backoff(retry))
        }
        Err(OpenAIError::Boxed(error)) if error.is::<AttemptTimedOut>() => {
            Some(policy.backoff(retry))
        }
        Err(_) => None,
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

fn describe(outcome: &Result<Response, OpenAIError>) -> String {
    match outcome {
        Ok(response) => format!("HTTP {}", response.status()),
        Err(error) => error.to_string(),
    }
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
