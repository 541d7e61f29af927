//! The `asyncz` binary: operator commands for asyncz schedulers. See `asyncz --help`.

use std::io::Write;
use std::process::ExitCode;

/// Prints to stdout; a closed pipe (`asyncz list | head -1`) is not a crash.
fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn main() -> ExitCode {
    match asyncz_cli::run(std::env::args_os().skip(1)) {
        Ok(output) => {
            emit(&output);
            ExitCode::SUCCESS
        }
        Err(error) => {
            emit(error.output());
            eprintln!(
                "asyncz: error: {}",
                asyncz_cli::one_line(&error.to_string())
            );
            ExitCode::from(error.exit_code())
        }
    }
}
