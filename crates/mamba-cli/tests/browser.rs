//! The HTML report as a person sees it: rendered by headless Chromium (Debian's
//! `chromium-headless-shell`, which `cargo xtask ci` installs and names in
//! `MAMBA_TEST_CHROMIUM`), the screenshot not blank and showing the charts' colours, and the
//! numbers of the rendered page equal to the ledger's.
//!
//! Outside CI, without `MAMBA_TEST_CHROMIUM`, the test says why it skips; with
//! `MAMBA_REQUIRE_BROWSER=1` (CI) a missing browser is a failure.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use mamba_ledger::TimeRange;
use support::*;

fn chromium() -> Option<PathBuf> {
    match std::env::var_os("MAMBA_TEST_CHROMIUM") {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            assert!(
                std::env::var_os("MAMBA_REQUIRE_BROWSER").is_none_or(|v| v != "1"),
                "MAMBA_REQUIRE_BROWSER=1 but MAMBA_TEST_CHROMIUM names no browser"
            );
            eprintln!(
                "skipped: set MAMBA_TEST_CHROMIUM to a headless Chromium (cargo xtask ci installs \
                 Debian's chromium-headless-shell) to check the HTML report in a browser"
            );
            None
        }
    }
}

/// Chromium as the machine allows it: no sandbox (CI runs as root), nothing in the background
/// that would reach for the network, a profile of its own.
fn browser(chromium: &Path, profile: &Path) -> Command {
    let mut command = Command::new(chromium);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        "--window-size=1000,2600",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// The `<tr>` rows of the table with `id`, each as its cells' `data-value` (or text).
fn table_rows(dom: &str, id: &str) -> Vec<Vec<String>> {
    let start = dom
        .find(&format!("<table id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no table {id} in the rendered page"));
    let end = start + dom[start..].find("</table>").unwrap();
    dom[start..end]
        .split("<tr>")
        .skip(2) // before the first row, and the header
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let cell = &cell[..cell.find("</td>").unwrap()];
                    match cell.split_once("data-value=\"") {
                        Some((_, rest)) => rest[..rest.find('"').unwrap()].to_owned(),
                        None => cell.trim_start_matches('>').to_owned(),
                    }
                })
                .collect()
        })
        .collect()
}

#[test]
fn the_rendered_report_shows_charts_and_the_ledgers_numbers() {
    let Some(chromium) = chromium() else {
        return;
    };
    let dir = Scratch::new("browser");
    let ledger = demo_ledger(&dir.0.join("usage.db"));
    let run = mamba_in(
        &dir.0,
        &[
            "report",
            "--ledger",
            "sqlite://usage.db",
            "--format",
            "html",
            "--out",
            "report.html",
        ],
        None,
    );
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    let page = format!("file://{}", dir.0.join("report.html").display());

    let screenshot = dir.0.join("report.png");
    let shot = browser(&chromium, &dir.0.join("profile"))
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(&page)
        .output()
        .unwrap();
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    if let Some(keep) = std::env::var_os("MAMBA_KEEP_SCREENSHOT") {
        std::fs::copy(&screenshot, keep).unwrap();
    }
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&screenshot).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    let channels = frame.color_type.samples();
    let pixels = &pixels[..frame.buffer_size()];
    let (mut inked, mut first_model) = (0_usize, 0_usize);
    for pixel in pixels.chunks(channels) {
        if pixel[..3].iter().any(|&c| c < 200) {
            inked += 1;
        }
        // The first model's colour, #4e79a7, in the stacked bars and the legend.
        if pixel[..3] == [0x4e, 0x79, 0xa7] {
            first_model += 1;
        }
    }
    let total = pixels.len() / channels;
    assert!(
        inked * 100 > total,
        "only {inked} of {total} pixels are not blank"
    );
    assert!(
        first_model > 1_000,
        "{first_model} pixels of the first model's colour"
    );

    let dom = browser(&chromium, &dir.0.join("profile"))
        .arg("--dump-dom")
        .arg(&page)
        .output()
        .unwrap();
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8(dom.stdout).unwrap();
    let totals = ledger.totals(TimeRange::ALL).unwrap();
    assert!(
        dom.contains(&format!(
            "<span id=\"total-cost\" data-value=\"{}\">$0.08225</span>",
            totals.cost.normalize()
        )),
        "{dom}"
    );
    // The table by model, as rendered: every row's tokens and cost are the ledger's.
    let by_model = ledger.by_model(TimeRange::ALL).unwrap();
    let rows = table_rows(&dom, "by-table");
    assert_eq!(rows.len(), by_model.len() + 1);
    for row in &rows[..by_model.len()] {
        let totals = &by_model[&row[0]];
        assert_eq!(row[7], totals.usage.total_tokens.to_string(), "{row:?}");
        assert_eq!(row[8], totals.cost.normalize().to_string(), "{row:?}");
    }
    // Cost per day and model, as the ledger gives it for each day.
    let days = table_rows(&dom, "cost-per-day-table");
    let day_keys: Vec<String> = ledger.by_day(TimeRange::ALL).unwrap().into_keys().collect();
    assert_eq!(
        days.iter().map(|row| row[0].clone()).collect::<Vec<_>>(),
        day_keys
    );
    assert_eq!(days[1], ["2026-11-02", "0.009", "0", "0.026", "0.035"]);
    // The tokens by kind split the ledger's total: uncached input, cache reads and writes,
    // output that was not reasoning, and reasoning.
    let usage = &totals.usage;
    let kinds = table_rows(&dom, "tokens-by-kind-table");
    let expected = [
        (
            "input, uncached",
            usage.prompt_tokens - usage.cached_tokens - usage.cache_write_tokens,
        ),
        ("cached input", usage.cached_tokens),
        ("cache write", usage.cache_write_tokens),
        (
            "output, not reasoning",
            usage.completion_tokens - usage.reasoning_tokens,
        ),
        ("reasoning", usage.reasoning_tokens),
        ("total", usage.total_tokens),
    ]
    .map(|(kind, tokens)| vec![kind.to_owned(), tokens.to_string()]);
    assert_eq!(kinds, expected);
    assert_eq!(
        expected[..5]
            .iter()
            .map(|row| row[1].parse::<u64>().unwrap())
            .sum::<u64>(),
        usage.total_tokens
    );
}
