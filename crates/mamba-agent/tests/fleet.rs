//! Fleet budgets in the agent: agents with their own ledger handles on one database (as
//! processes of a fleet would have) share a budget; a run the budget refuses fails with
//! `AgentError::FleetBudget` and its request never reaches the server; every record settles
//! its hold; a budget covers only the runs of its scope.
#![cfg(feature = "sqlite")]

mod support;

use std::time::Duration;

use mamba_agent::ledger::{BudgetScope, FleetBudgetSpec, Ledger, LedgerError, TimeRange};
use mamba_agent::pricing::{LimitKind, Spend, UsageLimits};
use mamba_agent::settings::AgentSettings;
use mamba_agent::{Agent, AgentError, Labels};
use support::scripted::*;

/// A database file removed (with its WAL files) when dropped.
struct TempDb(std::path::PathBuf);

impl TempDb {
    fn new(name: &str) -> TempDb {
        let db = TempDb(
            std::env::temp_dir().join(format!("agent-fleet-{name}-{}.db", std::process::id())),
        );
        db.remove();
        db
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        self.remove();
    }
}

fn settings(server: &Scripted) -> AgentSettings {
    AgentSettings::builder()
        .defaults_only()
        .base_url(&server.url)
        .local(false)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// Alice's requests, across every agent: at most 20.
fn alice_budget() -> FleetBudgetSpec {
    FleetBudgetSpec::new("alice", UsageLimits::default().with_requests(20))
        .scope(BudgetScope::label("user", "alice"))
}

/// An agent with a ledger handle of its own on `db`, labelled `user`.
fn agent(server: &Scripted, db: &TempDb, user: &str) -> Agent {
    Agent::builder("gpt-4o")
        .settings(settings(server))
        .ledger(Ledger::open_sqlite(&db.0).unwrap())
        .labels(Labels::new().user(user))
        .fleet_budget(alice_budget())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_sharing_a_fleet_budget_never_send_what_it_refuses() {
    let server = Scripted::completions(1_000, 100).await;
    let db = TempDb::new("shared");
    let alices = [agent(&server, &db, "alice"), agent(&server, &db, "alice")];
    let bob = agent(&server, &db, "bob");
    // 2 agents x 16 concurrent runs for alice (20 may be sent), and 5 of bob's, whom the
    // budget does not cover.
    let runs = alices
        .iter()
        .flat_map(|agent| (0..16).map(move |_| agent.run("hi")));
    let (alice_runs, bob_runs) = futures::future::join(
        futures::future::join_all(runs),
        futures::future::join_all((0..5).map(|_| bob.run("hi"))),
    )
    .await;
    assert!(bob_runs.iter().all(Result::is_ok), "{bob_runs:?}");
    let (done, refused): (Vec<_>, Vec<_>) = alice_runs.into_iter().partition(Result::is_ok);
    assert_eq!((done.len(), refused.len()), (20, 12));
    for error in refused {
        let error = error.unwrap_err();
        match &error.error {
            AgentError::FleetBudget(LedgerError::BudgetExceeded { budget, exceeded }) => {
                assert_eq!(budget, "alice");
                assert_eq!(exceeded.kind, LimitKind::Requests);
            }
            other => panic!("{other:?}"),
        }
        // A refused run sent nothing, so it spent nothing.
        assert!(error.spent.records.is_empty());
    }
    // The server saw the 20 requests that held and bob's 5: none that was refused.
    assert_eq!(server.served().len(), 25);

    let books = Ledger::open_sqlite(&db.0).unwrap();
    let (totals, by_user, usage) = tokio::task::spawn_blocking(move || {
        let all = TimeRange::ALL;
        (
            books.totals(all).unwrap(),
            books.by_label("user", all).unwrap(),
            books.fleet_budget(alice_budget()).unwrap().usage().unwrap(),
        )
    })
    .await
    .unwrap();
    assert_eq!(totals.usage.request_count, 25);
    assert_eq!(by_user[&Some("alice".to_owned())].usage.request_count, 20);
    assert_eq!(usage.used.requests, 20);
    assert_eq!(usage.reserved, Spend::default(), "every hold was settled");
}

#[tokio::test]
async fn a_fleet_budget_needs_the_agents_ledger() {
    let server = Scripted::completions(10, 1).await;
    let error = Agent::builder("gpt-4o")
        .settings(settings(&server))
        .fleet_budget(alice_budget())
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "fleet budget: fleet budget `alice`: it lives in the agent's ledger, and the agent has \
         none: set `[ledger] url` or call `AgentBuilder::ledger`"
    );
}

/// A request the server refuses (400: nothing billed) records nothing, so its hold is given
/// back; a cut-off response is billed, so its estimate settles the hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_of_refused_requests_are_given_back_and_billed_ones_settled() {
    let server = Scripted::start(vec![
        json_answer(
            400,
            serde_json::json!({"error": {"message": "bad request", "type": "invalid_request_error"}}),
        ),
        Action::CutBody,
    ])
    .await;
    let db = TempDb::new("refused");
    let alice = agent(&server, &db, "alice");
    let budget = {
        let path = db.0.clone();
        tokio::task::spawn_blocking(move || {
            Ledger::open_sqlite(path)
                .unwrap()
                .fleet_budget(alice_budget())
                .unwrap()
        })
        .await
        .unwrap()
    };
    let usage = |budget: &mamba_agent::ledger::FleetBudget| {
        let budget = budget.clone();
        tokio::task::spawn_blocking(move || budget.usage().unwrap())
    };
    assert!(matches!(
        alice.run("hi").await.unwrap_err().error,
        AgentError::Api { status: 400, .. }
    ));
    // Given back on a blocking thread, without the run waiting for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = usage(&budget).await.unwrap();
        if now.reserved == Spend::default() {
            assert_eq!(now.used.requests, 0);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the hold was never given back"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // The cut body was billed: its estimate is recorded and settles the hold with it.
    assert!(alice.run("hi").await.is_err());
    let now = usage(&budget).await.unwrap();
    assert_eq!((now.used.requests, now.reserved), (1, Spend::default()));
}

/// Budgets named in the settings file (`[ledger.budgets.NAME]`) hold the agent's requests as
/// those set in code do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_from_the_settings_file_is_enforced() {
    let server = Scripted::completions(1_000, 100).await;
    let db = TempDb::new("settings");
    let config = db.0.with_extension("toml");
    std::fs::write(
        &config,
        format!(
            "[ledger]\nurl = \"sqlite://{}\"\n[ledger.budgets.two]\nrequests = 2\n",
            db.0.display()
        ),
    )
    .unwrap();
    let settings = AgentSettings::builder()
        .no_dotenv()
        .no_environment()
        .config_file(&config)
        .base_url(&server.url)
        .local(false)
        .build()
        .unwrap();
    let agent = Agent::builder("gpt-4o").settings(settings).build().unwrap();
    agent.run("hi").await.unwrap();
    agent.run("hi").await.unwrap();
    let refused = agent.run("hi").await.unwrap_err();
    assert!(
        refused
            .error
            .to_string()
            .starts_with("fleet budget: fleet budget `two`: limit on requests reached: 2 used"),
        "{}",
        refused.error
    );
    assert_eq!(server.served().len(), 2);
    let _ = std::fs::remove_file(&config);
}
