//! A scripted OpenAI-compatible server on 127.0.0.1 that injects faults, and keeps its own log
//! of what it billed: every request it read in full, with the status it sent (if any).
//!
//! A request counts as billed, as a provider bills it, when the server sent a 2xx status, or
//! when it read the whole request and never answered (it stalled, dropped the connection, or
//! the client went away first). The fault tests assert `recorded == billed` from this log.
//!
//! It speaks just enough HTTP/1.1: one request per connection, bodies by `Content-Length`
//! only (a chunked request is answered 411, so a client that stopped sending lengths fails
//! the tests), `Connection: close` on every answer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does with one request.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// A JSON answer with this status (and extra headers).
    Json {
        status: u16,
        body: Value,
        headers: Vec<(&'static str, String)>,
    },
    /// A raw answer (non-JSON bodies).
    Raw {
        status: u16,
        content_type: &'static str,
        body: String,
    },
    /// A chat completion with this usage; `completion` is capped by the request's
    /// `max_tokens`, as a real server caps it. The model is the one requested.
    Completion { prompt: u64, completion: u64 },
    /// Waits, then does the action.
    Delay(Duration, Box<Action>),
    /// Sends a 200 status and headers, then stalls before the body.
    StallBody,
    /// Sends a 200 status, headers announcing 1000 bytes and a few of them, then closes.
    CutBody,
    /// Reads the request and never answers.
    Stall,
    /// Reads the request and closes the connection without a word.
    DropAfterRead,
    /// A server-sent-event stream of these `data:` payloads, then `end`.
    Sse { events: Vec<Value>, end: SseEnd },
}

/// How a scripted stream ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SseEnd {
    /// `data: [DONE]`, then close.
    Done,
    /// Close without `[DONE]`.
    Close,
    /// Stop sending and keep the connection open.
    Stall,
}

/// One request the server read, and what it did.
#[derive(Debug, Clone, Default)]
pub(crate) struct Served {
    /// The request body, parsed.
    pub(crate) body: Value,
    /// The status the server sent, if it sent one.
    pub(crate) status: Option<u16>,
    /// The usage the server reported in its answer (prompt, completion), if any.
    pub(crate) usage: Option<(u64, u64)>,
}

impl Served {
    /// Whether a provider would bill this request.
    pub(crate) fn billed(&self) -> bool {
        match self.status {
            Some(status) => (200..300).contains(&status),
            None => true,
        }
    }
}

/// The server: a script of actions, served in order (the last one repeats).
#[derive(Clone)]
pub(crate) struct Scripted {
    pub(crate) url: String,
    log: Arc<Mutex<Vec<Served>>>,
}

impl Scripted {
    /// Starts a server on a free loopback port.
    pub(crate) async fn start(script: Vec<Action>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(script);
        let next = Arc::new(AtomicUsize::new(0));
        let server_log = Arc::clone(&log);
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let (log, script, next) = (
                    Arc::clone(&server_log),
                    Arc::clone(&script),
                    Arc::clone(&next),
                );
                tokio::spawn(async move { serve(socket, &script, &next, &log).await });
            }
        });
        Scripted { url, log }
    }

    /// A server that answers every request with a completion of this usage.
    pub(crate) async fn completions(prompt: u64, completion: u64) -> Scripted {
        Scripted::start(vec![Action::Completion { prompt, completion }]).await
    }

    /// Every request read, in order.
    pub(crate) fn served(&self) -> Vec<Served> {
        self.log.lock().unwrap().clone()
    }

    /// The requests a provider would bill.
    pub(crate) fn billed(&self) -> Vec<Served> {
        self.served().into_iter().filter(Served::billed).collect()
    }
}

async fn serve(
    mut socket: TcpStream,
    script: &[Action],
    next: &AtomicUsize,
    log: &Mutex<Vec<Served>>,
) {
    let Some(body) = read_request(&mut socket).await else {
        return;
    };
    let body = match body {
        Ok(body) => body,
        Err(status) => {
            let _ = respond(
                &mut socket,
                status,
                "text/plain",
                "chunked requests are refused",
            )
            .await;
            return;
        }
    };
    let index = next.fetch_add(1, Ordering::SeqCst);
    let action = script[index.min(script.len() - 1)].clone();
    let entry = {
        let mut log = log.lock().unwrap();
        log.push(Served {
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            ..Served::default()
        });
        log.len() - 1
    };
    let note = |status: Option<u16>, usage: Option<(u64, u64)>| {
        let mut log = log.lock().unwrap();
        log[entry].status = status;
        log[entry].usage = usage;
    };
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    act(&mut socket, action, &request, &note).await;
}

fn act<'a>(
    socket: &'a mut TcpStream,
    action: Action,
    request: &'a Value,
    note: &'a (dyn Fn(Option<u16>, Option<(u64, u64)>) + Send + Sync),
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
    Box::pin(async move {
        match action {
            Action::Json {
                status,
                body,
                headers,
            } => {
                note(Some(status), usage_of(&body));
                let _ = respond_with(
                    socket,
                    status,
                    "application/json",
                    &body.to_string(),
                    &headers,
                )
                .await;
            }
            Action::Raw {
                status,
                content_type,
                body,
            } => {
                note(Some(status), None);
                let _ = respond(socket, status, content_type, &body).await;
            }
            Action::Completion { prompt, completion } => {
                let cap = request["max_tokens"].as_u64().unwrap_or(u64::MAX);
                let completion = completion.min(cap);
                let model = request["model"].as_str().unwrap_or("unknown");
                let body = completion_body(model, "ok", prompt, completion);
                note(Some(200), Some((prompt, completion)));
                let _ = respond(socket, 200, "application/json", &body.to_string()).await;
            }
            Action::Delay(wait, then) => {
                tokio::time::sleep(wait).await;
                act(socket, *then, request, note).await;
            }
            Action::StallBody => {
                note(Some(200), None);
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\nconnection: close\r\n\r\n{\"id\":";
                let _ = socket.write_all(head.as_bytes()).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            Action::CutBody => {
                note(Some(200), None);
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\nconnection: close\r\n\r\n{\"id\":";
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.flush().await;
            }
            Action::Stall => tokio::time::sleep(Duration::from_secs(30)).await,
            Action::DropAfterRead => {}
            Action::Sse { events, end } => {
                let usage = events.iter().rev().find_map(usage_of);
                note(Some(200), usage);
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for event in events {
                    let line = format!("data: {event}\n\n");
                    if socket.write_all(line.as_bytes()).await.is_err() {
                        return;
                    }
                    let _ = socket.flush().await;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                match end {
                    SseEnd::Done => {
                        let _ = socket.write_all(b"data: [DONE]\n\n").await;
                    }
                    SseEnd::Close => {}
                    SseEnd::Stall => tokio::time::sleep(Duration::from_secs(30)).await,
                }
            }
        }
    })
}

/// The request's body, `Err(411)` for a chunked one, or `None` when the client went away.
async fn read_request(socket: &mut TcpStream) -> Option<Result<Vec<u8>, u16>> {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let read = socket.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    if head.contains("transfer-encoding: chunked") {
        return Some(Err(411));
    }
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let read = socket.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    Some(Ok(buffer[head_end..head_end + length].to_vec()))
}

async fn respond(
    socket: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    respond_with(socket, status, content_type, body, &[]).await
}

async fn respond_with(
    socket: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &str,
    headers: &[(&'static str, String)],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(body.as_bytes()).await?;
    socket.flush().await
}

fn usage_of(body: &Value) -> Option<(u64, u64)> {
    let usage = &body["usage"];
    Some((
        usage["prompt_tokens"].as_u64()?,
        usage["completion_tokens"].as_u64()?,
    ))
}

/// A chat-completion body.
pub(crate) fn completion_body(model: &str, content: &str, prompt: u64, completion: u64) -> Value {
    json!({
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "model": model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "finish_reason": "stop",
        }],
        "usage": { "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion },
    })
}

/// A JSON answer with no extra headers.
pub(crate) fn json_answer(status: u16, body: Value) -> Action {
    Action::Json {
        status,
        body,
        headers: Vec::new(),
    }
}

/// One streamed text chunk.
pub(crate) fn text_chunk(text: &str) -> Value {
    json!({
        "id": "chatcmpl-s", "object": "chat.completion.chunk", "model": "gpt-4o",
        "choices": [{ "index": 0, "delta": { "content": text }, "finish_reason": null }],
    })
}

/// The chunk that ends a streamed choice.
pub(crate) fn finish_chunk() -> Value {
    json!({
        "id": "chatcmpl-s", "object": "chat.completion.chunk", "model": "gpt-4o",
        "choices": [{ "index": 0, "delta": {}, "finish_reason": "stop" }],
    })
}

/// The usage chunk of a stream.
pub(crate) fn usage_chunk(prompt: u64, completion: u64) -> Value {
    json!({
        "id": "chatcmpl-s", "object": "chat.completion.chunk", "model": "gpt-4o", "choices": [],
        "usage": { "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion },
    })
}
