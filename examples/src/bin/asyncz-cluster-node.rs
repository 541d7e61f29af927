//! One node of an asyncz cluster, for the chaos test (`asyncz-chaos`, `cargo xtask chaos`)
//! and as a runnable example of cluster mode: start it several times over one store and each
//! fire runs on exactly one of them.
//!
//! `asyncz-cluster-node <store json> <node id> <log file> [lease_ms heartbeat_ms timeout_ms poll_ms]`
//!
//! `<store json>` is a store's options (`{"type": "sql", "url": "postgres://..."}`). Each
//! run of the `chaos.tick` task appends one line to `<log file>` when its function starts:
//! `<task>\t<scheduled µs>\t<node>\t<run id>\t<attempt>\t<fence>\t<started µs>` (one write
//! to an O_APPEND file, so lines from several processes never interleave). SIGTERM or Ctrl-C
//! shuts the node down cleanly (it leaves the cluster); SIGKILL is what the chaos test does.

use std::io::Write;
use std::time::Duration;

use asyncz::chrono::Utc;
use asyncz::cluster::ClusterConfig;
use asyncz::CallContext;

fn millis(args: &[String], i: usize, default: u64) -> Result<Duration, String> {
    match args.get(i) {
        None => Ok(Duration::from_millis(default)),
        Some(v) => v.parse().map(Duration::from_millis).map_err(|e| {
            format!(
                "argument {} ({v:?}) is not a number of milliseconds: {e}",
                i + 1
            )
        }),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(store), Some(node_id), Some(log)) = (args.first(), args.get(1), args.get(2)) else {
        return Err("usage: asyncz-cluster-node <store json> <node id> <log file> [lease_ms heartbeat_ms timeout_ms poll_ms]".into());
    };
    let cluster = ClusterConfig::new()
        .node_id(node_id.as_str())
        .lease(millis(&args, 3, 3000)?)
        .heartbeat_interval(millis(&args, 4, 500)?)
        .node_timeout(millis(&args, 5, 2000)?)
        .poll_interval(millis(&args, 6, 200)?);
    let store: serde_json::Value = serde_json::from_str(store)?;
    let config = serde_json::json!({
        "asyncz.stores.default": store,
        "asyncz.store_retry_interval": 0.2,
        "asyncz.store_timeout": 5,
    });
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let scheduler = asyncz::builder()
        .config(config.as_object().cloned().unwrap_or_default())
        .cluster(cluster)
        .build()?;
    let log = log.clone();
    scheduler.register(
        "chaos.tick",
        move |ctx: CallContext| -> std::io::Result<()> {
            let started = Utc::now().timestamp_micros();
            let (node, run_id, attempt, fence) = match &ctx.run {
                Some(run) => (
                    run.node.as_str(),
                    run.run_id.as_str(),
                    run.attempt,
                    run.fence,
                ),
                None => ("-", "-", 0, 0),
            };
            let line = format!(
                "{}\t{}\t{node}\t{run_id}\t{attempt}\t{fence}\t{started}\n",
                ctx.task_id,
                ctx.scheduled_run_time.timestamp_micros(),
            );
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&log)?
                .write_all(line.as_bytes())?;
            // Some work, so kills and pauses also land while runs are in flight.
            std::thread::sleep(Duration::from_millis(20));
            Ok(())
        },
    )?;
    // What the cluster benchmark runs: nothing, so the numbers are the scheduler's.
    scheduler.register("bench.noop", |_ctx: CallContext| ())?;
    scheduler.start().await?;
    shutdown_signal().await;
    scheduler.shutdown(true).await?;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async {
                match term.as_mut() {
                    Some(term) => { term.recv().await; }
                    None => std::future::pending::<()>().await,
                }
            } => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
