//! The `asyncz` binary: operator commands for asyncz schedulers. See `asyncz --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match asyncz_cli::run(&args) {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(asyncz_cli::CliError::Usage(message)) => {
            eprintln!("asyncz: error: {message}");
            ExitCode::from(2)
        }
    }
}
