//! `cargo xtask demo`: the main job. Runs mamba-agent's `agent_demo` example (the Token
//! Tracking page end to end) against the configured endpoint, or, with nothing configured,
//! against a local llama.cpp server started (and stopped) here, then reports the ledger it
//! kept with `mamba report` (mamba-cli).

use anyhow::{Context, Result, bail};

use crate::service::ServiceGuard;
use crate::{cargo, run_command};

pub(crate) fn run() -> Result<()> {
    let mut probe = cargo();
    probe.args([
        "run",
        "--locked",
        "--quiet",
        "--package",
        "mamba-agent",
        "--example",
        "agent_demo",
        "--",
        "--needs-local-server",
    ]);
    let output = probe
        .output()
        .context("cannot run the demo's settings probe")?;
    if !output.status.success() {
        bail!(
            "the demo's settings probe failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let needs_local = String::from_utf8_lossy(&output.stdout).trim() == "yes";
    let mut demo = cargo();
    demo.args([
        "run",
        "--locked",
        "--package",
        "mamba-agent",
        "--example",
        "agent_demo",
    ]);
    // The demo's durable books, kept across runs under the git-ignored cache.
    let books = crate::workspace_root().join(".cache").join("demo");
    std::fs::create_dir_all(&books)
        .with_context(|| format!("cannot create {}", books.display()))?;
    demo.env("DEMO_LEDGER", books.join("usage.db"));
    // Declared before the demo runs, so the server stops when this function returns.
    let _server = if needs_local {
        println!("demo: no endpoint or API key configured; starting the local model server");
        let (guard, url) = ServiceGuard::start(&crate::llm::SERVER)?;
        demo.env("DEMO_LOCAL_LLM_URL", url);
        Some(guard)
    } else {
        println!("demo: using the configured endpoint");
        None
    };
    run_command(demo)?;
    // The books the demo kept, as the `mamba` command reports them.
    let ledger = format!("sqlite://{}", books.join("usage.db").display());
    for by in ["day", "model"] {
        println!("\n$ mamba report --ledger {ledger} --by {by}");
        let mut report = cargo();
        report.args(["run", "--locked", "--quiet", "--package", "mamba-cli", "--"]);
        report.args(["report", "--ledger", &ledger, "--by", by]);
        run_command(report)?;
    }
    Ok(())
}
