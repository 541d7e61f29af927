//! An axum service embedding a scheduler: asyncz-web under `/asyncz` (the dashboard, the API,
//! `/asyncz/healthz` — the engine keeps its schedule — and `/asyncz/readyz` — every store
//! reachable), `/metrics` (Prometheus), and a clean shutdown on SIGTERM or Ctrl-C: the HTTP server stops accepting, then the scheduler drains (running jobs get the
//! shutdown timeout to finish, what is left is cancelled and reported), and the process exits 0.
//!
//! `cargo run -p asyncz-examples --example axum_service`, then
//! `curl localhost:3000/metrics` or open <http://127.0.0.1:3000/asyncz/>. Environment:
//! `ASYNCZ_EXAMPLE_ADMIN_TOKEN` (turns auth on with this admin token; off by default, which
//! the example allows on a loopback address only),
//! `ASYNCZ_EXAMPLE_ADDR` (default `127.0.0.1:3000`), `ASYNCZ_EXAMPLE_JOB_MS` (how long each run
//! of the example job takes, default 2000), `ASYNCZ_EXAMPLE_SHUTDOWN_TIMEOUT_MS` (default 5000).

use std::time::Duration;

use asyncz::events::{Event, TASK_ERROR, TASK_EXECUTED};
use asyncz::prelude::*;
use asyncz::prometheus::PrometheusMetrics;
use asyncz::web::{Role, WebConfig};
use axum::extract::State;
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

    // The management API, dashboard, probes and metrics, under /asyncz; `/metrics` at the
    // root too, where Prometheus looks by default.
    let web = WebConfig::new().metrics({
        let metrics = metrics.clone();
        move || metrics.render_only()
    });
    let web = match std::env::var("ASYNCZ_EXAMPLE_ADMIN_TOKEN") {
        Ok(token) => web.token("admin", Role::Admin, &token),
        Err(_) => web.without_auth(),
    };
    // With auth on, metrics (whose labels may name tasks) are only at /asyncz/metrics, behind
    // the token; without it, also at the root for a Prometheus scraping the default path.
    let root = if web.auth_enabled() {
        Router::new()
    } else {
        Router::new().route("/metrics", get(render_metrics))
    };
    let app = root
        .with_state(App {
            scheduler: scheduler.clone(),
            metrics,
        })
        .nest(
            "/asyncz",
            asyncz::web::router(scheduler.clone(), web.clone()),
        );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    web.check_bind(listener.local_addr()?)?;
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
