//! The PostgreSQL ledger against a real server: the backend contract (`tests/contract`) on a
//! fresh database per test, migrations raced by several openers, a newer schema refused, a
//! password never shown, and a connection killed by the server replaced without failing or
//! losing a write.
//!
//! `cargo xtask ci` starts PostgreSQL on 127.0.0.1 and sets `MAMBA_TEST_POSTGRES_URL` (a
//! superuser URL, e.g. `postgres://postgres@127.0.0.1:5432/postgres`) and
//! `MAMBA_REQUIRE_POSTGRES=1`; elsewhere, without the URL, each test says so and passes.

mod contract;

use std::sync::atomic::{AtomicU32, Ordering};

use mamba_ledger::{Ledger, LedgerConfig, LedgerError, TimeRange};
use mamba_pricing::CostEstimator;
use mamba_usage::UsageRecord;
use proptest::prelude::*;

/// The server's superuser URL, or `None` (with a message) when no server is configured.
fn server_url() -> Option<String> {
    match std::env::var("MAMBA_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("MAMBA_REQUIRE_POSTGRES").is_none(),
                "MAMBA_REQUIRE_POSTGRES is set but MAMBA_TEST_POSTGRES_URL is not"
            );
            eprintln!(
                "skipped: no PostgreSQL (set MAMBA_TEST_POSTGRES_URL, or run `cargo xtask ci`)"
            );
            None
        }
    }
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{database}")
}

/// A new, empty database on the server; its URL.
fn fresh_database(server: &str, name: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let database = format!(
        "mamba_test_{name}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = postgres::Client::connect(server, postgres::NoTls).unwrap();
    // Each statement on its own: a batch runs in one implicit transaction, which these refuse.
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {database}"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {database}"))
        .unwrap();
    with_database(server, &database)
}

fn open(url: &str) -> Ledger {
    Ledger::open(&LedgerConfig::from_url(url).unwrap()).unwrap()
}

/// A ledger on a fresh database, or `None` when there is no server.
fn fresh_ledger(name: &str) -> Option<Ledger> {
    let server = server_url()?;
    Some(open(&fresh_database(&server, name)))
}

#[test]
fn money_is_summed_exactly() {
    if let Some(ledger) = fresh_ledger("exact") {
        contract::money_is_summed_exactly_where_a_float_sum_is_not(&ledger);
    }
}

#[test]
fn batched_records_are_committed_by_size_delay_flush_query_and_drop() {
    let Some(server) = server_url() else { return };
    let url = fresh_database(&server, "batched");
    contract::batched_records_are_committed_by_size_delay_flush_query_and_drop(
        |batching| Ledger::open(&LedgerConfig::from_url(&url).unwrap().batched(batching)).unwrap(),
        &open(&url),
    );
}

#[test]
fn fleet_budgets_hold_settle_release_expire_and_count_by_scope() {
    if let Some(ledger) = fresh_ledger("fleet") {
        contract::fleet_budgets_hold_settle_release_expire_and_count_by_scope(&ledger);
    }
}

#[test]
fn racing_holds_never_pass_the_limit() {
    let Some(server) = server_url() else { return };
    let url = fresh_database(&server, "race");
    contract::racing_holds_never_pass_the_limit(|| open(&url));
}

#[test]
fn a_record_written_twice_under_one_id_counts_once() {
    if let Some(ledger) = fresh_ledger("idempotent") {
        contract::a_record_written_twice_under_one_id_counts_once(&ledger);
    }
}

#[test]
fn racing_writes_of_the_same_ids_store_each_once() {
    let Some(server) = server_url() else { return };
    let url = fresh_database(&server, "racing");
    // One ledger shared by the threads, then four ledgers (four connections) racing.
    contract::racing_writes_of_the_same_ids_store_each_once(&open(&url));
    let url = fresh_database(&server, "racing_connections");
    let ledgers: Vec<Ledger> = (0..4).map(|_| open(&url)).collect();
    let record = UsageRecord::new(10, 10, "gpt-4o");
    let cost = CostEstimator::new().estimate_record(&record);
    let ids: Vec<_> = (0..40).map(|_| mamba_ledger::RecordId::new()).collect();
    std::thread::scope(|scope| {
        for ledger in &ledgers {
            scope.spawn(|| {
                for id in &ids {
                    ledger.record_with_id(*id, &record, &cost).unwrap();
                }
            });
        }
    });
    assert_eq!(ledgers[0].len().unwrap(), 40);
}

#[test]
fn every_field_survives_a_reopen() {
    let Some(server) = server_url() else { return };
    let url = fresh_database(&server, "fields");
    contract::every_field_survives_a_reopen(|| open(&url));
}

#[test]
fn counts_the_ledger_cannot_store_are_refused_by_name_and_nothing_is_written() {
    if let Some(ledger) = fresh_ledger("unstorable") {
        contract::counts_the_ledger_cannot_store_are_refused_by_name_and_nothing_is_written(
            &ledger,
        );
    }
}

#[test]
fn processes_opening_a_new_database_at_once_migrate_it_once() {
    let Some(server) = server_url() else { return };
    let url = fresh_database(&server, "migrate");
    let ledgers: Vec<Ledger> = std::thread::scope(|scope| {
        let openers: Vec<_> = (0..6).map(|_| scope.spawn(|| open(&url))).collect();
        openers.into_iter().map(|o| o.join().unwrap()).collect()
    });
    assert_eq!(ledgers.len(), 6);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let versions: Vec<i32> = client
        .query("SELECT version FROM mamba_ledger.schema_version", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(versions, [1, 2, 3, 4], "each migration applied once");
}

#[test]
fn a_database_from_a_newer_version_is_refused_with_the_versions() {
    let Some(server) = server_url() else { return };
    let url = fresh_database(&server, "newer");
    drop(open(&url));
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute("INSERT INTO mamba_ledger.schema_version (version) VALUES (99)")
        .unwrap();
    let error = Ledger::open(&LedgerConfig::from_url(&url).unwrap()).unwrap_err();
    assert!(matches!(error, LedgerError::Database { .. }));
    assert!(
        error.to_string().ends_with(
            ": the schema is version 99, newer than this version of mamba-ledger knows (4)"
        ),
        "{error}"
    );
}

#[test]
fn a_password_never_appears_in_errors_or_debug_output() {
    // Port 1 on loopback: nothing listens, so connecting fails.
    let url = "postgres://app:hunter2@127.0.0.1:1/usage";
    let config = LedgerConfig::from_url(url).unwrap();
    let error = Ledger::open(&config).unwrap_err();
    let shown = [
        error.to_string(),
        format!("{error:?}"),
        format!("{config}"),
        format!("{config:?}"),
        std::error::Error::source(&error)
            .map(ToString::to_string)
            .unwrap_or_default(),
    ];
    for text in &shown {
        assert!(!text.contains("hunter2"), "{text}");
    }
    assert!(
        shown[0].starts_with("ledger postgres://app:[redacted]@127.0.0.1:1/usage: cannot connect"),
        "{}",
        shown[0]
    );
}

#[test]
fn a_connection_the_server_kills_is_replaced_without_failing_or_losing_a_write() {
    let Some(server) = server_url() else { return };
    let url = fresh_database(&server, "reconnect");
    let ledger = open(&url);
    let estimator = CostEstimator::new();
    let record = UsageRecord::new(1_000, 100, "gpt-4o");
    let cost = estimator.estimate_record(&record);
    let mut acknowledged = 0_u64;
    let mut admin = postgres::Client::connect(&server, postgres::NoTls).unwrap();
    for round in 0..3 {
        for _ in 0..5 {
            ledger.record(&record, &cost).unwrap();
            acknowledged += 1;
        }
        // The server ends every connection to the ledger's database but this one.
        let database = url.rsplit_once('/').unwrap().1;
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&database],
            )
            .unwrap();
        // The next write finds the connection gone, connects again and is written.
        ledger
            .record(&record, &cost)
            .unwrap_or_else(|error| panic!("round {round}: {error}"));
        acknowledged += 1;
    }
    let totals = ledger.totals(TimeRange::ALL).unwrap();
    assert_eq!(totals.usage.request_count, acknowledged);
    assert_eq!(
        totals.cost,
        cost.total_cost * rust_decimal::Decimal::from(acknowledged)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn sql_breakdowns_equal_the_in_memory_books(records in prop::collection::vec(contract::record(), 0..120)) {
        if let Some(ledger) = fresh_ledger("property") {
            contract::sql_breakdowns_equal_the_in_memory_books(&ledger, &records)?;
        }
    }
}

#[test]
fn a_url_that_requires_tls_is_refused_not_sent_in_the_clear() {
    let Some(server) = server_url() else { return };
    let url = format!("{server}?sslmode=require");
    let error = Ledger::open(&LedgerConfig::from_url(&url).unwrap()).unwrap_err();
    let source = std::error::Error::source(&error)
        .map(ToString::to_string)
        .unwrap_or_default();
    // The client has no TLS: it refuses to connect rather than fall back to plain text.
    assert!(
        error
            .to_string()
            .ends_with("?sslmode=require: cannot connect"),
        "{error}"
    );
    assert_eq!(source, "error performing TLS handshake");
}

/// A TCP proxy on 127.0.0.1 in front of the server, which the test takes down (every
/// connection cut, new ones refused) and brings back on the same port: a database outage
/// without touching the shared server.
struct Proxy {
    port: u16,
    upstream: String,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    connections: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(upstream: String) -> Proxy {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut proxy = Proxy {
            port,
            upstream,
            up: Default::default(),
            connections: Default::default(),
            acceptor: None,
        };
        proxy.bring_up();
        proxy
    }

    fn bring_up(&mut self) {
        let listener = std::net::TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        self.up.store(true, Ordering::SeqCst);
        let (up, connections, upstream) = (
            self.up.clone(),
            self.connections.clone(),
            self.upstream.clone(),
        );
        self.acceptor = Some(std::thread::spawn(move || {
            while up.load(Ordering::SeqCst) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                let server = std::net::TcpStream::connect(&upstream).unwrap();
                let mut kept = connections.lock().unwrap();
                kept.push(client.try_clone().unwrap());
                kept.push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        }));
    }

    fn take_down(&mut self) {
        self.up.store(false, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.join().unwrap();
        }
        for connection in self.connections.lock().unwrap().drain(..) {
            let _ = connection.shutdown(std::net::Shutdown::Both);
        }
    }

    /// `url` (a server URL) pointed at the proxy.
    fn url(&self, url: &str) -> String {
        let (scheme_user, rest) = url.split_once('@').unwrap();
        let (_, path) = rest.split_once('/').unwrap();
        format!("{scheme_user}@127.0.0.1:{}/{path}", self.port)
    }
}

/// What the ledger logs on this thread while a [`Logs::capture`] guard lives.
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn lines_with(&self, level: &str) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .filter(|line| line.contains(level))
            .map(str::to_owned)
            .collect()
    }
}

/// The `host:port` of a server URL.
fn authority(url: &str) -> String {
    let rest = url.split_once('@').unwrap().1;
    rest.split_once('/').unwrap().0.to_owned()
}

#[test]
fn records_spill_while_the_server_is_down_and_are_written_once_when_it_is_back() {
    let Some(server) = server_url() else { return };
    let direct = fresh_database(&server, "spill");
    let mut proxy = Proxy::start(authority(&server));
    let spill = std::env::temp_dir().join(format!("mamba-spill-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&spill);
    let config = LedgerConfig::from_url(&proxy.url(&direct))
        .unwrap()
        .spill_to(&spill);
    let ledger = Ledger::open(&config).unwrap();
    let logs = Logs::default();
    let _logging = logs.capture();
    let record = UsageRecord::new(1_000, 100, "gpt-4o");
    let cost = CostEstimator::new().estimate_record(&record);
    let write = |expected: mamba_ledger::Written| {
        let id = mamba_ledger::RecordId::new();
        assert_eq!(ledger.record_with_id(id, &record, &cost).unwrap(), expected);
    };
    for _ in 0..3 {
        write(mamba_ledger::Written::Inserted);
    }

    proxy.take_down();
    for _ in 0..4 {
        write(mamba_ledger::Written::Spilled);
    }
    assert!(ledger.spill_pending());
    let spilled = std::fs::read_to_string(&spill).unwrap();
    assert_eq!(spilled.lines().count(), 4);
    // The outage is logged at the 1st, 2nd and 4th spilled record.
    let warnings = logs.lines_with("WARN");
    assert_eq!(warnings.len(), 3, "{warnings:#?}");
    for (line, spilled) in warnings.iter().zip([1, 2, 4]) {
        assert!(
            line.contains("the ledger's database is unavailable")
                && line.contains(&format!("spilled={spilled}")),
            "{line}"
        );
    }

    proxy.bring_up();
    // The next write replays the spill first, then goes in itself.
    write(mamba_ledger::Written::Inserted);
    assert!(!ledger.spill_pending());
    let back = logs.lines_with("INFO");
    assert_eq!(back.len(), 1, "{back:#?}");
    assert!(
        back[0].contains("the ledger's database is back")
            && back[0].contains("inserted=4 already_there=0 spilled_by_this_process=4"),
        "{}",
        back[0]
    );
    assert_eq!(std::fs::read_to_string(&spill).unwrap(), "");
    let books = open(&direct);
    let totals = books.totals(TimeRange::ALL).unwrap();
    assert_eq!(totals.usage.request_count, 8);
    assert_eq!(
        totals.cost,
        cost.total_cost * rust_decimal::Decimal::from(8)
    );

    // A replay cut short after writing (the file came back): nothing counts twice.
    std::fs::write(&spill, &spilled).unwrap();
    let replayed = ledger.replay_spill().unwrap();
    assert_eq!((replayed.inserted, replayed.already_there), (0, 4));
    assert_eq!(books.len().unwrap(), 8);

    // A ledger opened during an outage opens, spills, and catches up.
    proxy.take_down();
    let error = Ledger::open(&LedgerConfig::from_url(&proxy.url(&direct)).unwrap()).unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with(": cannot connect (the database is unavailable)"),
        "{error}"
    );
    assert!(error.is_unavailable());
    let during = Ledger::open(&config).unwrap();
    assert_eq!(
        during
            .record_with_id(mamba_ledger::RecordId::new(), &record, &cost)
            .unwrap(),
        mamba_ledger::Written::Spilled
    );
    assert!(matches!(
        during.replay_spill(),
        Err(LedgerError::Unavailable { .. })
    ));
    proxy.bring_up();
    let replayed = during.replay_spill().unwrap();
    assert_eq!((replayed.inserted, replayed.already_there), (1, 0));
    assert_eq!(books.len().unwrap(), 9);
    let _ = std::fs::remove_file(&spill);
}

/// A spill file is for outages only: a database that answers "no" (it does not exist, its
/// schema is newer, its tables are gone) fails the open or the write, and nothing is spilled
/// to be replayed into a database that will never take it.
#[test]
fn a_spill_file_takes_records_only_while_the_server_is_unreachable() {
    let Some(server) = server_url() else { return };
    let spill =
        std::env::temp_dir().join(format!("mamba-spill-refused-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&spill);
    let spilling = |url: &str| LedgerConfig::from_url(url).unwrap().spill_to(&spill);

    let missing = with_database(&server, "mamba_test_no_such_database");
    let error = Ledger::open(&spilling(&missing)).unwrap_err();
    assert!(matches!(error, LedgerError::Database { .. }), "{error:?}");
    assert!(
        format!("{error}").ends_with("mamba_test_no_such_database: cannot connect"),
        "{error}"
    );

    let newer = fresh_database(&server, "spill_newer");
    drop(open(&newer));
    let mut admin = postgres::Client::connect(&newer, postgres::NoTls).unwrap();
    admin
        .batch_execute("UPDATE mamba_ledger.schema_version SET version = 99")
        .unwrap();
    let error = Ledger::open(&spilling(&newer)).unwrap_err();
    assert!(
        error.to_string().contains("the schema is version 99"),
        "{error}"
    );

    let dropped = fresh_database(&server, "spill_dropped");
    let ledger = Ledger::open(&spilling(&dropped)).unwrap();
    let mut admin = postgres::Client::connect(&dropped, postgres::NoTls).unwrap();
    admin
        .batch_execute("DROP SCHEMA mamba_ledger CASCADE")
        .unwrap();
    let record = UsageRecord::new(1_000, 100, "gpt-4o");
    let cost = CostEstimator::new().estimate_record(&record);
    let error = ledger.record(&record, &cost).unwrap_err();
    assert!(
        error.to_string().contains("cannot insert a record"),
        "{error}"
    );
    assert!(!ledger.spill_pending());
    assert!(!spill.exists());
}

/// A batch whose write fails (the server is away, no spill file) is kept, not dropped: a
/// record that finds the batch full gets the error and is not taken, and every acknowledged
/// record goes in once the server is back.
#[test]
fn a_batch_that_cannot_be_written_is_kept_until_the_server_is_back() {
    let Some(server) = server_url() else { return };
    let direct = fresh_database(&server, "batch_outage");
    let mut proxy = Proxy::start(authority(&server));
    let batching = mamba_ledger::Batching::new(
        std::num::NonZeroUsize::new(3).unwrap(),
        std::time::Duration::from_secs(3_600),
    );
    let ledger = Ledger::open(
        &LedgerConfig::from_url(&proxy.url(&direct))
            .unwrap()
            .batched(batching),
    )
    .unwrap();
    let record = UsageRecord::new(1_000, 100, "gpt-4o");
    let cost = CostEstimator::new().estimate_record(&record);
    proxy.take_down();
    // The third record fills the batch, whose write fails: its records stay pending, and
    // while the flusher tries, the next batch fills. A record that then finds the batch full
    // writes it itself, fails, and is refused: pending records stay within two batches.
    let mut acknowledged = 0;
    let error = loop {
        match ledger.record(&record, &cost) {
            Ok(_) => acknowledged += 1,
            Err(error) => break error,
        }
        assert!(acknowledged <= 6, "the batch grew past two batches");
    };
    assert!(error.is_unavailable(), "{error}");
    assert!(acknowledged >= 3, "{acknowledged}");
    assert!(ledger.flush().unwrap_err().is_unavailable());
    let books = open(&direct);
    assert_eq!(books.len().unwrap(), 0);

    proxy.bring_up();
    ledger.flush().unwrap();
    let totals = books.totals(TimeRange::ALL).unwrap();
    assert_eq!(
        totals.usage.request_count, 3,
        "the refused fourth record was not taken"
    );
    assert_eq!(
        totals.cost,
        cost.total_cost * rust_decimal::Decimal::from(3)
    );
}
