//! # asyncz-cli
//!
//! The `asyncz` operator CLI, on clap. Commands (one module each under [`commands`]):
//!
//! - `preview`: prints the next fire times of a trigger given on the command line (see
//!   [`commands::preview`]).
//! - `completions bash|zsh|fish`: prints a shell completion script.
//! - `list`, `show`, `pause`, `resume`, `remove`: task records in the stores
//!   ([`commands::tasks`]).
//! - `add`, `update`, `reschedule`: task records written ([`commands::edit`]).
//! - `run`, `history`, `nodes`: the cluster's run ledger and nodes ([`commands::runs`]).
//! - `timeline`, `status`, `doctor`: upcoming fires and health ([`commands::ops`]).
//! - `serve`: the asyncz-web API and dashboard over the stores ([`commands::serve`]).
//!
//! Stores are named with `--store [alias=]URL` or `--config asyncz.toml`
//! ([`commands::store`]); the CLI reads and writes them and never runs a task or advances a
//! schedule.
//!
//! The command logic lives in this library (so it is tested without spawning processes);
//! `main.rs` only prints and maps errors to exit codes: 2 for a usage error, with a
//! one-line message in which every value the user gave is quoted and escaped ([`quote`]), so
//! no argument can split the line or carry terminal escape codes. Arguments are read as
//! `OsString`: one that is not UTF-8 is a usage error, never a panic.
//!
//! ```
//! let out = asyncz_cli::run([
//!     "preview", "--interval", "90s", "--start-at", "2026-01-01T00:00:00Z",
//!     "--from", "2026-01-01T00:00:00Z", "--count", "2",
//! ]).unwrap();
//! assert_eq!(out, "2026-01-01 00:00:00 +00:00 (Thu)\n2026-01-01 00:01:30 +00:00 (Thu)\n");
//!
//! let err = asyncz_cli::run(["preview", "--timezone", "Mars/Olympus\n[fake] ok", "--cron", "* * * * *"])
//!     .unwrap_err();
//! assert_eq!(err.exit_code(), 2);
//! assert!(err.to_string().contains(r"'Mars/Olympus\n[fake] ok'"));
//! ```
#![deny(missing_docs)]

pub mod commands;
mod error;

use std::ffi::OsString;

use clap::{CommandFactory, Parser, Subcommand};

pub use error::{one_line, quote, quote_os, CliError};

/// Examples shown at the end of `asyncz --help`.
const EXAMPLES: &str = "Examples:
  asyncz preview --cron \"0 9 * * mon-fri\" --timezone Europe/Berlin --count 3
  asyncz preview --field day=\"last fri\" --field hour=10 --json
  asyncz preview --interval 1h30m --start-at 2026-01-01T00:00:00Z
  asyncz completions bash > /etc/bash_completion.d/asyncz
  asyncz list --store sqlite://tasks.db --state scheduled --sort-by name
  asyncz show report --store postgres://app@db/app --json
  asyncz pause report cleanup --store redis://127.0.0.1:6379
  asyncz add reports.send --cron \"0 9 * * mon-fri\" --id report --kwargs '{\"to\": \"ops\"}' --store sqlite://tasks.db
  asyncz update report --max-instances 2 --dry-run --store sqlite://tasks.db
  asyncz reschedule report --interval 1h --store sqlite://tasks.db
  asyncz run report --wait --timeout 1m --store postgres://app@db/app
  asyncz history report --state failed --limit 20 --config asyncz.toml
  asyncz nodes --store sqlite://tasks.db
  asyncz timeline --from 2026-01-01T00:00:00Z --until 2026-01-02T00:00:00Z --config asyncz.toml
  asyncz status --store a=sqlite://a.db --store b=redis://127.0.0.1:6379
  asyncz doctor --strict --config asyncz.toml
  asyncz serve --store postgres://app@db/app --bind 0.0.0.0:8080 --token ops:operate:$(printf %s \"$TOKEN\" | sha256sum | cut -c1-64)

Exit codes: 0 ok, 1 operation failed (not found, unreachable store), 2 usage error (one line on
stderr naming the bad value).";

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "asyncz",
    version,
    about = "Operator commands for asyncz schedulers",
    after_help = EXAMPLES,
    // Repeating an option keeps the last value, as the hand-written parser did.
    args_override_self = true
)]
pub struct Cli {
    /// The command to run; none prints the help.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the next fire times of a schedule
    Preview(commands::preview::PreviewArgs),
    /// Print a shell completion script (bash, zsh, fish, ...)
    Completions(commands::completions::CompletionsArgs),
    /// List the tasks in the store(s)
    List(commands::tasks::ListArgs),
    /// Show one task
    Show(commands::tasks::ShowArgs),
    /// Pause tasks (they keep their trigger, with no next run time)
    Pause(commands::tasks::IdsArgs),
    /// Resume paused tasks from now
    Resume(commands::tasks::IdsArgs),
    /// Remove tasks (asks unless --yes or stdin is not a TTY)
    Remove(commands::tasks::IdsArgs),
    /// Add a task running a registered function on a schedule
    Add(commands::edit::AddArgs),
    /// Change a task's fields or schedule (--dry-run shows the difference)
    Update(commands::edit::UpdateArgs),
    /// Give a task a new schedule (its next run time is recomputed)
    Reschedule(commands::edit::RescheduleArgs),
    /// Ask a live cluster node to run a task now (--wait prints the outcome)
    Run(commands::runs::RunArgs),
    /// Run records from the ledger: state, times, duration, lateness, node, error
    History(commands::runs::HistoryArgs),
    /// The cluster nodes registered in the store
    Nodes(commands::runs::NodesArgs),
    /// Upcoming fires across tasks, in time order
    Timeline(commands::ops::TimelineArgs),
    /// Per store: reachable, tasks scheduled/paused, undecodable records, nodes alive, next fire
    Status(commands::ops::StatusArgs),
    /// Health checks: connectivity, undecodable records, clock skew, nodes, tasks that never fire
    Doctor(commands::ops::DoctorArgs),
    /// Serve the HTTP API and dashboard over the store(s) (runs go to live cluster nodes)
    Serve(commands::serve::ServeArgs),
}

/// Runs the command line (without the program name) and returns what to print on stdout.
///
/// `--help` and `--version` are not errors: their text is returned.
pub fn run<I, T>(args: I) -> Result<String, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let args: Vec<OsString> = std::iter::once(OsString::from("asyncz"))
        .chain(args.into_iter().map(Into::into))
        .collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return error::from_clap(&e, &args[1..], &Cli::command()),
    };
    match cli.command {
        Some(Command::Preview(preview)) => commands::preview::run(&preview),
        Some(Command::Completions(completions)) => commands::completions::run(&completions),
        Some(Command::List(a)) => commands::tasks::list(&a),
        Some(Command::Show(a)) => commands::tasks::show(&a),
        Some(Command::Pause(a)) => commands::tasks::pause(&a),
        Some(Command::Resume(a)) => commands::tasks::resume(&a),
        Some(Command::Remove(a)) => commands::tasks::remove(&a),
        Some(Command::Add(a)) => commands::edit::add(&a),
        Some(Command::Update(a)) => commands::edit::update(&a),
        Some(Command::Reschedule(a)) => commands::edit::reschedule(&a),
        Some(Command::Run(a)) => commands::runs::run(&a),
        Some(Command::History(a)) => commands::runs::history(&a),
        Some(Command::Nodes(a)) => commands::runs::nodes(&a),
        Some(Command::Timeline(a)) => commands::ops::timeline(&a),
        Some(Command::Status(a)) => commands::ops::status(&a),
        Some(Command::Doctor(a)) => commands::ops::doctor(&a),
        Some(Command::Serve(a)) => commands::serve::run(&a),
        None => Ok(Cli::command().render_help().to_string()),
    }
}
