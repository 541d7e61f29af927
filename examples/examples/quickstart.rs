//! Quickstart: a real scheduler firing an interval task, a cron task and a one-off task for a
//! few seconds, printing what ran and the events it emitted.
//!
//! Run it with `cargo run -p asyncz-examples --example quickstart` (add `-- 10` to run for ten
//! seconds instead of six).

use std::time::Duration;

use asyncz::prelude::*;
use asyncz::{chrono::Utc, TaskInfoQuery};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "asyncz=warn".to_owned()))
        .init();
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);

    let scheduler = asyncz::builder().build()?;

    // Registered functions survive restarts in persistent stores: tasks name them.
    scheduler.register("heartbeat", |ctx: CallContext| {
        println!(
            "[{}] heartbeat   (scheduled for {})",
            Utc::now().format("%H:%M:%S%.3f"),
            ctx.scheduled_run_time.format("%H:%M:%S%.3f")
        );
    })?;
    scheduler.register_async("cron-tick", |ctx: CallContext| async move {
        let label: String = ctx.arg(0)?;
        println!(
            "[{}] {label} (cron, every 2 s)",
            Utc::now().format("%H:%M:%S%.3f")
        );
        Ok::<_, asyncz::TaskError>(label.len())
    })?;

    let mut events = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR | TASK_MISSED);

    scheduler
        .add_task(
            TaskBuilder::new()
                .function("heartbeat")
                .id("heartbeat")
                .trigger(IntervalTrigger::new().seconds(1)),
        )
        .await?;
    scheduler
        .add_task(
            TaskBuilder::new()
                .function("cron-tick")
                .id("cron-tick")
                .arg("tick")
                .trigger_alias("cron", serde_json::json!({"second": "*/2"})),
        )
        .await?;
    scheduler
        .add_task(
            TaskBuilder::new()
                .id("once")
                .name("one-off closure")
                .closure(|_ctx| {
                    println!(
                        "[{}] one-off closure ran",
                        Utc::now().format("%H:%M:%S%.3f")
                    )
                })
                .trigger(DateTrigger::new(Utc::now() + chrono_delta(1500))),
        )
        .await?;

    scheduler.start().await?;
    println!("scheduler started; running for {seconds} s\n");
    for info in scheduler.get_task_infos(&TaskInfoQuery::new()).await? {
        println!(
            "  {:<10} {:<28} next run {}",
            info.id,
            info.trigger_description,
            info.next_run_time
                .map(|t| t.to_rfc3339())
                .unwrap_or_default()
        );
    }
    println!();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let mut executed = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            Some(event) = events.recv() => {
                if event.code() == TASK_EXECUTED { executed += 1; }
            }
        }
    }
    scheduler.shutdown(true).await?;
    println!("\nshut down after {executed} successful runs");
    Ok(())
}

fn chrono_delta(ms: i64) -> asyncz::chrono::Duration {
    asyncz::chrono::Duration::milliseconds(ms)
}
