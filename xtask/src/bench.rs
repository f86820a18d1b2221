//! `cargo xtask bench`: runs the criterion benchmarks of every crate (all features on, so
//! optional engines are measured beside the default ones, and a PostgreSQL server for the
//! ledger's) and prints a table of the figures.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::service::ServiceGuard;
use crate::{cargo, run_command, workspace_root};

/// Runs `cargo bench` with `criterion_args` passed through, then summarises the results. The
/// ledger's PostgreSQL benchmarks run against the pinned server, started (and stopped after)
/// as for `cargo xtask ci`.
pub(crate) fn run(criterion_args: &[String]) -> Result<()> {
    let (_server, database_url) = ServiceGuard::start(&crate::postgres::SERVER)?;
    let mut command = cargo();
    command.args(["bench", "--workspace", "--all-features", "--locked", "--"]);
    command.args(criterion_args);
    command.env("MAMBA_BENCH_POSTGRES_URL", &database_url);
    run_command(command)?;
    let results = collect(&workspace_root().join("target/criterion"))?;
    print!("{}", table(&results));
    Ok(())
}

/// One benchmark's figures.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Figure {
    /// `group/function/parameter`, as criterion names it.
    pub(crate) id: String,
    /// Mean time per iteration, in nanoseconds.
    pub(crate) mean_ns: f64,
    /// Bytes processed per iteration, when the benchmark declared a throughput.
    pub(crate) bytes: Option<u64>,
    /// Elements processed per iteration, when the benchmark declared a throughput.
    pub(crate) elements: Option<u64>,
}

/// Reads every `new/benchmark.json` + `new/estimates.json` pair under criterion's directory.
fn collect(dir: &Path) -> Result<Vec<Figure>> {
    let mut figures = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.ends_with("new/benchmark.json") {
                let estimates = path.with_file_name("estimates.json");
                figures.push(figure(&read_json(&path)?, &read_json(&estimates)?)?);
            }
        }
    }
    figures.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(figures)
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

pub(crate) fn figure(benchmark: &Value, estimates: &Value) -> Result<Figure> {
    let id = benchmark["full_id"]
        .as_str()
        .context("benchmark.json without full_id")?
        .to_owned();
    let mean_ns = estimates["mean"]["point_estimate"]
        .as_f64()
        .with_context(|| format!("estimates of {id} without a mean"))?;
    let throughput = &benchmark["throughput"];
    let bytes = throughput["Bytes"]
        .as_u64()
        .or_else(|| throughput["BytesDecimal"].as_u64());
    let elements = throughput["Elements"].as_u64();
    Ok(Figure {
        id,
        mean_ns,
        bytes,
        elements,
    })
}

/// A plain-text table: id, mean time, and MB/s or elements/s where a throughput is known.
pub(crate) fn table(figures: &[Figure]) -> String {
    let width = figures.iter().map(|f| f.id.len()).max().unwrap_or(9).max(9);
    let mut out = format!(
        "\n{:<width$}  {:>12}  {:>16}\n",
        "benchmark", "mean", "throughput"
    );
    for figure in figures {
        let throughput = match (figure.bytes, figure.elements) {
            (Some(bytes), _) => format!("{:.1} MB/s", bytes as f64 / figure.mean_ns * 1e3),
            (None, Some(elements)) => format!("{:.2} M/s", elements as f64 / figure.mean_ns * 1e3),
            (None, None) => String::new(),
        };
        out += &format!(
            "{:<width$}  {:>12}  {:>16}\n",
            figure.id,
            human_time(figure.mean_ns),
            throughput
        );
    }
    out
}

fn human_time(ns: f64) -> String {
    match ns {
        ns if ns >= 1e9 => format!("{:.2} s", ns / 1e9),
        ns if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        ns if ns >= 1e3 => format!("{:.2} µs", ns / 1e3),
        ns => format!("{ns:.1} ns"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn figures_become_a_table_with_throughput() {
        let raw = figure(
            &json!({"full_id": "o200k_base/tiktoken-rs (raw)", "throughput": {"Bytes": 2_000_000}}),
            &json!({"mean": {"point_estimate": 100_000_000.0}}),
        )
        .unwrap();
        let plain = figure(
            &json!({"full_id": "lookup", "throughput": null}),
            &json!({"mean": {"point_estimate": 78.4}}),
        )
        .unwrap();
        assert_eq!(raw.bytes, Some(2_000_000));
        assert_eq!(
            table(&[raw, plain]),
            "\nbenchmark                             mean        throughput\n\
             o200k_base/tiktoken-rs (raw)     100.00 ms         20.0 MB/s\n\
             lookup                             78.4 ns                  \n"
        );
    }
}
