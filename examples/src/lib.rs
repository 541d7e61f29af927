//! Runnable examples of asyncz; see `examples/` (`cargo run -p asyncz-examples --example quickstart`).

pub mod chaos;
