//! The `asyncz` binary: operator commands for asyncz schedulers. See `asyncz --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    match asyncz_cli::run(std::env::args_os().skip(1)) {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            print!("{}", error.output());
            eprintln!(
                "asyncz: error: {}",
                asyncz_cli::one_line(&error.to_string())
            );
            ExitCode::from(error.exit_code())
        }
    }
}
