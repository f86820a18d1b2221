//! `.env` files through the builder: the last of repeated names wins, `${VAR}` resolves against
//! the builder's own environment only, `$` is otherwise kept, a byte-order mark is accepted,
//! errors name the right line; and the precedence and type rules around them.

mod support;

use mamba_settings::AgentSettings;
use mamba_tokens::Encoding;
use support::TempDir;

fn load(dotenv: &str, environment: &[(&str, &str)]) -> AgentSettings {
    let dir = TempDir::new();
    let path = dir.write(".env", dotenv);
    AgentSettings::builder()
        .defaults_only()
        .dotenv_file(&path)
        .environment(environment.iter().copied())
        .build()
        .unwrap()
}

fn key(settings: &AgentSettings) -> &str {
    settings
        .model_backend
        .api_key
        .as_ref()
        .unwrap()
        .expose_secret()
}

#[test]
fn the_last_of_a_repeated_name_wins() {
    let settings = load(
        "MAMBA_MODEL_BACKEND__MODEL=first\nMAMBA_MODEL_BACKEND__MODEL=middle\nMAMBA_MODEL_BACKEND__MODEL=last\n",
        &[],
    );
    assert_eq!(settings.model_backend.model, "last");
    // Even when the values sort the other way.
    let settings = load(
        "MAMBA_MODEL_BACKEND__MODEL=zzz\nMAMBA_MODEL_BACKEND__MODEL=aaa\n",
        &[],
    );
    assert_eq!(settings.model_backend.model, "aaa");
}

#[test]
fn substitution_uses_the_builders_environment_and_keeps_a_bare_dollar() {
    /// A `.env` text, the injected environment, and the key it loads.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        (
            "MAMBA_MODEL_BACKEND__API_KEY=sk-ab$cdef\n",
            &[],
            "sk-ab$cdef",
        ),
        ("MAMBA_MODEL_BACKEND__API_KEY=$HOME\n", &[], "$HOME"),
        (
            "MAMBA_MODEL_BACKEND__API_KEY=${SECRET_FROM_VAULT}\n",
            &[("SECRET_FROM_VAULT", "sk-injected")],
            "sk-injected",
        ),
        // PATH is set in the real process environment, but not in the injected map.
        ("MAMBA_MODEL_BACKEND__API_KEY=x${PATH}y\n", &[], "xy"),
        (
            "\u{feff}MAMBA_MODEL_BACKEND__API_KEY='single ${X}'\n",
            &[("X", "1")],
            "single ${X}",
        ),
    ];
    for (dotenv, environment, expected) in cases {
        assert_eq!(key(&load(dotenv, environment)), *expected, "{dotenv:?}");
    }
}

#[test]
fn a_syntax_error_names_its_own_line() {
    let dir = TempDir::new();
    let path = dir.write(
        ".env",
        "# comment\nMAMBA_MODEL_BACKEND__MODEL=gpt-4o\nMAMBA_MODEL\n",
    );
    let error = AgentSettings::builder()
        .defaults_only()
        .dotenv_file(&path)
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(".env file {}: line 3 is not `NAME=value`", path.display())
    );
}

#[test]
fn a_float_where_a_whole_number_is_expected_says_so() {
    let dir = TempDir::new();
    let path = dir.write("config.toml", "[model_backend]\nmax_retries = 3.0\n");
    let error = AgentSettings::builder()
        .defaults_only()
        .config_file(&path)
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "invalid `model_backend.max_retries` from settings file {}: 3.0 is a float where a \
             whole number is expected; expected a whole number of retries, e.g. 3",
            path.display()
        )
    );
}

#[test]
fn sources_decide_precedence_whatever_the_section_is_called() {
    let dir = TempDir::new();
    for (toml, variable) in [
        (
            "[tokenizer]\nencoding = \"cl100k_base\"\n",
            "MAMBA_TOKEN_TRACKING__ENCODING",
        ),
        (
            "[token_tracking]\nencoding = \"cl100k_base\"\n",
            "MAMBA_TOKENIZER__ENCODING",
        ),
    ] {
        let path = dir.write("config.toml", toml);
        let settings = AgentSettings::builder()
            .defaults_only()
            .config_file(&path)
            .environment([(variable, "p50k_base")])
            .build()
            .unwrap();
        assert_eq!(
            settings.tokenizer.encoding,
            Encoding::P50kBase,
            "{variable} over {toml:?}"
        );
    }
}
