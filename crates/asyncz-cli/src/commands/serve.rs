//! `asyncz serve`: the asyncz-web API and dashboard over the stores alone. The scheduler behind
//! it is started paused, as for every store command: it reads and writes task records, and
//! run now writes a run request that a live cluster node takes
//! ([`asyncz::web::WebConfig::control_plane`]); it never runs a task function. So that the
//! dashboard and the API can add tasks, the function names the stores' tasks use and those
//! given with `--function` are recorded as names (a node must register the real function).

use std::net::SocketAddr;

use asyncz::web::{router, Role, WebConfig};
use clap::Args;

use super::edit::record_function_name;
use super::tasks::{failed, StoreArgs};
use crate::{quote, CliError};

/// `serve` arguments.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: StoreArgs,
    /// The address to listen on. Anything but a loopback address needs tokens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// An accepted token as `PRINCIPAL:ROLE:SHA256` (role read, operate or admin; the SHA-256
    /// hex of the token, e.g. `printf %s "$TOKEN" | sha256sum`); repeatable. Also read from
    /// `ASYNCZ_WEB_TOKENS` (comma-separated).
    #[arg(long = "token", value_name = "PRINCIPAL:ROLE:SHA256", action = clap::ArgAction::Append)]
    pub tokens: Vec<String>,
    /// Serve without authentication (everyone is admin); refused unless `--bind` is loopback.
    #[arg(long)]
    pub no_auth: bool,
    /// A function name a node registers, so tasks naming it can be added; repeatable. The
    /// names the stores' tasks already use are accepted without it.
    #[arg(long = "function", value_name = "NAME", action = clap::ArgAction::Append)]
    pub functions: Vec<String>,
}

/// Parses one `PRINCIPAL:ROLE:SHA256` into `config`.
fn add_token(config: WebConfig, spec: &str) -> Result<WebConfig, CliError> {
    let mut parts = spec.trim().splitn(3, ':');
    let (Some(principal), Some(role), Some(hash)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(CliError::Usage(format!(
            "--token: {} is not PRINCIPAL:ROLE:SHA256",
            quote(spec)
        )));
    };
    if principal.is_empty() {
        return Err(CliError::Usage(format!(
            "--token: {} names no principal",
            quote(spec)
        )));
    }
    let role: Role = role
        .parse()
        .map_err(|e: asyncz::web::WebError| CliError::Usage(format!("--token: {e}")))?;
    config
        .token_hash(principal, role, hash)
        .map_err(|e| CliError::Usage(format!("--token: {e}")))
}

/// The web configuration the arguments describe, and the address to bind.
pub fn web_config(args: &ServeArgs) -> Result<(WebConfig, SocketAddr), CliError> {
    let addr: SocketAddr = args.bind.trim().parse().map_err(|_| {
        CliError::Usage(format!(
            "--bind: {} is not an address like 127.0.0.1:8080",
            quote(&args.bind)
        ))
    })?;
    let mut specs = args.tokens.clone();
    if let Ok(env) = std::env::var("ASYNCZ_WEB_TOKENS") {
        specs.extend(
            env.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
    }
    let mut config = WebConfig::new().control_plane();
    match (args.no_auth, specs.is_empty()) {
        (true, false) => {
            return Err(CliError::Usage(
                "--no-auth: tokens are given too (--token or ASYNCZ_WEB_TOKENS); choose one"
                    .to_owned(),
            ))
        }
        (true, true) => config = config.without_auth(),
        (false, true) => {
            return Err(CliError::Usage(
                "serve: no token: give --token PRINCIPAL:ROLE:SHA256 (or ASYNCZ_WEB_TOKENS), or --no-auth on a loopback address"
                    .to_owned(),
            ))
        }
        (false, false) => {
            for spec in &specs {
                config = add_token(config, spec)?;
            }
        }
    }
    config
        .check_bind(addr)
        .map_err(|e| CliError::Usage(format!("--bind: {e}")))?;
    Ok((config, addr))
}

/// `asyncz serve`: serves until SIGINT or SIGTERM (Ctrl-C). Prints `serving on http://ADDR/`
/// once listening.
pub fn run(args: &ServeArgs) -> Result<String, CliError> {
    let (config, addr) = web_config(args)?;
    let functions = args.functions.clone();
    super::tasks::with_scheduler(&args.common, |scheduler| async move {
        for name in &functions {
            record_function_name(&scheduler, name)?;
        }
        for task in scheduler.get_tasks(None).await.map_err(failed)? {
            if let Some(name) = task.callable().reference() {
                record_function_name(&scheduler, name)?;
            }
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| CliError::Failed(format!("--bind: cannot listen on {addr}: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| CliError::Failed(format!("--bind: {e}")))?;
        let stop = scheduler.shutdown_signal().map_err(failed)?;
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "serving on http://{local}/");
            let _ = out.flush();
        }
        axum::serve(listener, router(scheduler, config))
            .with_graceful_shutdown(stop)
            .await
            .map_err(|e| CliError::Failed(format!("serve: {e}")))?;
        Ok("stopped\n".to_owned())
    })
}
