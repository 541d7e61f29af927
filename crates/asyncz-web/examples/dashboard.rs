//! A service that embeds a scheduler and mounts the dashboard and API under `/asyncz`.
//!
//! ```text
//! cargo run -p asyncz-web --example dashboard
//! ```
//!
//! It keeps its tasks and run history in a SQLite file (`ASYNCZ_DEMO_DB`, default
//! `asyncz-demo.db` in the temp directory), runs as cluster node `demo` so runs are recorded,
//! and serves `http://127.0.0.1:8080/asyncz` (`ASYNCZ_WEB_BIND`). Log in with the token in
//! `ASYNCZ_WEB_TOKEN`, or the one it prints (`ASYNCZ_WEB_NO_AUTH=1`: no login, loopback only).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use asyncz::cluster::ClusterConfig;
use asyncz::{CallContext, CronTrigger, IntervalTrigger, TaskBuilder};
use asyncz_web::{router, Role, WebConfig};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = std::env::var("ASYNCZ_DEMO_DB").unwrap_or_else(|_| {
        std::env::temp_dir()
            .join("asyncz-demo.db")
            .display()
            .to_string()
    });
    let bind = std::env::var("ASYNCZ_WEB_BIND").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let token = std::env::var("ASYNCZ_WEB_TOKEN")
        .unwrap_or_else(|_| uuid::Uuid::new_v4().simple().to_string());

    let stores = json!({"asyncz.stores.default": {"type": "sql", "url": format!("sqlite://{db}")}});
    let scheduler = asyncz::builder()
        .config(stores.as_object().cloned().unwrap_or_default())
        .cluster(
            ClusterConfig::new()
                .node_id("demo")
                .poll_interval(Duration::from_millis(200)),
        )
        .build()?;
    scheduler.register_async("report", |ctx: CallContext| async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        println!("report for {}", ctx.scheduled_run_time);
    })?;
    let calls = Arc::new(AtomicU64::new(0));
    scheduler.register("flaky", move |_ctx: CallContext| -> Result<(), String> {
        if calls.fetch_add(1, Ordering::Relaxed) % 3 == 2 {
            return Err("the upstream API answered 503".to_owned());
        }
        Ok(())
    })?;
    scheduler.register("cleanup", |_ctx: CallContext| {})?;
    scheduler.start().await?;
    let tasks = [
        TaskBuilder::new()
            .id("report")
            .name("Sales report")
            .function("report")
            .trigger(IntervalTrigger::new().seconds(10)),
        TaskBuilder::new()
            .id("sync")
            .name("Sync with upstream")
            .function("flaky")
            .trigger(IntervalTrigger::new().seconds(7)),
        TaskBuilder::new()
            .id("cleanup")
            .name("Clean temp files")
            .function("cleanup")
            .trigger(CronTrigger::from_crontab("* * * * *", None)?),
        TaskBuilder::new()
            .id("nightly")
            .name("Nightly backup")
            .function("cleanup")
            .trigger(CronTrigger::from_crontab("30 2 * * *", None)?)
            .paused(),
    ];
    for task in tasks {
        scheduler.add_task(task.replace_existing(true)).await?;
    }

    // ASYNCZ_WEB_NO_AUTH=1 serves without login (refused beyond loopback by check_bind).
    let config = if std::env::var("ASYNCZ_WEB_NO_AUTH").as_deref() == Ok("1") {
        WebConfig::new().without_auth()
    } else {
        WebConfig::new().token("operator", Role::Admin, &token)
    };
    let addr: std::net::SocketAddr = bind.parse()?;
    config.check_bind(addr)?;
    let app = axum::Router::new().nest("/asyncz", router(scheduler.clone(), config));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("dashboard: http://{addr}/asyncz  (token: {token})");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    scheduler.shutdown(true).await?;
    Ok(())
}
