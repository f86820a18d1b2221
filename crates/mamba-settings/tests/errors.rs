//! Every error names the key, its source and the expected form; unknown keys are reported.

mod support;

use mamba_settings::{AgentSettings, Origin, SettingsError, UnknownKey};
use support::TempDir;

fn env_error(vars: &[(&str, &str)]) -> String {
    AgentSettings::builder()
        .defaults_only()
        .environment(vars.iter().copied())
        .build()
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_environment_values_name_the_variable() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("MAMBA_COST_RATES", "my-model=-0.5")],
            "invalid `cost_rates.my-model` from environment variable MAMBA_COST_RATES: -0.5 is \
             negative; expected a non-negative decimal USD rate per 1,000 tokens, e.g. 0.001",
        ),
        (
            // Once a panic in cost_estimator(): out of range is an error at load time.
            &[("MAMBA_COST_RATES", "m=1e26")],
            concat!(
                "invalid `cost_rates.m` from environment variable MAMBA_COST_RATES: ",
                "100000000000000000000000000 is above the largest accepted, 1000000; expected a ",
                "non-negative decimal USD rate per 1,000 tokens, e.g. 0.001"
            ),
        ),
        (
            &[("MAMBA_COST_RATES", r#"{"gpt-4.1": "NaN"}"#)],
            "invalid `cost_rates.\"gpt-4.1\"` from environment variable MAMBA_COST_RATES: `NaN` \
             is not a decimal number; expected a non-negative decimal USD rate per 1,000 tokens, \
             e.g. 0.001",
        ),
        (
            &[("MAMBA_COST_RATES", "a=cheap")],
            "invalid `cost_rates.a` from environment variable MAMBA_COST_RATES: `cheap` is not a \
             decimal number; expected a non-negative decimal USD rate per 1,000 tokens, e.g. 0.001",
        ),
        (
            &[("MAMBA_COST_RATES", r#"{"a": 0.1"#)],
            "invalid `cost_rates` from environment variable MAMBA_COST_RATES: malformed JSON \
             (EOF while parsing an object at line 1 column 9); expected a JSON object of model \
             names to rates per 1,000 tokens ({\"my-custom-model\": 0.001}) or a list \
             `name=rate,name=rate`",
        ),
        (
            &[("MAMBA_TOKENIZER__SAFETY_MARGIN", "0.9")],
            "invalid `tokenizer.safety_margin` from environment variable \
             MAMBA_TOKENIZER__SAFETY_MARGIN: `0.9` is out of range; expected a fraction from 0.0 \
             to 0.5 (0.1 adds 10%)",
        ),
        (
            &[("MAMBA_TOKENIZER__SAFETY_MARGIN", "NaN")],
            "invalid `tokenizer.safety_margin` from environment variable \
             MAMBA_TOKENIZER__SAFETY_MARGIN: `NaN` is not a number; expected a fraction from 0.0 \
             to 0.5 (0.1 adds 10%)",
        ),
        (
            &[("MAMBA_TOKENIZER__ENCODING", "gpt2_base")],
            "invalid `tokenizer.encoding` from environment variable MAMBA_TOKENIZER__ENCODING: \
             `gpt2_base` is not a known encoding; expected one of o200k_base, o200k_harmony, \
             cl100k_base, p50k_base, p50k_edit, r50k_base",
        ),
        (
            &[("MAMBA_MODEL_BACKEND__TIMEOUT", "soon")],
            "invalid `model_backend.timeout` from environment variable \
             MAMBA_MODEL_BACKEND__TIMEOUT: `soon` is not a duration; expected a positive number \
             of seconds or a duration such as \"90s\"",
        ),
        (
            &[("MAMBA_MODEL_BACKEND__MAX_RETRIES", "-1")],
            "invalid `model_backend.max_retries` from environment variable \
             MAMBA_MODEL_BACKEND__MAX_RETRIES: `-1` is not a whole number in range; expected a \
             whole number of retries, e.g. 3",
        ),
        (
            &[("MAMBA_MODEL_BACKEND__TEMPERATURE", "3")],
            "invalid `model_backend.temperature` from environment variable \
             MAMBA_MODEL_BACKEND__TEMPERATURE: `3` is out of range; expected a number from 0 to 2",
        ),
        (
            &[("MAMBA_MODEL_BACKEND__MAX_TOKENS", "0")],
            "invalid `model_backend.max_tokens` from environment variable \
             MAMBA_MODEL_BACKEND__MAX_TOKENS: 0 is not positive; expected a positive whole number \
             of tokens, e.g. 1024",
        ),
        (
            &[("MAMBA_MODEL_BACKEND__LOCAL", "perhaps")],
            "invalid `model_backend.local` from environment variable MAMBA_MODEL_BACKEND__LOCAL: \
             `perhaps` is not a boolean; expected true or false",
        ),
        (
            &[("MAMBA_TRACKING__LOG_LEVEL", "loud")],
            "invalid `tracking.log_level` from environment variable MAMBA_TRACKING__LOG_LEVEL: \
             `loud` is not a log level; expected one of off, error, warn, info, debug, trace",
        ),
        (
            &[("MAMBA_USAGE_LIMITS__COST", "-5")],
            "invalid `usage_limits.cost` from environment variable MAMBA_USAGE_LIMITS__COST: -5 \
             is negative; expected a non-negative decimal USD amount, e.g. 5.00",
        ),
        (
            &[("MAMBA_USAGE_LIMITS__REQUESTS", "ten")],
            "invalid `usage_limits.requests` from environment variable \
             MAMBA_USAGE_LIMITS__REQUESTS: `ten` is not a whole number in range; expected a whole \
             number, e.g. 100000",
        ),
        (
            &[("MAMBA_PRICES", "x")],
            "invalid `prices` from environment variable MAMBA_PRICES: `x` is not a table; \
             expected a table of keys",
        ),
    ];
    for (vars, message) in cases {
        assert_eq!(env_error(vars), *message, "{vars:?}");
    }
}

#[test]
fn bad_file_values_name_the_file_and_key() {
    let dir = TempDir::new();
    let cases = [
        (
            "[cost_rates]\n\"gpt-4.1\" = -0.001\n",
            "invalid `cost_rates.\"gpt-4.1\"` from settings file {path}: -0.001 is negative; \
             expected a non-negative decimal USD rate per 1,000 tokens, e.g. 0.001",
        ),
        (
            "[cost_rates]\nm = nan\n",
            "invalid `cost_rates.m` from settings file {path}: NaN is not a number; expected a \
             non-negative decimal USD rate per 1,000 tokens, e.g. 0.001",
        ),
        (
            "[cost_rates]\nm = true\n",
            "invalid `cost_rates.m` from settings file {path}: true is not a number; expected a \
             non-negative decimal USD rate per 1,000 tokens, e.g. 0.001",
        ),
        (
            "[prices.\"org/m\"]\ninput = \"1\"\n",
            "invalid `prices.\"org/m\".output` from settings file {path}: it is missing; expected \
             a non-negative decimal USD price per 1,000,000 tokens, e.g. \"2.50\"",
        ),
        (
            "[prices.m]\ninput = \"1\"\noutput = \"-2\"\n",
            "invalid `prices.m.output` from settings file {path}: -2 is negative; expected a \
             non-negative decimal USD price per 1,000,000 tokens, e.g. \"2.50\"",
        ),
        (
            "[prices.m]\ninput = \"1\"\noutput = \"2\"\n[prices.m.tier]\ninput = \"1\"\noutput = \"2\"\n",
            "invalid `prices.m.tier.above_prompt_tokens` from settings file {path}: it is missing; \
             expected a whole number of prompt tokens",
        ),
        (
            "[tokenizer]\nsafety_margin = 0.75\n",
            "invalid `tokenizer.safety_margin` from settings file {path}: 0.75 is out of range; \
             expected a fraction from 0.0 to 0.5 (0.1 adds 10%)",
        ),
        (
            "model_backend = 3\n",
            "invalid `model_backend` from settings file {path}: 3 is not a table; expected a \
             table of keys",
        ),
        (
            "[model_backend]\nmodel = 4\n",
            "invalid `model_backend.model` from settings file {path}: 4 is not a string; expected \
             a string",
        ),
    ];
    for (text, message) in cases {
        let path = dir.write("config.toml", text);
        let error = AgentSettings::from_file(&path).unwrap_err().to_string();
        let message = message.replace("{path}", &path.display().to_string());
        assert_eq!(error, message, "{text}");
    }
}

#[test]
fn malformed_toml_names_the_line_without_quoting_it() {
    let dir = TempDir::new();
    let path = dir.write(
        "config.toml",
        "[model_backend]\nmodel = \"gpt-4o\"\napi_key = sk-unquoted-secret\n",
    );
    let error = AgentSettings::from_file(&path).unwrap_err();
    assert!(matches!(error, SettingsError::MalformedToml { .. }));
    assert_eq!(
        error.to_string(),
        format!(
            "settings file {} is not valid TOML: line 3, column 11: string values must be \
             quoted, expected literal string",
            path.display()
        )
    );
}

#[test]
fn files_that_are_missing_or_not_toml() {
    let dir = TempDir::new();
    let missing = dir.path().join("nope.toml");
    assert_eq!(
        AgentSettings::from_file(&missing).unwrap_err().to_string(),
        format!("settings file {} not found", missing.display())
    );
    let yaml = dir.write("settings.yaml", "model: gpt-4o\n");
    assert_eq!(
        AgentSettings::from_file(&yaml).unwrap_err().to_string(),
        format!(
            "settings file {} is not a TOML file; expected a path ending in `.toml`",
            yaml.display()
        )
    );
    // The conventional config.toml may be absent; an explicit .env file may not.
    let missing_env = dir.path().join("missing.env");
    let error = AgentSettings::builder()
        .defaults_only()
        .dotenv_file(&missing_env)
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("settings file {} not found", missing_env.display())
    );
}

#[test]
fn a_malformed_dotenv_line_is_numbered_not_quoted() {
    let dir = TempDir::new();
    let path = dir.write(
        ".env",
        "MAMBA_X=1\n# comment\nOPENAI_API_KEY sk-secret-value\n",
    );
    let error = AgentSettings::builder()
        .defaults_only()
        .dotenv_file(&path)
        .build()
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        format!(".env file {}: line 3 is not `NAME=value`", path.display())
    );
}

#[test]
fn dotenv_values_name_the_file_and_variable() {
    let dir = TempDir::new();
    let path = dir.write(".env", "MAMBA_COST_RATES=a=1,b=-2\n");
    let error = AgentSettings::builder()
        .working_dir(dir.path())
        .no_config_file()
        .no_environment()
        .build()
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        format!(
            "invalid `cost_rates.b` from MAMBA_COST_RATES in .env file {}: -2 is negative; \
             expected a non-negative decimal USD rate per 1,000 tokens, e.g. 0.001",
            path.display()
        )
    );
}

#[test]
fn code_values_are_checked_too() {
    let error = AgentSettings::builder()
        .defaults_only()
        .safety_margin(f64::NAN)
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid `tokenizer.safety_margin` from a value set in code: NaN is not a number; \
         expected a fraction from 0.0 to 0.5 (0.1 adds 10%)"
    );
    let error = AgentSettings::builder()
        .defaults_only()
        .cost_rate("m", rust_decimal::Decimal::new(-1, 0))
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid `cost_rates.m` from a value set in code: -1 is negative; expected a \
         non-negative decimal USD rate per 1,000 tokens, e.g. 0.001"
    );
}

#[test]
fn unknown_keys_warn_and_strict_loads_refuse_them() {
    let dir = TempDir::new();
    let path = dir.write(
        "config.toml",
        "[token_tracking]\ntrack_usage = true\n[model_backend]\nbase_ulr = \"x\"\n\
         [prices.m]\ninput = \"1\"\noutput = \"2\"\ncached = \"0.5\"\n[extra]\na = 1\n",
    );
    let env = [("MAMBA_TRACKNG__LOG_LEVEL", "info")];
    let builder = || {
        AgentSettings::builder()
            .no_dotenv()
            .config_file(&path)
            .environment(env)
    };
    let (_, report) = builder().build_with_report().unwrap();
    let file = Origin::File { path: path.clone() };
    let expected = vec![
        UnknownKey::new("extra".to_owned(), file.clone()),
        UnknownKey::new("model_backend.base_ulr".to_owned(), file.clone()),
        UnknownKey::new("prices.m.cached".to_owned(), file.clone()),
        UnknownKey::new("tokenizer.track_usage".to_owned(), file.clone()),
        UnknownKey::new(
            "trackng",
            Origin::Env {
                var: "MAMBA_TRACKNG__LOG_LEVEL".to_owned(),
            },
        ),
    ];
    assert_eq!(report.unknown_keys(), expected);

    let error = builder().strict(true).build().unwrap_err();
    let p = path.display();
    assert_eq!(
        error.to_string(),
        format!(
            "unknown settings keys: `extra` (settings file {p}), `model_backend.base_ulr` \
             (settings file {p}), `prices.m.cached` (settings file {p}), \
             `tokenizer.track_usage` (settings file {p}), `trackng` (environment variable \
             MAMBA_TRACKNG__LOG_LEVEL)"
        )
    );
}
