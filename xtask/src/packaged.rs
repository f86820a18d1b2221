//! The published crates as users download them: packaged, then extracted into a scratch
//! workspace where each is built from its tarball and whose tests are the ones CI runs.
//!
//! A test or doctest that reads a file outside its crate (the guides under `docs/`, a fixture
//! of another crate) passes in the workspace and fails in the download. Running every
//! published crate's tests from its own `.crate` instead of from `crates/` catches that, and
//! costs no second test run: the workspace's own test step keeps only what is never
//! published (the guides' doctests in mamba-docs, xtask).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo, run_command, workspace_root};

/// Workspace members that are never published, so never packaged.
pub(crate) const UNPUBLISHED: [&str; 2] = ["mamba-docs", "xtask"];

/// One extracted package: its name and directory.
#[derive(Debug, PartialEq, Eq)]
struct Extracted {
    name: String,
    dir: PathBuf,
}

/// `cargo package` for every published crate (`--allow-dirty` keeps it usable on a working copy
/// with changes). Cargo overlays the packaged workspace crates, so their versions need not be
/// on crates.io yet.
///
/// `--no-verify`: cargo's own check builds each tarball once more in a target directory of its
/// own (190 s in CI); [`test`] builds every tarball anyway, with all its targets and features,
/// from a workspace of the extracted packages alone, so a file missing from a package fails
/// there.
pub(crate) fn package() -> Result<()> {
    // Only this run's tarballs may be extracted afterwards, not an older version's.
    let out = workspace_root().join("target").join("package");
    if out.exists() {
        fs::remove_dir_all(&out).with_context(|| format!("could not clear {}", out.display()))?;
    }
    forget_unpacked_packages()?;
    let mut command = cargo();
    command.args([
        "package",
        "--workspace",
        "--allow-dirty",
        "--locked",
        "--no-verify",
    ]);
    for name in UNPUBLISHED {
        command.args(["--exclude", name]);
    }
    run_command(command)
}

/// Removes cargo's unpacked copies of earlier runs' packages of our crates.
///
/// Cargo verifies a crate against the workspace crates it depends on through a local registry
/// under `target/package/tmp-registry`, and unpacks those `.crate` files under
/// `$CARGO_HOME/registry/src/-<hash of that path>/`. It never unpacks one twice: a checkout at
/// the same path whose crates changed since the last run (same name, same version) was
/// verified against the old sources (seen: `mamba-cli` failing on a function its new
/// `mamba-tokens` has). Local registries are the source directories whose name starts with
/// `-`; crates.io's are named after it, and are left alone.
fn forget_unpacked_packages() -> Result<()> {
    let cargo_home = match std::env::var_os("CARGO_HOME") {
        Some(home) => PathBuf::from(home),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".cargo"),
            None => return Ok(()),
        },
    };
    forget_unpacked_in(&cargo_home.join("registry").join("src"))
}

/// [`forget_unpacked_packages`] in the registry sources directory `sources`.
fn forget_unpacked_in(sources: &Path) -> Result<()> {
    let Ok(registries) = fs::read_dir(sources) else {
        return Ok(());
    };
    for registry in registries {
        let registry = registry?.path();
        let is_local = registry
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with('-'));
        if !is_local {
            continue;
        }
        for (name, _) in crate::tidy::LAYERS {
            for unpacked in fs::read_dir(&registry)? {
                let unpacked = unpacked?.path();
                let is_ours = unpacked
                    .file_name()
                    .and_then(|file| file.to_str())
                    .and_then(|file| file.strip_prefix(name))
                    .is_some_and(|rest| {
                        rest.strip_prefix('-').is_some_and(|version| {
                            version.starts_with(|c: char| c.is_ascii_digit())
                        })
                    });
                if is_ours {
                    fs::remove_dir_all(&unpacked)
                        .with_context(|| format!("could not remove {}", unpacked.display()))?;
                }
            }
        }
    }
    Ok(())
}

/// Extracts the tarballs [`package`] made and runs their tests (unit, integration and doc,
/// all features); `configure` adds what the tests need (server URLs).
pub(crate) fn test(configure: impl FnOnce(&mut Command)) -> Result<()> {
    let root = workspace_root();
    let scratch = root.join("target").join("packaged");
    if scratch.exists() {
        fs::remove_dir_all(&scratch)
            .with_context(|| format!("could not clear {}", scratch.display()))?;
    }
    fs::create_dir_all(&scratch)?;
    let extracted = extract(&root.join("target").join("package"), &scratch)?;
    fs::write(scratch.join("Cargo.toml"), workspace_manifest(&extracted))?;
    // The workspace's lock file as the starting point: the same dependency versions as every
    // other step (cargo drops the unpublished members from it).
    fs::copy(root.join("Cargo.lock"), scratch.join("Cargo.lock"))?;
    let mut command = cargo();
    command
        .current_dir(&scratch)
        .args(["test", "--workspace", "--all-features"])
        // The workspace's target directory: dependencies built for other steps are reused.
        .env("CARGO_TARGET_DIR", root.join("target"));
    configure(&mut command);
    run_command(command)
}

/// Unpacks every `.crate` in `from` into `into`; the packages found, by name.
fn extract(from: &Path, into: &Path) -> Result<Vec<Extracted>> {
    let mut tarballs: Vec<PathBuf> = fs::read_dir(from)
        .with_context(|| {
            format!(
                "could not list {} (run the package step first)",
                from.display()
            )
        })?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "crate"))
        .collect();
    tarballs.sort();
    if tarballs.is_empty() {
        bail!("no .crate files in {}", from.display());
    }
    let mut found = Vec::new();
    for tarball in &tarballs {
        let mut command = Command::new("tar");
        command.arg("-xzf").arg(tarball).arg("-C").arg(into);
        run_command(command)?;
        // A `.crate` holds one directory, `<name>-<version>`, named after the file.
        let stem = tarball
            .file_stem()
            .with_context(|| format!("{} has no file name", tarball.display()))?;
        let dir = into.join(stem);
        found.push(Extracted {
            name: package_name(&dir.join("Cargo.toml"))?,
            dir,
        });
    }
    Ok(found)
}

/// `package.name` of a manifest.
fn package_name(manifest: &Path) -> Result<String> {
    let text = fs::read_to_string(manifest)
        .with_context(|| format!("could not read {}", manifest.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not TOML", manifest.display()))?;
    table
        .get("package")
        .and_then(|package| package.get("name"))
        .and_then(toml::Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("{} has no package.name", manifest.display()))
}

/// A workspace of the extracted packages, each standing in for its crates.io version (a
/// packaged manifest names its sibling crates by version only), with the workspace's profile.
fn workspace_manifest(packages: &[Extracted]) -> String {
    let members: Vec<String> = packages
        .iter()
        .map(|package| format!("{:?}", package.dir.display().to_string()))
        .collect();
    let mut manifest = format!(
        "[workspace]\nresolver = \"3\"\nmembers = [{}]\n\n[patch.crates-io]\n",
        members.join(", ")
    );
    for package in packages {
        manifest.push_str(&format!(
            "{} = {{ path = {:?} }}\n",
            package.name,
            package.dir.display().to_string()
        ));
    }
    // As in the workspace: dependencies optimised (the tests count megabytes of text).
    manifest.push_str("\n[profile.dev.package.\"*\"]\nopt-level = 2\n");
    manifest
}

#[cfg(test)]
mod tests {

    #[test]
    fn only_our_crates_unpacked_from_local_registries_are_forgotten() {
        let sources = std::env::temp_dir().join(format!("xtask-unpacked-{}", std::process::id()));
        let keep = [
            "index.crates.io-1949cf8c6b5b557f/mamba-tokens-0.1.0",
            "index.crates.io-1949cf8c6b5b557f/serde-1.0.0",
            "-22c3805da5a543b4/serde-1.0.0",
            "-22c3805da5a543b4/mamba-tokens-extra-0.1.0",
        ];
        let forget = [
            "-22c3805da5a543b4/mamba-tokens-0.1.0",
            "-f84f636099873dcc/mamba-cli-0.2.1",
        ];
        for dir in keep.iter().chain(&forget) {
            fs::create_dir_all(sources.join(dir).join("src")).unwrap();
        }
        forget_unpacked_in(&sources).unwrap();
        for dir in keep {
            assert!(sources.join(dir).exists(), "{dir} was removed");
        }
        for dir in forget {
            assert!(!sources.join(dir).exists(), "{dir} is still there");
        }
        fs::remove_dir_all(&sources).unwrap();
    }
    use super::*;

    #[test]
    fn the_scratch_workspace_patches_every_package_in() {
        let packages = [
            Extracted {
                name: "mamba-tokens".to_owned(),
                dir: PathBuf::from("/t/mamba-tokens-0.1.0"),
            },
            Extracted {
                name: "mamba-usage".to_owned(),
                dir: PathBuf::from("/t/mamba-usage-0.1.0"),
            },
        ];
        assert_eq!(
            workspace_manifest(&packages),
            "[workspace]\nresolver = \"3\"\nmembers = [\"/t/mamba-tokens-0.1.0\", \"/t/mamba-usage-0.1.0\"]\n\n\
             [patch.crates-io]\nmamba-tokens = { path = \"/t/mamba-tokens-0.1.0\" }\n\
             mamba-usage = { path = \"/t/mamba-usage-0.1.0\" }\n\n\
             [profile.dev.package.\"*\"]\nopt-level = 2\n"
        );
    }

    #[test]
    fn the_package_name_comes_from_the_manifest() {
        let dir = std::env::temp_dir().join(format!("xtask-packaged-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let manifest = dir.join("Cargo.toml");
        fs::write(
            &manifest,
            "[package]\nname = \"mamba-usage\"\nversion = \"0.1.0\"\n",
        )
        .unwrap();
        assert_eq!(package_name(&manifest).unwrap(), "mamba-usage");
        fs::write(&manifest, "[lib]\n").unwrap();
        let error = package_name(&manifest).unwrap_err().to_string();
        assert!(error.ends_with("Cargo.toml has no package.name"), "{error}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
