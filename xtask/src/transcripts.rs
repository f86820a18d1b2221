//! `cargo xtask ci`'s check of the `mamba` command's pages (docs/cli.md, mamba-cli's README):
//! every ` ```console ` block is a transcript, run as it reads, so a page cannot show output
//! the command no longer prints.
//!
//! A line `$ COMMAND` is a command (run with `sh -c`, so pipes work, with the `mamba` just
//! built first on `PATH`); the lines after it, up to the next command or the end of the
//! block, are what it must print on stdout, exactly. The files the commands read are blocks
//! of the page too: a block whose info string has `file=NAME` (` ```json file=request.json `)
//! is written to `NAME` in a scratch directory of the page's, where its commands run. Other
//! blocks (` ```sh `, ` ```text `) are not run.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo, run_command, workspace_root};

/// The pages whose transcripts are run.
const PAGES: [&str; 2] = ["docs/cli.md", "crates/mamba-cli/README.md"];

/// A file a transcript reads, from a ` ```LANG file=NAME ` block.
#[derive(Debug, PartialEq, Eq)]
struct Fixture {
    name: String,
    text: String,
}

/// One command of a ` ```console ` block and what it must print.
#[derive(Debug, PartialEq, Eq)]
struct Transcript {
    /// The command's line on the page, from 1.
    line: usize,
    command: String,
    stdout: String,
}

/// Builds `mamba`, then runs every transcript of the pages and compares what it prints.
pub(crate) fn run() -> Result<()> {
    let root = workspace_root();
    let mut build = cargo();
    build.args(["build", "--locked", "--quiet", "--package", "mamba-cli"]);
    run_command(build)?;
    let bin = root.join("target").join("debug");
    let mut failures = String::new();
    for page in PAGES {
        let text = std::fs::read_to_string(root.join(page))
            .with_context(|| format!("cannot read {page}"))?;
        let (fixtures, transcripts) = parse(page, &text)?;
        if transcripts.is_empty() {
            bail!("{page} has no ```console transcript to run");
        }
        let scratch = root
            .join("target")
            .join("cli-transcripts")
            .join(page.replace('/', "_"));
        if scratch.exists() {
            std::fs::remove_dir_all(&scratch)
                .with_context(|| format!("cannot empty {}", scratch.display()))?;
        }
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("cannot create {}", scratch.display()))?;
        for fixture in &fixtures {
            let path = scratch.join(&fixture.name);
            std::fs::write(&path, &fixture.text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        for transcript in &transcripts {
            let output = shell(&transcript.command, &scratch, &bin)?;
            let stdout = String::from_utf8_lossy(&output.stdout);
            if !output.status.success() || stdout != transcript.stdout {
                let _ = write!(
                    failures,
                    "\n{page}:{}: `{}` exited with {} and printed:\n{stdout}\
                     the page shows:\n{}stderr:\n{}",
                    transcript.line,
                    transcript.command,
                    output.status,
                    transcript.stdout,
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
        println!(
            "{page}: {} commands print what the page shows",
            transcripts.len()
        );
    }
    if !failures.is_empty() {
        bail!("transcripts that no longer hold:{failures}");
    }
    Ok(())
}

/// Runs `command` with `sh -c` in `dir`, `bin` first on `PATH` and no mamba settings from
/// this machine's environment.
fn shell(command: &str, dir: &Path, bin: &Path) -> Result<std::process::Output> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin.to_path_buf()];
    paths.extend(std::env::split_paths(&path));
    let mut shell = Command::new("sh");
    shell
        .args(["-c", command])
        .current_dir(dir)
        .env("PATH", std::env::join_paths(paths)?)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MAMBA_") {
            shell.env_remove(name);
        }
    }
    shell
        .output()
        .with_context(|| format!("cannot run `{command}`"))
}

/// What a fenced block is.
enum Block {
    Fixture(String),
    Console,
    Other,
}

/// The fixtures and transcripts of `text`, the page `page`, in order.
fn parse(page: &str, text: &str) -> Result<(Vec<Fixture>, Vec<Transcript>)> {
    let mut fixtures = Vec::new();
    let mut transcripts: Vec<Transcript> = Vec::new();
    let mut open: Option<(Block, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let Some(info) = line.strip_prefix("```") else {
            match &mut open {
                Some((Block::Console, _)) => {
                    if let Some(command) = line.strip_prefix("$ ") {
                        transcripts.push(Transcript {
                            line: number,
                            command: command.to_owned(),
                            stdout: String::new(),
                        });
                    } else {
                        let Some(last) = transcripts.last_mut() else {
                            bail!(
                                "{page}:{number}: a console block must start with a `$ ` command"
                            );
                        };
                        last.stdout.push_str(line);
                        last.stdout.push('\n');
                    }
                }
                Some((_, text)) => {
                    text.push_str(line);
                    text.push('\n');
                }
                None => {}
            }
            continue;
        };
        match open.take() {
            Some((Block::Fixture(name), text)) => fixtures.push(Fixture { name, text }),
            Some(_) => {}
            None => {
                let file = info
                    .split_whitespace()
                    .find_map(|word| word.strip_prefix("file="));
                let block = match (file, info.split_whitespace().next()) {
                    (Some(name), _) => {
                        if name.is_empty() || name.contains('/') {
                            bail!("{page}:{number}: `file={name}` must name a file, not a path");
                        }
                        Block::Fixture(name.to_owned())
                    }
                    (None, Some("console")) => Block::Console,
                    _ => Block::Other,
                };
                open = Some((block, String::new()));
            }
        }
    }
    if open.is_some() {
        bail!("{page}: a fenced block is not closed");
    }
    Ok((fixtures, transcripts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_blocks_are_commands_with_their_output_and_file_blocks_are_fixtures() {
        let page = "# Title\n\
                    ```json file=request.json\n{\"messages\": []}\n```\n\
                    ```sh\n$ not run\n```\n\
                    ```console\n$ mamba count a.txt\nTOKENS  FILE\n     1  a.txt\n\
                    $ printf hi | mamba count\nTOKENS  FILE\n```\n";
        let (fixtures, transcripts) = parse("docs/cli.md", page).unwrap();
        assert_eq!(
            fixtures,
            [Fixture {
                name: "request.json".to_owned(),
                text: "{\"messages\": []}\n".to_owned()
            }]
        );
        assert_eq!(
            transcripts,
            [
                Transcript {
                    line: 9,
                    command: "mamba count a.txt".to_owned(),
                    stdout: "TOKENS  FILE\n     1  a.txt\n".to_owned()
                },
                Transcript {
                    line: 12,
                    command: "printf hi | mamba count".to_owned(),
                    stdout: "TOKENS  FILE\n".to_owned()
                },
            ]
        );
    }

    #[test]
    fn output_without_a_command_a_path_and_an_open_block_are_errors() {
        let cases = [
            (
                "```console\nTOKENS\n```\n",
                "docs/cli.md:2: a console block must start",
            ),
            (
                "```json file=../x.json\n{}\n```\n",
                "docs/cli.md:1: `file=../x.json`",
            ),
            (
                "```console\n$ mamba\n",
                "docs/cli.md: a fenced block is not closed",
            ),
        ];
        for (page, expected) in cases {
            let error = parse("docs/cli.md", page).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{error}");
        }
    }
}
