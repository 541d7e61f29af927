//! One `asyncz.run` span per run, with OpenTelemetry-friendly fields, and the task's own logs
//! inside it on the tokio and thread-pool executors (a capturing subscriber, installed once
//! for this test binary: thread-pool workers are other threads).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use asyncz::events::{TASK_ERROR, TASK_EXECUTED};
use asyncz::{CallContext, CronTrigger, DateTrigger, TaskBuilder};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A span's recorded fields.
#[derive(Debug, Clone, Default)]
struct Fields(HashMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// A log event and the fields of the `asyncz.run` span it happened in, if any.
#[derive(Debug, Clone)]
struct Captured {
    message: String,
    run_span: Option<HashMap<String, String>>,
}

#[derive(Default)]
struct Capture {
    events: Mutex<Vec<Captured>>,
    closed_runs: Mutex<Vec<HashMap<String, String>>>,
}

struct CaptureLayer(Arc<Capture>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for CaptureLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<Fields>() {
                values.record(fields);
            }
        }
    }
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let run_span = ctx.event_scope(event).and_then(|scope| {
            scope
                .from_root()
                .find(|s| s.name() == "asyncz.run")
                .and_then(|s| s.extensions().get::<Fields>().map(|f| f.0.clone()))
        });
        self.0.events.lock().unwrap().push(Captured {
            message: fields.0.get("message").cloned().unwrap_or_default(),
            run_span,
        });
    }
    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            if span.name() == "asyncz.run" {
                if let Some(fields) = span.extensions().get::<Fields>() {
                    self.0.closed_runs.lock().unwrap().push(fields.0.clone());
                }
            }
        }
    }
}

fn capture() -> &'static Arc<Capture> {
    static CAPTURE: OnceLock<Arc<Capture>> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Arc::new(Capture::default());
        let subscriber = tracing_subscriber::registry().with(CaptureLayer(Arc::clone(&capture)));
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        capture
    })
}

fn logs_of(message: &str) -> Vec<Captured> {
    capture()
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.message == message)
        .cloned()
        .collect()
}

fn closed_run(task_id: &str) -> Option<HashMap<String, String>> {
    capture()
        .closed_runs
        .lock()
        .unwrap()
        .iter()
        .find(|f| f.get("task.id").map(String::as_str) == Some(task_id))
        .cloned()
}

/// Runs `task` once on `executor` (at once, with `run_task`) and waits for its outcome event.
async fn run_once(executor: &str, task: TaskBuilder) {
    let scheduler = asyncz::builder().build().unwrap();
    if executor == "threadpool" {
        #[cfg(feature = "executors-threadpool")]
        scheduler
            .add_executor("threadpool", Arc::new(asyncz::ThreadPoolExecutor::new()))
            .await
            .unwrap();
    }
    scheduler
        .register("sync-logs", |ctx: CallContext| {
            tracing::info!(task = %ctx.task_id, "sync task says hello");
        })
        .unwrap();
    scheduler
        .register_async("async-logs", |ctx: CallContext| async move {
            tokio::task::yield_now().await;
            tracing::info!(task = %ctx.task_id, "async task says hello");
            Err::<(), _>(asyncz::TaskError::new("it failed"))
        })
        .unwrap();
    let mut rx = scheduler.subscribe(TASK_EXECUTED | TASK_ERROR);
    let handle = scheduler.add_task(task.executor(executor)).await.unwrap();
    scheduler.start().await.unwrap();
    scheduler
        .run_task(handle.id(), None, asyncz::RunTaskOptions::default())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the run ends")
        .expect("an outcome event");
    scheduler.shutdown(true).await.unwrap();
}

fn in_span_of<'a>(logs: &'a [Captured], task_id: &str) -> Option<&'a HashMap<String, String>> {
    logs.iter()
        .filter_map(|l| l.run_span.as_ref())
        .find(|f| f.get("task.id").map(String::as_str) == Some(task_id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_has_one_span_with_otel_fields_and_the_tasks_logs_inside_tokio() {
    capture();
    let now = asyncz::chrono::Utc::now();
    run_once(
        "default",
        TaskBuilder::new()
            .id("span-sync")
            .name("Nightly report")
            .function("sync-logs")
            .trigger(DateTrigger::new(now + asyncz::chrono::Duration::days(1))),
    )
    .await;
    run_once(
        "default",
        TaskBuilder::new()
            .id("span-async")
            .function("async-logs")
            .trigger(CronTrigger::from_crontab("* * * * *", None).unwrap()),
    )
    .await;
    let sync = logs_of("sync task says hello");
    let fields = in_span_of(&sync, "span-sync").expect("the sync task's log is inside its span");
    assert_eq!(fields["job.system"], "asyncz");
    assert_eq!(fields["faas.trigger"], "timer");
    assert_eq!(fields["task.name"], "Nightly report");
    assert_eq!(fields["executor"], "default");
    assert!(fields.contains_key("scheduled_run_time"));
    assert!(fields.contains_key("lateness_seconds"));
    assert!(fields.contains_key("run.id"));
    assert!(
        !fields.contains_key("faas.cron"),
        "a date trigger has no cron"
    );
    let closed = closed_run("span-sync").expect("the span closed");
    assert_eq!(closed["outcome"], "succeeded");

    let logs = logs_of("async task says hello");
    let fields = in_span_of(&logs, "span-async").expect("the async task's log is in its span");
    assert_eq!(
        fields["faas.cron"],
        "cron[month='*', day='*', day_of_week='*', hour='*', minute='*']"
    );
    assert_eq!(closed_run("span-async").unwrap()["outcome"], "failed");
}

#[cfg(feature = "executors-threadpool")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thread_pool_workers_log_inside_the_run_span() {
    capture();
    run_once(
        "threadpool",
        TaskBuilder::new()
            .id("span-pool")
            .function("sync-logs")
            .trigger(DateTrigger::new(
                asyncz::chrono::Utc::now() + asyncz::chrono::Duration::days(1),
            )),
    )
    .await;
    let logs = logs_of("sync task says hello");
    let fields = in_span_of(&logs, "span-pool").expect("the worker's log is inside the span");
    assert_eq!(fields["executor"], "threadpool");
    assert_eq!(closed_run("span-pool").unwrap()["outcome"], "succeeded");
}
