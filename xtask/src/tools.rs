//! Cargo subcommands CI needs (cargo-hack, cargo-deny), installed from crates.io at pinned
//! versions into the git-ignored `.cache/tools/`.
//!
//! crates.io checks every downloaded package against the checksum in its index, and
//! `--locked` builds each tool with the dependency versions its own lock file pins, so the same
//! version always builds from the same sources. A tool already installed at its pinned version
//! is reused (`cargo install` skips it). Tools are built unoptimised: CI runs each for about a
//! second, and a cold build is minutes shorter.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::{cargo, run_command, workspace_root};

/// A cargo subcommand from crates.io, pinned.
pub(crate) struct CargoTool {
    /// The crate (and the binary, `cargo-<name>`).
    pub(crate) krate: &'static str,
    /// The exact version.
    pub(crate) version: &'static str,
    /// Features to build it with, beyond none (`--no-default-features` is always passed).
    pub(crate) features: &'static [&'static str],
}

/// Runs `--each-feature` checks one crate at a time.
pub(crate) const CARGO_HACK: CargoTool = CargoTool {
    krate: "cargo-hack",
    version: "0.6.46",
    features: &[],
};

/// Checks licences, bans and sources against deny.toml.
pub(crate) const CARGO_DENY: CargoTool = CargoTool {
    krate: "cargo-deny",
    version: "0.20.2",
    features: &[],
};

/// The release profile `cargo install` builds the tools with: no optimisation, no LTO, many
/// codegen units (settings from the environment override the tool's own manifest).
const UNOPTIMISED: [(&str, &str); 3] = [
    ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0"),
    ("CARGO_PROFILE_RELEASE_LTO", "off"),
    ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16"),
];

impl CargoTool {
    /// Installs the tool if it is not there at its version; returns the directory of its
    /// binary, to put first on `PATH`.
    pub(crate) fn install(&self) -> Result<PathBuf> {
        let root = workspace_root().join(".cache").join("tools");
        let mut command = cargo();
        command.args([
            "install",
            "--locked",
            "--no-default-features",
            "--root",
            &root.to_string_lossy(),
            "--version",
            self.version,
            self.krate,
        ]);
        if !self.features.is_empty() {
            command.args(["--features", &self.features.join(",")]);
        }
        // CI runs each tool for about a second, so an optimised build is time lost on a cold
        // machine: unoptimised, cargo-deny installs in 40 s instead of about 170 s and checks
        // this workspace in 1.3 s instead of 0.6 s. (A tool already installed, optimised or
        // not, is kept: cargo install compares versions and features, not these settings.)
        for (setting, value) in UNOPTIMISED {
            command.env(setting, value);
        }
        run_command(command)?;
        Ok(root.join("bin"))
    }
}

/// `PATH` with `dir` first, so `cargo <tool>` finds the pinned binary; an error (not an
/// empty `PATH`, which would find no tool at all) if `dir` cannot be on a `PATH`.
pub(crate) fn path_with(dir: &std::path::Path) -> Result<std::ffi::OsString> {
    let mut paths = vec![dir.to_path_buf()];
    if let Some(path) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(paths).with_context(|| format!("{} cannot be put on PATH", dir.display()))
}
