//! The headless browser that checks mamba-cli's HTML report: Debian's
//! `chromium-headless-shell`, installed with apt when it is absent.
//!
//! apt checks every package against the SHA-256 sums of the repository's signed index, so what
//! is installed is what Debian built. The version is not pinned: Debian's security archive
//! keeps only the latest Chromium build (an exact pin would fail with the next security
//! release), and the test needs nothing of a particular version. The version used is printed.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::run_command;

/// The Debian package, and the binary it installs.
const PACKAGE: &str = "chromium-headless-shell";
const BINARY: &str = "/usr/bin/chromium-headless-shell";

/// The browser's path, installing it first if it is not there.
pub(crate) fn ensure() -> Result<PathBuf> {
    let binary = PathBuf::from(BINARY);
    if !binary.exists() {
        // As root (CI's container), apt directly; otherwise through sudo, never prompting.
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0");
        let apt = |args: &[&str]| {
            let mut command = if root {
                Command::new("apt-get")
            } else {
                let mut sudo = Command::new("sudo");
                sudo.args(["-n", "apt-get"]);
                sudo
            };
            command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
            command
        };
        println!("chromium: installing Debian's {PACKAGE}");
        run_command(apt(&["update", "-qq"])).context("could not update apt's package lists")?;
        run_command(apt(&[
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            PACKAGE,
        ]))
        .with_context(|| format!("could not install {PACKAGE} with apt-get"))?;
        if !binary.exists() {
            bail!("{PACKAGE} is installed but {BINARY} is not there");
        }
    }
    let version = Command::new(&binary)
        .arg("--version")
        .output()
        .with_context(|| format!("could not run {BINARY}"))?;
    println!(
        "chromium: {}",
        String::from_utf8_lossy(&version.stdout).trim()
    );
    Ok(binary)
}
