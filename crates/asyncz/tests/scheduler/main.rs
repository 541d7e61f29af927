//! Scheduler behaviour through the public API of the `asyncz` facade. One test binary with a
//! module per area, so the workspace links it once.

mod common;

mod config;
mod engine;
mod events;
mod lifecycle;
mod management;
mod runtime;
