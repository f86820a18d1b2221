//! `cargo xtask tidy`: the architecture rules that the compiler cannot check.
//!
//! * Layering: each workspace crate has a rank, and depends only on crates of lower rank.
//! * Fences: heavy or I/O crates stay in the layers that own them (async-openai, reqwest and
//!   opentelemetry only in mamba-agent; tokio in mamba-agent, and below it only under a
//!   non-default feature (mamba-ledger's `postgres` driver runs a runtime of its own); rusqlite
//!   and postgres only from mamba-ledger up; `config` only from mamba-settings up; tiktoken-rs
//!   never under mamba-usage or mamba-pricing), checked on the resolved graph, transitively,
//!   with all features on and with default features.
//! * Manifests: members inherit the workspace's package fields, lints and dependency versions;
//!   no `*` or `>=` requirements, no git dependencies, external crates without default features.
//! * Rust version: no locked dependency needs a newer Rust than the workspace's `rust-version`
//!   (`msrv.rs`); with clippy's `incompatible_msrv` lint on our own code, this keeps the MSRV
//!   job green where only a newer stable is installed.
//! * Workflows: `.github/workflows/` as `workflows.rs` states.
//!
//! The checks are pure functions over small graph and manifest values, so tests can feed them
//! bad input and see them fail.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::cargo;

/// The layers, lowest first. A crate may depend only on crates of lower rank.
pub(crate) const LAYERS: &[(&str, u8)] = &[
    ("mamba-tokens", 0),
    ("mamba-usage", 1),
    ("mamba-pricing", 2),
    ("mamba-ledger", 3),
    ("mamba-settings", 4),
    ("mamba-agent", 5),
    ("mamba-cli", 6),
];

/// Tooling crates outside the layering (never published): xtask, and mamba-docs, which
/// compiles the guides in docs/ as doctests against every crate.
const TOOLING: &[&str] = &["xtask", "mamba-docs"];

/// External crates and the lowest rank allowed to have them anywhere in its dependency tree,
/// or the ranks that must never have them.
const FENCES: &[Fence] = &[
    Fence {
        // With default features, only the agent has an async runtime.
        external: "tokio",
        rule: FenceRule::FromRankByDefault(5),
    },
    Fence {
        // The ledger's `postgres` feature brings one, inside its blocking client.
        external: "tokio",
        rule: FenceRule::FromRank(3),
    },
    Fence {
        external: "async-openai",
        rule: FenceRule::FromRank(5),
    },
    Fence {
        external: "reqwest",
        rule: FenceRule::FromRank(5),
    },
    Fence {
        // Telemetry is the agent's (feature `otel`); the books below it never depend on it.
        external: "opentelemetry",
        rule: FenceRule::FromRank(5),
    },
    Fence {
        external: "config",
        rule: FenceRule::FromRank(4),
    },
    Fence {
        // Database drivers: only the ledger opens a database.
        external: "rusqlite",
        rule: FenceRule::FromRank(3),
    },
    Fence {
        external: "postgres",
        rule: FenceRule::FromRank(3),
    },
    Fence {
        // The command line and its terminal output are the binary's alone.
        external: "clap",
        rule: FenceRule::FromRank(6),
    },
    Fence {
        external: "indicatif",
        rule: FenceRule::FromRank(6),
    },
    Fence {
        external: "tiktoken-rs",
        rule: FenceRule::NeverIn(&["mamba-usage", "mamba-pricing"]),
    },
];

struct Fence {
    external: &'static str,
    rule: FenceRule,
}

enum FenceRule {
    /// Only from this rank up, with all features on.
    FromRank(u8),
    /// Only from this rank up, with default features.
    FromRankByDefault(u8),
    NeverIn(&'static [&'static str]),
}

/// One workspace crate as the checks see it.
#[derive(Debug, Default, Clone)]
pub(crate) struct CrateNode {
    /// Workspace crates it depends on directly (any kind: normal, build or dev).
    pub(crate) workspace_deps: BTreeSet<String>,
    /// External crates in its normal and build dependency tree, transitively, all features on.
    pub(crate) external_closure: BTreeSet<String>,
    /// The same with default features only.
    pub(crate) default_closure: BTreeSet<String>,
}

mod msrv;
mod workflows;

/// Runs every check on the workspace at `root` and reports all violations at once.
pub(crate) fn run(root: &Path) -> Result<()> {
    let metadata = load_metadata(root, Features::All)?;
    let mut graph = graph_from_metadata(&metadata)?;
    let by_default = load_graph(root, Features::Default)?;
    for (name, node) in &mut graph {
        node.default_closure = by_default
            .get(name)
            .map(|default| default.external_closure.clone())
            .unwrap_or_default();
    }
    let mut violations = check_layering(&graph);
    violations.extend(check_fences(&graph));
    violations.extend(check_manifests(root)?);
    violations.extend(check_packages(root)?);
    let rust_version = read_toml(&root.join("Cargo.toml"))?
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("rust-version"))
        .and_then(toml::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    violations.extend(workflows::check(root, &rust_version)?);
    violations.extend(msrv::check(&metadata, &rust_version));
    if violations.is_empty() {
        println!(
            "tidy: {} crates, layering, fences, manifests, workflows, dependencies' rust-version ok",
            graph.len()
        );
        return Ok(());
    }
    let mut report = String::new();
    for violation in &violations {
        let _ = writeln!(report, "  - {violation}");
    }
    bail!("tidy found {} problem(s):\n{report}", violations.len())
}

fn rank_of(name: &str) -> Option<u8> {
    LAYERS
        .iter()
        .find(|(layer, _)| *layer == name)
        .map(|&(_, rank)| rank)
}

/// Every workspace crate depends only on workspace crates of lower rank.
pub(crate) fn check_layering(graph: &BTreeMap<String, CrateNode>) -> Vec<String> {
    let mut violations = Vec::new();
    for (name, node) in graph {
        if TOOLING.contains(&name.as_str()) {
            continue;
        }
        let Some(rank) = rank_of(name) else {
            violations.push(format!(
                "{name} has no layer: add it to LAYERS in xtask/src/tidy.rs (and to ARCHITECTURE.md)"
            ));
            continue;
        };
        for dep in &node.workspace_deps {
            if TOOLING.contains(&dep.as_str()) {
                violations.push(format!("{name} depends on the tooling crate {dep}"));
                continue;
            }
            match rank_of(dep) {
                Some(dep_rank) if dep_rank < rank => {}
                Some(dep_rank) => violations.push(format!(
                    "{name} (rank {rank}) depends on {dep} (rank {dep_rank}): a crate may depend \
                     only on crates of lower rank"
                )),
                None => {} // Reported as "has no layer" for the dependency itself.
            }
        }
    }
    violations
}

/// Fenced external crates appear only in the dependency trees of the layers that own them.
pub(crate) fn check_fences(graph: &BTreeMap<String, CrateNode>) -> Vec<String> {
    let mut violations = Vec::new();
    for (name, node) in graph {
        let Some(rank) = rank_of(name) else { continue };
        for fence in FENCES {
            let closure = match fence.rule {
                FenceRule::FromRankByDefault(_) => &node.default_closure,
                _ => &node.external_closure,
            };
            if !closure.contains(fence.external) {
                continue;
            }
            match fence.rule {
                FenceRule::FromRank(lowest) if rank < lowest => violations.push(format!(
                    "{name} (rank {rank}) pulls in {}, which only crates from rank {lowest} up may use",
                    fence.external
                )),
                FenceRule::NeverIn(crates) if crates.contains(&name.as_str()) => violations.push(
                    format!("{name} pulls in {}, which must never be under it", fence.external),
                ),
                FenceRule::FromRankByDefault(lowest) if rank < lowest => violations.push(format!(
                    "{name} (rank {rank}) pulls in {} with default features, which only crates \
                     from rank {lowest} up may do (put it behind a feature)",
                    fence.external
                )),
                FenceRule::FromRank(_) | FenceRule::FromRankByDefault(_) | FenceRule::NeverIn(_) => {}
            }
        }
    }
    violations
}

/// Which features a resolved graph has on.
#[derive(Clone, Copy)]
enum Features {
    All,
    Default,
}

/// Reads the resolved dependency graph from `cargo metadata` (locked).
fn load_graph(root: &Path, features: Features) -> Result<BTreeMap<String, CrateNode>> {
    graph_from_metadata(&load_metadata(root, features)?)
}

/// `cargo metadata` of the workspace, resolved as locked.
fn load_metadata(root: &Path, features: Features) -> Result<Value> {
    let mut command = cargo();
    command
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--locked"]);
    if let Features::All = features {
        command.arg("--all-features");
    }
    let output = command.output().context("could not run cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_slice(&output.stdout).context("cargo metadata printed invalid JSON")
}

/// Builds the per-crate view from cargo metadata's `packages`, `workspace_members` and `resolve`.
pub(crate) fn graph_from_metadata(metadata: &Value) -> Result<BTreeMap<String, CrateNode>> {
    let names: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .context("metadata has no packages")?
        .iter()
        .filter_map(|package| Some((package["id"].as_str()?, package["name"].as_str()?)))
        .collect();
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .context("metadata has no workspace_members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // Edges per package id: (dependency id, whether it is a normal or build edge).
    let mut edges: BTreeMap<&str, Vec<(&str, bool)>> = BTreeMap::new();
    for node in metadata["resolve"]["nodes"]
        .as_array()
        .context("metadata has no resolve graph")?
    {
        let id = node["id"].as_str().context("resolve node without id")?;
        let deps = node["deps"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for dep in deps {
            let dep_id = dep["pkg"].as_str().context("dependency without pkg")?;
            let kinds = dep["dep_kinds"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            let runtime = kinds
                .iter()
                .any(|kind| kind["kind"].as_str() != Some("dev"));
            edges.entry(id).or_default().push((dep_id, runtime));
        }
    }
    let mut graph = BTreeMap::new();
    for &member in &members {
        let name = names
            .get(member)
            .context("workspace member without a package")?;
        let mut node = CrateNode::default();
        for &(dep, _) in edges.get(member).map(Vec::as_slice).unwrap_or_default() {
            if members.contains(dep) {
                node.workspace_deps.insert(names[dep].to_owned());
            }
        }
        // Walk normal and build edges only: dev-dependencies never reach users.
        let mut stack: Vec<&str> = vec![member];
        let mut seen = BTreeSet::new();
        while let Some(id) = stack.pop() {
            for &(dep, runtime) in edges.get(id).map(Vec::as_slice).unwrap_or_default() {
                if runtime && seen.insert(dep) {
                    if !members.contains(dep) {
                        node.external_closure.insert(names[dep].to_owned());
                    }
                    stack.push(dep);
                }
            }
        }
        graph.insert((*name).to_owned(), node);
    }
    Ok(graph)
}

/// What a published crate's package must hold on its own: both licence files, the same as the
/// workspace's, and no `include_str!`, `include_bytes!` or `include!` of a file outside the
/// crate's directory (which the package would not have, breaking the downloaded crate's
/// build or tests).
fn check_packages(root: &Path) -> Result<Vec<String>> {
    let mut violations = Vec::new();
    let licences = ["LICENSE-MIT", "LICENSE-APACHE"];
    let workspace_licences: Vec<String> = licences
        .iter()
        .map(|name| std::fs::read_to_string(root.join(name)).unwrap_or_default())
        .collect();
    for entry in std::fs::read_dir(root.join("crates")).context("cannot list crates/")? {
        let dir = entry?.path();
        if !dir.join("Cargo.toml").exists() {
            continue;
        }
        let label = dir.strip_prefix(root).unwrap_or(&dir).display().to_string();
        for (name, text) in licences.iter().zip(&workspace_licences) {
            match std::fs::read_to_string(dir.join(name)) {
                Ok(own) if own == *text && !own.is_empty() => {}
                Ok(_) => violations.push(format!(
                    "{label}/{name} differs from the workspace's {name} (copy it again)"
                )),
                Err(_) => violations.push(format!(
                    "{label} has no {name}: copy the workspace's, the package needs its own"
                )),
            }
        }
        let mut sources = Vec::new();
        rust_files(&dir, &mut sources)?;
        for source in sources {
            let text = std::fs::read_to_string(&source)
                .with_context(|| format!("cannot read {}", source.display()))?;
            let file = source
                .strip_prefix(root)
                .unwrap_or(&source)
                .display()
                .to_string();
            violations.extend(escaping_includes(&file, &text, &dir, &source));
        }
    }
    Ok(violations)
}

/// Every `.rs` file under `dir`, `target/` aside.
fn rust_files(dir: &Path, files: &mut Vec<std::path::PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name != "target") {
                rust_files(&path, files)?;
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    Ok(())
}

/// The includes of `text` (the file `source`, shown as `file`) whose path leaves `crate_dir`.
pub(crate) fn escaping_includes(
    file: &str,
    text: &str,
    crate_dir: &Path,
    source: &Path,
) -> Vec<String> {
    let base = source.parent().unwrap_or(crate_dir);
    let mut violations = Vec::new();
    for (number, line) in text.lines().enumerate() {
        for macro_name in ["include_str!(\"", "include_bytes!(\"", "include!(\""] {
            let mut rest = line;
            while let Some(at) = rest.find(macro_name) {
                let after = &rest[at + macro_name.len()..];
                let Some(end) = after.find('"') else { break };
                let included = &after[..end];
                if leaves(base, included, crate_dir) {
                    violations.push(format!(
                        "{file}:{}: includes `{included}`, outside its crate: a downloaded \
                         package would not have it (move it into the crate, or the guide \
                         doctests into docs/)",
                        number + 1
                    ));
                }
                rest = &after[end..];
            }
        }
    }
    violations
}

/// Whether `relative`, resolved from `base`, is outside `crate_dir` (paths compared after
/// resolving `.` and `..` by text, so files need not exist).
fn leaves(base: &Path, relative: &str, crate_dir: &Path) -> bool {
    let mut resolved: Vec<std::ffi::OsString> = base
        .components()
        .map(|c| c.as_os_str().to_owned())
        .collect();
    for part in Path::new(relative).components() {
        match part {
            std::path::Component::ParentDir => {
                resolved.pop();
            }
            std::path::Component::CurDir => {}
            other => resolved.push(other.as_os_str().to_owned()),
        }
    }
    let resolved: std::path::PathBuf = resolved.iter().collect();
    !resolved.starts_with(crate_dir)
}

/// Checks the root manifest's shared dependency table and every member manifest.
fn check_manifests(root: &Path) -> Result<Vec<String>> {
    let mut violations = check_root_manifest(&read_toml(&root.join("Cargo.toml"))?);
    let mut manifests = vec![root.join("xtask/Cargo.toml")];
    for entry in std::fs::read_dir(root.join("crates")).context("cannot list crates/")? {
        let manifest = entry?.path().join("Cargo.toml");
        if manifest.exists() {
            manifests.push(manifest);
        }
    }
    for manifest in manifests {
        let label = manifest
            .strip_prefix(root)
            .unwrap_or(&manifest)
            .display()
            .to_string();
        violations.extend(check_member_manifest(&label, &read_toml(&manifest)?));
    }
    Ok(violations)
}

fn read_toml(path: &Path) -> Result<toml::Table> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))
}

/// `[workspace.dependencies]`: exact-enough versions, no git, external crates without default
/// features (members opt into the features they use).
pub(crate) fn check_root_manifest(manifest: &toml::Table) -> Vec<String> {
    let mut violations = Vec::new();
    let Some(deps) = manifest
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(toml::Value::as_table)
    else {
        return vec!["Cargo.toml has no [workspace.dependencies]".to_owned()];
    };
    for (name, spec) in deps {
        let at = format!("Cargo.toml [workspace.dependencies] {name}");
        violations.extend(check_requirement(&at, spec));
        let is_path = spec.get("path").is_some();
        let no_defaults =
            spec.get("default-features").and_then(toml::Value::as_bool) == Some(false);
        if !is_path && !no_defaults {
            violations.push(format!(
                "{at}: external crates need `default-features = false`"
            ));
        }
    }
    violations
}

/// A member manifest inherits package fields, lints and every dependency from the workspace.
pub(crate) fn check_member_manifest(label: &str, manifest: &toml::Table) -> Vec<String> {
    let mut violations = Vec::new();
    let package = manifest.get("package").and_then(toml::Value::as_table);
    for field in [
        "version",
        "edition",
        "rust-version",
        "license",
        "repository",
    ] {
        let inherited = package
            .and_then(|p| p.get(field))
            .and_then(|v| v.get("workspace"))
            .and_then(toml::Value::as_bool)
            == Some(true);
        if !inherited {
            violations.push(format!(
                "{label}: package.{field} must be `{field}.workspace = true`"
            ));
        }
    }
    let lints_inherited = manifest
        .get("lints")
        .and_then(|l| l.get("workspace"))
        .and_then(toml::Value::as_bool)
        == Some(true);
    if !lints_inherited {
        violations.push(format!("{label}: needs `[lints] workspace = true`"));
    }
    let mut tables: Vec<(String, &toml::Table)> = Vec::new();
    for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(table) = manifest.get(section).and_then(toml::Value::as_table) {
            tables.push((section.to_owned(), table));
        }
    }
    if let Some(targets) = manifest.get("target").and_then(toml::Value::as_table) {
        for (target, spec) in targets {
            for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
                if let Some(table) = spec.get(section).and_then(toml::Value::as_table) {
                    tables.push((format!("target.{target}.{section}"), table));
                }
            }
        }
    }
    for (section, table) in tables {
        for (name, spec) in table {
            let at = format!("{label} [{section}] {name}");
            violations.extend(check_requirement(&at, spec));
            if spec.get("workspace").and_then(toml::Value::as_bool) != Some(true) {
                violations.push(format!(
                    "{at}: use `{name}.workspace = true` and declare the version in the root Cargo.toml"
                ));
            }
        }
    }
    violations
}

/// No `*` or `>=` version requirements, no git dependencies.
fn check_requirement(at: &str, spec: &toml::Value) -> Vec<String> {
    let mut violations = Vec::new();
    let version = match spec {
        toml::Value::String(version) => Some(version.as_str()),
        other => other.get("version").and_then(toml::Value::as_str),
    };
    if let Some(version) = version.filter(|v| v.contains('*') || v.contains(">=")) {
        violations.push(format!(
            "{at}: version requirement `{version}` is unbounded; use a caret version"
        ));
    }
    if spec.get("git").is_some() {
        violations.push(format!(
            "{at}: git dependencies are not allowed; use a crates.io release"
        ));
    }
    violations
}

#[cfg(test)]
mod package_tests {
    use std::path::Path;

    use super::escaping_includes;

    #[test]
    fn includes_outside_the_crate_are_named_by_file_and_line() {
        let crate_dir = Path::new("/w/crates/mamba-x");
        let cases = [
            ("src/lib.rs", "#[doc = include_str!(\"../README.md\")]", 0),
            (
                "src/lib.rs",
                "#[doc = include_str!(\"../../../docs/guide.md\")]",
                1,
            ),
            (
                "tests/a.rs",
                "const X: &str = include_str!(\"fixtures/x.json\");",
                0,
            ),
            (
                "tests/a.rs",
                "const X: &[u8] = include_bytes!(\"../../other/x.bin\");",
                1,
            ),
            (
                "src/gen/mod.rs",
                "include!(\"../../../../target/x.rs\");",
                1,
            ),
            (
                "src/lib.rs",
                "// include_str!(\"../../README.md\") twice: include!(\"../x.rs\")",
                1,
            ),
        ];
        for (file, line, expected) in cases {
            let source = crate_dir.join(file);
            let found = escaping_includes(file, line, crate_dir, &source);
            assert_eq!(found.len(), expected, "{file}: {line}: {found:?}");
        }
        let found = escaping_includes(
            "src/lib.rs",
            "\n#[doc = include_str!(\"../../../docs/guide.md\")]",
            crate_dir,
            &crate_dir.join("src/lib.rs"),
        );
        assert_eq!(
            found,
            [
                "src/lib.rs:2: includes `../../../docs/guide.md`, outside its crate: a downloaded \
              package would not have it (move it into the crate, or the guide doctests into \
              docs/)"
            ]
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace_root;

    fn graph(edges: &[(&str, &[&str], &[&str])]) -> BTreeMap<String, CrateNode> {
        edges
            .iter()
            .map(|(name, deps, externals)| {
                let externals: BTreeSet<String> =
                    externals.iter().map(|e| (*e).to_owned()).collect();
                let node = CrateNode {
                    workspace_deps: deps.iter().map(|d| (*d).to_owned()).collect(),
                    default_closure: externals.clone(),
                    external_closure: externals,
                };
                ((*name).to_owned(), node)
            })
            .collect()
    }

    #[test]
    fn the_real_workspace_is_tidy() {
        run(&workspace_root()).unwrap();
    }

    #[test]
    fn a_good_graph_passes() {
        let good = graph(&[
            ("mamba-tokens", &[], &["tiktoken-rs"]),
            ("mamba-usage", &["mamba-tokens"], &[]),
            ("mamba-pricing", &["mamba-usage"], &["rust_decimal"]),
            (
                "mamba-settings",
                &["mamba-pricing", "mamba-tokens"],
                &["config", "tiktoken-rs"],
            ),
            (
                "mamba-agent",
                &["mamba-settings"],
                &["tokio", "async-openai", "reqwest", "config"],
            ),
            ("xtask", &[], &["toml"]),
        ]);
        assert_eq!(check_layering(&good), Vec::<String>::new());
        assert_eq!(check_fences(&good), Vec::<String>::new());
    }

    #[test]
    fn an_upward_dependency_names_both_crates() {
        let bad = graph(&[
            ("mamba-usage", &["mamba-pricing"], &[]),
            ("mamba-pricing", &[], &[]),
        ]);
        assert_eq!(
            check_layering(&bad),
            [
                "mamba-usage (rank 1) depends on mamba-pricing (rank 2): a crate may depend only on \
              crates of lower rank"
            ]
        );
    }

    #[test]
    fn a_same_rank_or_unknown_crate_fails() {
        let bad = graph(&[
            ("mamba-tokens", &["mamba-tokens"], &[]),
            ("mamba-extra", &[], &[]),
        ]);
        let violations = check_layering(&bad);
        assert_eq!(violations.len(), 2, "{violations:?}");
        assert!(violations[0].starts_with("mamba-extra has no layer"));
        assert!(
            violations[1].starts_with("mamba-tokens (rank 0) depends on mamba-tokens (rank 0)")
        );
    }

    #[test]
    fn fenced_crates_below_their_layer_fail() {
        let bad = graph(&[
            ("mamba-tokens", &[], &["tokio"]),
            ("mamba-usage", &[], &["tiktoken-rs"]),
            ("mamba-pricing", &[], &["config"]),
        ]);
        assert_eq!(
            check_fences(&bad),
            [
                "mamba-pricing (rank 2) pulls in config, which only crates from rank 4 up may use",
                "mamba-tokens (rank 0) pulls in tokio with default features, which only crates \
                 from rank 5 up may do (put it behind a feature)",
                "mamba-tokens (rank 0) pulls in tokio, which only crates from rank 3 up may use",
                "mamba-usage pulls in tiktoken-rs, which must never be under it",
            ]
        );
    }

    #[test]
    fn tokio_under_the_agent_only_behind_a_feature() {
        let mut ledger = graph(&[("mamba-ledger", &[], &["tokio", "postgres"])]);
        // All features on (its `postgres` feature): allowed.
        if let Some(node) = ledger.get_mut("mamba-ledger") {
            node.default_closure.clear();
        }
        assert_eq!(check_fences(&ledger), Vec::<String>::new());
        // By default: refused.
        let by_default = graph(&[("mamba-ledger", &[], &["tokio"])]);
        assert_eq!(
            check_fences(&by_default),
            [
                "mamba-ledger (rank 3) pulls in tokio with default features, which only crates \
              from rank 5 up may do (put it behind a feature)"
            ]
        );
        let usage = graph(&[("mamba-usage", &[], &["postgres"])]);
        assert_eq!(
            check_fences(&usage),
            ["mamba-usage (rank 1) pulls in postgres, which only crates from rank 3 up may use"]
        );
    }

    #[test]
    fn metadata_is_read_transitively_without_dev_edges() {
        let metadata = serde_json::json!({
            "packages": [
                {"id": "a", "name": "mamba-tokens"}, {"id": "b", "name": "mamba-usage"},
                {"id": "t", "name": "tiktoken-rs"}, {"id": "r", "name": "fancy-regex"},
                {"id": "p", "name": "proptest"}
            ],
            "workspace_members": ["a", "b"],
            "resolve": {"nodes": [
                {"id": "a", "deps": [
                    {"pkg": "t", "dep_kinds": [{"kind": null}]},
                    {"pkg": "p", "dep_kinds": [{"kind": "dev"}]}
                ]},
                {"id": "b", "deps": [{"pkg": "a", "dep_kinds": [{"kind": null}]}]},
                {"id": "t", "deps": [{"pkg": "r", "dep_kinds": [{"kind": null}]}]},
                {"id": "r", "deps": []}, {"id": "p", "deps": []}
            ]}
        });
        let graph = graph_from_metadata(&metadata).unwrap();
        let usage = &graph["mamba-usage"];
        assert_eq!(
            usage.workspace_deps,
            BTreeSet::from(["mamba-tokens".to_owned()])
        );
        let expected: BTreeSet<String> = ["fancy-regex", "tiktoken-rs"].map(String::from).into();
        assert_eq!(usage.external_closure, expected);
        // The fence catches the transitive tiktoken-rs under mamba-usage.
        assert_eq!(
            check_fences(&graph),
            ["mamba-usage pulls in tiktoken-rs, which must never be under it"]
        );
    }

    #[test]
    fn manifest_rules_name_file_section_and_dependency() {
        let member: toml::Table = r#"
            [package]
            name = "mamba-usage"
            version = "0.1.0"
            edition.workspace = true
            rust-version.workspace = true
            license.workspace = true
            repository.workspace = true
            [dependencies]
            serde = "*"
            foo = { git = "https://example.com/foo" }
            mamba-tokens = { workspace = true }
        "#
        .parse()
        .unwrap();
        assert_eq!(
            check_member_manifest("crates/mamba-usage/Cargo.toml", &member),
            [
                "crates/mamba-usage/Cargo.toml: package.version must be `version.workspace = true`",
                "crates/mamba-usage/Cargo.toml: needs `[lints] workspace = true`",
                "crates/mamba-usage/Cargo.toml [dependencies] foo: git dependencies are not allowed; use a crates.io release",
                "crates/mamba-usage/Cargo.toml [dependencies] foo: use `foo.workspace = true` and declare the version in the root Cargo.toml",
                "crates/mamba-usage/Cargo.toml [dependencies] serde: version requirement `*` is unbounded; use a caret version",
                "crates/mamba-usage/Cargo.toml [dependencies] serde: use `serde.workspace = true` and declare the version in the root Cargo.toml",
            ]
        );
        let root: toml::Table = r#"
            [workspace.dependencies]
            tokio = { version = ">=1" }
            local = { path = "crates/local", version = "0.1.0" }
        "#
        .parse()
        .unwrap();
        assert_eq!(
            check_root_manifest(&root),
            [
                "Cargo.toml [workspace.dependencies] tokio: version requirement `>=1` is unbounded; use a caret version",
                "Cargo.toml [workspace.dependencies] tokio: external crates need `default-features = false`",
            ]
        );
    }
}
