//! The key declarations drive everything: the reference table in docs/configuration.md lists
//! exactly `SettingKey::all()`, and every declared key is read from its variable, dumped and
//! set in code under the same name.

use std::time::Duration;

use mamba_pricing::{ModelPrice, Price, UsageLimits};
use mamba_settings::{AgentSettings, CompactionStrategy, LogLevel, Origin, SettingKey};
use mamba_tokens::Encoding;
use rust_decimal::Decimal;

/// Settings with every key set in code to a value other than its default.
fn everything_set_in_code() -> AgentSettings {
    AgentSettings::builder()
        .defaults_only()
        .model("gpt-4.1")
        .base_url("http://127.0.0.1:9/v1")
        .api_key("sk-test")
        .timeout(Duration::new(90, 1))
        .max_retries(7)
        .temperature(0.7)
        .max_tokens(512)
        .local(true)
        .encoding(Encoding::Cl100kBase)
        .safety_margin(0.25)
        .max_history_records(10)
        .log_level(LogLevel::Debug)
        .sink_queue_capacity(64)
        .ledger(mamba_ledger::LedgerConfig::sqlite("books.db"))
        .ledger_durability(mamba_ledger::Durability::PowerLoss)
        .ledger_spill("spill.jsonl".into())
        .ledger_batch_records(250)
        .ledger_batch_delay(Duration::from_millis(20))
        .compaction_strategy(CompactionStrategy::Hybrid)
        .compaction_trigger_tokens(50_000)
        .compaction_target_tokens(40_000)
        .preserve_recent_turns(3)
        .preserve_system_prompt(false)
        .summarization_model("gpt-4o-mini")
        .auto_compact(false)
        .usage_limits(
            UsageLimits::default()
                .with_requests(1)
                .with_input_tokens(2)
                .with_output_tokens(3)
                .with_total_tokens(4)
                .with_cost(Decimal::new(5, 1)),
        )
        .build()
        .unwrap()
}

/// Every scalar key: set from its own variable to the value a dump shows, it loads from that
/// variable to the same value, so reader, dump and variable name agree key by key.
#[test]
fn every_declared_key_reads_from_its_variable_what_the_dump_shows() {
    let full = everything_set_in_code();
    let dump: toml::Table = full.dump_safe().parse().unwrap();
    let mut checked = 0;
    for key in SettingKey::all() {
        // Keys under a name (a model, a budget) are tables of their own, read from files.
        if key.key.contains('"') {
            continue;
        }
        let (section, name) = key.key.split_once('.').unwrap();
        let value = &dump[section][name];
        let text = match value {
            toml::Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let variable = &key.variables[0];
        let (loaded, report) = AgentSettings::builder()
            .defaults_only()
            .environment([(variable.as_str(), text.as_str())])
            .strict(true)
            .build_with_report()
            .unwrap_or_else(|e| panic!("{variable}={text}: {e}"));
        let reloaded: toml::Table = loaded.dump_safe().parse().unwrap();
        assert_eq!(&reloaded[section][name], value, "{}", key.key);
        assert_eq!(
            report.origin_of(&[section, name]),
            Origin::Env {
                var: variable.clone()
            },
            "{}",
            key.key
        );
        checked += 1;
    }
    assert_eq!(checked, 30, "every scalar key was set in code and checked");
}

#[test]
fn values_set_in_code_arrive_exactly_and_are_reported_as_code() {
    let full = everything_set_in_code();
    assert_eq!(full.model_backend.timeout, Duration::new(90, 1));
    assert_eq!(full.model_backend.temperature, Some(0.7));
    assert_eq!(full.tokenizer.safety_margin, 0.25);
    let (_, report) = AgentSettings::builder()
        .defaults_only()
        .environment([("MAMBA_MODEL_BACKEND__TIMEOUT", "5")])
        .timeout(Duration::from_nanos(1))
        .build_with_report()
        .unwrap();
    assert_eq!(
        report.origin_of(&["model_backend", "timeout"]),
        Origin::Code
    );
}

#[test]
fn an_empty_variable_clears_an_optional_key_set_by_a_file() {
    let dir = std::env::temp_dir().join(format!("mamba-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        "[model_backend]\nmax_tokens = 64\ntemperature = 0.5\n[usage_limits]\ncost = \"1\"\n",
    )
    .unwrap();
    let settings = AgentSettings::builder()
        .no_dotenv()
        .config_file(&path)
        .environment([
            ("MAMBA_MODEL_BACKEND__MAX_TOKENS", ""),
            ("MAMBA_USAGE_LIMITS__COST", ""),
        ])
        .build()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(settings.model_backend.max_tokens, None);
    assert_eq!(settings.model_backend.temperature, Some(0.5));
    assert_eq!(settings.usage_limits.cost, None);
}

#[test]
fn a_price_set_in_code_is_the_whole_price() {
    let price = ModelPrice::new(
        Price::new(Decimal::new(3, 0), Decimal::new(6, 0)),
        "negotiated",
    );
    let dir = std::env::temp_dir().join(format!("mamba-keys-price-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        "[prices.m]\ninput = \"1\"\ncached_input = \"0.1\"\noutput = \"2\"\n",
    )
    .unwrap();
    let settings = AgentSettings::builder()
        .defaults_only()
        .config_file(&path)
        .price("m", &price)
        .build()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(settings.prices["m"], price);
}

#[test]
fn an_out_of_range_price_set_in_code_names_its_field() {
    let price = ModelPrice::new(
        Price::new(Decimal::ONE, Decimal::ONE).with_cached_input(Decimal::new(-1, 0)),
        "x",
    );
    let error = AgentSettings::builder()
        .defaults_only()
        .price("m", &price)
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid `prices.m.cached_input` from a value set in code: -1 is negative; expected a \
         non-negative decimal USD price per 1,000,000 tokens, e.g. \"2.50\""
    );
}

#[test]
fn prices_take_one_hour_cache_writes_and_any_number_of_tiers_and_dump_back() {
    let dir = std::env::temp_dir().join(format!("mamba-keys-tiers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        "[prices.m]\ninput = \"1\"\ncache_write = \"1.25\"\ncache_write_1h = \"2\"\noutput = \"5\"\n\
         [[prices.m.tiers]]\nabove_prompt_tokens = 272000\ninput = \"2\"\noutput = \"7.5\"\n\
         [[prices.m.tiers]]\nabove_prompt_tokens = 128000\ninput = \"1.5\"\noutput = \"6\"\n",
    )
    .unwrap();
    let settings = AgentSettings::builder()
        .defaults_only()
        .config_file(&path)
        .strict(true)
        .build()
        .unwrap();
    let price = &settings.prices["m"];
    assert_eq!(price.base.cache_write_1h, Some(Decimal::TWO));
    let thresholds: Vec<u64> = price.tiers.iter().map(|t| t.above_prompt_tokens).collect();
    assert_eq!(thresholds, [128_000, 272_000]);
    let estimator = settings.cost_estimator().unwrap();
    assert_eq!(
        estimator.estimate(300_000, 0, "m").total_cost,
        Decimal::new(6, 1)
    );
    std::fs::write(&path, settings.dump_safe()).unwrap();
    let again = AgentSettings::from_file(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(again.prices["m"].tiers, price.tiers);
    assert_eq!(again.prices["m"].base, price.base);
}
