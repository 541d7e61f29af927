//! One module per command: its clap arguments (`…Args`) and its `run`, which returns the text
//! to print or a [`CliError`](crate::CliError).

pub mod completions;
pub mod edit;
pub mod ops;
pub mod preview;
pub mod runs;
pub mod serve;
pub mod store;
pub mod tasks;
