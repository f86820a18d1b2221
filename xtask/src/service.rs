//! [`ServiceGuard`]: a local server (the model, PostgreSQL) that `cargo xtask ci` and
//! `cargo xtask demo` start and must never leave behind, whatever fails in between.

use anyhow::{Result, bail};

/// How xtask drives one local server.
pub(crate) struct Service {
    /// The name it prints (`llm-server`, `postgres`).
    pub(crate) name: &'static str,
    /// The URL of the running server, if one is running.
    pub(crate) running: fn() -> Option<String>,
    /// Starts it (installing it first if needed) unless it runs; its URL.
    pub(crate) start: fn() -> Result<String>,
    /// Stops it; `false` if it was not running.
    pub(crate) stop: fn() -> Result<bool>,
}

/// `cargo xtask <name> start|stop|status`.
pub(crate) fn run(service: &Service, args: &[String]) -> Result<()> {
    let name = service.name;
    match args.first().map(String::as_str) {
        Some("start") => println!("{name}: {}", (service.start)()?),
        Some("stop") => {
            if (service.stop)()? {
                println!("{name}: stopped");
            } else {
                println!("{name}: not running");
            }
        }
        Some("status") => match (service.running)() {
            Some(url) => println!("{name}: {url}"),
            None => println!("{name}: not running"),
        },
        _ => bail!("usage: cargo xtask {name} <start | stop | status>"),
    }
    Ok(())
}

/// Stops its server when dropped, if this process started it.
pub(crate) struct ServiceGuard {
    service: &'static Service,
    started_here: bool,
}

impl ServiceGuard {
    /// Starts `service` unless it runs; the guard and the server's URL.
    pub(crate) fn start(service: &'static Service) -> Result<(ServiceGuard, String)> {
        let already = (service.running)();
        let url = (service.start)()?;
        Ok((
            ServiceGuard {
                service,
                started_here: already.is_none(),
            },
            url,
        ))
    }
}

impl Drop for ServiceGuard {
    fn drop(&mut self) {
        if self.started_here {
            let name = self.service.name;
            match (self.service.stop)() {
                Ok(_) => println!("{name}: stopped"),
                Err(error) => eprintln!("{name}: could not stop the server: {error:#}"),
            }
        }
    }
}
