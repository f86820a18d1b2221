//! Sinks and labels as a user wires them: every record reaches every sink once, with its exact
//! cost and its labels; an optional sink never holds up or fails a run; a required sink is
//! awaited and fails the run when it fails, without losing the record from the books.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mamba_agent::pricing::CostBreakdown;
use mamba_agent::settings::AgentSettings;
use mamba_agent::usage::{SinkError, UsageRecord, UsageSink};
use mamba_agent::{Agent, AgentError, Labels, RunOptions};
use rust_decimal::Decimal;
use support::scripted::*;

/// Keeps what it is given, and fails or waits when told to.
#[derive(Clone, Default)]
struct Keep {
    got: Arc<Mutex<Vec<(UsageRecord, Decimal)>>>,
    fail: bool,
    wait: Option<Duration>,
    /// How many records the sink has started on.
    entered: Arc<std::sync::atomic::AtomicUsize>,
}

impl UsageSink<CostBreakdown> for Keep {
    fn record(&self, record: &UsageRecord, cost: &CostBreakdown) -> Result<(), SinkError> {
        self.entered
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Some(wait) = self.wait {
            std::thread::sleep(wait);
        }
        if self.fail {
            return Err(SinkError::new("ledger", "database is locked"));
        }
        self.got
            .lock()
            .unwrap()
            .push((record.clone(), cost.total_cost));
        Ok(())
    }
}

impl Keep {
    fn got(&self) -> Vec<(UsageRecord, Decimal)> {
        self.got.lock().unwrap().clone()
    }
}

/// 1000 in, 100 out on gpt-4o: $0.0035.
const GPT_4O: Decimal = Decimal::from_parts(35, 0, 0, false, 4);

fn settings(server: &Scripted) -> AgentSettings {
    AgentSettings::builder()
        .defaults_only()
        .base_url(&server.url)
        .local(false)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_record_reaches_every_sink_once_with_its_cost_and_labels() {
    let server = Scripted::completions(1_000, 100).await;
    let (optional, required) = (Keep::default(), Keep::default());
    let agent = Agent::builder("gpt-4o")
        .settings(settings(&server))
        .labels(Labels::new().user("service").tag("team", "search").unwrap())
        .sink(optional.clone())
        .required_sink(required.clone())
        .build()
        .unwrap();
    agent.run("one").await.unwrap();
    let alice = RunOptions::new().labels(Labels::new().user("alice").session("chat-7"));
    let result = agent.run_with("two", alice).await.unwrap();
    // A required sink has the record when the run returns; an optional one after a flush.
    assert_eq!(required.got().len(), 2);
    agent.flush_sinks().await.unwrap();
    for sink in [&optional, &required] {
        let got = sink.got();
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|(_, cost)| *cost == GPT_4O));
        assert_eq!(got[0].0.labels().to_string(), "team=search;user=service");
        assert_eq!(
            got[1].0.labels().to_string(),
            "session=chat-7;team=search;user=alice"
        );
    }
    assert_eq!(result.records[0].labels(), optional.got()[1].0.labels());
    let history = agent.usage_history();
    assert_eq!(
        history
            .iter()
            .map(|r| r.labels().clone())
            .collect::<Vec<_>>(),
        required
            .got()
            .into_iter()
            .map(|(r, _)| r.labels().clone())
            .collect::<Vec<_>>()
    );
    let by_user = agent.tracker().by_label("user");
    assert_eq!(by_user[&Some("alice".into())].prompt_tokens, 1_000);
    assert_eq!(by_user[&Some("service".into())].prompt_tokens, 1_000);
    assert_eq!(agent.sink_stats()[0].delivered, 2);
}

#[tokio::test]
async fn a_slow_optional_sink_never_holds_up_a_request_and_a_full_queue_drops_for_it_alone() {
    let server = Scripted::completions(1_000, 100).await;
    let slow = Keep {
        wait: Some(Duration::from_secs(30)),
        ..Keep::default()
    };
    let entered = Arc::clone(&slow.entered);
    let agent = Agent::builder("gpt-4o")
        .settings(settings(&server))
        .sink(slow)
        .sink_queue_capacity(1)
        .build()
        .unwrap();
    let runs = async {
        agent.run("hi").await.unwrap();
        // The worker takes the first record before the others come, so what is dropped does
        // not depend on how fast its thread starts.
        while entered.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for _ in 0..3 {
            agent.run("hi").await.unwrap();
        }
    };
    // Four runs finish long before the sink has taken its first record.
    tokio::time::timeout(Duration::from_secs(10), runs)
        .await
        .expect("an optional sink held up the runs");
    let stats = agent.sink_stats()[0];
    // The worker holds one record and the queue one more; the other two were dropped for it.
    assert_eq!(stats.dropped, 2);
    assert_eq!(
        agent.usage().request_count,
        4,
        "the tracker keeps every record"
    );
    // Leave without waiting for the slow sink: dropping a queue would deliver what it holds.
    std::mem::forget(agent);
}

#[tokio::test]
async fn a_failing_optional_sink_is_counted_and_never_fails_the_run() {
    let server = Scripted::completions(1_000, 100).await;
    let failing = Keep {
        fail: true,
        ..Keep::default()
    };
    let agent = Agent::builder("gpt-4o")
        .settings(settings(&server))
        .sink(failing)
        .build()
        .unwrap();
    for _ in 0..3 {
        agent.run("hi").await.unwrap();
    }
    agent.flush_sinks().await.unwrap();
    let stats = agent.sink_stats()[0];
    assert_eq!((stats.delivered, stats.failed, stats.dropped), (0, 3, 0));
    assert_eq!(agent.usage().request_count, 3);
    assert_eq!(agent.cost(), GPT_4O * Decimal::from(3));
}

#[tokio::test]
async fn a_failing_required_sink_fails_the_run_and_the_books_keep_the_record() {
    let server = Scripted::completions(1_000, 100).await;
    let failing = Keep {
        fail: true,
        ..Keep::default()
    };
    let agent = Agent::builder("gpt-4o")
        .settings(settings(&server))
        .required_sink(failing)
        .build()
        .unwrap();
    let failed = agent.run("hi").await.unwrap_err();
    let AgentError::Sink(error) = &failed.error else {
        panic!("expected a sink error, got {:?}", failed.error);
    };
    assert_eq!(error.to_string(), "usage sink `ledger`: database is locked");
    assert_eq!(
        failed.to_string(),
        "a required usage sink failed",
        "the sink's error is the source"
    );
    assert_eq!(failed.spent.records.len(), 1);
    assert_eq!(failed.spent.cost.total_cost, GPT_4O);
    assert_eq!(agent.usage().request_count, 1);
    assert_eq!(agent.usage_history().len(), 1);
    assert!(
        agent.conversation().is_empty(),
        "a failed run leaves the conversation alone"
    );
}

#[tokio::test]
async fn a_required_sink_gets_the_record_of_a_request_cancelled_in_flight() {
    let server = Scripted::start(vec![Action::Stall]).await;
    let required = Keep::default();
    let agent = Agent::builder("gpt-4o")
        .settings(settings(&server))
        .required_sink(required.clone())
        .build()
        .unwrap();
    let run = agent.run("hi");
    // The caller gives up while the server holds the request: it was billed.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), run)
            .await
            .is_err()
    );
    agent.flush_sinks().await.unwrap();
    let got = required.got();
    assert_eq!(got.len(), 1);
    assert!(got[0].0.is_cut_off() && got[0].0.is_estimated());
    assert_eq!(agent.usage().request_count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_deliver_each_record_exactly_once_to_every_sink() {
    let server = Scripted::completions(1_000, 100).await;
    let (optional, required) = (Keep::default(), Keep::default());
    let agent = Agent::builder("gpt-4o")
        .settings(settings(&server))
        .sink(optional.clone())
        .required_sink(required.clone())
        .sink_queue_capacity(10_000)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let agent = agent.clone();
            tokio::spawn(async move {
                let user = Labels::new().user(&format!("user-{}", i % 4));
                agent
                    .run_with("hi", RunOptions::new().labels(user))
                    .await
                    .unwrap()
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    agent.flush_sinks().await.unwrap();
    let per_user = |got: Vec<(UsageRecord, Decimal)>| {
        let mut users: BTreeMap<String, u64> = BTreeMap::new();
        for (record, _) in got {
            *users
                .entry(record.labels().get("user").unwrap().to_owned())
                .or_default() += 1;
        }
        users
    };
    let expected: BTreeMap<String, u64> = (0..4).map(|i| (format!("user-{i}"), 16)).collect();
    assert_eq!(per_user(optional.got()), expected);
    assert_eq!(per_user(required.got()), expected);
    let by_user = agent.tracker().by_label("user");
    assert!(by_user.values().all(|usage| usage.request_count == 16));
    assert_eq!(agent.usage().request_count, 64);
    assert_eq!(agent.cost(), GPT_4O * Decimal::from(64));
}

/// Runs `runs` concurrent runs of an agent whose settings name the ledger `url`, then checks
/// the books of another handle on that ledger (as another process would open it).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
async fn the_ledger_at_url_has_every_record_committed_when_the_runs_return(url: &str, runs: u64) {
    let server = Scripted::completions(1_000, 100).await;
    let settings = AgentSettings::builder()
        .defaults_only()
        .base_url(&server.url)
        .local(false)
        .timeout(Duration::from_secs(5))
        .environment([("MAMBA_LEDGER__URL", url)])
        .build()
        .unwrap();
    let agent = Agent::builder("gpt-4o")
        .settings(settings)
        .labels(Labels::new().user("alice"))
        .build()
        .unwrap();
    let runs_done = futures::future::join_all((0..runs).map(|_| agent.run("hi"))).await;
    assert!(runs_done.iter().all(Result::is_ok), "{runs_done:?}");
    let config = mamba_agent::ledger::LedgerConfig::from_url(url).unwrap();
    let books = tokio::task::spawn_blocking(move || {
        let books = mamba_agent::ledger::Ledger::open(&config).unwrap();
        let all = mamba_agent::ledger::TimeRange::ALL;
        (
            books.totals(all).unwrap(),
            books.by_label("user", all).unwrap(),
        )
    })
    .await
    .unwrap();
    let (totals, by_user) = books;
    assert_eq!(totals.usage, agent.usage());
    assert_eq!(totals.cost, agent.cost());
    assert_eq!(totals.cost, GPT_4O * Decimal::from(runs));
    assert_eq!(by_user[&Some("alice".to_owned())].usage.request_count, runs);
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn the_sqlite_ledger_the_settings_name_has_every_record_committed_when_the_run_returns() {
    let path = std::env::temp_dir().join(format!("agent-ledger-{}.db", std::process::id()));
    let remove = || {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    };
    remove();
    the_ledger_at_url_has_every_record_committed_when_the_runs_return(
        &format!("sqlite://{}", path.display()),
        3,
    )
    .await;
    remove();
}

/// Against the PostgreSQL server `cargo xtask ci` starts (`MAMBA_TEST_POSTGRES_URL`), on a
/// new database; without one, the test says so and passes.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_ledger_the_settings_name_has_every_record_of_concurrent_runs() {
    let Some(server) = std::env::var("MAMBA_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        assert!(
            std::env::var_os("MAMBA_REQUIRE_POSTGRES").is_none(),
            "MAMBA_REQUIRE_POSTGRES is set but MAMBA_TEST_POSTGRES_URL is not"
        );
        eprintln!("skipped: no PostgreSQL (set MAMBA_TEST_POSTGRES_URL, or run `cargo xtask ci`)");
        return;
    };
    let database = format!("mamba_agent_test_{}", std::process::id());
    let admin_url = server.clone();
    let statements = [
        format!("DROP DATABASE IF EXISTS {database}"),
        format!("CREATE DATABASE {database}"),
    ];
    tokio::task::spawn_blocking(move || {
        let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls).unwrap();
        for statement in statements {
            admin.batch_execute(&statement).unwrap();
        }
    })
    .await
    .unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    the_ledger_at_url_has_every_record_committed_when_the_runs_return(
        &format!("{base}/{database}"),
        16,
    )
    .await;
}

#[cfg(feature = "sqlite")]
#[test]
fn a_ledger_that_cannot_be_opened_fails_the_build_and_names_the_file() {
    let settings = AgentSettings::builder()
        .defaults_only()
        .environment([("MAMBA_LEDGER__URL", "sqlite:///no/such/dir/usage.db")])
        .build()
        .unwrap();
    let error = Agent::builder("gpt-4o")
        .settings(settings)
        .build()
        .unwrap_err();
    let AgentError::Ledger(source) = &error else {
        panic!("expected a ledger error, got {error:?}");
    };
    assert_eq!(
        source.to_string(),
        "ledger /no/such/dir/usage.db: cannot open the database"
    );
}
