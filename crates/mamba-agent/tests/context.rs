//! Context management: each strategy on the same conversation with exact token counts before
//! and after, the model strategies against a loopback server with fixed answers (their
//! requests recorded as compaction usage), and the invariants of every compaction: the count
//! is the counter's count of what is left, no tool result is separated from its call, and the
//! preserved turns are untouched.

mod support;

use mamba_agent::context::{CompactionConfig, CompactionStrategy, ContextError, ContextManager};
use mamba_agent::tokens::TokenCounter;
use mamba_agent::{ChatMessage, Role, ToolCall};
use proptest::prelude::*;
use serde_json::Value;
use support::*;

const SYSTEM: &str = "You are a weather assistant.";

fn counter() -> TokenCounter {
    TokenCounter::for_model("gpt-4o")
}

/// Three turns: two with a tool call each, then a short one.
fn conversation() -> Vec<ChatMessage> {
    vec![
        ChatMessage::user("Weather in Paris?"),
        ChatMessage::assistant("").with_tool_calls([ToolCall::new(
            "call_1",
            "get_weather",
            r#"{"city":"Paris"}"#,
        )]),
        ChatMessage::tool(
            "call_1",
            "Sunny, 24 degrees, light wind from the west, no rain expected today",
        ),
        ChatMessage::assistant("Sunny and 24 degrees."),
        ChatMessage::user("And in Rome?"),
        ChatMessage::assistant("").with_tool_calls([ToolCall::new(
            "call_2",
            "get_weather",
            r#"{"city":"Rome"}"#,
        )]),
        ChatMessage::tool(
            "call_2",
            "Rain, 18 degrees, strong wind from the north, storms expected tonight",
        ),
        ChatMessage::assistant("Rainy and 18 degrees."),
        ChatMessage::user("Thanks! Anything else?"),
        ChatMessage::assistant("No, that's all."),
    ]
}

fn manager(config: CompactionConfig) -> ContextManager {
    let mut context = ContextManager::new(config, counter());
    context.add_messages([ChatMessage::system(SYSTEM)]);
    context.add_messages(conversation());
    context
}

/// The counter's own count of the prompt the manager holds.
fn recounted(context: &ContextManager) -> u64 {
    let mut all = vec![ChatMessage::system(
        context.system_prompt().unwrap_or_default(),
    )];
    if context.system_prompt().is_none() {
        all.clear();
    }
    all.extend_from_slice(context.messages());
    counter().count_messages(&all)
}

/// No tool message without the assistant message that called it just before it (with other
/// results of the same call in between).
fn assert_no_orphan_results(messages: &[ChatMessage]) {
    for (index, message) in messages.iter().enumerate() {
        if message.role != Role::Tool {
            continue;
        }
        let id = message.tool_call_id.as_deref().unwrap();
        let caller = messages[..index]
            .iter()
            .rev()
            .find(|earlier| earlier.role != Role::Tool)
            .unwrap_or_else(|| panic!("result {id} has no call before it"));
        assert!(
            caller.tool_calls.iter().any(|call| call.id == id),
            "result {id} is separated from its call"
        );
    }
}

fn contents(messages: &[ChatMessage]) -> Vec<String> {
    messages
        .iter()
        .map(|message| {
            let calls: Vec<&str> = message.tool_calls.iter().map(|c| c.id.as_str()).collect();
            format!(
                "{}:{}{}",
                message.role.as_str(),
                message.content,
                calls.join(",")
            )
        })
        .collect()
}

#[test]
fn the_count_is_the_counters_count_of_system_prompt_and_messages() {
    let context = manager(CompactionConfig::default());
    // The system prompt 10; turn one 8 + 11 (the call) + 23 (its result) + 10 = 52; turn
    // two 8 + 11 + 22 + 11 = 52; turn three 9 + 9; and 3 to prime the reply.
    assert_eq!(context.token_count(), recounted(&context));
    assert_eq!(context.token_count(), 10 + 52 + 52 + 18 + 3);
    assert_eq!(context.messages().len(), 10);
    assert_eq!(context.system_prompt(), Some(SYSTEM));
}

struct Case {
    strategy: CompactionStrategy,
    trigger: u64,
    target: u64,
    turns: u32,
    removed: usize,
    after: u64,
    strategy_name: &'static str,
    left: &'static [&'static str],
}

#[tokio::test]
async fn each_deterministic_strategy_compacts_the_conversation_exactly() {
    let cases = [
        Case {
            strategy: CompactionStrategy::SlidingWindow,
            trigger: 130,
            target: 90,
            turns: 1,
            removed: 4,
            after: 135 - 52,
            strategy_name: "sliding_window",
            left: &[
                "user:And in Rome?",
                "assistant:call_2",
                "tool:Rain, 18 degrees, strong wind from the north, storms expected tonight",
                "assistant:Rainy and 18 degrees.",
                "user:Thanks! Anything else?",
                "assistant:No, that's all.",
            ],
        },
        Case {
            strategy: CompactionStrategy::SlidingWindow,
            trigger: 130,
            target: 30,
            turns: 1,
            removed: 8,
            after: 3 + 10 + 18,
            strategy_name: "sliding_window",
            left: &["user:Thanks! Anything else?", "assistant:No, that's all."],
        },
        Case {
            strategy: CompactionStrategy::SelectivePruning,
            trigger: 130,
            target: 110,
            turns: 1,
            removed: 4,
            // Each call and its result become one line of 11 tokens.
            after: 135 - (11 + 23) - (11 + 22) + 11 + 11,
            strategy_name: "selective_pruning",
            left: &[
                "user:Weather in Paris?",
                "assistant:[Called tools: get_weather]",
                "assistant:Sunny and 24 degrees.",
                "user:And in Rome?",
                "assistant:[Called tools: get_weather]",
                "assistant:Rainy and 18 degrees.",
                "user:Thanks! Anything else?",
                "assistant:No, that's all.",
            ],
        },
        Case {
            strategy: CompactionStrategy::Hybrid,
            trigger: 130,
            target: 60,
            turns: 1,
            removed: 4 + 6,
            after: 3 + 10 + 18,
            strategy_name: "hybrid(selective_pruning+sliding_window)",
            left: &["user:Thanks! Anything else?", "assistant:No, that's all."],
        },
        Case {
            strategy: CompactionStrategy::Hybrid,
            trigger: 130,
            target: 120,
            turns: 1,
            removed: 2,
            after: 135 - (11 + 23) + 11,
            strategy_name: "hybrid(selective_pruning)",
            left: &[
                "user:Weather in Paris?",
                "assistant:[Called tools: get_weather]",
                "assistant:Sunny and 24 degrees.",
                "user:And in Rome?",
                "assistant:call_2",
                "tool:Rain, 18 degrees, strong wind from the north, storms expected tonight",
                "assistant:Rainy and 18 degrees.",
                "user:Thanks! Anything else?",
                "assistant:No, that's all.",
            ],
        },
        // Every turn preserved: nothing can go, and the result says it stayed above target.
        Case {
            strategy: CompactionStrategy::SlidingWindow,
            trigger: 130,
            target: 80,
            turns: 3,
            removed: 0,
            after: 135,
            strategy_name: "sliding_window",
            left: &[],
        },
    ];
    for case in cases {
        let config = CompactionConfig::default()
            .with_strategy(case.strategy)
            .with_thresholds(case.trigger, case.target)
            .with_preserve_recent_turns(case.turns);
        let mut context = manager(config);
        assert!(context.should_compact());
        let result = context.compact().await.unwrap();
        let label = format!("{} to {}", case.strategy, case.target);
        assert_eq!(result.strategy, case.strategy_name, "{label}");
        assert_eq!(result.tokens_before, 135, "{label}");
        assert_eq!(
            (result.removed_count, result.tokens_after),
            (case.removed, case.after),
            "{label}"
        );
        assert_eq!(result.tokens_after, recounted(&context), "{label}");
        assert_eq!(context.token_count(), result.tokens_after, "{label}");
        if !case.left.is_empty() {
            assert_eq!(contents(&result.messages), case.left, "{label}");
        } else {
            assert_eq!(result.messages, conversation(), "{label}");
        }
        assert_eq!(result.messages, context.messages(), "{label}");
        assert_no_orphan_results(&result.messages);
        assert!(result.records.is_empty(), "{label}");
        // Only a compaction that changed something is history.
        let history: &[_] = if case.removed > 0 { &[result] } else { &[] };
        assert_eq!(context.compaction_history(), history, "{label}");
    }
}

#[tokio::test]
async fn below_the_target_nothing_changes() {
    let config = CompactionConfig::default().with_thresholds(200, 150);
    let mut context = manager(config);
    assert!(!context.should_compact());
    let result = context.compact().await.unwrap();
    assert_eq!(
        (
            result.removed_count,
            result.tokens_before,
            result.tokens_after
        ),
        (0, 135, 135)
    );
    assert_eq!(result.messages, conversation());
}

#[tokio::test]
async fn a_target_not_below_the_trigger_is_an_error_naming_both_and_where_the_trigger_comes_from() {
    use mamba_agent::pricing::ContextWindow;
    let target_alone = |tokens: u64| {
        let mut config = CompactionConfig::default();
        config.target_tokens = Some(tokens);
        config
    };
    // (config, window, trigger, target, where the trigger comes from)
    let cases = [
        (
            CompactionConfig::default().with_thresholds(100, 100),
            None,
            100,
            100,
            "as set",
        ),
        (
            target_alone(120_000),
            Some(ContextWindow::new(Some(128_000), Some(16_384))),
            111_616,
            120_000,
            "the model's input window of 128000 tokens less its largest answer of 16384",
        ),
        (
            target_alone(100_000),
            None,
            100_000,
            100_000,
            "the default trigger, as no usable context window is known",
        ),
    ];
    for (config, window, trigger, target, origin) in cases {
        let mut context = manager(config);
        if let Some(window) = window {
            context = context.with_context_window(window);
        }
        let error = context.compact().await.unwrap_err();
        assert!(
            matches!(error, ContextError::TargetNotBelowTrigger { trigger: t, target: g, .. } if (t, g) == (trigger, target)),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            format!(
                "the compaction target ({target} tokens) is not below the trigger ({trigger} \
                 tokens: {origin}); set a lower target, or a trigger above it"
            )
        );
        assert_eq!(context.messages(), conversation(), "left as it was");
        assert!(context.compaction_history().is_empty());
    }
}

#[tokio::test]
async fn the_model_strategies_need_a_model_and_leave_the_conversation_alone_without_one() {
    for strategy in [
        CompactionStrategy::SummarizeOlder,
        CompactionStrategy::ImportanceScoring,
    ] {
        let config = CompactionConfig::default()
            .with_strategy(strategy)
            .with_thresholds(130, 80)
            .with_preserve_recent_turns(1);
        let mut context = manager(config);
        let error = context.compact().await.unwrap_err();
        assert!(matches!(error, ContextError::NeedsModel { .. }));
        assert_eq!(
            error.to_string(),
            format!(
                "the `{strategy}` strategy needs a model to ask: give the context manager one \
                 with `with_model(agent)`"
            )
        );
        assert_eq!(context.messages(), conversation());
        assert!(context.compaction_history().is_empty());
    }
}

/// The text of the one user message of a request body.
fn asked(body: &Value) -> String {
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{body}");
    assert_eq!(messages[0]["role"], "user");
    messages[0]["content"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn summarize_older_asks_the_model_and_records_the_request_as_compaction_usage() {
    let server = server().await;
    then(
        &server,
        completion(
            "gpt-4o-mini",
            "The user asked for the weather: Paris sunny, 24 degrees; Rome rainy, 18 degrees.",
            Some(usage(210, 22)),
        ),
    )
    .await;
    let model = agent(&server, "gpt-4o-mini");
    let config = CompactionConfig::default()
        .with_strategy(CompactionStrategy::SummarizeOlder)
        .with_thresholds(130, 80)
        .with_preserve_recent_turns(1);
    let mut context = manager(config).with_model(model.clone());
    let result = context.compact().await.unwrap();

    assert_eq!(
        contents(&result.messages),
        [
            "user:Summary of the earlier conversation:\nThe user asked for the weather: Paris \
             sunny, 24 degrees; Rome rainy, 18 degrees.",
            "user:Thanks! Anything else?",
            "assistant:No, that's all.",
        ]
    );
    assert_eq!((result.removed_count, result.tokens_before), (8, 135));
    assert_eq!(result.tokens_after, recounted(&context));
    // The system prompt, the summary message (31) and the last turn.
    assert_eq!(result.tokens_after, 3 + 10 + 31 + 18);
    assert!(result.tokens_after <= 80);
    // The request: the transcript of the eight older messages, nothing else.
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    let prompt = asked(&body);
    assert!(
        prompt.ends_with(
            "user: Weather in Paris?\nassistant:  [calls get_weather({\"city\":\"Paris\"})]\n\
             tool result: Sunny, 24 degrees, light wind from the west, no rain expected today\n\
             assistant: Sunny and 24 degrees.\nuser: And in Rome?\nassistant:  [calls \
             get_weather({\"city\":\"Rome\"})]\ntool result: Rain, 18 degrees, strong wind \
             from the north, storms expected tonight\nassistant: Rainy and 18 degrees."
        ),
        "{prompt}"
    );
    // Recorded and priced in the model agent's books, labelled as compaction.
    assert_eq!(result.records.len(), 1);
    let record = &result.records[0];
    assert_eq!(
        (record.prompt_tokens(), record.completion_tokens()),
        (210, 22)
    );
    assert_eq!(record.labels().get("operation"), Some("compaction"));
    assert_eq!(result.usage.total_tokens, 232);
    assert_eq!(model.usage().total_tokens, 232);
    assert_eq!(model.usage_history().len(), 1);
    assert_no_orphan_results(&result.messages);
}

#[tokio::test]
async fn importance_scoring_drops_the_parts_the_model_rates_lowest() {
    let server = server().await;
    // Parts: 1 the Paris question, 2 its call, 3 its answer, 4 the Rome question, 5 its call,
    // 6 its answer. The Rome call scores lowest; dropping it (33 tokens) is enough.
    then(
        &server,
        completion(
            "gpt-4o",
            "1: 6\n2: 2\n3: 8\n4: 7\n5: 1\n6: 9",
            Some(usage(300, 18)),
        ),
    )
    .await;
    let model = agent(&server, "gpt-4o");
    let config = CompactionConfig::default()
        .with_strategy(CompactionStrategy::ImportanceScoring)
        .with_thresholds(130, 105)
        .with_preserve_recent_turns(1);
    let mut context = manager(config).with_model(model.clone());
    let result = context.compact().await.unwrap();
    assert_eq!(
        contents(&result.messages),
        [
            "user:Weather in Paris?",
            "assistant:call_1",
            "tool:Sunny, 24 degrees, light wind from the west, no rain expected today",
            "assistant:Sunny and 24 degrees.",
            "user:And in Rome?",
            "assistant:Rainy and 18 degrees.",
            "user:Thanks! Anything else?",
            "assistant:No, that's all.",
        ]
    );
    assert_eq!((result.removed_count, result.tokens_before), (2, 135));
    assert_eq!(result.tokens_after, recounted(&context));
    assert_eq!(result.tokens_after, 135 - 33);
    assert_no_orphan_results(&result.messages);
    let body: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    let prompt = asked(&body);
    assert!(
        prompt.contains(
            "[5]\nassistant:  [calls get_weather({\"city\":\"Rome\"})]\ntool result: Rain"
        ),
        "{prompt}"
    );
    assert_eq!(
        result.records[0].labels().get("operation"),
        Some("compaction")
    );
}

#[tokio::test]
async fn an_unusable_answer_is_an_error_that_quotes_it_and_changes_nothing() {
    let server = server().await;
    then(
        &server,
        completion(
            "gpt-4o",
            "Sure! Here are the scores: 1: 5",
            Some(usage(300, 9)),
        ),
    )
    .await;
    let model = agent(&server, "gpt-4o");
    let config = CompactionConfig::default()
        .with_strategy(CompactionStrategy::ImportanceScoring)
        .with_thresholds(130, 90)
        .with_preserve_recent_turns(1);
    let mut context = manager(config).with_model(model.clone());
    let error = context.compact().await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the model's answer to the importance scores request was unusable: the line `Sure! \
         Here are the scores: 1: 5` is not `number: score` for a part from 1 to 6 and a score \
         from 0 to 10"
    );
    assert_eq!(context.messages(), conversation());
    assert!(context.compaction_history().is_empty());
    // The request was billed, so it stays in the books.
    assert_eq!(model.usage().total_tokens, 309);
}

/// A conversation made of `turns`, each a user message then answers with or without a tool
/// call of `results` results.
fn arbitrary_conversation() -> impl Strategy<Value = Vec<ChatMessage>> {
    let turn = (
        "[a-z ]{0,40}",
        prop::collection::vec((any::<bool>(), 1..3_usize, "[a-z ,.]{0,60}"), 0..4),
    );
    prop::collection::vec(turn, 0..8).prop_map(|turns| {
        let mut messages = Vec::new();
        let mut next_id = 0;
        for (question, answers) in turns {
            messages.push(ChatMessage::user(question));
            for (calls_tool, results, text) in answers {
                if calls_tool {
                    let calls: Vec<ToolCall> = (0..results)
                        .map(|_| {
                            next_id += 1;
                            ToolCall::new(format!("call_{next_id}"), "lookup", "{}")
                        })
                        .collect();
                    let ids: Vec<String> = calls.iter().map(|c| c.id.clone()).collect();
                    messages.push(ChatMessage::assistant("").with_tool_calls(calls));
                    for id in ids {
                        messages.push(ChatMessage::tool(id, text.clone()));
                    }
                } else {
                    messages.push(ChatMessage::assistant(text));
                }
            }
        }
        messages
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn every_compaction_keeps_the_count_exact_calls_with_results_and_recent_turns_whole(
        messages in arbitrary_conversation(),
        strategy in prop::sample::select(vec![
            CompactionStrategy::SlidingWindow,
            CompactionStrategy::SelectivePruning,
            CompactionStrategy::Hybrid,
        ]),
        target in 10_u64..400,
        turns in 0_u32..4,
    ) {
        let config = CompactionConfig::default()
            .with_strategy(strategy)
            .with_thresholds(target + 1, target)
            .with_preserve_recent_turns(turns);
        let mut context = ContextManager::new(config, counter());
        context.add_messages([ChatMessage::system(SYSTEM)]);
        // Added one by one, the running count never drifts from a full recount.
        for message in &messages {
            context.add_messages([message.clone()]);
            prop_assert_eq!(context.token_count(), recounted(&context));
        }
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let result = runtime.block_on(context.compact()).unwrap();
        prop_assert_eq!(result.tokens_after, recounted(&context));
        prop_assert!(result.tokens_after <= result.tokens_before);
        assert_no_orphan_results(&result.messages);
        // The preserved turns are the same messages at the end.
        let user_indices: Vec<usize> = messages.iter().enumerate()
            .filter(|(_, m)| m.role == Role::User).map(|(i, _)| i).collect();
        let preserved_from = if turns == 0 {
            messages.len()
        } else if user_indices.len() >= turns as usize {
            user_indices[user_indices.len() - turns as usize]
        } else {
            0
        };
        let preserved = &messages[preserved_from..];
        prop_assert!(result.messages.ends_with(preserved));
        // Dropping turns stops above the target only when nothing but the preserved turns
        // is left.
        if result.tokens_after > target && strategy != CompactionStrategy::SelectivePruning {
            prop_assert_eq!(result.messages.len(), preserved.len());
        }
    }
}

/// An agent on the loopback server whose `[context]` is `context`.
fn agent_with_context(
    server: &wiremock::MockServer,
    configure: impl FnOnce(
        mamba_agent::settings::SettingsBuilder,
    ) -> mamba_agent::settings::SettingsBuilder,
) -> mamba_agent::Agent {
    let settings = configure(
        mamba_agent::settings::AgentSettings::builder()
            .defaults_only()
            .base_url(format!("{}/v1", server.uri()))
            .api_key("sk-test")
            .local(false)
            .max_retries(0),
    )
    .build()
    .unwrap();
    mamba_agent::Agent::builder("gpt-4o")
        .settings(settings)
        .system_prompt(SYSTEM)
        .tool(weather_tool(Default::default()))
        .build()
        .unwrap()
}

#[test]
fn a_target_must_be_below_the_trigger_the_model_gets() {
    let build = |model: &str, target: u64, summarizer: &str| {
        let settings = mamba_agent::settings::AgentSettings::builder()
            .defaults_only()
            .compaction_target_tokens(target)
            .summarization_model(summarizer)
            .build()
            .unwrap();
        mamba_agent::Agent::builder(model)
            .settings(settings)
            .build()
    };
    // gpt-4o reads 128,000 tokens and answers at most 16,384: a trigger of 111,616.
    assert!(build("gpt-4o", 111_615, "same").is_ok());
    let error = build("gpt-4o", 111_616, "same").unwrap_err();
    assert!(matches!(
        error,
        mamba_agent::AgentError::CompactionTarget {
            target: 111_616,
            trigger: 111_616,
            ..
        }
    ));
    assert_eq!(
        error.to_string(),
        "`context.target_tokens` (111616) is not below the compaction trigger of `gpt-4o` \
         (111616: the model's input window of 128000 tokens less its largest answer of 16384); \
         set a lower target, or `context.trigger_threshold_tokens` above it"
    );
    // A model without window data gets the default trigger of 100,000.
    assert_eq!(
        build("our-own-model", 100_000, "same")
            .unwrap_err()
            .to_string(),
        "`context.target_tokens` (100000) is not below the compaction trigger of \
         `our-own-model` (100000: the default trigger, as no usable context window is known); \
         set a lower target, or `context.trigger_threshold_tokens` above it"
    );
    // The summaries' writer (gpt-4o-mini has the same window) is never compacted, so only the
    // agent's own model is checked: a target that fits gpt-4.1 (a million tokens) builds.
    assert!(build("gpt-4.1", 200_000, "gpt-4o-mini").is_ok());
    // With a trigger set too, the settings check the pair when they are read.
    let error = mamba_agent::settings::AgentSettings::builder()
        .defaults_only()
        .compaction_trigger_tokens(1_000)
        .compaction_target_tokens(1_000)
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("1000 is not below"), "{error}");
    // Settings made in code are not read, so the agent checks their pair when it is built.
    let mut settings = mamba_agent::settings::AgentSettings::builder()
        .defaults_only()
        .build()
        .unwrap();
    settings.context = CompactionConfig::default().with_thresholds(1_000, 1_000);
    let error = mamba_agent::Agent::builder("gpt-4o")
        .settings(settings)
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "`context.target_tokens` (1000) is not below the compaction trigger of `gpt-4o` \
         (1000: as set); set a lower target, or `context.trigger_threshold_tokens` above it"
    );
}

/// The answers of two runs: Paris (90 + 8 tokens), then Rome (110 + 8).
async fn script_two_weather_answers(server: &wiremock::MockServer) {
    then(
        server,
        completion("gpt-4o", "Paris is sunny, 24 degrees.", Some(usage(90, 8))),
    )
    .await;
    then(
        server,
        completion("gpt-4o", "Rome is rainy, 18 degrees.", Some(usage(110, 8))),
    )
    .await;
}

#[tokio::test]
async fn an_agent_summarizes_its_older_turns_after_the_run_that_reaches_the_trigger() {
    let server = server().await;
    script_two_weather_answers(&server).await;
    then(
        &server,
        completion("gpt-4o", "Paris was sunny, 24 degrees.", Some(usage(40, 7))),
    )
    .await;
    // The system prompt and the tool definition alone.
    let empty = agent_with_context(&server, |settings| settings).context_token_count();
    // Two turns (8 + 12 tokens each) pass the trigger; one and a question do not.
    let agent = agent_with_context(&server, |settings| {
        settings
            .compaction_strategy(CompactionStrategy::SummarizeOlder)
            .compaction_trigger_tokens(empty + 30)
            .compaction_target_tokens(empty + 25)
            .preserve_recent_turns(1)
    });
    assert_eq!(agent.context_state().token_count, empty);

    agent.run("Weather in Paris?").await.unwrap();
    assert_eq!(agent.context_token_count(), empty + 8 + 12);
    assert!(!agent.should_compact());
    agent.run("And in Rome?").await.unwrap();

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3);
    let summary_request: Value = serde_json::from_slice(&requests[2].body).unwrap();
    // The conversation alone: no system prompt, no tools.
    assert!(summary_request.get("tools").is_none(), "{summary_request}");
    assert!(
        asked(&summary_request)
            .ends_with("user: Weather in Paris?\nassistant: Paris is sunny, 24 degrees."),
        "{summary_request}"
    );
    assert_eq!(
        contents(&agent.conversation()),
        [
            "user:Summary of the earlier conversation:\nParis was sunny, 24 degrees.",
            "user:And in Rome?",
            "assistant:Rome is rainy, 18 degrees.",
        ]
    );
    let state = agent.context_state();
    assert_eq!(state.token_count, agent.context_token_count());
    let history = &state.compaction_history;
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].removed_count, history[0].tokens_before),
        (2, empty + 40)
    );
    assert_eq!(history[0].tokens_after, state.token_count);
    // The summary request is in the agent's books, labelled as compaction.
    assert_eq!(agent.usage().request_count, 3);
    assert_eq!(agent.usage().total_tokens, 98 + 118 + 47);
    let records = agent.usage_history().to_vec();
    assert_eq!(records[2].labels().get("operation"), Some("compaction"));
    assert_eq!(records[1].labels().get("operation"), None);

    agent.clear_context();
    assert!(agent.conversation().is_empty());
    assert_eq!(agent.context_token_count(), empty);
    assert!(agent.context_state().compaction_history.is_empty());
    assert_eq!(agent.usage().request_count, 3);
}

#[tokio::test]
async fn a_request_that_would_not_fit_is_compacted_before_it_is_sent() {
    let server = server().await;
    script_two_weather_answers(&server).await;
    let empty = agent_with_context(&server, |settings| settings).context_token_count();
    // After the first turn (20 tokens) the second question (8) reaches the trigger.
    let agent = agent_with_context(&server, |settings| {
        settings
            .compaction_trigger_tokens(empty + 25)
            .compaction_target_tokens(empty + 15)
            .preserve_recent_turns(1)
    });
    agent.run("Weather in Paris?").await.unwrap();
    agent.run("And in Rome?").await.unwrap();

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let second: Value = serde_json::from_slice(&requests[1].body).unwrap();
    let sent: Vec<&str> = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["content"].as_str().unwrap())
        .collect();
    assert_eq!(sent, [SYSTEM, "And in Rome?"]);
    assert_eq!(
        contents(&agent.conversation()),
        ["user:And in Rome?", "assistant:Rome is rainy, 18 degrees."]
    );
    assert_eq!(agent.context_token_count(), empty + 8 + 12);
    let history = agent.context_state().compaction_history;
    assert_eq!(history.len(), 1);
    assert_eq!(
        (
            history[0].removed_count,
            history[0].tokens_before,
            history[0].tokens_after
        ),
        (2, empty + 28, empty + 8)
    );
}

#[tokio::test]
async fn with_auto_compact_off_the_agent_only_compacts_when_asked() {
    let server = server().await;
    script_two_weather_answers(&server).await;
    let empty = agent_with_context(&server, |settings| settings).context_token_count();
    let agent = agent_with_context(&server, |settings| {
        settings
            .compaction_trigger_tokens(empty + 10)
            .compaction_target_tokens(empty + 5)
            .preserve_recent_turns(1)
            .auto_compact(false)
    });
    agent.run("Weather in Paris?").await.unwrap();
    agent.run("And in Rome?").await.unwrap();
    assert_eq!(agent.conversation().len(), 4);
    assert!(agent.should_compact());
    let before = agent.context_token_count();
    let result = agent.compact().await.unwrap();
    assert_eq!(
        (result.strategy.as_str(), result.removed_count),
        ("sliding_window", 2)
    );
    assert_eq!(result.tokens_before, before);
    assert_eq!(result.tokens_after, agent.context_token_count());
    assert_eq!(
        contents(&agent.conversation()),
        ["user:And in Rome?", "assistant:Rome is rainy, 18 degrees."]
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_react_run_compacts_its_older_steps_mid_run_and_tells_its_hook() {
    use mamba_agent::workflows::{ReActConfig, ReActState, ReActWorkflow, WorkflowHooks};
    use std::sync::{Arc, Mutex};

    let server = server().await;
    for (name, arguments, tokens) in [
        ("get_weather", r#"{"city":"Paris"}"#, (100, 20)),
        ("get_weather", r#"{"city":"Rome"}"#, (140, 20)),
    ] {
        then(
            &server,
            tool_call("gpt-4o", name, arguments, usage(tokens.0, tokens.1)),
        )
        .await;
    }
    // Before the third request, the Paris step is summarized (the Rome step, the latest, is
    // kept), then the model answers.
    then(
        &server,
        completion("gpt-4o", "Paris: sunny, 21C.", Some(usage(60, 6))),
    )
    .await;
    then(
        &server,
        tool_call(
            "gpt-4o",
            "final_answer",
            r#"{"answer":"Sunny in both"}"#,
            usage(150, 10),
        ),
    )
    .await;
    let agent = agent_with_context(&server, |settings| {
        settings
            .compaction_strategy(CompactionStrategy::SummarizeOlder)
            .compaction_trigger_tokens(20)
            .compaction_target_tokens(10)
            .preserve_recent_turns(1)
    });
    let seen = Arc::new(Mutex::new(Vec::new()));
    let hook_seen = Arc::clone(&seen);
    let hooks = WorkflowHooks::<ReActState>::new().on_compaction(move |_, result| {
        hook_seen.lock().unwrap().push(result.clone());
    });
    let workflow = ReActWorkflow::new(agent.clone())
        .with_config(ReActConfig::default().with_compact_threshold_ratio(0.8))
        .with_hooks(hooks);
    let result = workflow.run("Weather in Paris and Rome?").await;
    assert!(result.success, "{result:?}");
    assert_eq!(result.output.as_deref(), Some("Sunny in both"));

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].strategy.as_str(), seen[0].removed_count),
        ("summarize_older", 2)
    );
    assert_eq!(seen[0].usage.total_tokens, 66);
    // The last request: the task, the summary, then the Rome call with its result.
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 4);
    let last: Value = serde_json::from_slice(&requests[3].body).unwrap();
    let roles: Vec<&str> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "user", "assistant", "tool"]);
    assert_eq!(
        last["messages"][2]["content"],
        "Summary of the earlier conversation:\nParis: sunny, 21C."
    );
    assert!(asked(&serde_json::from_slice(&requests[2].body).unwrap()).ends_with(
        "assistant:  [calls get_weather({\"city\":\"Paris\"})]\ntool result: Sunny, 21C in Paris"
    ));
    // The workflow's usage includes the summary request.
    assert_eq!(result.usage.total_tokens, 120 + 160 + 66 + 160);
    assert_eq!(workflow.token_usage().total_tokens, 120 + 160 + 66 + 160);
    assert_eq!(agent.usage().total_tokens, 120 + 160 + 66 + 160);
}

#[tokio::test]
async fn a_stream_compacts_like_a_run_before_a_request_that_would_not_fit() {
    use futures::StreamExt;

    let server = server().await;
    then(
        &server,
        completion("gpt-4o", "Paris is sunny, 24 degrees.", Some(usage(90, 8))),
    )
    .await;
    then(
        &server,
        sse(
            "gpt-4o",
            &["Rome is rainy, ", "18 degrees."],
            Some(usage(110, 8)),
        ),
    )
    .await;
    let empty = agent_with_context(&server, |settings| settings).context_token_count();
    let agent = agent_with_context(&server, |settings| {
        settings
            .compaction_trigger_tokens(empty + 25)
            .compaction_target_tokens(empty + 15)
            .preserve_recent_turns(1)
    });
    agent.run("Weather in Paris?").await.unwrap();
    let events: Vec<_> = agent.run_stream("And in Rome?").collect().await;
    assert!(events.iter().all(Result::is_ok), "{events:?}");

    let bodies = bodies(&server).await;
    let sent: Vec<&str> = bodies[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["content"].as_str().unwrap())
        .collect();
    assert_eq!(sent, [SYSTEM, "And in Rome?"]);
    assert_eq!(
        contents(&agent.conversation()),
        ["user:And in Rome?", "assistant:Rome is rainy, 18 degrees."]
    );
    assert_eq!(agent.context_state().compaction_history.len(), 1);
}

/// Compactions can run in spawned tasks: their futures are `Send` (no lock is held across an
/// await), and the workflow's run with compaction too.
#[tokio::test]
async fn compaction_futures_can_be_spawned() {
    fn spawnable<T: Send + 'static>(_: &T) {}
    let server = server().await;
    let agent = agent_with_context(&server, |settings| settings);
    let for_agent = {
        let agent = agent.clone();
        async move { agent.compact().await }
    };
    spawnable(&for_agent);
    let mut context =
        ContextManager::new(CompactionConfig::default(), counter()).with_model(agent.clone());
    context.add_messages(conversation());
    let for_manager = async move { context.compact().await };
    spawnable(&for_manager);
    // Below the default thresholds nothing is asked: both finish without a request.
    let (a, b) = (tokio::spawn(for_agent), tokio::spawn(for_manager));
    assert_eq!(a.await.unwrap().unwrap().removed_count, 0);
    assert_eq!(b.await.unwrap().unwrap().removed_count, 0);
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_summarization_model_in_the_settings_writes_the_summaries_into_the_same_tracker() {
    let server = server().await;
    script_two_weather_answers(&server).await;
    then(
        &server,
        completion(
            "gpt-4o-mini",
            "Paris was sunny, 24 degrees.",
            Some(usage(40, 7)),
        ),
    )
    .await;
    let empty = agent_with_context(&server, |settings| settings).context_token_count();
    let agent = agent_with_context(&server, |settings| {
        settings
            .compaction_strategy(CompactionStrategy::SummarizeOlder)
            .compaction_trigger_tokens(empty + 30)
            .compaction_target_tokens(empty + 25)
            .preserve_recent_turns(1)
            .summarization_model("gpt-4o-mini")
    });
    agent.run("Weather in Paris?").await.unwrap();
    agent.run("And in Rome?").await.unwrap();

    let bodies = bodies(&server).await;
    let models: Vec<&str> = bodies
        .iter()
        .map(|b| b["model"].as_str().unwrap())
        .collect();
    assert_eq!(models, ["gpt-4o", "gpt-4o", "gpt-4o-mini"]);
    // The summarizing agent shares the tracker: its record is in the history, priced as
    // gpt-4o-mini; the agent's own totals are its own requests.
    let records = agent.usage_history().to_vec();
    assert_eq!(records.len(), 3);
    assert_eq!(records[2].model(), "gpt-4o-mini");
    assert_eq!(records[2].labels().get("operation"), Some("compaction"));
    assert_eq!(agent.usage().request_count, 2);
    let history = agent.context_state().compaction_history;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].records[0].model(), "gpt-4o-mini");
    assert_eq!(history[0].usage.total_tokens, 47);
}
