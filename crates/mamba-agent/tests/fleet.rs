//! Fleet budgets in the agent: agents with their own ledger handles on one database, in one
//! process and in 4 OS processes of 16 concurrent runs each, share a budget; a run the budget
//! refuses fails with `AgentError::FleetBudget` and its request never reaches the server;
//! every record settles its hold; a budget covers only the runs of its scope; budgets come
//! from code or from the settings file.
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

const CHILD_LEDGER: &str = "MAMBA_AGENT_FLEET_TEST_LEDGER";
const CHILD_SERVER: &str = "MAMBA_AGENT_FLEET_TEST_SERVER";
/// The shared budget: this many requests across every process.
const FLEET_LIMIT: u64 = 40;

fn fleet_budget() -> FleetBudgetSpec {
    FleetBudgetSpec::new("fleet", UsageLimits::default().with_requests(FLEET_LIMIT))
}

/// A child process: an agent of its own (its own ledger handle on the shared file) makes 16
/// concurrent runs, then prints `sent N refused M`.
#[test]
#[ignore = "run by four_processes_of_agents_share_one_fleet_budget as its child processes"]
fn child_agent_runs_sixteen_at_once() {
    let (Ok(path), Ok(url)) = (std::env::var(CHILD_LEDGER), std::env::var(CHILD_SERVER)) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (sent, refused) = runtime.block_on(async {
        let settings = AgentSettings::builder()
            .defaults_only()
            .base_url(&url)
            .local(false)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let agent = Agent::builder("gpt-4o")
            .settings(settings)
            .ledger(Ledger::open_sqlite(&path).unwrap())
            .fleet_budget(fleet_budget())
            .build()
            .unwrap();
        let runs = futures::future::join_all((0..16).map(|_| agent.run("hi"))).await;
        let mut counts = (0, 0);
        for run in runs {
            match run {
                Ok(_) => counts.0 += 1,
                Err(error) => match error.error {
                    AgentError::FleetBudget(LedgerError::BudgetExceeded { .. }) => counts.1 += 1,
                    other => panic!("{other}"),
                },
            }
        }
        counts
    });
    println!("sent {sent} refused {refused}");
}

/// 4 OS processes x 16 concurrent agent runs against one scripted server on 127.0.0.1, one
/// budget of 40 requests in a shared SQLite ledger: exactly 40 requests reach the server, the
/// 24 others are refused before sending, the ledger holds exactly what the server billed,
/// and every hold is settled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_of_agents_share_one_fleet_budget() {
    let server = Scripted::completions(1_000, 100).await;
    let db = TempDb::new("processes");
    // Made before the children start, so they race on the budget, not on creating the file.
    drop(Ledger::open_sqlite(&db.0).unwrap());
    let (path, url) = (db.0.display().to_string(), server.url.clone());
    let outputs = tokio::task::spawn_blocking(move || {
        let children: Vec<_> = (0..4)
            .map(|_| {
                std::process::Command::new(std::env::current_exe().unwrap())
                    .args([
                        "--exact",
                        "child_agent_runs_sixteen_at_once",
                        "--ignored",
                        "--nocapture",
                        "--test-threads=1",
                    ])
                    .env(CHILD_LEDGER, &path)
                    .env(CHILD_SERVER, &url)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::inherit())
                    .spawn()
                    .unwrap()
            })
            .collect();
        children
            .into_iter()
            .map(|child| child.wait_with_output().unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let (mut sent, mut refused) = (0_u64, 0_u64);
    for output in outputs {
        assert!(output.status.success(), "a child failed");
        let text = String::from_utf8(output.stdout).unwrap();
        let line = text
            .lines()
            .find_map(|line| line.find("sent ").map(|at| &line[at..]))
            .unwrap_or_else(|| panic!("no summary in {text:?}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        sent += words[1].parse::<u64>().unwrap();
        refused += words[3].parse::<u64>().unwrap();
    }
    assert_eq!((sent, refused), (FLEET_LIMIT, 64 - FLEET_LIMIT));
    assert_eq!(
        server.billed().len() as u64,
        FLEET_LIMIT,
        "the server saw only the requests that held"
    );
    let books = Ledger::open_sqlite(&db.0).unwrap();
    let (totals, usage) = tokio::task::spawn_blocking(move || {
        (
            books.totals(TimeRange::ALL).unwrap(),
            books.fleet_budget(fleet_budget()).unwrap().usage().unwrap(),
        )
    })
    .await
    .unwrap();
    assert_eq!(totals.usage.request_count, FLEET_LIMIT);
    assert_eq!(totals.usage.prompt_tokens, FLEET_LIMIT * 1_000);
    assert_eq!(totals.usage.completion_tokens, FLEET_LIMIT * 100);
    assert_eq!(usage.used.requests, FLEET_LIMIT);
    assert_eq!(usage.reserved, Spend::default(), "every hold was settled");
}

/// A caller that gives up on a request while the fleet budget has not answered yet (here the
/// ledger's file is locked by another writer) leaves nothing held in the agent's own budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_dropped_while_the_fleet_budget_answers_gives_its_local_hold_back() {
    let server = Scripted::completions(1_000, 100).await;
    let db = TempDb::new("dropped");
    let agent = Agent::builder("gpt-4o")
        .settings(settings(&server))
        .ledger(Ledger::open_sqlite(&db.0).unwrap())
        .usage_limits(UsageLimits::default().with_requests(1))
        .fleet_budget(alice_budget())
        .labels(Labels::new().user("alice"))
        .build()
        .unwrap();
    let blocker = rusqlite::Connection::open(&db.0).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let gave_up = tokio::time::timeout(Duration::from_millis(300), agent.run("hi")).await;
    assert!(
        gave_up.is_err(),
        "the run should still wait on the locked ledger"
    );
    blocker.execute_batch("COMMIT").unwrap();
    drop(blocker);
    // The agent's one request is still available: the dropped request holds none of it.
    agent.run("hi").await.unwrap();
    assert_eq!(server.served().len(), 1);
}
