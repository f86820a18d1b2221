//! What happened to the HTTP attempts of one model request, as the books need it: which
//! attempts were billed (the whole request was written and the client then gave up, or the
//! server answered 2xx), and why a response body broke off.
//!
//! The agent makes one [`AttemptLog`] per model request and runs the request inside
//! [`AttemptLog::scope`]; the retry service below async-openai finds it there (a tokio task
//! local, since async-openai passes nothing of ours through its middleware) and writes into
//! it. A request body is handed to the connection through [`AttemptLog::observed_body`], which
//! notes the moment the last byte is handed over. The attempt's deadline is reqwest's own
//! per-request timeout (one timer for connecting, sending and the whole body). A body that
//! breaks off is noted from reqwest's error: through [`AttemptLog::observed_response`] for a
//! stream (async-openai turns a stream's errors into text), and by the transport through
//! [`AttemptLog::note_read_error`] for a whole body (async-openai hands reqwest's error back).
//! A whole body is not rebuilt or wrapped: that costs a few microseconds per request.

use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;

use crate::inner::Answer;

tokio::task_local! {
    static CURRENT: Arc<AttemptLog>;
}

/// Why a response body stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyFailure {
    /// The attempt's deadline passed while the body was still arriving.
    Timeout,
    /// The connection broke (the server's or the network's doing).
    Connection(String),
}

#[derive(Debug, Default)]
struct State {
    /// Attempts that were billed but produced no usable response (written, then timed out or
    /// dropped, or a 2xx whose body broke off), in order.
    billed_failures: u32,
    /// The attempt under way has handed its whole body to the connection.
    written: bool,
    /// The attempt under way got a 2xx status: it is billed whatever happens next.
    answered: bool,
    /// Why the 2xx body of the last attempt stopped early, if it did.
    body_failure: Option<BodyFailure>,
}

/// The attempts of one model request.
#[derive(Debug)]
pub(crate) struct AttemptLog {
    /// Whether an attempt that was billed may be retried: only when no limit applies, since a
    /// retry is a second billed request that the request's reservation does not cover.
    retry_billed: bool,
    /// Whether the answer is one body or a stream of events.
    answer: Answer,
    state: Mutex<State>,
}

/// How many of a request's attempts the books must record, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Billed {
    /// Attempts cut off before a usable response (recorded as estimates, marked cut off).
    pub(crate) cut_off: u32,
    /// Whether the last attempt got a 2xx answer (recorded from its usage, or estimated).
    pub(crate) answered: bool,
}

impl AttemptLog {
    pub(crate) fn new(answer: Answer, retry_billed: bool) -> Arc<AttemptLog> {
        Arc::new(AttemptLog {
            retry_billed,
            answer,
            state: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `future` (an async-openai call) with this log as the current one.
    pub(crate) async fn scope<F: Future>(self: &Arc<Self>, future: F) -> F::Output {
        CURRENT.scope(Arc::clone(self), future).await
    }

    /// The log of the request being made, if it runs inside [`scope`](Self::scope).
    pub(crate) fn current() -> Option<Arc<AttemptLog>> {
        CURRENT.try_with(Arc::clone).ok()
    }

    pub(crate) fn may_retry_billed(&self) -> bool {
        self.retry_billed
    }

    /// A new attempt starts.
    pub(crate) fn start_attempt(&self) {
        let mut state = self.lock();
        state.written = false;
        state.answered = false;
        state.body_failure = None;
    }

    /// The attempt ended without a response (timeout, broken connection). Returns whether it
    /// was billed, i.e. its whole request had been written.
    pub(crate) fn attempt_failed(&self) -> bool {
        let mut state = self.lock();
        let billed = state.written;
        if billed {
            state.billed_failures = state.billed_failures.saturating_add(1);
        }
        state.written = false;
        billed
    }

    /// The attempt got a status: 2xx makes it billed; any other status means the server
    /// refused it, which is not billed.
    pub(crate) fn attempt_answered(&self, success: bool) {
        let mut state = self.lock();
        state.written = false;
        state.answered = success;
    }

    /// An error of reqwest's while the answer was read: if the attempt had a 2xx status, its
    /// body broke off (the deadline passed, or the connection broke).
    pub(crate) fn note_read_error(&self, error: &reqwest::Error) {
        let mut state = self.lock();
        if state.answered && state.body_failure.is_none() {
            state.body_failure = Some(BodyFailure::of(error));
        }
    }

    /// Why the 2xx body broke off, if it did.
    pub(crate) fn body_failure(&self) -> Option<BodyFailure> {
        self.lock().body_failure.clone()
    }

    /// What the books must record if the request ends now: with `in_flight`, an attempt
    /// whose request was written but whose answer never came counts too (the caller gave up).
    pub(crate) fn billed(&self, in_flight: bool) -> Billed {
        let state = self.lock();
        let cut_now = in_flight && state.written && !state.answered;
        Billed {
            cut_off: state.billed_failures.saturating_add(u32::from(cut_now)),
            answered: state.answered,
        }
    }

    /// A request body that notes when its last byte has been handed to the connection.
    /// Nothing is handed over before the connection is up, so a connect error leaves the
    /// attempt unbilled. `Content-Length` must be set by the caller: hyper keeps it, so the
    /// request is not sent chunked.
    pub(crate) fn observed_body(self: &Arc<Self>, bytes: Vec<u8>) -> reqwest::Body {
        let log = Arc::clone(self);
        let chunk = futures::stream::once(async move {
            log.lock().written = true;
            Ok::<Vec<u8>, std::io::Error>(bytes)
        });
        reqwest::Body::wrap_stream(chunk)
    }

    /// `response` (a 2xx) as the caller should read it: a whole body as it came; a stream with
    /// its failures noted, since async-openai keeps only their text.
    pub(crate) fn observed_response(
        self: &Arc<Self>,
        response: reqwest::Response,
    ) -> reqwest::Response {
        if self.answer == Answer::Whole {
            return response;
        }
        let mut builder = http::Response::builder()
            .status(response.status())
            .version(response.version());
        if let Some(headers) = builder.headers_mut() {
            headers.extend(
                response
                    .headers()
                    .iter()
                    .map(|(name, value)| (name.clone(), value.clone())),
            );
        }
        // The stream ends at its first error, which is noted.
        let noted = futures::stream::unfold(
            Some((response.bytes_stream(), Arc::clone(self))),
            |state| async move {
                let (mut chunks, log) = state?;
                match chunks.next().await? {
                    Ok(bytes) => Some((Ok(bytes), Some((chunks, log)))),
                    Err(error) => {
                        log.note_read_error(&error);
                        Some((Err(std::io::Error::other(error_chain(&error))), None))
                    }
                }
            },
        );
        match builder.body(reqwest::Body::wrap_stream(noted)) {
            Ok(rebuilt) => reqwest::Response::from(rebuilt),
            // The parts came from a valid response, so this cannot happen; should it, the
            // empty body reads as a malformed response, an error rather than a panic.
            Err(_) => response_fallback(),
        }
    }
}

impl BodyFailure {
    /// What reqwest's error while reading a body means.
    fn of(error: &reqwest::Error) -> BodyFailure {
        if error.is_timeout() {
            BodyFailure::Timeout
        } else {
            BodyFailure::Connection(error_chain(error))
        }
    }
}

fn response_fallback() -> reqwest::Response {
    reqwest::Response::from(http::Response::new(reqwest::Body::from(Vec::new())))
}

/// An error and its sources on one line, e.g. "error decoding response body: connection reset".
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
