//! `cargo xtask quickstarts`: every README quick start built, and run unless it is `no_run`,
//! in a scratch consumer crate that depends only on what its README tells the user to add.
//!
//! The crates' own doctests compile the READMEs too, but with the crate's dev-dependencies in
//! scope, which hides a missing `tokio` or `rust_decimal`. Here each snippet is the `main.rs`
//! of a package of its own whose `[dependencies]` are exactly the ones its README named before
//! it: the lines of its ```toml blocks with a `[dependencies]` table, and inline spans such as
//! `` `mamba-usage = "0.1"` ``. The workspace crates stand in for their crates.io versions
//! through `[patch.crates-io]`, so the check runs before anything is published.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::{cargo, run_command, workspace_root};

/// One Rust block of a README, with the dependencies named before it.
#[derive(Debug, PartialEq, Eq)]
struct Snippet {
    /// The README line of its opening fence.
    line: usize,
    /// Dependency name -> its `Cargo.toml` line.
    dependencies: BTreeMap<String, String>,
    code: String,
    /// `no_run`: built, not run.
    run: bool,
}

/// Builds (and runs) every README quick start; fails naming the README and line of each one
/// that does not work.
pub(crate) fn run() -> Result<()> {
    let root = workspace_root();
    let scratch = root.join("target").join("quickstarts");
    if scratch.exists() {
        fs::remove_dir_all(&scratch)
            .with_context(|| format!("could not clear {}", scratch.display()))?;
    }
    let mut packages = Vec::new();
    for readme in readmes(&root)? {
        let text = fs::read_to_string(&readme)
            .with_context(|| format!("could not read {}", readme.display()))?;
        let shown = readme
            .strip_prefix(&root)
            .unwrap_or(&readme)
            .display()
            .to_string();
        let stem = readme
            .parent()
            .filter(|dir| *dir != root)
            .and_then(Path::file_name)
            .map_or_else(
                || "workspace".to_owned(),
                |name| name.to_string_lossy().into_owned(),
            );
        for snippet in snippets(&text) {
            let name = format!("qs-{stem}-{}", snippet.line);
            write_package(&scratch.join(&name), &name, &snippet)?;
            packages.push((name, format!("{shown}:{}", snippet.line), snippet.run));
        }
    }
    write_workspace(
        &root,
        &scratch,
        packages.iter().map(|(name, _, _)| name.as_str()),
    )?;
    // Snippets run where they cannot touch the repository (a ledger file, a config.toml).
    let run_dir = scratch.join("run");
    fs::create_dir_all(&run_dir)?;
    // A quick start works with nothing configured.
    let configuration: Vec<_> = std::env::vars_os()
        .map(|(key, _)| key)
        .filter(|key| {
            let key = key.to_string_lossy();
            key.starts_with("MAMBA_") || key.starts_with("OPENAI_")
        })
        .collect();
    // One cargo invocation per snippet, never one for all: cargo unifies the features of the
    // packages it builds together, which would hide a snippet whose README forgot a feature.
    let mut failed = Vec::new();
    for (name, place, run) in &packages {
        println!(
            "quickstart {place} ({})",
            if *run { "run" } else { "build" }
        );
        let mut command = cargo();
        command
            .current_dir(&run_dir)
            .args([if *run { "run" } else { "build" }, "--quiet", "-p", name])
            .arg("--manifest-path")
            .arg(scratch.join("Cargo.toml"))
            // The workspace's own target directory: dependencies built for the tests are reused.
            .env("CARGO_TARGET_DIR", root.join("target"));
        for key in &configuration {
            command.env_remove(key);
        }
        // Every snippet is tried, so one run names every broken quick start.
        if let Err(error) = run_command(command) {
            eprintln!("quickstart {place} failed: {error:#}");
            failed.push(place.as_str());
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} README quick starts failed: {}",
            failed.len(),
            packages.len(),
            failed.join(", ")
        );
    }
    println!("quickstarts: {} README snippets ok", packages.len());
    Ok(())
}

/// The workspace README, then each crate's.
fn readmes(root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = vec![root.join("README.md")];
    let mut crates: Vec<PathBuf> = fs::read_dir(root.join("crates"))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("README.md")))
        .filter(|path| path.exists())
        .collect();
    crates.sort();
    found.extend(crates);
    Ok(found)
}

/// The Rust blocks of a README (not `ignore`), each with the dependencies named before it.
fn snippets(text: &str) -> Vec<Snippet> {
    let mut dependencies = BTreeMap::new();
    let mut found = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let Some(info) = line.trim_start().strip_prefix("```") else {
            add_inline_dependencies(line, &mut dependencies);
            continue;
        };
        let body: Vec<&str> = lines
            .by_ref()
            .map(|(_, line)| line)
            .take_while(|line| !line.trim_start().starts_with("```"))
            .collect();
        let attributes: Vec<&str> = info.split(',').map(str::trim).collect();
        match attributes.first().copied() {
            Some("toml") => add_toml_dependencies(&body, &mut dependencies),
            Some("rust") if !attributes.contains(&"ignore") => found.push(Snippet {
                line: index + 1,
                dependencies: dependencies.clone(),
                code: program(&body),
                run: !attributes.contains(&"no_run") && !attributes.contains(&"compile_fail"),
            }),
            _ => {}
        }
    }
    found
}

/// The `name = ...` lines under `[dependencies]` in a TOML block.
fn add_toml_dependencies(body: &[&str], dependencies: &mut BTreeMap<String, String>) {
    let mut in_dependencies = false;
    for line in body {
        let line = line.trim();
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
        } else if in_dependencies && let Some((name, _)) = line.split_once('=') {
            dependencies.insert(name.trim().to_owned(), line.to_owned());
        }
    }
}

/// Inline spans that add a crate: `` `name = "1.2"` ``.
fn add_inline_dependencies(line: &str, dependencies: &mut BTreeMap<String, String>) {
    for span in line.split('`').skip(1).step_by(2) {
        let Some((name, version)) = span.split_once(" = ") else {
            continue;
        };
        let crate_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        let version = version
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'));
        if crate_name && version {
            dependencies.insert(name.to_owned(), span.to_owned());
        }
    }
}

/// The block as a program: rustdoc's hidden lines shown, and wrapped in `main` as rustdoc does
/// when it has none (returning a `Result` when the block ends with `Ok::<..>(())`).
fn program(body: &[&str]) -> String {
    let code: Vec<&str> = body
        .iter()
        .map(|line| {
            let trimmed = line.trim_start();
            if trimmed == "#" {
                ""
            } else if let Some(rest) = trimmed.strip_prefix("# ") {
                rest
            } else {
                line
            }
        })
        .collect();
    let code = code.join("\n");
    // A user copying the snippet sees every warning; so does the check.
    if code.contains("fn main") {
        format!("#![deny(warnings)]\n{code}\n")
    } else if !code.trim_end().ends_with("(())") {
        format!("#![deny(warnings)]\nfn main() {{\n{code}\n}}\n")
    } else {
        format!(
            "#![deny(warnings)]\nfn main() {{\n    fn body() -> Result<(), impl core::fmt::Debug> {{\n{code}\n    }}\n    body().unwrap();\n}}\n"
        )
    }
}

fn write_package(dir: &Path, name: &str, snippet: &Snippet) -> Result<()> {
    fs::create_dir_all(dir.join("src"))?;
    let dependencies: Vec<&str> = snippet.dependencies.values().map(String::as_str).collect();
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\n{}\n",
        dependencies.join("\n")
    );
    fs::write(dir.join("Cargo.toml"), manifest)?;
    fs::write(dir.join("src").join("main.rs"), &snippet.code)?;
    Ok(())
}

/// The scratch workspace: the packages, the workspace crates patched in for crates.io's, the
/// workspace's lock file as the starting point (the same versions as the tests), and its
/// profile (so built dependencies are shared).
fn write_workspace<'a>(
    root: &Path,
    scratch: &Path,
    packages: impl Iterator<Item = &'a str>,
) -> Result<()> {
    let members: Vec<String> = packages.map(|name| format!("\"{name}\"")).collect();
    let mut manifest = format!(
        "[workspace]\nresolver = \"3\"\nmembers = [{}]\n\n[patch.crates-io]\n",
        members.join(", ")
    );
    let mut ours = Vec::new();
    for entry in fs::read_dir(root.join("crates"))? {
        let dir = entry?.path();
        let Some(name) = dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
        else {
            continue;
        };
        manifest.push_str(&format!("{name} = {{ path = \"{}\" }}\n", dir.display()));
        ours.push(name);
    }
    if ours.is_empty() {
        bail!("no crates under {}", root.join("crates").display());
    }
    // As in the workspace: dependencies optimised, our crates not.
    manifest.push_str("\n[profile.dev.package.\"*\"]\nopt-level = 2\n");
    for name in &ours {
        manifest.push_str(&format!("\n[profile.dev.package.{name}]\nopt-level = 0\n"));
    }
    fs::write(scratch.join("Cargo.toml"), manifest)?;
    fs::copy(root.join("Cargo.lock"), scratch.join("Cargo.lock"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_take_the_dependencies_named_before_them() {
        let readme = "Add:\n\n```toml\n[dependencies]\nmamba-tokens = \"0.1\"\n```\n\n```rust\nfn main() {}\n```\n\nThen (`mamba-usage = \"0.1\"`, not `log_level = \"debug\"`):\n\n```rust,no_run\n# use std::fmt;\nlet x = 1;\n# Ok::<(), fmt::Error>(())\n```\n\n```toml\n[ledger]\nurl = \"x\"\n```\n\n```rust,ignore\nbroken\n```\n";
        let found = snippets(readme);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].line, 8);
        assert_eq!(
            found[0].dependencies.values().collect::<Vec<_>>(),
            ["mamba-tokens = \"0.1\""]
        );
        assert!(found[0].run);
        assert_eq!(
            found[1].dependencies.keys().collect::<Vec<_>>(),
            ["mamba-tokens", "mamba-usage"]
        );
        assert!(!found[1].run);
        assert!(found[1].code.contains("fn body()"));
        assert!(
            found[1]
                .code
                .contains("\nuse std::fmt;\nlet x = 1;\nOk::<(), fmt::Error>(())\n")
        );
        assert_eq!(found[0].code, "#![deny(warnings)]\nfn main() {}\n");
    }
}
