//! Golden tests: real response shapes of each provider become records with our token
//! semantics (prompt includes cache reads and writes, completion includes reasoning), and bad
//! values are errors that name the field.

use mamba_usage::{ProviderUsage, UsageError, UsageFormat, UsageRecord};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/usage/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap()
}

/// `(prompt, completion, cached, cache write, of which 1h, reasoning, provider total)`.
fn counts(record: &UsageRecord) -> (u64, u64, u64, u64, u64, u64, Option<u64>) {
    (
        record.prompt_tokens(),
        record.completion_tokens(),
        record.cached_tokens(),
        record.cache_write_tokens(),
        record.cache_write_1h_tokens(),
        record.reasoning_tokens(),
        record.provider_total_tokens(),
    )
}

#[test]
fn every_shape_becomes_a_record_with_our_semantics() {
    let cases = [
        // OpenAI reports our semantics already; its total agrees, so it is not kept.
        (
            UsageFormat::OpenAiChat,
            "openai_chat.json",
            (2019, 310, 1920, 0, 0, 192, None),
        ),
        (
            UsageFormat::OpenAiChat,
            "openai_chat_stream_last.json",
            (9, 12, 0, 0, 0, 0, None),
        ),
        (
            UsageFormat::OpenAiResponses,
            "openai_responses.json",
            (328, 1052, 128, 0, 0, 896, None),
        ),
        // Anthropic's input excludes the cache: 21 + 188,086 written (all one-hour).
        (
            UsageFormat::Anthropic,
            "anthropic.json",
            (188_107, 393, 0, 188_086, 188_086, 0, None),
        ),
        // Gemini: tool-use prompt added to the prompt, thinking to the output; the total agrees.
        (
            UsageFormat::Gemini,
            "gemini.json",
            (11_374, 1_128, 8_192, 0, 0, 1_034, None),
        ),
    ];
    for (format, file, expected) in cases {
        let usage = ProviderUsage::parse_str(format, &fixture(file)).unwrap();
        assert!(usage.is_measured(), "{file}");
        let record = usage.to_record("m").unwrap();
        assert_eq!(counts(&record), expected, "{file}");
    }
}

#[test]
fn an_anthropic_stream_merges_its_start_and_delta() {
    let usage = fixture("anthropic_stream.jsonl")
        .lines()
        .map(|line| ProviderUsage::parse_str(UsageFormat::Anthropic, line).unwrap())
        .fold(ProviderUsage::default(), ProviderUsage::merge);
    let record = usage.to_record("claude-haiku-4-5").unwrap();
    assert_eq!(counts(&record), (2_520, 89, 2_048, 0, 0, 0, None));
}

#[test]
fn a_disagreeing_total_is_kept_and_missing_counts_are_not_measured() {
    let usage = ProviderUsage::parse_str(
        UsageFormat::OpenAiChat,
        r#"{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 16}"#,
    )
    .unwrap();
    assert_eq!(
        usage.to_record("m").unwrap().provider_total_tokens(),
        Some(16)
    );
    for empty in [r#"{"usage": {}}"#, r#"{"prompt_tokens": 10}"#] {
        let usage = ProviderUsage::parse_str(UsageFormat::OpenAiChat, empty).unwrap();
        assert!(!usage.is_measured(), "{empty}");
        assert!(
            matches!(usage.to_record("m"), Err(UsageError::ProviderUsage { .. })),
            "{empty}"
        );
    }
}

#[test]
fn bad_values_are_errors_that_name_the_field() {
    let cases = [
        (
            UsageFormat::OpenAiChat,
            r#"{"usage": {"prompt_tokens": "12", "completion_tokens": 1}}"#,
            "OpenAI Chat Completions usage, field `usage.prompt_tokens`: \"12\" is not a whole number of tokens",
        ),
        (
            UsageFormat::OpenAiChat,
            r#"{"prompt_tokens": 12, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": -3}}"#,
            "OpenAI Chat Completions usage, field `prompt_tokens_details.cached_tokens`: -3 is not a whole number of tokens",
        ),
        (
            UsageFormat::Anthropic,
            r#"{"type": "message_start", "message": {"usage": {"input_tokens": 1.5}}}"#,
            "Anthropic Messages usage, field `message.usage.input_tokens`: 1.5 is not a whole number of tokens",
        ),
        (
            UsageFormat::Gemini,
            r#"{"usageMetadata": {"promptTokenCount": 3, "thoughtsTokenCount": null, "candidatesTokenCount": true}}"#,
            "Gemini usage, field `usageMetadata.candidatesTokenCount`: true is not a whole number of tokens",
        ),
        (
            UsageFormat::OpenAiResponses,
            r#"{"usage": 7}"#,
            "OpenAI Responses usage: 7 is not an object",
        ),
        (
            UsageFormat::Gemini,
            "not json",
            "Gemini usage: the text is not JSON: expected ident at line 1 column 2",
        ),
    ];
    for (format, text, message) in cases {
        let error = ProviderUsage::parse_str(format, text).unwrap_err();
        assert_eq!(error.to_string(), message, "{text}");
    }
}

#[test]
fn details_larger_than_their_totals_are_refused() {
    let usage = ProviderUsage::parse_str(
        UsageFormat::OpenAiChat,
        r#"{"prompt_tokens": 10, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 11}}"#,
    )
    .unwrap();
    assert!(matches!(
        usage.to_record("m"),
        Err(UsageError::SubsetExceedsTotal { .. })
    ));
}
