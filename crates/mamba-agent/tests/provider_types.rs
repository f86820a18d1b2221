//! A user holding async-openai's own response type gets the same exact record, in one call, as
//! from the raw body: `ProviderUsage::parse_serialized` on the typed value.

use async_openai::types::chat::CreateChatCompletionResponse;
use mamba_agent::usage::{ProviderUsage, UsageFormat};

/// An OpenAI Chat Completions response (shape of a real gpt-4.1 answer).
const BODY: &str = r#"{
  "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
  "object": "chat.completion",
  "created": 1741569952,
  "model": "gpt-4.1-2025-04-14",
  "choices": [{"index": 0, "finish_reason": "stop", "logprobs": null,
    "message": {"role": "assistant", "content": "Hello!", "refusal": null}}],
  "usage": {"prompt_tokens": 2019, "completion_tokens": 310, "total_tokens": 2329,
    "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 0,
      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
  "service_tier": "default"
}"#;

#[test]
fn an_async_openai_response_gives_the_same_record_as_its_body() {
    let typed: CreateChatCompletionResponse = serde_json::from_str(BODY).unwrap();
    let from_type = ProviderUsage::parse_serialized(UsageFormat::OpenAiChat, &typed).unwrap();
    let from_body = ProviderUsage::parse_str(UsageFormat::OpenAiChat, BODY).unwrap();
    assert_eq!(from_type, from_body);
    let record = from_type.to_record(&typed.model).unwrap();
    assert_eq!(
        (
            record.prompt_tokens(),
            record.cached_tokens(),
            record.completion_tokens(),
            record.reasoning_tokens()
        ),
        (2_019, 1_920, 310, 192)
    );
    // Its `usage` field alone reads the same.
    let usage = typed.usage.unwrap();
    assert_eq!(
        ProviderUsage::parse_serialized(UsageFormat::OpenAiChat, &usage).unwrap(),
        from_body
    );
}
