//! The `asyncz.run` spans exported over OTLP/HTTP (protobuf) with `tracing-opentelemetry`: a
//! scheduler runs a task every second for a few seconds; each run is one span with the task's
//! fields (`job.system = "asyncz"`, `faas.trigger = "timer"`, task id, scheduled time,
//! lateness, outcome) and the task's own log line inside it. Any OTLP collector receives them
//! (Jaeger, Tempo, the OpenTelemetry Collector on port 4318).
//!
//! `cargo run -p asyncz-examples --example otlp_tracing`. Environment:
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (default `http://127.0.0.1:4318/v1/traces`),
//! `ASYNCZ_EXAMPLE_SECONDS` (how long to run, default 5).

use std::time::Duration;

use asyncz::prelude::*;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .unwrap_or_else(|_| "http://127.0.0.1:4318/v1/traces".to_owned());
    let seconds: u64 = std::env::var("ASYNCZ_EXAMPLE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);

    // The blocking HTTP client runs on the batch processor's own thread, off the runtime.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint.clone())
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name("asyncz-example")
                .build(),
        )
        .build();
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new(
            std::env::var("RUST_LOG").unwrap_or_else(|_| "asyncz=info,report=info".to_owned()),
        ))
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("asyncz")))
        .init();

    let scheduler = asyncz::builder().build()?;
    scheduler.register("report", |ctx: CallContext| {
        // Inside the run's span: exported as an event of that span.
        tracing::info!(target: "report", task = %ctx.task_id, "building the report");
    })?;
    scheduler
        .add_task(
            TaskBuilder::new()
                .id("report")
                .function("report")
                .trigger(IntervalTrigger::new().seconds(1)),
        )
        .await?;
    scheduler.start().await?;
    println!("exporting asyncz.run spans to {endpoint} for {seconds} s");
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    scheduler.shutdown(true).await?;
    // Flushes the spans still batched.
    provider.shutdown()?;
    println!("done");
    Ok(())
}
