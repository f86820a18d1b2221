//! `cargo xtask prices [--check]`: the built-in price table, generated from public price data.
//!
//! The data ship in two PyPI packages, both MIT: genai-prices (`genai_prices/data.py`) and
//! LiteLLM (`litellm/model_prices_and_context_window_backup.json`). Both wheels are fetched at
//! pinned versions and checked against their SHA-256 into `.cache/prices/` (git-ignored), the
//! way the local model is. genai-prices' Python data is converted to JSON by
//! `genai_prices.py`; LiteLLM's file is read by mamba-pricing's own LiteLLM reader, so the
//! table and users' LiteLLM files are read by the same rules. [`merge`] applies the precedence
//! rule and [`emit`] writes `crates/mamba-pricing/src/generated.rs`, then the changes against
//! the committed table are printed. `--check` writes nothing and fails if the table differs.

mod emit;
mod genai;
mod merge;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use mamba_pricing::LoadMode;

use crate::llm::{pip_download, run_python, sha256, venv_python};
use crate::workspace_root;

/// The pinned sources: (wheel file, pip requirement with hash).
const WHEELS: [(&str, &str); 2] = [
    (
        "genai_prices-0.2.3-py3-none-any.whl",
        "genai-prices==0.2.3 --hash=sha256:56976ce2b04ec206117f7d0e53f4849211a6724ab3a12119afec304eba63ee25",
    ),
    (
        "litellm-1.110.2-cp310-abi3-manylinux_2_28_x86_64.whl",
        "litellm==1.110.2 --hash=sha256:9d94d1c7d524b6fd10c14f9c8c6c4f0ac31705f9964ac59dcfd8337c046d8917",
    ),
];
/// The sources as the generated file names them.
const SOURCES: &str = "genai-prices 0.2.3 and litellm 1.110.2 (PyPI, MIT)";
/// The day the pinned sources were checked against the providers' pricing pages.
const CHECKED: &str = "2026-12-01";
const LITELLM_DATA: &str = "litellm/model_prices_and_context_window_backup.json";
/// Names the table must keep: the seed's rows and the models people run today.
const REQUIRED: &[&str] = &[
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4-turbo",
    "gpt-3.5-turbo",
    "claude-3-5-sonnet",
    "claude-3-opus",
    "gpt-5.5",
    "claude-sonnet-4-6",
    "claude-haiku-4-5",
    "gemini-3.1-pro-preview",
    "grok-4.7",
    "kimi-k3",
];

fn generated_path() -> PathBuf {
    workspace_root()
        .join("crates")
        .join("mamba-pricing")
        .join("src")
        .join("generated.rs")
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let check = match args.first().map(String::as_str) {
        None => false,
        Some("--check") => true,
        Some(other) => bail!("usage: cargo xtask prices [--check] (unknown argument `{other}`)"),
    };
    let text = generate()?;
    let path = generated_path();
    let committed = fs::read_to_string(&path).unwrap_or_default();
    let changes = changes(&committed, &text);
    for line in &changes {
        println!("prices: {line}");
    }
    if check {
        if committed != text {
            bail!(
                "{} is not what `cargo xtask prices` generates from the pinned sources ({} rows \
                 differ); run `cargo xtask prices` and commit the result",
                path.display(),
                changes.len()
            );
        }
        println!("prices: the committed table equals the generated one");
    } else {
        fs::write(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
        println!(
            "prices: wrote {} ({} changes)",
            path.display(),
            changes.len()
        );
    }
    Ok(())
}

/// Fetches the sources (if not cached) and renders the table.
pub(crate) fn generate() -> Result<String> {
    let cache = workspace_root().join(".cache").join("prices");
    fs::create_dir_all(&cache).with_context(|| format!("cannot create {}", cache.display()))?;
    let python = venv_python()?;
    fetch(&python, &cache)?;
    let genai_json = cache.join("genai.json");
    run_python(
        Command::new(&python)
            .arg(workspace_root().join("xtask/src/prices/genai_prices.py"))
            .arg(cache.join(WHEELS[0].0))
            .arg(&genai_json),
        "convert genai-prices' data to JSON",
    )?;
    let litellm_json = cache.join("litellm.json");
    run_python(
        Command::new(&python)
            .args([
                "-c",
                "import sys, zipfile; open(sys.argv[3], 'wb').write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))",
            ])
            .arg(cache.join(WHEELS[1].0))
            .arg(LITELLM_DATA)
            .arg(&litellm_json),
        "unpack LiteLLM's price data from its wheel",
    )?;
    let genai_data: serde_json::Value =
        serde_json::from_str(&read(&genai_json)?).context("genai-prices JSON does not parse")?;
    let litellm_text = read(&litellm_json)?;
    let raw: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&litellm_text).context("LiteLLM JSON does not parse")?;
    let litellm =
        mamba_pricing::parse_litellm_json(&litellm_text, "litellm 1.110.2", LoadMode::Lenient)?;
    let providers: Vec<&str> = merge::PROVIDERS.iter().map(|(id, _, _)| *id).collect();
    let models = genai::models(&genai_data, &providers)?;
    let table = merge::merge(&models, &litellm, &raw);
    let missing: Vec<&&str> = REQUIRED
        .iter()
        .filter(|name| !table.rows.contains_key(**name))
        .collect();
    if !missing.is_empty() {
        bail!("the generated table would lose required models: {missing:?}");
    }
    Ok(emit::render(&table, SOURCES, CHECKED))
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Downloads the pinned wheels unless they are cached with the right hash.
fn fetch(python: &Path, cache: &Path) -> Result<()> {
    let cached = WHEELS.iter().all(|(file, requirement)| {
        let expected = requirement.rsplit("sha256:").next().unwrap_or_default();
        sha256(python, &cache.join(file)).as_deref() == Some(expected)
    });
    if cached {
        return Ok(());
    }
    let requirements: Vec<&str> = WHEELS.iter().map(|(_, requirement)| *requirement).collect();
    pip_download(
        python,
        &cache.join("requirements.txt"),
        &requirements,
        // The litellm wheel is platform-specific: pin the platform, so every machine fetches
        // the file the hash names.
        &[
            "--only-binary=:all:",
            "--platform",
            "manylinux_2_28_x86_64",
            "--python-version",
            "3.11",
        ],
        cache,
        "download the genai-prices and litellm wheels from PyPI (is pypi.org reachable?)",
    )
}

/// The rows added, removed and changed from `old` to `new`, one line each.
fn changes(old: &str, new: &str) -> Vec<String> {
    let (old, new) = (rows(old), rows(new));
    let mut lines = Vec::new();
    for (name, text) in &new {
        match old.get(name) {
            None => lines.push(format!("added {name}")),
            Some(before) if before != text => lines.push(format!("changed {name}")),
            Some(_) => {}
        }
    }
    for name in old.keys().filter(|name| !new.contains_key(*name)) {
        lines.push(format!("removed {name}"));
    }
    lines
}

/// The generated rows by name, each as its text.
fn rows(text: &str) -> BTreeMap<String, String> {
    let mut rows = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("    Row { name: \"") {
            let name = rest.split('"').next().unwrap_or_default().to_owned();
            current = Some((name, String::new()));
        }
        if let Some((_, body)) = &mut current {
            body.push_str(line);
            body.push('\n');
        }
        if line == "    ] },"
            && let Some((name, body)) = current.take()
        {
            rows.insert(name, body);
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_added_removed_and_changed_rows() {
        let old = "    Row { name: \"a\", x\n    ] },\n    Row { name: \"b\", x\n    ] },\n";
        let new = "    Row { name: \"a\", y\n    ] },\n    Row { name: \"c\", x\n    ] },\n";
        assert_eq!(changes(old, new), ["changed a", "added c", "removed b"]);
        assert!(changes(new, new).is_empty());
    }
}
