//! `asyncz completions SHELL`: the completion script clap_complete writes for the whole CLI.
//!
//! ```
//! let script = asyncz_cli::run(["completions", "fish"]).unwrap();
//! assert!(script.contains("complete -c asyncz"));
//! ```

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::{Cli, CliError};

/// `asyncz completions` options.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  asyncz completions bash > ~/.local/share/bash-completion/completions/asyncz
  asyncz completions zsh > \"${fpath[1]}/_asyncz\"
  asyncz completions fish > ~/.config/fish/completions/asyncz.fish")]
pub struct CompletionsArgs {
    /// The shell to write the script for
    #[arg(value_name = "SHELL")]
    pub shell: Shell,
}

/// Runs `asyncz completions`.
pub fn run(args: &CompletionsArgs) -> Result<String, CliError> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "asyncz", &mut script);
    // clap_complete writes UTF-8 (the CLI's names and help are ASCII).
    Ok(String::from_utf8_lossy(&script).into_owned())
}
