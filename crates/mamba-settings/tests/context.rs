//! `[context]`: read from files and the environment, validated like every other section, the
//! target checked against the trigger whichever sources set them.

use std::io::Write;

use mamba_settings::{AgentSettings, CompactionStrategy, SettingsError};

/// The settings from `vars` alone, or the error's text.
fn from_env(vars: &[(&str, &str)]) -> Result<AgentSettings, String> {
    AgentSettings::builder()
        .defaults_only()
        .environment(vars.iter().copied())
        .strict(true)
        .build()
        .map_err(|error: SettingsError| error.to_string())
}

#[test]
fn the_python_defaults_apply_when_nothing_is_set() {
    let context = from_env(&[]).unwrap().context;
    assert_eq!(context.strategy, CompactionStrategy::SlidingWindow);
    assert_eq!(context.trigger_threshold_tokens, None);
    assert_eq!(context.target_tokens, None);
    assert_eq!(context.preserve_recent_turns, 10);
    assert!(context.preserve_system_prompt);
    assert_eq!(context.summarization_model, "same");
    assert_eq!(context.summarization_model(), None);
    assert!(context.auto_compact);
    assert_eq!(context.thresholds(None), (100_000, 80_000));
}

#[test]
fn a_file_sets_the_section_and_the_environment_overrides_it() {
    let dir = std::env::temp_dir().join(format!("mamba-context-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.toml");
    let mut file = std::fs::File::create(&path).unwrap();
    writeln!(
        file,
        "[context]\nstrategy = \"hybrid\"\ntrigger_threshold_tokens = 6000\ntarget_tokens = 4000\n\
         preserve_recent_turns = 2\nsummarization_model = \"gpt-4o-mini\"\nauto_compact = false"
    )
    .unwrap();
    let settings = AgentSettings::builder()
        .defaults_only()
        .config_file(&path)
        .environment([("MAMBA_CONTEXT__PRESERVE_RECENT_TURNS", "4")])
        .strict(true)
        .build()
        .unwrap();
    let context = settings.context;
    assert_eq!(context.strategy, CompactionStrategy::Hybrid);
    assert_eq!(context.thresholds(Some((128_000, 16_384))), (6000, 4000));
    assert_eq!(context.preserve_recent_turns, 4);
    assert_eq!(context.summarization_model(), Some("gpt-4o-mini"));
    assert!(!context.auto_compact);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_values_are_errors_naming_the_key_the_value_and_the_source() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("MAMBA_CONTEXT__STRATEGY", "newest_first")],
            "invalid `context.strategy` from environment variable MAMBA_CONTEXT__STRATEGY: \
             `newest_first` is not a compaction strategy; expected one of sliding_window, \
             summarize_older, selective_pruning, importance_scoring, hybrid",
        ),
        (
            &[("MAMBA_CONTEXT__TRIGGER_THRESHOLD_TOKENS", "0")],
            "invalid `context.trigger_threshold_tokens` from environment variable \
             MAMBA_CONTEXT__TRIGGER_THRESHOLD_TOKENS: 0 is not positive; expected a positive \
             whole number of tokens, e.g. 100000",
        ),
        (
            &[
                ("MAMBA_CONTEXT__TRIGGER_THRESHOLD_TOKENS", "5000"),
                ("MAMBA_CONTEXT__TARGET_TOKENS", "5000"),
            ],
            "invalid `context.target_tokens` from environment variable \
             MAMBA_CONTEXT__TARGET_TOKENS: 5000 is not below `context.trigger_threshold_tokens` \
             (5000, from environment variable MAMBA_CONTEXT__TRIGGER_THRESHOLD_TOKENS); expected \
             a target below the trigger",
        ),
    ];
    for (vars, expected) in cases {
        assert_eq!(from_env(vars).unwrap_err(), *expected);
    }
}

#[test]
fn a_target_set_in_code_is_checked_against_a_trigger_from_the_environment() {
    let error = AgentSettings::builder()
        .defaults_only()
        .environment([("MAMBA_CONTEXT__TRIGGER_THRESHOLD_TOKENS", "1000")])
        .compaction_target_tokens(2000)
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid `context.target_tokens` from a value set in code: 2000 is not below \
         `context.trigger_threshold_tokens` (1000, from environment variable \
         MAMBA_CONTEXT__TRIGGER_THRESHOLD_TOKENS); expected a target below the trigger"
    );
}
