//! The API key never appears in Debug, Display, dumps or errors; dumps load back.

mod support;

use mamba_settings::{AgentSettings, UsageLimits};
use rust_decimal::Decimal;
use support::TempDir;

const SECRET: &str = "sk-proj-SECRET-0123456789";

#[test]
fn the_key_is_redacted_everywhere() {
    let settings = AgentSettings::builder()
        .defaults_only()
        .api_key(SECRET)
        .build()
        .unwrap();
    assert_eq!(
        settings
            .model_backend
            .api_key
            .as_ref()
            .map(|k| k.expose_secret()),
        Some(SECRET)
    );
    for text in [
        format!("{settings:?}"),
        format!("{settings:#?}"),
        format!("{settings}"),
        settings.dump_safe(),
        format!("{:?}", settings.model_backend),
    ] {
        assert!(!text.contains(SECRET), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }
}

#[test]
fn errors_about_the_key_never_quote_it() {
    let dir = TempDir::new();
    // A TOML table where the key should be: the error must not echo what is inside.
    let path = dir.write(
        "config.toml",
        &format!("[model_backend.api_key]\nvalue = \"{SECRET}\"\n"),
    );
    let error = AgentSettings::from_file(&path).unwrap_err().to_string();
    assert!(!error.contains(SECRET), "{error}");
    assert_eq!(
        error,
        format!(
            "invalid `model_backend.api_key` from settings file {}: the value is not a string; \
             expected a string",
            path.display()
        )
    );
    // A malformed line holding the key is located, not quoted.
    let path = dir.write(
        "bad.toml",
        &format!("[model_backend]\napi_key = {SECRET}\n"),
    );
    let error = AgentSettings::from_file(&path).unwrap_err().to_string();
    assert!(!error.contains(SECRET), "{error}");
    let path = dir.write("bad.env", &format!("OPENAI_API_KEY {SECRET}\n"));
    let error = AgentSettings::builder()
        .defaults_only()
        .dotenv_file(&path)
        .build()
        .unwrap_err();
    assert!(!error.to_string().contains(SECRET), "{error}");
}

#[test]
fn a_dump_loads_back_to_the_same_settings_but_the_key() {
    let price = mamba_pricing::ModelPrice::new(
        mamba_pricing::Price::new(Decimal::new(125, 2), Decimal::new(10, 0))
            .with_cached_input(Decimal::new(3125, 4)),
        "contract",
    )
    .with_tier(mamba_pricing::Tier::new(
        200_000,
        mamba_pricing::Price::new(Decimal::new(25, 1), Decimal::new(15, 0)),
    ));
    let original = AgentSettings::builder()
        .defaults_only()
        .model("org/model-v1.5")
        .base_url("http://127.0.0.1:8080/v1")
        .api_key(SECRET)
        .temperature(0.7)
        .max_tokens(100)
        .local(true)
        .timeout(std::time::Duration::from_millis(2500))
        .safety_margin(0.15)
        .model_encoding("my-llama", mamba_tokens::Encoding::Cl100kBase)
        .max_history_records(10)
        .log_level(mamba_settings::LogLevel::Trace)
        .cost_rate("gpt-4.1", Decimal::new(123_456_789, 12))
        .price("gemini/x", &price)
        .usage_limits(
            UsageLimits::default()
                .with_requests(4)
                .with_cost(Decimal::new(1, 2)),
        )
        .build()
        .unwrap();
    let dir = TempDir::new();
    let path = dir.write("dump.toml", &original.dump_safe());
    let loaded = AgentSettings::builder()
        .defaults_only()
        .config_file(&path)
        .strict(true)
        .build()
        .unwrap();
    let mut expected = original.clone();
    expected.model_backend.api_key = Some(mamba_settings::ApiKey::new("[redacted]"));
    assert_eq!(loaded, expected);
}

/// Collects what a subscriber writes.
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every way a key can enter (code, the injected environment under both names, config.toml,
/// `./.env`, `~/mamba.env`), on successful loads and failing ones (strict mode, a bad value next
/// to the key): the sentinel is in no Debug, Display, error, source chain, dump, report or log.
#[test]
fn a_sentinel_key_appears_in_no_output_on_any_path() {
    const SENTINEL: &str = "sk-SENTINEL-4f1c9e";
    let work = TempDir::new();
    let home = TempDir::new();
    work.write(
        "config.toml",
        &format!("[model_backend]\napi_key = \"{SENTINEL}\"\nno_such_key = \"{SENTINEL}\"\n"),
    );
    work.write(
        ".env",
        &format!("MAMBA_MODEL_BACKEND__API_KEY={SENTINEL}\nMAMBA_NOT_A_KEY={SENTINEL}\n"),
    );
    home.write(
        "mamba.env",
        &format!("MAMBA_MODEL_BACKEND__API_KEY={SENTINEL}\n"),
    );
    let files = || {
        AgentSettings::builder()
            .working_dir(work.path())
            .home_dir(home.path())
    };
    let builders = [
        AgentSettings::builder().defaults_only().api_key(SENTINEL),
        AgentSettings::builder()
            .defaults_only()
            .environment([("OPENAI_API_KEY", SENTINEL)]),
        AgentSettings::builder()
            .defaults_only()
            .environment([("MAMBA_MODEL_BACKEND__API_KEY", SENTINEL)]),
        files().environment([("OPENAI_API_KEY", SENTINEL), ("MAMBA_X", SENTINEL)]),
        files().no_environment().strict(true),
        files()
            .environment([("MAMBA_MODEL_BACKEND__TIMEOUT", "soon")])
            .api_key(SENTINEL),
        AgentSettings::builder().defaults_only().environment([
            ("MAMBA_MODEL_BACKEND__API_KEY", SENTINEL),
            ("MAMBA_COST_RATES", "x"),
        ]),
    ];
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (mut loaded, mut failed) = (0, 0);
    for builder in builders {
        let mut texts = vec![format!("{builder:?}"), format!("{builder:#?}")];
        match builder.build_with_report() {
            Ok((settings, report)) => {
                loaded += 1;
                assert_eq!(
                    settings
                        .model_backend
                        .api_key
                        .as_ref()
                        .map(|k| k.expose_secret()),
                    Some(SENTINEL)
                );
                texts.extend([
                    format!("{settings:?}"),
                    format!("{settings:#?}"),
                    format!("{settings}"),
                    settings.dump_safe(),
                    format!("{report:?}"),
                ]);
            }
            Err(error) => {
                failed += 1;
                texts.extend([format!("{error}"), format!("{error:?}")]);
                let mut source = std::error::Error::source(&error);
                while let Some(cause) = source {
                    texts.push(cause.to_string());
                    source = cause.source();
                }
            }
        }
        for text in texts {
            assert!(!text.contains(SENTINEL), "{text}");
        }
    }
    assert_eq!((loaded, failed), (4, 3), "both kinds of path were driven");
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("no_such_key"),
        "the unknown-key warning was logged: {logged}"
    );
    assert!(!logged.contains(SENTINEL), "{logged}");
}
