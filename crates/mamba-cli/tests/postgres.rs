//! `mamba report --ledger postgres://...` against a real PostgreSQL server: the same records
//! give the same report, in every grouping and format, as from SQLite.
//!
//! `cargo xtask ci` starts the server and sets `MAMBA_TEST_POSTGRES_URL` (a superuser URL) and
//! `MAMBA_REQUIRE_POSTGRES=1`; elsewhere, without the URL, the test says so and passes.

mod support;

use mamba_ledger::{Ledger, LedgerConfig};
use support::*;

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

/// A new, empty database on the server; its URL.
fn fresh_database(server: &str) -> String {
    let database = format!("mamba_cli_report_{}", std::process::id());
    let mut admin = postgres::Client::connect(server, postgres::NoTls).unwrap();
    // Each statement on its own: a batch runs in one implicit transaction, which these refuse.
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {database}"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {database}"))
        .unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    format!("{base}/{database}")
}

#[test]
fn a_postgresql_ledger_reports_exactly_as_a_sqlite_one() {
    let Some(server) = server_url() else {
        return;
    };
    let url = fresh_database(&server);
    let ledger = Ledger::open(&LedgerConfig::from_url(&url).unwrap()).unwrap();
    fill(&ledger);
    let dir = Scratch::new("postgres");
    demo_ledger(&dir.0.join("usage.db"));
    for by in ["model", "day", "month", "tool", "label:user"] {
        for format in ["table", "csv", "json"] {
            let args = |ledger: &str| -> Run {
                mamba_in(
                    &dir.0,
                    &["report", "--ledger", ledger, "--by", by, "--format", format],
                    None,
                )
            };
            let from_postgres = args(&url);
            let from_sqlite = args("sqlite://usage.db");
            assert_eq!(from_postgres.status, Some(0), "{}", from_postgres.stderr);
            assert_eq!(
                from_postgres.stdout, from_sqlite.stdout,
                "--by {by} --format {format}"
            );
        }
    }
}
