//! `cargo xtask ci`: the whole CI pipeline: fmt, clippy (all features, then each crate's
//! feature combinations), the price table check, the packages, the local model server, a
//! PostgreSQL server, the tests (of the published crates from their tarballs), docs as docs.rs
//! builds them, tidy, cargo-deny, the README quick starts, the README's main job, then
//! docs/cli.md's transcripts, stopping at the first failure (and always stopping the servers
//! it started).

use std::time::Instant;

use anyhow::Result;

use crate::service::ServiceGuard;
use crate::{
    cargo, demo, packaged, quickstarts, run_command, tidy, tools, transcripts, workspace_root,
};

/// Runs every step in order and stops at the first failure.
pub(crate) fn run() -> Result<()> {
    let started = Instant::now();
    step("fmt", || {
        run_command(cargo_with(&["fmt", "--all", "--", "--check"]))
    })?;
    // The published crates are linted by the next step with every feature set, all features
    // included; this one lints what is never published.
    step("clippy (unpublished: the guides, xtask)", || {
        let mut command = cargo_with(&["clippy", "--all-targets", "--all-features", "--locked"]);
        for name in packaged::UNPUBLISHED {
            command.args(["-p", name]);
        }
        command.args(["--", "-D", "warnings"]);
        run_command(command)
    })?;
    // Optional features must be optional: each published crate, on its own (so no other
    // member's features are unified in), lints with no features, each feature alone, its
    // defaults and all of them (cargo-hack adds an `--all-features` run to `--each-feature`
    // for a crate with several features), every target included. (Its per-crate runs replace
    // workspace-wide ones: a workspace-wide default-features run's feature unification hid a
    // crate's own needs, and a workspace-wide all-features run added nothing but 290 s.)
    step(
        "features (cargo hack --each-feature, one crate at a time)",
        || {
            let bin = tools::CARGO_HACK.install()?;
            let mut command = cargo_with(&[
                "hack",
                "clippy",
                "--workspace",
                "--exclude",
                "mamba-docs",
                "--exclude",
                "xtask",
                "--each-feature",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ]);
            command.env("PATH", tools::path_with(&bin)?);
            run_command(command)
        },
    )?;
    // The built-in price table must be exactly what the pinned sources generate.
    step("prices --check", || {
        crate::prices::run(&["--check".to_owned()])
    })?;
    // What users download: every published crate packaged; the tests below build and run
    // each from its tarball.
    step("package (every published crate)", packaged::package)?;
    // The agent's integration tests and the demo run against a real local model; the guard
    // stops the server however the remaining steps end.
    let mut server = None;
    step("local model server", || {
        let (guard, url) = ServiceGuard::start(&crate::llm::SERVER)?;
        println!("llm-server: smollm2 at {url}");
        server = Some((guard, url));
        Ok(())
    })?;
    let url = server
        .as_ref()
        .map(|(_, url)| url.clone())
        .unwrap_or_default();
    // The ledger's PostgreSQL tests run against a real server; its guard stops it too.
    let mut database = None;
    step("PostgreSQL server", || {
        let (guard, url) = ServiceGuard::start(&crate::postgres::SERVER)?;
        println!("postgres: {url}");
        database = Some((guard, url));
        Ok(())
    })?;
    let database_url = database
        .as_ref()
        .map(|(_, url)| url.clone())
        .unwrap_or_default();
    // mamba-cli's HTML report is checked in a real headless browser.
    let mut browser = None;
    step("browser (Debian's chromium-headless-shell)", || {
        browser = Some(crate::chromium::ensure()?);
        Ok(())
    })?;
    let browser = browser.unwrap_or_default();
    // `cargo test` runs unit, integration and doc tests; with all features, the tests check
    // every counting engine against the same references. The published crates are tested as
    // users download them, from their extracted tarballs.
    step("test (published crates, from their tarballs)", || {
        packaged::test(|command| {
            command.env("LOCAL_LLM_URL", &url);
            command.env("MAMBA_TEST_POSTGRES_URL", &database_url);
            command.env("MAMBA_REQUIRE_POSTGRES", "1");
            command.env("MAMBA_TEST_CHROMIUM", &browser);
            command.env("MAMBA_REQUIRE_BROWSER", "1");
        })
    })?;
    // What is never published: the guides' doctests (mamba-docs) and xtask's own tests.
    step("test (unpublished: the guides, xtask)", || {
        let mut command = cargo_with(&["test", "--all-features", "--locked"]);
        for name in packaged::UNPUBLISHED {
            command.args(["-p", name]);
        }
        run_command(command)
    })?;
    // The docs as docs.rs builds them (`--cfg docsrs`, so feature-gated items carry their
    // badges), warnings denied. Only stable is installed: RUSTC_BOOTSTRAP lets rustdoc take
    // the nightly `doc_cfg` attribute. It is set by a wrapper around rustdoc alone, so rustc
    // never sees it and the dependencies the tests built are reused (set for all of cargo,
    // it made cargo rebuild every dependency: 264 s).
    step("doc (as docs.rs builds it)", || {
        let mut command = cargo_with(&[
            "doc",
            "--workspace",
            "--exclude",
            "xtask",
            "--no-deps",
            "--all-features",
            "--locked",
        ]);
        command.env("RUSTDOC", rustdoc_with_bootstrap()?);
        command.env("RUSTDOCFLAGS", "--cfg docsrs -D warnings");
        run_command(command)
    })?;
    step("tidy", || tidy::run(&workspace_root()))?;
    // Licences, bans and sources per deny.toml; advisories need a database fetched from the
    // network, so they run in the scheduled `audit` workflow instead.
    step("deny (licenses, bans, sources)", || {
        let bin = tools::CARGO_DENY.install()?;
        let mut command = cargo_with(&[
            "deny",
            "--locked",
            "check",
            "--hide-inclusion-graph",
            "licenses",
            "bans",
            "sources",
        ]);
        command.env("PATH", tools::path_with(&bin)?);
        run_command(command)
    })?;
    // Every README quick start, in a crate that depends only on what its README names.
    step(
        "quickstarts (README snippets in scratch consumer crates)",
        quickstarts::run,
    )?;
    // The README's main-job command, so it cannot rot; it reuses the running server.
    step("demo (README main job: cargo xtask demo)", demo::run)?;
    // The `mamba` pages' transcripts print what the pages show (the demo built it already).
    step(
        "transcripts (console blocks of docs/cli.md and mamba-cli's README, run)",
        transcripts::run,
    )?;
    // The standalone tracking example (no model needed).
    step("example token_tracking", || {
        run_command(cargo_with(&[
            "run",
            "--locked",
            "--example",
            "token_tracking",
        ]))
    })?;
    println!("\nxtask ci: all steps passed in {:.0?}", started.elapsed());
    Ok(())
}

/// A script that runs the toolchain's rustdoc with `RUSTC_BOOTSTRAP=1`.
fn rustdoc_with_bootstrap() -> Result<std::path::PathBuf> {
    let real = std::env::var_os("RUSTDOC").unwrap_or_else(|| "rustdoc".into());
    let dir = workspace_root().join("target");
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("rustdoc-bootstrap.sh");
    let text = format!(
        "#!/bin/sh\nRUSTC_BOOTSTRAP=1 exec '{}' \"$@\"\n",
        std::path::Path::new(&real).display()
    );
    std::fs::write(&script, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(script)
}

fn step(name: &str, body: impl FnOnce() -> Result<()>) -> Result<()> {
    println!("\n=== xtask ci: {name}");
    let started = Instant::now();
    body().map_err(|error| error.context(format!("step `{name}` failed")))?;
    println!("=== xtask ci: {name} ok ({:.1?})", started.elapsed());
    Ok(())
}

fn cargo_with(args: &[&str]) -> std::process::Command {
    let mut command = cargo();
    command.args(args);
    command
}
