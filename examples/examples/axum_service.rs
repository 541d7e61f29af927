//! An axum service embedding a scheduler: `/metrics` (Prometheus), `/healthz` (the engine
//! ticked recently), `/readyz` (every store reachable), and a clean shutdown on SIGTERM or
//! Ctrl-C: the HTTP server stops accepting, then the scheduler drains (running jobs get the
//! shutdown timeout to finish, what is left is cancelled and reported), and the process exits 0.
//!
//! `cargo run -p asyncz-examples --example axum_service`, then
//! `curl localhost:3000/metrics`. Environment:
//! `ASYNCZ_EXAMPLE_ADDR` (default `127.0.0.1:3000`), `ASYNCZ_EXAMPLE_JOB_MS` (how long each run
//! of the example job takes, default 2000), `ASYNCZ_EXAMPLE_SHUTDOWN_TIMEOUT_MS` (default 5000).

use std::time::Duration;

use asyncz::events::{Event, TASK_ERROR, TASK_EXECUTED};
use asyncz::prelude::*;
use asyncz::prometheus::PrometheusMetrics;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;

#[derive(Clone)]
struct App {
    scheduler: Scheduler,
    metrics: PrometheusMetrics,
}

fn env_ms(name: &str, default: u64) -> Duration {
    Duration::from_millis(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "asyncz=info".to_owned()))
        .with_writer(std::io::stderr)
        .init();
    let addr = std::env::var("ASYNCZ_EXAMPLE_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let job_time = env_ms("ASYNCZ_EXAMPLE_JOB_MS", 2000);
    let metrics = PrometheusMetrics::install()?;

    let scheduler = asyncz::builder()
        .shutdown_timeout(env_ms("ASYNCZ_EXAMPLE_SHUTDOWN_TIMEOUT_MS", 5000))
        .build()?;
    scheduler.register_async("work", move |ctx: CallContext| async move {
        println!(
            "run started task={} at={}",
            ctx.task_id, ctx.scheduled_run_time
        );
        tokio::time::sleep(job_time).await;
        println!("run finished task={}", ctx.task_id);
    })?;
    scheduler.add_listener(TASK_EXECUTED | TASK_ERROR, |event: &Event| {
        if let Event::Execution(e) = event {
            match &e.exception {
                None => println!("event executed task={}", e.task_id),
                Some(error) => println!("event error task={} error={error}", e.task_id),
            }
        }
    });
    scheduler
        .add_task(
            TaskBuilder::new()
                .id("work")
                .function("work")
                .max_instances(1)
                .trigger(IntervalTrigger::new().seconds(1)),
        )
        .await?;
    scheduler.start().await?;

    let app = Router::new()
        .route("/metrics", get(render_metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(App {
            scheduler: scheduler.clone(),
            metrics,
        });
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(scheduler.shutdown_signal()?)
        .await?;
    let drained = scheduler.shutdown_gracefully().await?;
    println!(
        "drained finished={} cancelled={}",
        drained.finished,
        drained.cancelled.len()
    );
    Ok(())
}

async fn render_metrics(State(app): State<App>) -> String {
    app.metrics.render(&app.scheduler).await
}

async fn healthz(State(app): State<App>) -> (StatusCode, &'static str) {
    let info = app.scheduler.info();
    if info.engine_ticked_within(Duration::from_secs(30), asyncz::chrono::Utc::now()) {
        (StatusCode::OK, "ok")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the engine has not ticked recently",
        )
    }
}

async fn readyz(State(app): State<App>) -> (StatusCode, String) {
    let info = app.scheduler.info();
    if info.stores_reachable() {
        (StatusCode::OK, "ready".to_owned())
    } else {
        let down: Vec<String> = info
            .stores
            .iter()
            .filter(|s| !s.reachable)
            .map(|s| {
                format!(
                    "{}: {}",
                    s.alias,
                    s.last_error.as_ref().map_or("", |e| e.1.as_str())
                )
            })
            .collect();
        (StatusCode::SERVICE_UNAVAILABLE, down.join("\n"))
    }
}
