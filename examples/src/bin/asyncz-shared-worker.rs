//! A scheduler process sharing a SQLite store with its siblings through `lock_path`; used by
//! `tests/multi_process.rs`. Each run of the `record` task appends
//! `<task id> <scheduled unix seconds> <pid>` to a log file.
//!
//! `asyncz-shared-worker <store> <lock path template> <log file> <run for seconds>`, where
//! `<store>` is a JSON object of store options (`{"type": "sql", "url": "sqlite://..."}`).

use std::io::Write;
use std::time::Duration;

use asyncz::CallContext;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, lock_path, log, seconds] = args.as_slice() else {
        return Err(
            "usage: asyncz-shared-worker <store json> <lock path> <log file> <seconds>".into(),
        );
    };
    let seconds: f64 = seconds.parse()?;
    let store: serde_json::Value = serde_json::from_str(store)?;
    let config = serde_json::json!({
        "asyncz.stores.default": store,
        "asyncz.lock_path": lock_path,
        "asyncz.startup_delay": 0,
        "asyncz.store_retry_interval": 0.2,
    });
    let scheduler = asyncz::builder()
        .config(config.as_object().cloned().unwrap_or_default())
        .build()?;
    let log = log.clone();
    scheduler.register("record", move |ctx: CallContext| -> std::io::Result<()> {
        let line = format!(
            "{} {} {}\n",
            ctx.task_id,
            ctx.scheduled_run_time.timestamp(),
            std::process::id()
        );
        // One write of a short line to an O_APPEND file: lines never interleave.
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&log)?
            .write_all(line.as_bytes())
    })?;
    scheduler.start().await?;
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    scheduler.shutdown(true).await?;
    Ok(())
}
