//! A Prometheus endpoint in one line, for services that do not mount asyncz-web: installs
//! `metrics-exporter-prometheus` as the process's metrics recorder (with buckets for the
//! `asyncz_*_seconds` histograms) and renders the text exposition, refreshing the
//! `asyncz_tasks{state}` gauges first. Any other metrics the application records through the
//! `metrics` facade are rendered too.
//!
//! ```no_run
//! # async fn serve(scheduler: asyncz::Scheduler) -> asyncz::Result<()> {
//! let metrics = asyncz::prometheus::PrometheusMetrics::install()?;
//! // in the `/metrics` handler:
//! let body: String = metrics.render(&scheduler).await;
//! # Ok(()) }
//! ```

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::{Error, Result, Scheduler};

/// Histogram buckets (seconds) for every `asyncz_*_seconds` metric: 1 ms to 10 min.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0,
];

/// The installed Prometheus recorder; cheap to clone.
#[derive(Clone, Debug)]
pub struct PrometheusMetrics {
    handle: PrometheusHandle,
}

impl PrometheusMetrics {
    /// Installs the Prometheus recorder as the global `metrics` recorder and describes the
    /// asyncz metrics. [`Error::Runtime`] when a global recorder is already installed (keep
    /// the first `PrometheusMetrics` and clone it instead).
    pub fn install() -> Result<Self> {
        let handle = builder()?
            .install_recorder()
            .map_err(|e| Error::Runtime(format!("cannot install the Prometheus recorder: {e}")))?;
        asyncz_core::metrics::describe();
        Ok(PrometheusMetrics { handle })
    }

    /// Wraps a handle of a recorder the application built itself (e.g. with more buckets).
    pub fn from_handle(handle: PrometheusHandle) -> Self {
        PrometheusMetrics { handle }
    }

    /// The exporter's handle.
    pub fn handle(&self) -> &PrometheusHandle {
        &self.handle
    }

    /// The text exposition (`text/plain; version=0.0.4`), with `scheduler`'s task gauges
    /// refreshed first. A store that cannot be read is logged and leaves the gauges counting
    /// the others; the rest renders as usual.
    pub async fn render(&self, scheduler: &Scheduler) -> String {
        if let Err(e) = scheduler.record_task_metrics().await {
            tracing::warn!(target: "asyncz.metrics", error = %e, "cannot count the tasks of a store for asyncz_tasks");
        }
        self.render_only()
    }

    /// The text exposition as it stands (no store is read).
    pub fn render_only(&self) -> String {
        self.handle.run_upkeep();
        self.handle.render()
    }
}

/// A `PrometheusBuilder` with the asyncz histogram buckets, for applications that build and
/// install the recorder themselves.
pub fn builder() -> Result<PrometheusBuilder> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Prefix("asyncz_".to_owned()), SECONDS_BUCKETS)
        .map_err(|e| Error::invalid("buckets", format!("invalid histogram buckets: {e}")))
}
