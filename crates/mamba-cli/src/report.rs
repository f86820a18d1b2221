//! `mamba report`: usage and exact cost from a mamba ledger (SQLite or PostgreSQL), grouped
//! by model, day, month, tool or a label, as a table, CSV, JSON or a self-contained HTML page
//! with charts.
//!
//! Every number comes from the ledger's own queries (`by_model`, `by_day`, `by_tool`,
//! `by_label`, `totals`), so a report always equals what the ledger says; months are the sums
//! of their days.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, UNIX_EPOCH};

use mamba_ledger::{Ledger, LedgerConfig, LedgerTotals, TimeRange};
use mamba_pricing::PriceDate;
use serde_json::{Value, json};

use crate::money::{exact_text, exact_usd};
use crate::table::{Align, Table, grouped};
use crate::{Error, Outcome, Result, print_out};

const DAY: Duration = Duration::from_secs(86_400);

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  mamba report --ledger sqlite://usage.db\n  mamba report --ledger sqlite://usage.db --by day --since 2026-11-01 --until 2026-11-30\n  mamba report --ledger postgres://reporter@db/usage --by label:user --format csv\n  mamba report --ledger sqlite://usage.db --format html --out report.html"
)]
pub(crate) struct Args {
    /// The ledger: `sqlite://usage.db`, `sqlite:///var/lib/usage.db` or
    /// `postgres://user:password@host/db`.
    #[arg(long)]
    ledger: String,
    /// The first day to include (`YYYY-MM-DD`, UTC).
    #[arg(long, value_parser = parse_day)]
    since: Option<PriceDate>,
    /// The last day to include (`YYYY-MM-DD`, UTC; the whole day is included).
    #[arg(long, value_parser = parse_day)]
    until: Option<PriceDate>,
    /// How to group: model, day, month, tool or label:KEY (e.g. label:user).
    #[arg(long, default_value = "model", value_parser = Grouping::from_str)]
    by: Grouping,
    /// Output format: table, csv, json or html.
    #[arg(long, default_value = "table", value_parser = Format::from_str)]
    format: Format,
    /// Write the report to this file instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn parse_day(text: &str) -> Result<PriceDate, String> {
    text.parse::<PriceDate>().map_err(|error| error.to_string())
}

/// What rows of a report stand for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Grouping {
    Model,
    Day,
    Month,
    Tool,
    Label(String),
}

impl FromStr for Grouping {
    type Err = String;

    fn from_str(text: &str) -> Result<Grouping, String> {
        match text {
            "model" => Ok(Grouping::Model),
            "day" => Ok(Grouping::Day),
            "month" => Ok(Grouping::Month),
            "tool" => Ok(Grouping::Tool),
            _ => match text.strip_prefix("label:") {
                Some(key) if !key.is_empty() => Ok(Grouping::Label(key.to_owned())),
                _ => Err(format!(
                    "`{text}` is not a grouping; expected model, day, month, tool or label:KEY"
                )),
            },
        }
    }
}

impl Grouping {
    /// The name of the key column.
    pub(crate) fn column(&self) -> String {
        match self {
            Grouping::Model => "model".to_owned(),
            Grouping::Day => "day".to_owned(),
            Grouping::Month => "month".to_owned(),
            Grouping::Tool => "tool".to_owned(),
            Grouping::Label(key) => key.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Table,
    Csv,
    Json,
    Html,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Format, String> {
        match text {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "html" => Ok(Format::Html),
            _ => Err(format!(
                "`{text}` is not a format; expected table, csv, json or html"
            )),
        }
    }
}

/// One row of a report: its key and the ledger's totals for it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub(crate) key: String,
    pub(crate) totals: LedgerTotals,
}

/// A report's numbers, as the ledger gave them.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) grouping: Grouping,
    pub(crate) since: Option<PriceDate>,
    pub(crate) until: Option<PriceDate>,
    pub(crate) rows: Vec<Row>,
    pub(crate) total: LedgerTotals,
}

pub(crate) fn run(args: &Args) -> Result<Outcome> {
    let ledger = open(&args.ledger)?;
    let range = range(args.since, args.until)?;
    let report = query(&ledger, &args.by, range, args.since, args.until)?;
    if report.total.unpriced_tokens > 0 {
        eprintln!(
            "mamba: warning: {} tokens have no price; the costs shown leave them out",
            grouped(report.total.unpriced_tokens)
        );
    }
    let text = match args.format {
        Format::Table => table(&report).render(),
        Format::Csv => csv(&report).csv(),
        Format::Json => format!("{:#}\n", json(&report)),
        Format::Html => {
            let charts = crate::report_html::ChartData::query(&ledger, range)?;
            crate::report_html::render(&report, &charts)
        }
    };
    match &args.out {
        Some(path) => std::fs::write(path, text)
            .map_err(|error| Error::new(format!("could not write {}: {error}", path.display())))?,
        None => print_out(&text)?,
    }
    Ok(Outcome::Done)
}

/// Opens the ledger `--ledger` names; a SQLite file must exist (a report never creates one).
fn open(url: &str) -> Result<Ledger> {
    let config =
        LedgerConfig::from_url(url).map_err(|error| Error::usage(format!("--ledger: {error}")))?;
    match config.sqlite_path() {
        Some(path) if !path.exists() => {
            return Err(Error::new(format!(
                "--ledger: there is no ledger at {}",
                path.display()
            )));
        }
        // The library's own error names its cargo feature; a user of the binary needs the
        // install command instead.
        #[cfg(not(feature = "postgres"))]
        None => {
            return Err(Error::new(format!(
                "--ledger: `{config}` is a PostgreSQL ledger, and this mamba was built without \
                 PostgreSQL: install it with `cargo install mamba-cli --features postgres`"
            )));
        }
        _ => {}
    }
    Ledger::open(&config).map_err(|error| Error::new(format!("--ledger: {error}")))
}

/// The records from the start of `since` to the end of `until`.
fn range(since: Option<PriceDate>, until: Option<PriceDate>) -> Result<TimeRange> {
    if let (Some(since), Some(until)) = (since, until)
        && until < since
    {
        return Err(Error::usage(format!(
            "--until {until} is before --since {since}"
        )));
    }
    let end = until.map(|day| day.start() + DAY);
    Ok(match (since.map(PriceDate::start), end) {
        (None, None) => TimeRange::ALL,
        (Some(from), None) => TimeRange::since(from),
        (from, Some(to)) => TimeRange::between(from.unwrap_or(UNIX_EPOCH), to),
    })
}

pub(crate) fn ledger_error(error: mamba_ledger::LedgerError) -> Error {
    Error::new(format!("the ledger query failed: {error}"))
}

fn query(
    ledger: &Ledger,
    grouping: &Grouping,
    range: TimeRange,
    since: Option<PriceDate>,
    until: Option<PriceDate>,
) -> Result<Report> {
    let named = |rows: BTreeMap<Option<String>, LedgerTotals>, missing: String| {
        rows.into_iter()
            .map(|(key, totals)| Row {
                key: key.unwrap_or_else(|| missing.clone()),
                totals,
            })
            .collect::<Vec<_>>()
    };
    let mut rows: Vec<Row> = match grouping {
        Grouping::Model => keyed(ledger.by_model(range).map_err(ledger_error)?),
        Grouping::Day => keyed(ledger.by_day(range).map_err(ledger_error)?),
        Grouping::Month => months(ledger.by_day(range).map_err(ledger_error)?),
        Grouping::Tool => named(
            ledger.by_tool(range).map_err(ledger_error)?,
            "(no tool)".to_owned(),
        ),
        Grouping::Label(key) => named(
            ledger.by_label(key, range).map_err(ledger_error)?,
            format!("(no {key})"),
        ),
    };
    // Days and months read in time order; the others with the costliest first.
    if !matches!(grouping, Grouping::Day | Grouping::Month) {
        rows.sort_by(|a, b| {
            b.totals
                .cost
                .cmp(&a.totals.cost)
                .then_with(|| a.key.cmp(&b.key))
        });
    }
    let total = ledger.totals(range).map_err(ledger_error)?;
    Ok(Report {
        grouping: grouping.clone(),
        since,
        until,
        rows,
        total,
    })
}

fn keyed(rows: BTreeMap<String, LedgerTotals>) -> Vec<Row> {
    rows.into_iter()
        .map(|(key, totals)| Row { key, totals })
        .collect()
}

/// Days (`2026-11-30`) summed into their months (`2026-11`).
fn months(days: BTreeMap<String, LedgerTotals>) -> Vec<Row> {
    let mut months: BTreeMap<String, LedgerTotals> = BTreeMap::new();
    for (day, totals) in days {
        let month = day.get(..7).unwrap_or(&day).to_owned();
        add(months.entry(month).or_default(), &totals);
    }
    keyed(months)
}

/// Adds `more` to `sum`, exactly.
pub(crate) fn add(sum: &mut LedgerTotals, more: &LedgerTotals) {
    sum.usage += more.usage;
    sum.cost += more.cost;
    sum.unpriced_tokens = sum.unpriced_tokens.saturating_add(more.unpriced_tokens);
}

/// The numeric columns: (header, CSV/JSON name, value of a row's totals).
type Column = (&'static str, &'static str, fn(&LedgerTotals) -> u64);

const COUNTS: [Column; 8] = [
    ("REQUESTS", "requests", |t| t.usage.request_count),
    ("INPUT", "prompt_tokens", |t| t.usage.prompt_tokens),
    ("CACHED", "cached_tokens", |t| t.usage.cached_tokens),
    ("CACHE WRITE", "cache_write_tokens", |t| {
        t.usage.cache_write_tokens
    }),
    ("OUTPUT", "completion_tokens", |t| t.usage.completion_tokens),
    ("REASONING", "reasoning_tokens", |t| {
        t.usage.reasoning_tokens
    }),
    ("TOTAL", "total_tokens", |t| t.usage.total_tokens),
    ("UNPRICED", "unpriced_tokens", |t| t.unpriced_tokens),
];

fn table(report: &Report) -> Table {
    let key = report.grouping.column().to_uppercase();
    let mut columns = vec![(key.as_str(), Align::Left)];
    columns.extend(COUNTS.iter().map(|(header, _, _)| (*header, Align::Right)));
    columns.push(("COST", Align::Right));
    let mut table = Table::new(&columns);
    let mut line = |key: &str, totals: &LedgerTotals| {
        let mut cells = vec![key.to_owned()];
        cells.extend(COUNTS.iter().map(|(_, _, value)| grouped(value(totals))));
        cells.push(exact_usd(totals.cost));
        table.row(cells);
    };
    for row in &report.rows {
        line(&row.key, &row.totals);
    }
    line("total", &report.total);
    table
}

fn csv(report: &Report) -> Table {
    let key = report.grouping.column();
    let mut columns = vec![(key.as_str(), Align::Left)];
    columns.extend(COUNTS.iter().map(|(_, name, _)| (*name, Align::Right)));
    columns.push(("cost_usd", Align::Right));
    let mut table = Table::new(&columns);
    for row in &report.rows {
        let mut cells = vec![row.key.clone()];
        cells.extend(
            COUNTS
                .iter()
                .map(|(_, _, value)| value(&row.totals).to_string()),
        );
        cells.push(exact_text(row.totals.cost));
        table.row(cells);
    }
    table
}

fn totals_json(totals: &LedgerTotals) -> serde_json::Map<String, Value> {
    let mut object = serde_json::Map::new();
    for (_, name, value) in COUNTS {
        object.insert(name.to_owned(), json!(value(totals)));
    }
    object.insert("cost_usd".to_owned(), json!(exact_text(totals.cost)));
    object
}

fn json(report: &Report) -> Value {
    let rows: Vec<Value> = report
        .rows
        .iter()
        .map(|row| {
            let mut object = totals_json(&row.totals);
            object.insert("key".to_owned(), json!(row.key));
            Value::Object(object)
        })
        .collect();
    json!({
        "by": report.grouping.column(),
        "since": report.since.map(|day| day.to_string()),
        "until": report.until.map(|day| day.to_string()),
        "rows": rows,
        "total": Value::Object(totals_json(&report.total)),
    })
}

/// The records of `day` (`2026-11-30`, UTC); `None` for text that is not a day.
pub(crate) fn day_range(day: &str) -> Option<TimeRange> {
    let start = day.parse::<PriceDate>().ok()?.start();
    Some(TimeRange::between(start, start + DAY))
}
