//! `[ledger.budgets.NAME]`: fleet budgets read from a settings file, every field checked with
//! an error naming the key and the file, and written back by the dump to the same budgets.

mod support;

use std::time::Duration;

use mamba_ledger::{BudgetPeriod, BudgetScope, FleetBudgetSpec, UnpricedPolicy};
use mamba_pricing::UsageLimits;
use mamba_settings::AgentSettings;
use rust_decimal::Decimal;
use support::TempDir;

fn load(text: &str) -> (Result<AgentSettings, mamba_settings::SettingsError>, String) {
    let dir = TempDir::new();
    let path = dir.write("config.toml", text);
    let loaded = AgentSettings::builder()
        .no_dotenv()
        .no_environment()
        .config_file(&path)
        .build();
    (loaded, path.display().to_string())
}

#[test]
fn budgets_are_read_with_their_scope_period_limits_and_policies() {
    let (settings, _) = load(
        "[ledger]\nurl = \"sqlite://usage.db\"\n\
         [ledger.budgets.alice-daily]\nscope = \"label:user=alice\"\nperiod = \"day\"\n\
         cost = \"5.00\"\nrequests = 1000\nunpriced = \"allow\"\nhold_expiry = \"15m\"\n\
         [ledger.budgets.fleet]\ntotal_tokens = 10000000\n",
    );
    let settings = settings.unwrap();
    let budgets = &settings.ledger.budgets;
    assert_eq!(
        budgets["alice-daily"],
        FleetBudgetSpec::new(
            "alice-daily",
            UsageLimits::default()
                .with_cost(Decimal::new(500, 2))
                .with_requests(1_000)
        )
        .scope(BudgetScope::label("user", "alice"))
        .period(BudgetPeriod::Day)
        .unpriced(UnpricedPolicy::Allow)
        .hold_expiry(Duration::from_secs(900))
    );
    assert_eq!(
        budgets["fleet"],
        FleetBudgetSpec::new(
            "fleet",
            UsageLimits::default().with_total_tokens(10_000_000)
        )
    );

    // The dump writes them back; loading the dump gives the same budgets.
    let dump = settings.dump_safe();
    let (reloaded, _) = load(&dump);
    assert_eq!(&reloaded.unwrap().ledger.budgets, budgets, "{dump}");
}

#[test]
fn a_bad_budget_is_refused_naming_its_key_and_file() {
    let cases = [
        (
            "[ledger.budgets.b]\nscope = \"user=alice\"\nrequests = 1\n",
            "ledger.budgets.b.scope",
            "`user=alice` is not a budget scope; expected `all`, `model:NAME` or `label:KEY=VALUE`",
        ),
        (
            "[ledger.budgets.b]\nperiod = \"week\"\nrequests = 1\n",
            "ledger.budgets.b.period",
            "`week` is not a budget period",
        ),
        (
            "[ledger.budgets.b]\nunpriced = \"maybe\"\ncost = \"1\"\n",
            "ledger.budgets.b.unpriced",
            "`maybe` is not a policy for unpriced models",
        ),
        (
            "[ledger.budgets.b]\ncost = \"-1\"\n",
            "ledger.budgets.b.cost",
            "-1 is negative",
        ),
        (
            "[ledger.budgets.b]\nrequests = -3\n",
            "ledger.budgets.b.requests",
            "-3 is not a whole number in range; expected a whole number, e.g. 100000",
        ),
        (
            "[ledger.budgets.b]\nscope = \"all\"\n",
            "ledger.budgets.b",
            "no limit is set",
        ),
    ];
    for (text, key, problem) in cases {
        let (loaded, file) = load(text);
        let error = loaded.unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("invalid `{key}` from settings file {file}: ")),
            "{text}: {error}"
        );
        assert!(error.contains(problem), "{text}: {error}");
    }
}
