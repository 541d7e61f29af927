//! A cluster scheduler node for trying the CLI: it reads the same `asyncz.toml` the CLI
//! reads, registers `reports.send` (succeeds) and `reports.fail` (fails), and runs for the
//! given number of seconds.
//!
//! `cargo run -p asyncz-cli --example node -- asyncz.toml 60`
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use asyncz::cluster::ClusterConfig;
use asyncz::{CallContext, TaskError};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let config = args.next().unwrap_or_else(|| "asyncz.toml".to_owned());
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(60);
    let map = asyncz_cli::commands::store::read_config(&config).unwrap();
    let node = asyncz::builder()
        .config(map)
        .cluster(
            ClusterConfig::new()
                .node_id("node-1")
                .poll_interval(Duration::from_millis(200)),
        )
        .build()
        .unwrap();
    node.register("reports.send", |ctx: CallContext| {
        println!("sending report for task {}", ctx.task_id);
    })
    .unwrap();
    node.register("reports.fail", |_: CallContext| -> Result<(), TaskError> {
        Err("smtp server refused the connection".into())
    })
    .unwrap();
    node.start().await.unwrap();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    node.shutdown(true).await.unwrap();
}
