//! Golden tests from the OpenAI cookbook "How to count tokens with tiktoken": its example
//! conversation and its tool example, with the counts the cookbook reports from the API.
//! The inputs are re-typed from the cookbook's published description.

use mamba_tokens::{ChatMessage, TokenCounter, ToolDefinition};
use serde_json::{Value, json};

fn jargon_conversation() -> Vec<ChatMessage> {
    vec![
        ChatMessage::system(
            "You are a helpful, pattern-following assistant that translates corporate jargon into plain English.",
        ),
        ChatMessage::system("New synergies will help drive top-line growth.").with_name("example_user"),
        ChatMessage::system("Things working well together will increase revenue.")
            .with_name("example_assistant"),
        ChatMessage::system(
            "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
        )
        .with_name("example_user"),
        ChatMessage::system("Let's talk later when we're less busy about how to do better.")
            .with_name("example_assistant"),
        ChatMessage::user(
            "This late pivot means we don't have time to boil the ocean for the client deliverable.",
        ),
    ]
}

fn weather_messages() -> Value {
    json!([
        {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
        {"role": "user", "content": "What's the weather like in San Francisco?"}
    ])
}

fn weather_tools() -> Value {
    json!([{
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {
                        "type": "string",
                        "description": "The city and state, e.g. San Francisco, CA"
                    },
                    "unit": {
                        "type": "string",
                        "description": "The unit of temperature to return",
                        "enum": ["celsius", "fahrenheit"]
                    }
                },
                "required": ["location"]
            }
        }
    }])
}

#[test]
fn example_conversation_counts_as_the_api_reported() {
    let cases = [
        ("gpt-3.5-turbo", 129),
        ("gpt-4-0613", 129),
        ("gpt-4", 129),
        ("gpt-4o", 124),
        ("gpt-4o-mini", 124),
    ];
    let typed = jargon_conversation();
    let json: Vec<Value> = typed
        .iter()
        .map(|m| serde_json::to_value(m).unwrap())
        .collect();
    for (model, expected) in cases {
        let counter = TokenCounter::for_model(model);
        assert_eq!(
            counter.count_messages(&typed),
            expected,
            "{model}, typed messages"
        );
        assert_eq!(
            counter.count_messages(&json),
            expected,
            "{model}, JSON messages"
        );
    }
}

#[test]
fn legacy_gpt_35_turbo_0301_uses_its_own_framing() {
    // 4 per message and -1 per name: 6 * 4 + 4 * -1 - (6 * 3 + 4 * 1) more than the current format.
    let counter = TokenCounter::for_model("gpt-3.5-turbo-0301");
    assert_eq!(counter.count_messages(&jargon_conversation()), 129 + 6 - 8);
}

#[test]
fn tool_example_counts_as_the_api_reported() {
    let messages = weather_messages();
    let messages = messages.as_array().unwrap();
    let tools = weather_tools();
    let tools = tools.as_array().unwrap();
    let typed_tools: Vec<ToolDefinition> = tools
        .iter()
        .map(|tool| serde_json::from_value(tool["function"].clone()).unwrap())
        .collect();
    for (model, expected) in [
        ("gpt-3.5-turbo", 105),
        ("gpt-4", 105),
        ("gpt-4o", 101),
        ("gpt-4o-mini", 101),
    ] {
        let counter = TokenCounter::for_model(model);
        let prompt = counter.count_messages(messages);
        assert_eq!(
            prompt + counter.count_tools(tools),
            expected,
            "{model}, JSON tools"
        );
        assert_eq!(
            prompt + counter.count_tools(&typed_tools),
            expected,
            "{model}, typed tools"
        );
    }
}

#[test]
fn tool_calls_and_results_count_their_text() {
    let counter = TokenCounter::for_model("gpt-4o");
    let call = ChatMessage::assistant("").with_tool_calls([mamba_tokens::ToolCall::new(
        "call_1",
        "get_weather",
        r#"{"city":"Paris"}"#,
    )]);
    let result = ChatMessage::tool("call_1", "18C and sunny");
    let expected = 3
        + (3 + counter.count("assistant")
            + counter.count("get_weather")
            + counter.count(r#"{"city":"Paris"}"#))
        + (3 + counter.count("tool") + counter.count("18C and sunny") + counter.count("call_1"));
    assert_eq!(
        counter.count_messages(&[call.clone(), result.clone()]),
        expected
    );

    // The same exchange as OpenAI JSON counts the same.
    let json = [
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
        ]}),
        json!({"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"}),
    ];
    assert_eq!(counter.count_messages(&json), expected);
}

#[test]
fn content_parts_count_their_text_only() {
    let counter = TokenCounter::for_model("gpt-4o");
    let parts = json!({"role": "user", "content": [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "text", "text": "this picture"}
    ]});
    let expected =
        3 + 3 + counter.count("user") + counter.count("Describe") + counter.count("this picture");
    assert_eq!(counter.count_messages(&[parts]), expected);
}

#[test]
fn a_refusal_part_sent_back_in_an_assistant_message_counts_its_text() {
    // OpenAI's assistant content parts are `text` and `refusal`; a refusal carries its words
    // in a `refusal` field, and the provider bills them as prompt tokens when they are sent
    // back.
    let counter = TokenCounter::for_model("gpt-4o");
    let refusal = json!({"role": "assistant", "content": [
        {"type": "refusal", "refusal": "I can't help with that."}
    ]});
    let expected = 3 + 3 + counter.count("assistant") + counter.count("I can't help with that.");
    assert_eq!(counter.count_messages(&[refusal]), expected);
}
