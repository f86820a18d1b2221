//! tidy's rules for `.github/workflows/` and `deny.toml`: least-privilege permissions, the
//! jobs the project promises (checks, MSRV, docs.rs docs, features, a scheduled audit), and an
//! MSRV job on exactly the workspace's `rust-version`.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

/// The jobs some workflow must define, and what each is for.
const REQUIRED_JOBS: [(&str, &str); 5] = [
    ("ci", "runs `cargo xtask ci`"),
    ("msrv", "builds on exactly `rust-version`"),
    ("docs", "builds the docs with `--cfg docsrs`"),
    ("features", "runs cargo-hack `--each-feature`"),
    ("deny", "runs cargo-deny on a schedule"),
];

/// Every rule over the workflow files and deny.toml at `root`.
pub(crate) fn check(root: &Path, rust_version: &str) -> Result<Vec<String>> {
    let mut violations = Vec::new();
    if !root.join("deny.toml").exists() {
        violations
            .push("deny.toml is missing (cargo-deny's licences, bans and sources)".to_owned());
    }
    let dir = root.join(".github").join("workflows");
    let mut files = Vec::new();
    for entry in fs::read_dir(&dir).with_context(|| format!("could not read {}", dir.display()))? {
        let path = entry?.path();
        if path
            .extension()
            .is_some_and(|ext| ext == "yml" || ext == "yaml")
        {
            let text = fs::read_to_string(&path)
                .with_context(|| format!("could not read {}", path.display()))?;
            let name = format!(
                ".github/workflows/{}",
                path.file_name().unwrap_or_default().to_string_lossy()
            );
            files.push((name, text));
        }
    }
    files.sort();
    violations.extend(check_files(&files, rust_version));
    Ok(violations)
}

/// The rules over workflow texts (`(file name, text)`).
pub(crate) fn check_files(files: &[(String, String)], rust_version: &str) -> Vec<String> {
    let mut violations = Vec::new();
    let mut jobs = Vec::new();
    let mut scheduled = Vec::new();
    for (name, text) in files {
        violations.extend(check_permissions(name, text));
        let file_jobs = job_names(text);
        if text
            .lines()
            .any(|line| line.trim_start().starts_with("schedule:"))
        {
            scheduled.extend(file_jobs.iter().cloned());
        }
        jobs.extend(
            file_jobs
                .into_iter()
                .map(|job| (job, name.as_str(), text.as_str())),
        );
    }
    for (job, purpose) in REQUIRED_JOBS {
        if !jobs.iter().any(|(name, _, _)| name == job) {
            violations.push(format!("no workflow has a `{job}` job (it {purpose})"));
        }
    }
    if !scheduled.iter().any(|job| job == "deny") {
        violations
            .push("the `deny` job is not in a workflow that runs on a `schedule:`".to_owned());
    }
    let wanted = format!("dtolnay/rust-toolchain@{rust_version}");
    for (job, file, text) in &jobs {
        if job == "msrv" && !job_text(text, job).contains(&wanted) {
            violations.push(format!(
                "{file}: the `msrv` job must use `{wanted}`, the workspace's rust-version"
            ));
        }
    }
    violations
}

/// A workflow reads only: a top-level `permissions:` with `contents: read`, and no write
/// permission anywhere.
fn check_permissions(name: &str, text: &str) -> Vec<String> {
    let mut violations = Vec::new();
    let top_level = text
        .lines()
        .position(|line| line.starts_with("permissions:"));
    match top_level {
        None => violations.push(format!(
            "{name}: no top-level `permissions:` (least privilege: `contents: read`)"
        )),
        Some(at) => {
            let reads = text
                .lines()
                .skip(at + 1)
                .take_while(|line| line.starts_with(' ') || line.is_empty())
                .any(|line| line.trim() == "contents: read");
            if !reads {
                violations.push(format!(
                    "{name}: top-level `permissions:` must grant `contents: read`"
                ));
            }
        }
    }
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.contains("write-all") || (line.ends_with(": write") && !line.starts_with('#')) {
            violations.push(format!(
                "{name}:{}: `{line}` grants write access; the workflows only read",
                index + 1
            ));
        }
    }
    violations
}

/// The job names: keys indented two spaces under the top-level `jobs:`.
fn job_names(text: &str) -> Vec<String> {
    let mut in_jobs = false;
    let mut names = Vec::new();
    for line in text.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_jobs = line.starts_with("jobs:");
            continue;
        }
        if in_jobs
            && let Some(key) = line.strip_prefix("  ")
            && !key.starts_with(' ')
            && !key.starts_with('#')
            && let Some((name, _)) = key.split_once(':')
        {
            names.push(name.trim().to_owned());
        }
    }
    names
}

/// The lines of one job.
fn job_text(text: &str, job: &str) -> String {
    let header = format!("  {job}:");
    text.lines()
        .skip_while(|line| *line != header)
        .skip(1)
        .take_while(|line| {
            line.is_empty() || line.starts_with("   ") || line.trim_start().starts_with('#')
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CI: &str = "name: ci\non: [push]\n\npermissions:\n  contents: read\n\njobs:\n  ci:\n    runs-on: x\n  msrv:\n    steps:\n      - uses: dtolnay/rust-toolchain@1.88\n  docs:\n    runs-on: x\n  features:\n    runs-on: x\n";
    const AUDIT: &str = "name: audit\non:\n  schedule:\n    - cron: \"0 0 * * *\"\npermissions:\n  contents: read\njobs:\n  deny:\n    runs-on: x\n";

    fn files(ci: &str, audit: &str) -> Vec<(String, String)> {
        vec![
            ("ci.yml".to_owned(), ci.to_owned()),
            ("audit.yml".to_owned(), audit.to_owned()),
        ]
    }

    #[test]
    fn the_project_workflows_pass() {
        assert_eq!(check_files(&files(CI, AUDIT), "1.88"), Vec::<String>::new());
    }

    #[test]
    fn each_broken_rule_is_reported() {
        let cases = [
            (
                CI.replace("permissions:\n  contents: read\n", ""),
                AUDIT.to_owned(),
                "ci.yml: no top-level `permissions:` (least privilege: `contents: read`)",
            ),
            (
                CI.replace("contents: read", "contents: write"),
                AUDIT.to_owned(),
                "ci.yml:5: `contents: write` grants write access; the workflows only read",
            ),
            (
                CI.replace("@1.88", "@stable"),
                AUDIT.to_owned(),
                "ci.yml: the `msrv` job must use `dtolnay/rust-toolchain@1.88`, the workspace's rust-version",
            ),
            (
                CI.replace("  docs:\n", "  doc:\n"),
                AUDIT.to_owned(),
                "no workflow has a `docs` job (it builds the docs with `--cfg docsrs`)",
            ),
            (
                CI.to_owned(),
                AUDIT.replace("  schedule:\n    - cron: \"0 0 * * *\"\n", "  push:\n"),
                "the `deny` job is not in a workflow that runs on a `schedule:`",
            ),
        ];
        for (ci, audit, expected) in cases {
            let found = check_files(&files(&ci, &audit), "1.88");
            assert!(
                found.contains(&expected.to_owned()),
                "{expected}: {found:?}"
            );
            // A write grant also leaves no `contents: read`; every other break is reported alone.
            let reported = if expected.contains("write access") {
                2
            } else {
                1
            };
            assert_eq!(found.len(), reported, "{found:?}");
        }
    }
}
