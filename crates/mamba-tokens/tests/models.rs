//! The model -> encoding table, row by row (tiktoken's `model.py`), plus snapshots, provider
//! prefixes, fine-tunes and the documented default for unknown models.

use mamba_tokens::{
    Accuracy, Encoding, ModelEncoding, TokenCounter, TokenizerConfig, encoding_for_model,
};

use Encoding::{Cl100kBase, O200kBase, O200kHarmony, P50kBase, P50kEdit, R50kBase};

const KNOWN: &[(&str, Encoding)] = &[
    // Exact names.
    ("o1", O200kBase),
    ("o3", O200kBase),
    ("o4-mini", O200kBase),
    ("gpt-5", O200kBase),
    ("gpt-4.1", O200kBase),
    ("gpt-4.5", O200kBase),
    ("gpt-4o", O200kBase),
    ("chatgpt-4o-latest", O200kBase),
    ("gpt-oss", O200kHarmony),
    ("gpt-4", Cl100kBase),
    ("gpt-3.5-turbo", Cl100kBase),
    ("gpt-3.5", Cl100kBase),
    ("gpt-35-turbo", Cl100kBase),
    ("davinci-002", Cl100kBase),
    ("babbage-002", Cl100kBase),
    ("text-embedding-ada-002", Cl100kBase),
    ("text-embedding-3-small", Cl100kBase),
    ("text-embedding-3-large", Cl100kBase),
    ("text-davinci-003", P50kBase),
    ("text-davinci-002", P50kBase),
    ("text-davinci-001", R50kBase),
    ("text-curie-001", R50kBase),
    ("text-babbage-001", R50kBase),
    ("text-ada-001", R50kBase),
    ("davinci", R50kBase),
    ("curie", R50kBase),
    ("babbage", R50kBase),
    ("ada", R50kBase),
    ("code-davinci-002", P50kBase),
    ("code-davinci-001", P50kBase),
    ("code-cushman-002", P50kBase),
    ("code-cushman-001", P50kBase),
    ("davinci-codex", P50kBase),
    ("cushman-codex", P50kBase),
    ("text-davinci-edit-001", P50kEdit),
    ("code-davinci-edit-001", P50kEdit),
    ("text-similarity-davinci-001", R50kBase),
    ("text-search-ada-doc-001", R50kBase),
    ("code-search-babbage-code-001", R50kBase),
    ("gpt2", R50kBase),
    // Snapshots and variants, by prefix.
    ("gpt-4o-2024-08-06", O200kBase),
    ("gpt-4o-mini", O200kBase),
    ("gpt-4o-mini-2024-07-18", O200kBase),
    ("chatgpt-4o-latest-2025", O200kBase),
    ("gpt-4.1-mini", O200kBase),
    ("gpt-4.1-nano-2025-04-14", O200kBase),
    ("gpt-4.5-preview", O200kBase),
    ("gpt-5-mini", O200kBase),
    ("gpt-5-nano", O200kBase),
    ("gpt-5.1", O200kBase),
    ("o1-preview", O200kBase),
    ("o3-mini", O200kBase),
    ("o4-mini-2025-04-16", O200kBase),
    ("gpt-oss-20b", O200kHarmony),
    ("gpt-oss:120b", O200kHarmony),
    ("gpt-4-0613", Cl100kBase),
    ("gpt-4-turbo", Cl100kBase),
    ("gpt-4-turbo-2024-04-09", Cl100kBase),
    ("gpt-4-32k", Cl100kBase),
    ("gpt-3.5-turbo-0125", Cl100kBase),
    ("gpt-3.5-turbo-16k", Cl100kBase),
    ("gpt-35-turbo-16k", Cl100kBase),
    // Fine-tunes: the longest prefix wins, so ft:gpt-4o is not read as ft:gpt-4.
    ("ft:gpt-4o-mini-2024-07-18:org::abc123", O200kBase),
    ("ft:gpt-4-0613:org::abc123", Cl100kBase),
    ("ft:gpt-3.5-turbo-0125:org::abc123", Cl100kBase),
    ("ft:davinci-002:org::abc123", Cl100kBase),
    ("ft:babbage-002:org::abc123", Cl100kBase),
    // Provider prefixes and case.
    ("openai/gpt-4o", O200kBase),
    ("azure/gpt-35-turbo", Cl100kBase),
    ("openrouter/openai/gpt-4.1-mini", O200kBase),
    ("GPT-4o", O200kBase),
    (" gpt-4 ", Cl100kBase),
];

const UNKNOWN: &[&str] = &[
    "claude-3-5-sonnet",
    "anthropic/claude-sonnet-4",
    "gemini-2.5-pro",
    "llama3.1:8b",
    "ollama/qwen2.5",
    "mistral-large",
    "smollm2",
    "gpt-4o1",   // not a snapshot of gpt-4o: no '-' after the family name
    "gpt4o",     // a typo, not gpt-4o
    "my-gpt-4o", // names are never matched by substring
    "",
];

#[test]
fn known_models_resolve_exactly() {
    for &(model, encoding) in KNOWN {
        assert_eq!(
            encoding_for_model(model),
            ModelEncoding::new(encoding, Accuracy::Exact),
            "{model:?}"
        );
        let counter = TokenCounter::for_model(model);
        assert_eq!(
            (counter.encoding(), counter.is_exact()),
            (encoding, true),
            "{model:?}"
        );
        assert_eq!(counter.model(), Some(model));
    }
}

#[test]
fn unknown_models_use_the_documented_default_and_say_so() {
    for &model in UNKNOWN {
        assert_eq!(
            encoding_for_model(model),
            ModelEncoding::new(Encoding::DEFAULT, Accuracy::Approximate),
            "{model:?}"
        );
        assert_eq!(Encoding::DEFAULT, O200kBase);
    }
}

#[test]
fn config_mapping_overrides_the_table_and_stays_honest_about_accuracy() {
    let mut config = TokenizerConfig::default().with_encoding(Cl100kBase);
    config.model_mapping.insert("gpt-4o".to_owned(), Cl100kBase);
    config.model_mapping.insert("gpt-4".to_owned(), Cl100kBase);
    config
        .model_mapping
        .insert("local/llama".to_owned(), R50kBase);
    let cases = [
        ("gpt-4o", Cl100kBase, Accuracy::Approximate), // mapped away from its real encoding
        ("gpt-4", Cl100kBase, Accuracy::Exact),        // mapped to its real encoding
        ("local/llama", R50kBase, Accuracy::Approximate),
        ("gpt-4.1", O200kBase, Accuracy::Exact), // not mapped: the table
        ("mistral-large", Cl100kBase, Accuracy::Approximate), // unknown: the config's fallback
    ];
    for (model, encoding, accuracy) in cases {
        assert_eq!(
            config.encoding_for_model(model),
            ModelEncoding::new(encoding, accuracy),
            "{model}"
        );
        let counter = TokenCounter::for_model_with_config(model, &config).unwrap();
        assert_eq!(
            (counter.encoding(), counter.accuracy()),
            (encoding, accuracy),
            "{model}"
        );
    }
}

#[test]
fn encoding_names_round_trip_and_bad_names_list_the_valid_ones() {
    for encoding in Encoding::ALL {
        assert_eq!(encoding.name().parse::<Encoding>().unwrap(), encoding);
        assert_eq!(
            TokenCounter::new(encoding.name()).unwrap().encoding(),
            encoding
        );
    }
    let message = TokenCounter::new("O200K_BASE").unwrap_err().to_string();
    assert_eq!(
        message,
        "unknown encoding `O200K_BASE`: expected one of o200k_base, o200k_harmony, cl100k_base, \
         p50k_base, p50k_edit, r50k_base"
    );
}

#[test]
fn config_round_trips_through_toml_shaped_serde() {
    let config: TokenizerConfig = serde_json::from_value(serde_json::json!({
        "encoding": "cl100k_base",
        "model_mapping": {"my-model": "p50k_base"},
        "safety_margin": 0.2
    }))
    .unwrap();
    assert_eq!(config.encoding, Cl100kBase);
    assert_eq!(config.model_mapping["my-model"], P50kBase);
    let bad = serde_json::from_value::<TokenizerConfig>(serde_json::json!({"encoding": "cl100k"}));
    assert!(
        bad.unwrap_err()
            .to_string()
            .contains("unknown encoding `cl100k`")
    );
    let unknown_key = serde_json::from_value::<TokenizerConfig>(serde_json::json!({"margin": 0.2}));
    assert!(
        unknown_key
            .unwrap_err()
            .to_string()
            .contains("unknown field `margin`")
    );
}
