//! Each source alone, every pair of sources in priority order, the environment forms, and model
//! names with `-`, `.`, `/` and `:` through every source.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use mamba_settings::{AgentSettings, LogLevel, Origin, SettingsBuilder, UsageLimits};
use mamba_tokens::Encoding;
use rust_decimal::Decimal;
use support::TempDir;

/// The sources, lowest priority first.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    ConfigToml,
    DotEnv,
    HomeDotEnv,
    Env,
    Code,
}

const SOURCES: [Source; 5] = [
    Source::ConfigToml,
    Source::DotEnv,
    Source::HomeDotEnv,
    Source::Env,
    Source::Code,
];

/// A working directory and home directory, with `model_backend.model` set to
/// `model-from-<source>` in each of `sources`.
struct Setup {
    work: TempDir,
    home: TempDir,
    env: Vec<(String, String)>,
    builder_code: Option<String>,
}

impl Setup {
    fn new(sources: &[Source]) -> Setup {
        let setup = Setup {
            work: TempDir::new(),
            home: TempDir::new(),
            env: Vec::new(),
            builder_code: None,
        };
        let mut setup = setup;
        for source in sources {
            match source {
                Source::ConfigToml => {
                    setup.work.write(
                        "config.toml",
                        "[model_backend]\nmodel = \"model-from-config\"\n",
                    );
                }
                Source::DotEnv => {
                    setup
                        .work
                        .write(".env", "MAMBA_MODEL_BACKEND__MODEL=model-from-dotenv\n");
                }
                Source::HomeDotEnv => {
                    setup
                        .home
                        .write("mamba.env", "MAMBA_MODEL_BACKEND__MODEL=model-from-home\n");
                }
                Source::Env => setup.env.push((
                    "MAMBA_MODEL_BACKEND__MODEL".to_owned(),
                    "model-from-env".to_owned(),
                )),
                Source::Code => setup.builder_code = Some("model-from-code".to_owned()),
            }
        }
        setup
    }

    fn builder(&self) -> SettingsBuilder {
        let builder = AgentSettings::builder()
            .working_dir(self.work.path())
            .home_dir(self.home.path())
            .environment(self.env.clone());
        match &self.builder_code {
            Some(model) => builder.model(model.clone()),
            None => builder,
        }
    }

    fn expected(&self, source: Source) -> (String, Origin) {
        let var = "MAMBA_MODEL_BACKEND__MODEL".to_owned();
        match source {
            Source::ConfigToml => (
                "model-from-config".to_owned(),
                Origin::File {
                    path: self.work.path().join("config.toml"),
                },
            ),
            Source::DotEnv => (
                "model-from-dotenv".to_owned(),
                Origin::DotEnv {
                    path: self.work.path().join(".env"),
                    var,
                },
            ),
            Source::HomeDotEnv => (
                "model-from-home".to_owned(),
                Origin::DotEnv {
                    path: self.home.path().join("mamba.env"),
                    var,
                },
            ),
            Source::Env => ("model-from-env".to_owned(), Origin::Env { var }),
            Source::Code => ("model-from-code".to_owned(), Origin::Code),
        }
    }
}

fn model_and_origin(setup: &Setup) -> (String, Origin) {
    let (settings, report) = setup.builder().build_with_report().unwrap();
    (
        settings.model_backend.model,
        report.origin_of(&["model_backend", "model"]),
    )
}

#[test]
fn defaults_alone() {
    let setup = Setup::new(&[]);
    let (settings, report) = setup.builder().strict(true).build_with_report().unwrap();
    assert_eq!(settings, AgentSettings::default());
    assert_eq!(settings.model_backend.model, "gpt-4o-mini");
    assert_eq!(settings.model_backend.timeout, Duration::from_secs(60));
    assert_eq!(settings.model_backend.max_retries, 3);
    assert_eq!(settings.tokenizer.encoding, Encoding::O200kBase);
    assert_eq!(settings.tracking.log_level, LogLevel::Info);
    assert!(settings.usage_limits.is_unlimited());
    assert_eq!(report.origins().count(), 0);
    assert_eq!(
        report.origin_of(&["model_backend", "model"]),
        Origin::Default
    );
}

#[test]
fn each_source_alone() {
    for source in SOURCES {
        let setup = Setup::new(&[source]);
        assert_eq!(
            model_and_origin(&setup),
            setup.expected(source),
            "{source:?}"
        );
    }
}

#[test]
fn every_pair_the_higher_source_wins() {
    for (i, low) in SOURCES.iter().enumerate() {
        for high in &SOURCES[i + 1..] {
            let setup = Setup::new(&[*low, *high]);
            assert_eq!(
                model_and_origin(&setup),
                setup.expected(*high),
                "{low:?} < {high:?}"
            );
        }
    }
}

#[test]
fn all_sources_together_code_wins_and_the_rest_merge_by_key() {
    let setup = Setup::new(&SOURCES);
    setup.work.write(
        "config.toml",
        "[model_backend]\nmodel = \"model-from-config\"\nmax_retries = 7\n",
    );
    let (settings, report) = setup.builder().build_with_report().unwrap();
    assert_eq!(settings.model_backend.model, "model-from-code");
    // A key only the file sets survives the higher sources that set other keys.
    assert_eq!(settings.model_backend.max_retries, 7);
    assert_eq!(
        report.origin_of(&["model_backend", "max_retries"]),
        Origin::File {
            path: setup.work.path().join("config.toml")
        }
    );
}

#[test]
fn the_environment_forms() {
    let (settings, report) = AgentSettings::builder()
        .defaults_only()
        .environment([
            ("MAMBA_MODEL_BACKEND__BASE_URL", "http://127.0.0.1:9/v1"),
            ("MAMBA_MODEL_BACKEND__TIMEOUT", "1m 30s"),
            ("MAMBA_MODEL_BACKEND__MAX_RETRIES", "5"),
            ("MAMBA_MODEL_BACKEND__TEMPERATURE", "0.7"),
            ("MAMBA_MODEL_BACKEND__MAX_TOKENS", "256"),
            ("MAMBA_MODEL_BACKEND__LOCAL", "false"),
            ("MAMBA_TOKENIZER__ENCODING", "cl100k_base"),
            ("MAMBA_TOKENIZER__SAFETY_MARGIN", "0.25"),
            ("MAMBA_TOKENIZER__MODEL_MAPPING__MYMODEL", "p50k_base"),
            ("MAMBA_TRACKING__MAX_HISTORY_RECORDS", "1000"),
            ("MAMBA_TRACKING__LOG_LEVEL", "DEBUG"),
            ("MAMBA_USAGE_LIMITS__REQUESTS", "10"),
            ("MAMBA_USAGE_LIMITS__TOTAL_TOKENS", "50000"),
            ("MAMBA_USAGE_LIMITS__COST", "0.50"),
            ("MAMBA_COST_RATES__SIMPLE", "0.003"),
            ("UNRELATED_VARIABLE", "ignored"),
        ])
        .strict(true)
        .build_with_report()
        .unwrap();
    let backend = &settings.model_backend;
    assert_eq!(backend.base_url.as_deref(), Some("http://127.0.0.1:9/v1"));
    assert_eq!(backend.timeout, Duration::from_secs(90));
    assert_eq!(backend.max_retries, 5);
    assert_eq!(backend.temperature, Some(0.7));
    assert_eq!(backend.max_tokens, Some(256));
    assert_eq!(backend.local, Some(false));
    assert!(
        !backend.is_local(),
        "an explicit `local = false` wins over the loopback URL"
    );
    assert_eq!(settings.tokenizer.encoding, Encoding::Cl100kBase);
    assert_eq!(settings.tokenizer.safety_margin, 0.25);
    assert_eq!(
        settings.tokenizer.model_mapping["mymodel"],
        Encoding::P50kBase
    );
    assert_eq!(settings.tracker_config().max_history_records, Some(1000));
    assert_eq!(settings.tracking.log_level, LogLevel::Debug);
    assert_eq!(
        settings.usage_limits,
        UsageLimits::default()
            .with_requests(10)
            .with_total_tokens(50_000)
            .with_cost(Decimal::new(50, 2))
    );
    assert_eq!(settings.cost_rates["simple"], Decimal::new(3, 3));
    assert_eq!(
        report.origin_of(&["usage_limits", "cost"]),
        Origin::Env {
            var: "MAMBA_USAGE_LIMITS__COST".to_owned()
        }
    );
}

/// Model names real providers use; none can be an environment variable name.
const NAMES: [&str; 4] = [
    "my-custom-model",
    "gpt-4.1",
    "openrouter/meta-llama/llama-3.1-8b",
    "llama3.1:8b",
];

fn expected_rates() -> Vec<(String, Decimal)> {
    NAMES
        .iter()
        .zip([
            Decimal::new(1, 3),
            Decimal::new(2, 3),
            Decimal::new(15, 4),
            Decimal::ZERO,
        ])
        .map(|(name, rate)| ((*name).to_owned(), rate))
        .collect()
}

fn rates_of(builder: SettingsBuilder) -> Vec<(String, Decimal)> {
    let settings = builder.strict(true).build().unwrap();
    let mut rates: Vec<_> = settings.cost_rates.into_iter().collect();
    rates.sort_by_key(|(name, _)| NAMES.iter().position(|n| n == name));
    rates
}

#[test]
fn model_names_with_punctuation_through_every_source() {
    let json = r#"{"my-custom-model": 0.001, "gpt-4.1": "0.002", "openrouter/meta-llama/llama-3.1-8b": 0.0015, "llama3.1:8b": 0}"#;
    let list = "my-custom-model=0.001,gpt-4.1=0.002,openrouter/meta-llama/llama-3.1-8b=0.0015,llama3.1:8b=0";
    let dir = TempDir::new();

    // config.toml: quoted keys, floats, strings and integers.
    let toml = dir.write(
        "config.toml",
        "[cost_rates]\n\"my-custom-model\" = 0.001\n\"gpt-4.1\" = \"0.002\"\n\
         \"openrouter/meta-llama/llama-3.1-8b\" = 0.0015\n\"llama3.1:8b\" = 0\n",
    );
    let from_file = AgentSettings::builder().defaults_only().config_file(&toml);
    assert_eq!(rates_of(from_file), expected_rates(), "config.toml");

    for (form, value) in [("json", json), ("list", list)] {
        let env = AgentSettings::builder()
            .defaults_only()
            .environment([("MAMBA_COST_RATES", value)]);
        assert_eq!(rates_of(env), expected_rates(), "environment, {form}");

        let dotenv: PathBuf = dir.write(
            &format!("{form}.env"),
            &format!("MAMBA_COST_RATES='{value}'\n"),
        );
        let from_dotenv = AgentSettings::builder()
            .defaults_only()
            .dotenv_file(&dotenv);
        assert_eq!(rates_of(from_dotenv), expected_rates(), ".env, {form}");
    }

    let mut code = AgentSettings::builder().defaults_only();
    for (name, rate) in expected_rates() {
        code = code.cost_rate(&name, rate);
    }
    assert_eq!(rates_of(code), expected_rates(), "code");

    // And they price: gpt-4.1 uses the custom blended rate, not the built-in price.
    let settings = AgentSettings::builder()
        .defaults_only()
        .environment([("MAMBA_COST_RATES", list)])
        .build()
        .unwrap();
    let estimator = settings.cost_estimator().unwrap();
    assert_eq!(
        estimator.estimate(1_000, 1_000, "gpt-4.1").total_cost,
        Decimal::new(4, 3)
    );
    assert_eq!(
        estimator
            .estimate(2_000, 0, "openrouter/meta-llama/llama-3.1-8b")
            .total_cost,
        Decimal::new(3, 3)
    );
}

#[test]
fn rates_merge_across_sources_name_by_name() {
    let dir = TempDir::new();
    dir.write(
        "config.toml",
        "[cost_rates]\n\"a-1\" = \"0.1\"\n\"b.2\" = \"0.2\"\n",
    );
    let settings = AgentSettings::builder()
        .working_dir(dir.path())
        .no_dotenv()
        .environment([("MAMBA_COST_RATES", "b.2=0.25,c/3=0.3")])
        .cost_rate("c/3", Decimal::new(35, 2))
        .build()
        .unwrap();
    let rates: Vec<_> = settings.cost_rates.into_iter().collect();
    assert_eq!(
        rates,
        [
            ("a-1".to_owned(), Decimal::new(1, 1)),
            ("b.2".to_owned(), Decimal::new(25, 2)),
            ("c/3".to_owned(), Decimal::new(35, 2)),
        ]
    );
}

fn api_key_of(builder: SettingsBuilder) -> Option<String> {
    let settings = builder.build().unwrap();
    settings
        .model_backend
        .api_key
        .map(|key| key.expose_secret().to_owned())
}

#[test]
fn openai_variables_stand_in_only_when_mamba_keys_are_unset() {
    let openai = [
        ("OPENAI_API_KEY", "sk-openai"),
        ("OPENAI_BASE_URL", "https://example.test/v1"),
    ];
    let (settings, report) = AgentSettings::builder()
        .defaults_only()
        .environment(openai)
        .build_with_report()
        .unwrap();
    let backend = &settings.model_backend;
    assert_eq!(
        backend.api_key.as_ref().map(|k| k.expose_secret()),
        Some("sk-openai")
    );
    assert_eq!(backend.base_url.as_deref(), Some("https://example.test/v1"));
    assert_eq!(
        report.origin_of(&["model_backend", "base_url"]),
        Origin::Env {
            var: "OPENAI_BASE_URL".to_owned()
        }
    );

    let mut both = openai.to_vec();
    both.push(("MAMBA_MODEL_BACKEND__API_KEY", "sk-mamba"));
    let builder = AgentSettings::builder().defaults_only().environment(both);
    assert_eq!(api_key_of(builder).as_deref(), Some("sk-mamba"));

    // A config file's key also wins over OPENAI_API_KEY.
    let dir = TempDir::new();
    dir.write("config.toml", "[model_backend]\napi_key = \"sk-file\"\n");
    let builder = AgentSettings::builder()
        .working_dir(dir.path())
        .no_dotenv()
        .environment(openai);
    assert_eq!(api_key_of(builder).as_deref(), Some("sk-file"));

    // From a .env file too.
    let env_file = dir.write("openai.env", "OPENAI_API_KEY=sk-dotenv\n");
    let builder = AgentSettings::builder()
        .defaults_only()
        .dotenv_file(&env_file);
    assert_eq!(api_key_of(builder).as_deref(), Some("sk-dotenv"));
}

#[test]
fn the_python_token_tracking_section_is_read_as_tokenizer() {
    let dir = TempDir::new();
    let path = dir.write(
        "config.toml",
        "[token_tracking]\nencoding = \"cl100k_base\"\nsafety_margin = 0.2\ntrack_usage = true\n",
    );
    let (settings, report) = AgentSettings::builder()
        .defaults_only()
        .config_file(&path)
        .build_with_report()
        .unwrap();
    assert_eq!(settings.tokenizer.encoding, Encoding::Cl100kBase);
    assert_eq!(settings.tokenizer.safety_margin, 0.2);
    // What we do not implement is reported, not dropped (under the section's own name).
    let unknown: Vec<_> = report
        .unknown_keys()
        .iter()
        .map(|k| k.key.as_str())
        .collect();
    assert_eq!(unknown, ["tokenizer.track_usage"]);

    // `[tokenizer]` wins over `[token_tracking]`.
    let path = dir.write(
        "both.toml",
        "[token_tracking]\nencoding = \"cl100k_base\"\n[tokenizer]\nencoding = \"p50k_base\"\n",
    );
    let settings = AgentSettings::from_file(&path).unwrap();
    assert_eq!(settings.tokenizer.encoding, Encoding::P50kBase);
}

#[test]
fn a_full_config_file_converts_to_the_lower_crates_types() {
    let dir = TempDir::new();
    let path = dir.write(
        "config.toml",
        r#"
[model_backend]
model = "gpt-4o"
base_url = "http://localhost:8080/v1"
timeout = 30
max_retries = 1
temperature = 0
max_tokens = 512

[tokenizer]
encoding = "cl100k_base"
safety_margin = 0.05

[tokenizer.model_mapping]
"my-llama" = "cl100k_base"

[tracking]
max_history_records = 100
log_level = "warn"

[cost_rates]
default = 0.002

[prices."gpt-4o"]
input = "2.00"
cached_input = "1.00"
output = "8.00"
checked = "2026-11-23"

[prices."gemini-like"]
input = "1.25"
output = "10"
source = "our contract"
[prices."gemini-like".tier]
above_prompt_tokens = 200000
input = "2.50"
output = "15"

[usage_limits]
requests = 50
input_tokens = 100000
output_tokens = 20000
cost = "1.25"
"#,
    );
    let settings = AgentSettings::builder()
        .defaults_only()
        .config_file(&path)
        .strict(true)
        .build()
        .unwrap();
    assert!(settings.model_backend.is_local());
    assert_eq!(settings.model_backend.timeout, Duration::from_secs(30));
    assert_eq!(settings.model_backend.temperature, Some(0.0));
    let counter = settings.token_counter().unwrap();
    assert_eq!(
        counter.encoding(),
        Encoding::O200kBase,
        "gpt-4o's own encoding"
    );
    assert_eq!(counter.safety_margin(), 0.05);
    assert_eq!(settings.tracker_config().max_history_records, Some(100));

    let estimator = settings.cost_estimator().unwrap();
    // The explicit price wins over the local backend, and over the built-in one.
    let cost = estimator.estimate(1_000_000, 1_000_000, "gpt-4o");
    assert_eq!(cost.total_cost, Decimal::new(10, 0));
    let gpt4o = estimator.rate("gpt-4o").unwrap();
    assert_eq!(gpt4o.base.cached_input, Some(Decimal::new(1, 0)));
    assert_eq!(gpt4o.checked.as_deref(), Some("2026-11-23"));
    assert_eq!(gpt4o.source, format!("settings file {}", path.display()));
    let tiered = estimator.rate("gemini-like").unwrap();
    assert_eq!(tiered.source, "our contract");
    assert_eq!(
        tiered.tiers.first().map(|t| t.above_prompt_tokens),
        Some(200_000)
    );
    assert_eq!(
        estimator.estimate(300_000, 0, "gemini-like").total_cost,
        Decimal::new(75, 2)
    );
    // The default rate prices unknown models, never $0.
    assert_eq!(
        estimator.estimate(500, 500, "unheard-of").total_cost,
        Decimal::new(2, 3)
    );
    assert_eq!(
        settings.usage_limits,
        UsageLimits::default()
            .with_requests(50)
            .with_input_tokens(100_000)
            .with_output_tokens(20_000)
            .with_cost(Decimal::new(125, 2))
    );
}

#[test]
fn code_can_clear_limits_and_set_prices() {
    let price = mamba_pricing::ModelPrice::new(
        mamba_pricing::Price::new(Decimal::new(3, 0), Decimal::new(6, 0)),
        "negotiated",
    );
    let settings = AgentSettings::builder()
        .defaults_only()
        .environment([("MAMBA_USAGE_LIMITS__REQUESTS", "3")])
        .usage_limits(UsageLimits::default().with_total_tokens(9))
        .price("team/model-v2", &price)
        .build()
        .unwrap();
    assert_eq!(
        settings.usage_limits,
        UsageLimits::default().with_total_tokens(9)
    );
    assert_eq!(settings.prices["team/model-v2"], price);
}

/// The child half of `load_reads_the_process_environment`: it only checks when the parent set
/// the marker, so it passes trivially when the test harness runs it directly.
#[test]
fn child_process_sees_its_environment() {
    if std::env::var_os("SETTINGS_TEST_CHILD").is_none() {
        return;
    }
    let dir = TempDir::new();
    let settings = AgentSettings::builder()
        .working_dir(dir.path())
        .home_dir(dir.path())
        .build()
        .unwrap();
    assert_eq!(settings.model_backend.model, "from-the-process-env");
    assert_eq!(settings.cost_rates["a-b.c/d:e"], Decimal::new(5, 3));
    let loaded = AgentSettings::load().unwrap();
    assert_eq!(loaded.model_backend.model, "from-the-process-env");
}

/// `load()` reads the real process environment. Setting variables in this process would race
/// other tests (and needs `unsafe`), so a child process runs with them set instead.
#[test]
fn load_reads_the_process_environment() {
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_sees_its_environment",
            "--test-threads=1",
        ])
        .env("SETTINGS_TEST_CHILD", "1")
        .env("MAMBA_MODEL_BACKEND__MODEL", "from-the-process-env")
        .env("MAMBA_COST_RATES", "a-b.c/d:e=0.005")
        .status()
        .unwrap();
    assert!(status.success());
}
