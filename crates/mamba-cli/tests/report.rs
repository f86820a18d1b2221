//! `mamba report` against a real SQLite ledger: every grouping and format, the numbers equal
//! to the ledger's own queries and to the prices by hand; bad arguments.

mod support;

use mamba_ledger::{LedgerTotals, TimeRange};
use mamba_pricing::Decimal;
use serde_json::{Value, json};
use support::*;

fn report(dir: &Scratch, args: &[&str]) -> Run {
    let mut all = vec!["report", "--ledger", "sqlite://usage.db"];
    all.extend_from_slice(args);
    mamba_in(&dir.0, &all, None)
}

#[test]
fn the_table_by_model_has_every_kind_of_token_and_the_exact_cost_costliest_first() {
    let dir = Scratch::new("report-model");
    demo_ledger(&dir.0.join("usage.db"));
    let run = report(&dir, &[]);
    assert_eq!((run.status, run.stderr.as_str()), (Some(0), ""));
    // gpt-4o: $0.0075 + $0.00475 + $0.035; o3: 1,000 x $2 + 3,000 x $8; claude: 2,000 x $3 +
    // 200 x $15 (per 1M).
    assert_eq!(
        run.stdout,
        "MODEL              REQUESTS   INPUT  CACHED  CACHE WRITE  OUTPUT  REASONING   TOTAL  UNPRICED      COST\n\
         gpt-4o                    3  13,000   1,000            0   1,600          0  14,600         0  $0.04725\n\
         o3                        1   1,000       0            0   3,000      2,000   4,000         0    $0.026\n\
         claude-sonnet-4-6         1   2,000       0            0     200          0   2,200         0    $0.009\n\
         total                     5  16,000   1,000            0   4,800      2,000  20,800         0  $0.08225\n"
    );
}

#[test]
fn every_grouping_equals_the_ledgers_own_query() {
    let dir = Scratch::new("report-groupings");
    let ledger = demo_ledger(&dir.0.join("usage.db"));
    let rows = |by: &str| -> Vec<(String, u64, String)> {
        let run = report(&dir, &["--by", by, "--format", "json"]);
        assert_eq!(run.status, Some(0), "{}", run.stderr);
        let value: Value = serde_json::from_str(&run.stdout).unwrap();
        value["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                (
                    row["key"].as_str().unwrap().to_owned(),
                    row["total_tokens"].as_u64().unwrap(),
                    row["cost_usd"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let expected = |totals: Vec<(String, LedgerTotals)>| -> Vec<(String, u64, String)> {
        totals
            .into_iter()
            .map(|(key, t)| (key, t.usage.total_tokens, t.cost.normalize().to_string()))
            .collect()
    };
    let by_day = ledger.by_day(TimeRange::ALL).unwrap();
    assert_eq!(rows("day"), expected(by_day.into_iter().collect()));
    let by_tool = ledger.by_tool(TimeRange::ALL).unwrap();
    let mut tools: Vec<(String, LedgerTotals)> = by_tool
        .into_iter()
        .map(|(k, t)| (k.unwrap_or_else(|| "(no tool)".to_owned()), t))
        .collect();
    tools.sort_by_key(|row| std::cmp::Reverse(row.1.cost));
    assert_eq!(rows("tool"), expected(tools));
    let by_user = ledger.by_label("user", TimeRange::ALL).unwrap();
    let mut users: Vec<(String, LedgerTotals)> =
        by_user.into_iter().map(|(k, t)| (k.unwrap(), t)).collect();
    users.sort_by_key(|row| std::cmp::Reverse(row.1.cost));
    assert_eq!(rows("label:user"), expected(users));
    // And by hand: alice $0.0075 + $0.00475 + $0.035, bob $0.009 + $0.026.
    assert_eq!(
        rows("label:user"),
        [
            ("alice".to_owned(), 14_600, "0.04725".to_owned()),
            ("bob".to_owned(), 6_200, "0.035".to_owned())
        ]
    );
    assert_eq!(
        rows("month"),
        [
            ("2026-11".to_owned(), 9_800, "0.04725".to_owned()),
            ("2026-12".to_owned(), 11_000, "0.035".to_owned())
        ]
    );
    assert_eq!(
        rows("label:team"),
        [("(no team)".to_owned(), 20_800, "0.08225".to_owned())]
    );
}

#[test]
fn since_and_until_take_whole_utc_days_and_csv_keeps_every_digit() {
    let dir = Scratch::new("report-range");
    demo_ledger(&dir.0.join("usage.db"));
    let run = report(
        &dir,
        &[
            "--by",
            "day",
            "--since",
            "2026-11-01",
            "--until",
            "2026-11-30",
            "--format",
            "csv",
        ],
    );
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    // 2026-11-01 23:00 is in November 1 (UTC); 2026-12-01 is after --until.
    assert_eq!(
        run.stdout,
        "day,requests,prompt_tokens,cached_tokens,cache_write_tokens,completion_tokens,reasoning_tokens,total_tokens,unpriced_tokens,cost_usd\r\n\
         2026-11-01,2,3000,1000,0,600,0,3600,0,0.01225\r\n\
         2026-11-02,2,3000,0,0,3200,2000,6200,0,0.035\r\n"
    );
    let run = report(&dir, &["--since", "2026-11-02", "--format", "json"]);
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        (
            &value["since"],
            &value["until"],
            &value["total"]["cost_usd"],
            &value["total"]["requests"]
        ),
        (
            &json!("2026-11-02"),
            &Value::Null,
            &json!("0.07"),
            &json!(3)
        )
    );
}

#[test]
fn unpriced_tokens_are_a_warning_never_a_silent_zero() {
    let dir = Scratch::new("report-unpriced");
    let ledger = mamba_ledger::Ledger::open_sqlite(dir.0.join("usage.db")).unwrap();
    let record = mamba_usage::UsageRecord::new(700, 300, "acme-secret-model");
    let cost = mamba_pricing::CostEstimator::new().estimate_record(&record);
    assert_eq!(cost.unpriced_tokens, 1_000);
    ledger.record(&record, &cost).unwrap();
    ledger.flush().unwrap();
    let run = report(&dir, &["--format", "json"]);
    assert_eq!(run.status, Some(0));
    assert_eq!(
        run.stderr,
        "mamba: warning: 1,000 tokens have no price; the costs shown leave them out\n"
    );
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(value["total"]["unpriced_tokens"], 1_000);
    assert_eq!(value["total"]["cost_usd"], "0");
}

/// A user of a binary cannot enable a library feature; the error says how to install a
/// `mamba` that reads PostgreSQL, and never shows the password.
#[cfg(not(feature = "postgres"))]
#[test]
fn a_postgres_ledger_without_postgres_support_says_how_to_install_it() {
    let dir = Scratch::new("report-no-postgres");
    let run = mamba_in(
        &dir.0,
        &[
            "report",
            "--ledger",
            "postgres://reporter:hunter2@db:5432/usage",
        ],
        None,
    );
    assert_eq!(
        (run.status, run.stdout.as_str(), run.stderr.as_str()),
        (
            Some(1),
            "",
            "mamba: error: --ledger: `postgres://reporter:[redacted]@db:5432/usage` is a \
             PostgreSQL ledger, and this mamba was built without PostgreSQL: install it with \
             `cargo install mamba-cli --features postgres`\n"
        )
    );
}

#[test]
fn bad_ledgers_and_arguments_name_what_is_wrong() {
    let dir = Scratch::new("report-bad");
    let cases: [(&[&str], i32, &str); 5] = [
        (
            &["report", "--ledger", "sqlite://nowhere.db"],
            1,
            "mamba: error: --ledger: there is no ledger at nowhere.db\n",
        ),
        (
            &["report", "--ledger", "mysql://root:hunter2@db/usage"],
            2,
            "hunter2",
        ),
        (
            &["report", "--ledger", "sqlite://x.db", "--by", "week"],
            2,
            "`week` is not a grouping; expected model, day, month, tool or label:KEY",
        ),
        (
            &[
                "report",
                "--ledger",
                "sqlite://x.db",
                "--since",
                "2026-13-01",
            ],
            2,
            "invalid value '2026-13-01' for '--since <SINCE>': `2026-13-01` is not a date of the form YYYY-MM-DD from 1970 on",
        ),
        (
            &["report", "--ledger", "sqlite://x.db", "--format", "pdf"],
            2,
            "`pdf` is not a format; expected table, csv, json or html",
        ),
    ];
    for (args, status, text) in cases {
        let run = mamba_in(&dir.0, args, None);
        assert_eq!(run.status, Some(status), "{args:?}: {}", run.stderr);
        if text == "hunter2" {
            // The password never shows.
            assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);
            assert!(run.stderr.contains("--ledger: "), "{}", run.stderr);
        } else {
            assert!(run.stderr.contains(text), "{args:?}: {}", run.stderr);
        }
    }
    demo_ledger(&dir.0.join("usage.db"));
    let run = mamba_in(
        &dir.0,
        &[
            "report",
            "--ledger",
            "sqlite://usage.db",
            "--since",
            "2026-11-02",
            "--until",
            "2026-11-01",
        ],
        None,
    );
    assert_eq!(run.status, Some(2));
    assert_eq!(
        run.stderr,
        "mamba: error: --until 2026-11-01 is before --since 2026-11-02\n"
    );
    assert!(
        !dir.0.join("nowhere.db").exists(),
        "a report never creates a ledger"
    );
}

#[test]
fn the_html_report_is_one_self_contained_page_with_the_ledgers_numbers() {
    let dir = Scratch::new("report-html");
    let ledger = demo_ledger(&dir.0.join("usage.db"));
    let run = report(&dir, &["--format", "html", "--out", "report.html"]);
    assert_eq!((run.status, run.stdout.as_str()), (Some(0), ""));
    let page = std::fs::read_to_string(dir.0.join("report.html")).unwrap();
    for outside in ["http://", "https://", "<script", "<link", "src="] {
        assert!(!page.contains(outside), "the page refers to `{outside}`");
    }
    let totals = ledger.totals(TimeRange::ALL).unwrap();
    assert_eq!(totals.cost, Decimal::new(8225, 5));
    assert!(page.contains(&format!(
        "<span id=\"total-cost\" data-value=\"{}\">$0.08225</span>",
        totals.cost.normalize()
    )));
    // One stacked bar per model and day: 2026-11-01 gpt-4o; 11-02 claude and o3; 12-01 gpt-4o.
    assert_eq!(page.matches("<rect x=").count() - 5 - 2 - 4, 4);
    assert!(
        page.contains("<title>2026-11-02 o3: $0.026</title>"),
        "{page}"
    );
    assert!(page.contains("<td class=\"n\" data-value=\"2000\">2,000</td>"));
}
