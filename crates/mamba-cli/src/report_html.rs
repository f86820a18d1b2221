//! `mamba report --format html`: one self-contained page (inline CSS and SVG, no script, no
//! network) with the cost per day stacked by model, the tokens by kind, the top users and
//! sessions by cost, and under each chart the table of its numbers, exact.
//!
//! Chart geometry uses floating point; every number printed is the ledger's exact value.
//! Each table cell also carries its exact value in `data-value`, so a test (or a script) can
//! read the page's numbers back.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use mamba_ledger::{Ledger, LedgerTotals, TimeRange};
use mamba_pricing::Decimal;

use crate::money::{exact_text, exact_usd};
use crate::report::{Report, Row, day_range, ledger_error};
use crate::table::grouped;
use crate::{Error, Result};

/// The labels whose top values the page charts.
const LABEL_KEYS: [&str; 2] = ["user", "session"];

/// How many values of a label the page shows.
const TOP: usize = 10;

/// Distinct colours for the models of the stacked chart (the last is reused past it).
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// What the charts need beyond the report's rows, from the ledger's own queries.
#[derive(Debug)]
pub(crate) struct ChartData {
    /// Day -> model -> totals.
    days: BTreeMap<String, BTreeMap<String, LedgerTotals>>,
    /// Label key -> its values, costliest first (at most [`TOP`]).
    labels: Vec<(&'static str, Vec<Row>)>,
}

impl ChartData {
    pub(crate) fn query(ledger: &Ledger, range: TimeRange) -> Result<ChartData> {
        let mut days = BTreeMap::new();
        for day in ledger.by_day(range).map_err(ledger_error)?.into_keys() {
            let day_only = day_range(&day)
                .ok_or_else(|| Error::new(format!("the ledger returned `{day}` as a day")))?;
            days.insert(day, ledger.by_model(day_only).map_err(ledger_error)?);
        }
        let mut labels = Vec::new();
        for key in LABEL_KEYS {
            let mut rows: Vec<Row> = ledger
                .by_label(key, range)
                .map_err(ledger_error)?
                .into_iter()
                .filter_map(|(value, totals)| {
                    Some(Row {
                        key: value?,
                        totals,
                    })
                })
                .collect();
            rows.sort_by(|a, b| {
                b.totals
                    .cost
                    .cmp(&a.totals.cost)
                    .then_with(|| a.key.cmp(&b.key))
            });
            rows.truncate(TOP);
            labels.push((key, rows));
        }
        Ok(ChartData { days, labels })
    }
}

/// The page.
pub(crate) fn render(report: &Report, charts: &ChartData) -> String {
    let mut page = String::new();
    let period = match (report.since, report.until) {
        (None, None) => "all records".to_owned(),
        (Some(since), None) => format!("from {since}"),
        (None, Some(until)) => format!("until {until}"),
        (Some(since), Some(until)) => format!("{since} to {until}"),
    };
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>mamba usage report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>Usage report</h1>\n<p class=\"summary\">{} &middot; \
         <span id=\"total-requests\" data-value=\"{}\">{} requests</span> &middot; \
         <span id=\"total-tokens\" data-value=\"{}\">{} tokens</span> &middot; \
         <span id=\"total-cost\" data-value=\"{}\">{}</span></p>\n",
        escape(&period),
        report.total.usage.request_count,
        grouped(report.total.usage.request_count),
        report.total.usage.total_tokens,
        grouped(report.total.usage.total_tokens),
        exact_text(report.total.cost),
        exact_usd(report.total.cost),
    );
    if report.total.unpriced_tokens > 0 {
        let _ = writeln!(
            page,
            "<p class=\"warning\" id=\"unpriced\">{} tokens have no price; the costs leave them out.</p>",
            grouped(report.total.unpriced_tokens)
        );
    }
    cost_per_day(&mut page, charts);
    tokens_by_kind(&mut page, &report.total);
    for (key, rows) in &charts.labels {
        top_labels(&mut page, key, rows);
    }
    grouped_table(&mut page, report);
    page.push_str("</body>\n</html>\n");
    page
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;background:#fff}\
h1{margin-bottom:.2em}h2{margin-top:2em}.summary{font-size:1.1em}.warning{color:#a33}\
table{border-collapse:collapse;margin-top:.8em}td,th{padding:.25em .8em;border-bottom:1px solid #ddd}\
td.n{text-align:right;font-variant-numeric:tabular-nums}th{text-align:left}\
th,td:first-child{white-space:nowrap}\
.legend span{display:inline-block;margin-right:1.2em}.legend i{display:inline-block;width:.9em;\
height:.9em;margin-right:.3em;vertical-align:middle}svg text{font-size:11px;fill:#444}";

fn cost_per_day(page: &mut String, charts: &ChartData) {
    page.push_str("<h2>Cost per day, by model</h2>\n");
    if charts.days.is_empty() {
        page.push_str("<p>No records.</p>\n");
        return;
    }
    let models: Vec<&String> = charts
        .days
        .values()
        .flat_map(BTreeMap::keys)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let colour = |model: &String| {
        let index = models.iter().position(|m| *m == model).unwrap_or(0);
        PALETTE[index.min(PALETTE.len() - 1)]
    };
    let day_cost = |models: &BTreeMap<String, LedgerTotals>| -> Decimal {
        models.values().map(|totals| totals.cost).sum()
    };
    let max = charts.days.values().map(day_cost).max().unwrap_or_default();
    let (width, height, left, bottom) = (860.0_f64, 280.0_f64, 80.0_f64, 40.0_f64);
    let plot_width = width - left - 10.0;
    let plot_height = height - bottom - 10.0;
    let slot = plot_width / charts.days.len() as f64;
    let scale = |cost: Decimal| {
        if max.is_zero() {
            0.0
        } else {
            to_f64(cost) / to_f64(max) * plot_height
        }
    };
    let _ = writeln!(
        page,
        "<svg id=\"cost-per-day\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" \
         role=\"img\" aria-label=\"cost per day stacked by model\">"
    );
    let _ = writeln!(
        page,
        "<line x1=\"{left}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#888\"/>\
         <text x=\"{2}\" y=\"{0}\" text-anchor=\"end\">$0</text>\
         <text x=\"{2}\" y=\"14\" text-anchor=\"end\">{3}</text>",
        10.0 + plot_height,
        width - 10.0,
        left - 6.0,
        escape(&exact_usd(max)),
    );
    for (index, (day, by_model)) in charts.days.iter().enumerate() {
        let x = left + slot * index as f64 + slot * 0.1;
        let mut y = 10.0 + plot_height;
        for (model, totals) in by_model {
            let h = scale(totals.cost);
            y -= h;
            let _ = writeln!(
                page,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\">\
                 <title>{} {}: {}</title></rect>",
                slot * 0.8,
                colour(model),
                escape(day),
                escape(model),
                escape(&exact_usd(totals.cost)),
            );
        }
        let _ = writeln!(
            page,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x + slot * 0.4,
            height - bottom + 16.0,
            escape(day.get(5..).unwrap_or(day)),
        );
    }
    page.push_str("</svg>\n<p class=\"legend\">");
    for model in &models {
        let _ = write!(
            page,
            "<span><i style=\"background:{}\"></i>{}</span>",
            colour(model),
            escape(model)
        );
    }
    page.push_str("</p>\n<table id=\"cost-per-day-table\">\n<tr><th>day</th>");
    for model in &models {
        let _ = write!(page, "<th>{}</th>", escape(model));
    }
    page.push_str("<th>total</th></tr>\n");
    for (day, by_model) in &charts.days {
        let _ = write!(page, "<tr><td>{}</td>", escape(day));
        for model in &models {
            let cost = by_model
                .get(*model)
                .map(|totals| totals.cost)
                .unwrap_or_default();
            cost_cell(page, cost);
        }
        cost_cell(page, day_cost(by_model));
        page.push_str("</tr>\n");
    }
    page.push_str("</table>\n");
}

fn tokens_by_kind(page: &mut String, total: &LedgerTotals) {
    let usage = &total.usage;
    let kinds = [
        (
            "input, uncached",
            usage
                .prompt_tokens
                .saturating_sub(usage.cached_tokens)
                .saturating_sub(usage.cache_write_tokens),
        ),
        ("cached input", usage.cached_tokens),
        ("cache write", usage.cache_write_tokens),
        (
            "output, not reasoning",
            usage
                .completion_tokens
                .saturating_sub(usage.reasoning_tokens),
        ),
        ("reasoning", usage.reasoning_tokens),
    ];
    page.push_str(
        "<h2>Tokens by kind</h2>\n<p>The kinds add up to the total: the input is what the \
         cache did not touch, cache reads and cache writes; the output is what was shown and \
         reasoning.</p>\n",
    );
    let max = kinds.iter().map(|(_, n)| *n).max().unwrap_or(0);
    bars(
        page,
        "tokens-by-kind",
        &kinds
            .iter()
            .map(|(name, n)| ((*name).to_owned(), *n as f64, grouped(*n)))
            .collect::<Vec<_>>(),
        max as f64,
    );
    page.push_str("<table id=\"tokens-by-kind-table\">\n<tr><th>kind</th><th>tokens</th></tr>\n");
    for (name, tokens) in kinds {
        let _ = writeln!(
            page,
            "<tr><td>{name}</td><td class=\"n\" data-value=\"{tokens}\">{}</td></tr>",
            grouped(tokens)
        );
    }
    let _ = writeln!(
        page,
        "<tr><td>total</td><td class=\"n\" data-value=\"{}\">{}</td></tr>",
        usage.total_tokens,
        grouped(usage.total_tokens)
    );
    page.push_str("</table>\n");
}

fn top_labels(page: &mut String, key: &str, rows: &[Row]) {
    let _ = writeln!(page, "<h2>Top {}s by cost</h2>", escape(key));
    if rows.is_empty() {
        let _ = writeln!(
            page,
            "<p>No record carries a <code>{}</code> label.</p>",
            escape(key)
        );
        return;
    }
    let max = rows
        .iter()
        .map(|row| row.totals.cost)
        .max()
        .unwrap_or_default();
    bars(
        page,
        &format!("top-{key}"),
        &rows
            .iter()
            .map(|row| {
                (
                    row.key.clone(),
                    to_f64(row.totals.cost),
                    exact_usd(row.totals.cost),
                )
            })
            .collect::<Vec<_>>(),
        to_f64(max),
    );
    let _ = writeln!(
        page,
        "<table id=\"top-{0}-table\">\n<tr><th>{0}</th><th>requests</th><th>tokens</th><th>cost</th></tr>",
        escape(key)
    );
    for row in rows {
        let _ = write!(
            page,
            "<tr><td>{}</td><td class=\"n\" data-value=\"{}\">{}</td><td class=\"n\" data-value=\"{}\">{}</td>",
            escape(&row.key),
            row.totals.usage.request_count,
            grouped(row.totals.usage.request_count),
            row.totals.usage.total_tokens,
            grouped(row.totals.usage.total_tokens),
        );
        cost_cell(page, row.totals.cost);
        page.push_str("</tr>\n");
    }
    page.push_str("</table>\n");
}

fn grouped_table(page: &mut String, report: &Report) {
    let column = report.grouping.column();
    let _ = writeln!(
        page,
        "<h2>By {0}</h2>\n<table id=\"by-table\">\n<tr><th>{0}</th><th>requests</th><th>input</th>\
         <th>cached</th><th>cache write</th><th>output</th><th>reasoning</th><th>total</th>\
         <th>cost</th></tr>",
        escape(&column)
    );
    let total_row = Row {
        key: "total".to_owned(),
        totals: report.total,
    };
    for row in report.rows.iter().chain([&total_row]) {
        let usage = &row.totals.usage;
        let _ = write!(page, "<tr><td>{}</td>", escape(&row.key));
        for n in [
            usage.request_count,
            usage.prompt_tokens,
            usage.cached_tokens,
            usage.cache_write_tokens,
            usage.completion_tokens,
            usage.reasoning_tokens,
            usage.total_tokens,
        ] {
            let _ = write!(
                page,
                "<td class=\"n\" data-value=\"{n}\">{}</td>",
                grouped(n)
            );
        }
        cost_cell(page, row.totals.cost);
        page.push_str("</tr>\n");
    }
    page.push_str("</table>\n");
}

/// Horizontal bars: one per `(name, value, shown)`, scaled to `max`.
fn bars(page: &mut String, id: &str, items: &[(String, f64, String)], max: f64) {
    let (width, row, left) = (860.0_f64, 24.0_f64, 180.0_f64);
    let height = row * items.len() as f64 + 8.0;
    let plot = width - left - 140.0;
    let _ = writeln!(
        page,
        "<svg id=\"{}\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\">",
        escape(id)
    );
    for (index, (name, value, shown)) in items.iter().enumerate() {
        let y = 4.0 + row * index as f64;
        let w = if max > 0.0 { value / max * plot } else { 0.0 };
        let _ = writeln!(
            page,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{left}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            left - 6.0,
            y + 15.0,
            escape(name),
            row - 6.0,
            PALETTE[index % PALETTE.len()],
            left + w + 6.0,
            y + 15.0,
            escape(shown),
        );
    }
    page.push_str("</svg>\n");
}

fn cost_cell(page: &mut String, cost: Decimal) {
    let _ = write!(
        page,
        "<td class=\"n\" data-value=\"{}\">{}</td>",
        exact_text(cost),
        exact_usd(cost)
    );
}

/// Chart geometry only: money in the books and on the page stays decimal.
fn to_f64(amount: Decimal) -> f64 {
    use rust_decimal::prelude::ToPrimitive;
    amount.to_f64().unwrap_or(0.0)
}

/// Text as HTML: model names and label values are the user's data.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_is_escaped() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }
}
