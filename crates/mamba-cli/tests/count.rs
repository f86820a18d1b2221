//! `mamba count` and `mamba messages` run as a user runs them: the counts equal
//! `TokenCounter`'s, whatever the number of threads; errors name the file; exit statuses.

mod support;

use mamba_tokens::{Encoding, TokenCounter};
use serde_json::{Value, json};
use support::*;

#[test]
fn files_are_counted_per_file_and_in_total_as_the_counter_counts_them() {
    let dir = Scratch::new("count");
    dir.file("a.txt", "Hello, world!");
    dir.file("b.txt", "The quick brown fox\njumps over the lazy dog.\n");
    let run = mamba_in(
        &dir.0,
        &["count", "a.txt", "b.txt", "--model", "gpt-4o"],
        None,
    );
    assert_eq!((run.status, run.stderr.as_str()), (Some(0), ""));
    assert_eq!(
        run.stdout,
        "TOKENS  FILE\n     4  a.txt\n    12  b.txt\n    16  total\n"
    );
    let counter = TokenCounter::for_model("gpt-4o");
    assert_eq!(
        counter.count("Hello, world!")
            + counter.count("The quick brown fox\njumps over the lazy dog.\n"),
        16
    );
}

#[test]
fn stdin_is_read_when_no_file_is_named_and_json_says_what_counted() {
    let dir = Scratch::new("stdin");
    let run = mamba_in(
        &dir.0,
        &["count", "--encoding", "cl100k_base", "--json"],
        Some("Hello, world!".as_bytes()),
    );
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        value,
        json!({
            "encoding": "cl100k_base",
            "model": null,
            "exact": true,
            "files": [{ "file": "-", "bytes": 13, "tokens": 4 }],
            "total_tokens": 4,
        })
    );
}

/// Mixed text of about 3 MB: prose, code, numbers, non-ASCII, blank lines, long lines.
fn mixed_text() -> String {
    let paragraph = "Tokenizers cut text into pieces; the pieces' counts must add up.\n\
                     fn main() { println!(\"{}\", 40 + 2); }\n\n\
                     Prix: 12,50 € — naïve café, 東京, Ελληνικά.\n    indented line\r\n\
                     12345678901234567890 !!! ??? ...\n";
    let mut text = String::new();
    for i in 0..12_000 {
        text.push_str(paragraph);
        if i % 100 == 0 {
            text.push_str(&"x".repeat(5_000));
            text.push('\n');
        }
    }
    text
}

#[test]
fn a_large_file_counts_the_same_on_one_thread_and_on_many() {
    let dir = Scratch::new("large");
    let text = mixed_text();
    dir.file("big.txt", &text);
    for encoding in [
        Encoding::O200kBase,
        Encoding::Cl100kBase,
        Encoding::P50kBase,
    ] {
        let expected = TokenCounter::from_encoding(encoding).count(&text);
        for jobs in ["1", "2", "4"] {
            let run = mamba_in(
                &dir.0,
                &[
                    "count",
                    "big.txt",
                    "--encoding",
                    encoding.name(),
                    "--jobs",
                    jobs,
                    "--json",
                ],
                None,
            );
            assert_eq!(run.status, Some(0), "{}", run.stderr);
            let value: Value = serde_json::from_str(&run.stdout).unwrap();
            assert_eq!(
                value["total_tokens"], expected,
                "{encoding} on {jobs} threads"
            );
        }
    }
}

#[test]
fn unreadable_inputs_are_named_the_others_still_counted_and_the_status_is_one() {
    let dir = Scratch::new("errors");
    dir.file("good.txt", "Hello, world!");
    dir.file("latin1.txt", b"caf\xe9 au lait");
    let run = mamba_in(
        &dir.0,
        &["count", "missing.txt", "good.txt", "latin1.txt"],
        None,
    );
    assert_eq!(run.status, Some(1));
    assert_eq!(run.stdout, "TOKENS  FILE\n     4  good.txt\n");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert!(
        lines[0].starts_with("mamba: error: could not read missing.txt: "),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[1],
        "mamba: error: latin1.txt is not UTF-8 text (invalid byte at offset 3)"
    );
}

#[test]
fn a_file_is_counted_while_it_is_read_from_disk_or_stdin_with_the_same_total() {
    // Several read blocks: one long line without a cut, a file and stdin of the same text.
    let dir = Scratch::new("blocks");
    let mut text = mixed_text();
    text.insert_str(text.len() / 2, &"y".repeat(3 << 20));
    dir.file("big.txt", &text);
    let expected = TokenCounter::for_model("gpt-4o").count(&text);
    for (args, stdin) in [
        (vec!["count", "big.txt", "--json"], None),
        (
            vec!["count", "-", "--json", "--jobs", "2"],
            Some(text.as_bytes()),
        ),
    ] {
        let run = mamba_in(&dir.0, &args, stdin);
        assert_eq!(run.status, Some(0), "{}", run.stderr);
        let value: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(value["files"][0]["bytes"], text.len(), "{args:?}");
        assert_eq!(value["total_tokens"], expected, "{args:?}");
    }
}

#[test]
fn text_that_stops_being_utf8_deep_in_a_large_file_is_named_with_its_first_bad_offset() {
    let dir = Scratch::new("late-latin1");
    let text = mixed_text();
    let mut bytes = text.clone().into_bytes();
    // Two bad bytes in different blocks: the first is reported.
    let first = text.len() / 2 + 1;
    let second = text.len() - 10;
    for at in [first, second] {
        bytes[at] = 0xff;
    }
    dir.file("late.txt", &bytes);
    dir.file("good.txt", "Hello, world!");
    let run = mamba_in(
        &dir.0,
        &["count", "late.txt", "good.txt", "--jobs", "2"],
        None,
    );
    assert_eq!(run.status, Some(1));
    assert_eq!(run.stdout, "TOKENS  FILE\n     4  good.txt\n");
    assert_eq!(
        run.stderr,
        format!("mamba: error: late.txt is not UTF-8 text (invalid byte at offset {first})\n")
    );
    assert_eq!(
        String::from_utf8(bytes)
            .unwrap_err()
            .utf8_error()
            .valid_up_to(),
        first
    );
}

#[test]
fn bad_arguments_are_usage_errors_with_status_two_that_name_the_value() {
    let run = mamba(&["count", "--encoding", "cl100k"]);
    assert_eq!(run.status, Some(2));
    assert!(
        run.stderr.contains("invalid value 'cl100k' for '--encoding <ENCODING>': unknown encoding `cl100k`: expected one of o200k_base"),
        "{}",
        run.stderr
    );
    let run = mamba(&["count", "--model", "gpt-4o", "--encoding", "cl100k_base"]);
    assert_eq!(run.status, Some(2));
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
    assert_eq!(mamba(&["count", "--jobs", "0"]).status, Some(2));
    assert_eq!(mamba(&["frobnicate"]).status, Some(2));
}

#[test]
fn a_model_with_a_tokenizer_of_its_own_gets_a_note_on_stderr_not_stdout() {
    let dir = Scratch::new("note");
    dir.file("a.txt", "Hello, world!");
    let run = mamba_in(
        &dir.0,
        &["count", "a.txt", "--model", "claude-sonnet-4-6"],
        None,
    );
    assert_eq!(run.status, Some(0));
    assert_eq!(run.stdout, "TOKENS  FILE\n     4  a.txt\n");
    assert_eq!(
        run.stderr,
        "mamba: note: `claude-sonnet-4-6` is not an OpenAI model with a known encoding: counting \
         with o200k_base, which can differ from what its provider bills\n"
    );
}

#[test]
fn a_conversation_is_counted_message_by_message_with_tools_and_overhead() {
    let dir = Scratch::new("messages");
    let tools = json!([{
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather of a city",
            "parameters": {
                "type": "object",
                "properties": { "city": { "type": "string", "description": "The city." } },
                "required": ["city"],
            },
        },
    }]);
    let messages = json!([
        { "role": "system", "content": "You are terse." },
        { "role": "user", "content": "Weather in Paris?", "name": "ada" },
        { "role": "assistant", "content": null, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": { "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" },
        }]},
        { "role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21C" },
    ]);
    let body = json!({ "model": "gpt-4o", "messages": messages, "tools": tools });
    dir.file("chat.json", body.to_string());
    let run = mamba_in(
        &dir.0,
        &["messages", "chat.json", "--model", "gpt-4o"],
        None,
    );
    assert_eq!(run.status, Some(0), "{}", run.stderr);

    let counter = TokenCounter::for_model("gpt-4o");
    let listed = messages.as_array().unwrap();
    let each: Vec<u64> = listed
        .iter()
        .map(|m| counter.count_messages(std::slice::from_ref(m)) - 3)
        .collect();
    let tool_tokens = counter.count_tools(tools.as_array().unwrap());
    let total = counter.count_messages(listed) + tool_tokens;
    assert_eq!(each.iter().sum::<u64>() + 3 + tool_tokens, total);
    assert_eq!(
        (each.as_slice(), tool_tokens, total),
        (&[8, 10, 11, 12][..], 37, 81)
    );
    assert_eq!(
        run.stdout,
        "#  ROLE           TOKENS\n\
         1  system              8\n\
         2  user               10\n\
         3  assistant          11\n\
         4  tool               12\n\
         \x20  tools (1)          37\n\
         \x20  reply priming       3\n\
         \x20  total              81\n"
    );

    // A bare list of messages, as JSON.
    dir.file("list.json", messages.to_string());
    let run = mamba_in(&dir.0, &["messages", "list.json", "--json"], None);
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(value["total_tokens"], counter.count_messages(listed));
    assert_eq!(
        value["messages"][3],
        json!({ "role": "tool", "tokens": 12 })
    );
}

#[test]
fn content_parts_without_text_are_named_on_stderr_and_refusals_are_counted() {
    let dir = Scratch::new("parts");
    let messages = json!([
        { "role": "user", "content": [
            { "type": "text", "text": "What is in this picture?" },
            { "type": "image_url", "image_url": { "url": "https://example.com/cat.png" } },
        ]},
        { "role": "assistant", "content": [{ "type": "refusal", "refusal": "I can't say." }] },
        { "role": "user", "content": [
            { "type": "input_audio", "input_audio": { "data": "UklGRg==", "format": "wav" } },
        ]},
    ]);
    dir.file("vision.json", messages.to_string());
    let counter = TokenCounter::for_model("gpt-4o");
    let user = 3 + counter.count("user") + counter.count("What is in this picture?");
    let refusal = 3 + counter.count("assistant") + counter.count("I can't say.");
    assert_eq!((user, refusal), (10, 8));

    let run = mamba_in(
        &dir.0,
        &["messages", "vision.json", "--model", "gpt-4o"],
        None,
    );
    assert_eq!(run.status, Some(0));
    assert_eq!(
        run.stdout,
        "#  ROLE           TOKENS\n\
         1  user               10\n\
         2  assistant           8\n\
         3  user                4\n\
         \x20  reply priming       3\n\
         \x20  total              25\n"
    );
    assert_eq!(
        run.stderr,
        "mamba: note: content parts without text are not counted, and providers bill them by \
         their own rules (image size and detail, audio length): message 1 (image_url), \
         message 3 (input_audio); the totals leave them out\n"
    );

    let run = mamba_in(&dir.0, &["messages", "vision.json", "--json"], None);
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        value["uncounted_parts"],
        json!([
            { "message": 1, "type": "image_url" },
            { "message": 3, "type": "input_audio" },
        ])
    );
    assert_eq!(value["total_tokens"], 25);
}

#[test]
fn a_conversation_file_that_is_not_one_is_an_error_naming_the_file_and_the_message() {
    let dir = Scratch::new("bad-messages");
    dir.file("a.json", "{\"messages\": [{\"content\": \"hi\"}]}");
    dir.file("b.json", "{\"messages\": [], \"tools\": 3}");
    dir.file("c.json", "not json");
    let cases = [
        (
            "a.json",
            "mamba: error: a.json: message 1 has no string `role`\n",
        ),
        (
            "b.json",
            "mamba: error: b.json: `tools` must be a list, not a number\n",
        ),
        (
            "c.json",
            "mamba: error: c.json is not JSON: expected ident at line 1 column 2\n",
        ),
    ];
    for (file, expected) in cases {
        let run = mamba_in(&dir.0, &["messages", file], None);
        assert_eq!((run.status, run.stderr.as_str()), (Some(1), expected));
    }
}
