//! Every asyncz metric changes as expected across succeeded, failed, missed and max-instances
//! runs, with a recorder installed locally (`metrics::with_local_recorder` on a current-thread
//! runtime, so tests in parallel do not see each other's metrics) and a manual clock.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use asyncz::chrono::Duration as ChronoDuration;
use asyncz::metrics::{
    ENGINE_ROUND_SECONDS, MISSED_RUNS_TOTAL, RUNS_ACTIVE, RUNS_TOTAL, RUN_DURATION_SECONDS,
    RUN_LATENESS_SECONDS, STORE_CALL_SECONDS, STORE_ERRORS_TOTAL, TASKS,
};
use asyncz::{
    CallContext, DateTrigger, DebugExecutor, IntervalTrigger, ManualClock, TaskBuilder, TaskError,
    TokioExecutor,
};
use metrics_util::debugging::DebuggingRecorder;

use crate::common::{flaky_store, t0, Seen};

pub(crate) fn local<F: std::future::Future<Output = ()>>(recorder: &DebuggingRecorder, test: F) {
    metrics::with_local_recorder(recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(test)
    });
}

#[test]
fn run_metrics_follow_success_failure_missed_and_max_instances() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let mut seen = Seen::default();
    local(&recorder, async {
        let clock = ManualClock::new(t0());
        let scheduler = asyncz::builder()
            .clock(clock.clone())
            .executor("default", DebugExecutor::new())
            .executor("tokio", TokioExecutor::new())
            .metrics_task_label(true)
            .build()
            .unwrap();
        scheduler.register("ok", |_ctx: CallContext| ()).unwrap();
        scheduler
            .register("fail", |_ctx: CallContext| {
                Err::<(), _>(TaskError::new("boom"))
            })
            .unwrap();
        let release = Arc::new(tokio::sync::Notify::new());
        let gate = Arc::clone(&release);
        scheduler
            .register_async("hold", move |_ctx: CallContext| {
                let gate = Arc::clone(&gate);
                async move { gate.notified().await }
            })
            .unwrap();
        let at = |s: i64| t0() + ChronoDuration::seconds(s);
        let add = |id: &'static str, f: &'static str, trigger: DateTrigger| {
            TaskBuilder::new().id(id).function(f).trigger(trigger)
        };
        scheduler
            .add_task(add("ok", "ok", DateTrigger::new(at(1))))
            .await
            .unwrap();
        scheduler
            .add_task(add("fail", "fail", DateTrigger::new(at(1))))
            .await
            .unwrap();
        scheduler
            .add_task(
                add("late", "ok", DateTrigger::new(at(1)))
                    .mistrigger_grace_time(Some(Duration::from_millis(100))),
            )
            .await
            .unwrap();
        scheduler
            .add_task(
                TaskBuilder::new()
                    .id("busy")
                    .function("hold")
                    .executor("tokio")
                    .max_instances(1)
                    .coalesce(true)
                    .mistrigger_grace_time(None)
                    .trigger(IntervalTrigger::new_at(t0()).seconds(1)),
            )
            .await
            .unwrap();
        scheduler
            .add_task(add("paused", "ok", DateTrigger::new(at(100))))
            .await
            .unwrap();
        scheduler.pause_task("paused", None).await.unwrap();
        scheduler.start().await.unwrap();

        // Due at 1 s, run at 1.5 s: `ok`, `fail` and `busy` start 0.5 s late; `late` is past
        // its 100 ms grace.
        clock.set(t0() + ChronoDuration::milliseconds(1500));
        scheduler.process_tasks().await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        seen.take(&snapshotter);
        assert_eq!(
            seen.counter(RUNS_TOTAL, &[("outcome", "succeeded"), ("task", "ok")]),
            1
        );
        assert_eq!(
            seen.counter(RUNS_TOTAL, &[("outcome", "failed"), ("task", "fail")]),
            1
        );
        assert_eq!(
            seen.counter(RUNS_TOTAL, &[("outcome", "missed"), ("task", "late")]),
            1
        );
        assert_eq!(
            seen.counter(
                MISSED_RUNS_TOTAL,
                &[("reason", "mistrigger_grace_time"), ("task", "late")]
            ),
            1
        );
        assert_eq!(
            seen.histogram(RUN_LATENESS_SECONDS, &[("task", "ok")]),
            vec![0.5],
            "lateness is exact on the manual clock"
        );
        assert!(
            seen.histogram(RUN_LATENESS_SECONDS, &[("task", "late")])
                .is_empty(),
            "a missed run never started"
        );
        assert_eq!(
            seen.histogram(RUN_DURATION_SECONDS, &[("task", "ok")])
                .len(),
            1
        );
        assert_eq!(
            seen.histogram(RUN_DURATION_SECONDS, &[("task", "fail")])
                .len(),
            1
        );
        assert_eq!(
            seen.gauge(RUNS_ACTIVE, &[]),
            Some(1.0),
            "busy is still running"
        );
        assert_eq!(scheduler.runs_in_flight().len(), 1);
        assert_eq!(scheduler.runs_in_flight()[0].task_id, "busy");

        // The next fire of `busy` finds its one instance taken.
        clock.set(t0() + ChronoDuration::milliseconds(2500));
        scheduler.process_tasks().await;
        seen.take(&snapshotter);
        assert_eq!(
            seen.counter(
                RUNS_TOTAL,
                &[("outcome", "skipped_max_instances"), ("task", "busy")]
            ),
            1
        );
        release.notify_one();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        seen.take(&snapshotter);
        assert_eq!(
            seen.counter(RUNS_TOTAL, &[("outcome", "succeeded"), ("task", "busy")]),
            1
        );
        assert_eq!(seen.gauge(RUNS_ACTIVE, &[]), Some(0.0));
        assert!(scheduler.runs_in_flight().is_empty());

        // Three fires of `busy` due at once: coalesced into one run, two counted as folded.
        clock.set(t0() + ChronoDuration::milliseconds(5500));
        scheduler.process_tasks().await;
        seen.take(&snapshotter);
        assert_eq!(
            seen.counter(
                MISSED_RUNS_TOTAL,
                &[("reason", "coalesced"), ("task", "busy")]
            ),
            2
        );
        release.notify_one();

        scheduler.record_task_metrics().await.unwrap();
        seen.take(&snapshotter);
        assert_eq!(
            seen.gauge(TASKS, &[("state", "scheduled")]),
            Some(1.0),
            "busy"
        );
        assert_eq!(seen.gauge(TASKS, &[("state", "paused")]), Some(1.0));
        assert!(!seen.histogram(ENGINE_ROUND_SECONDS, &[]).is_empty());
        assert!(!seen
            .histogram(
                STORE_CALL_SECONDS,
                &[("store", "default"), ("op", "get_due_tasks")]
            )
            .is_empty());
        assert!(!seen
            .histogram(
                STORE_CALL_SECONDS,
                &[("store", "default"), ("op", "store_schedules")]
            )
            .is_empty());
        assert_eq!(seen.counter(STORE_ERRORS_TOTAL, &[("store", "default")]), 0);
        scheduler.shutdown(false).await.unwrap();
    });
}

#[test]
fn the_task_label_is_off_by_default() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let mut seen = Seen::default();
    local(&recorder, async {
        let clock = ManualClock::new(t0());
        let scheduler = asyncz::builder()
            .clock(clock.clone())
            .executor("default", DebugExecutor::new())
            .build()
            .unwrap();
        scheduler.register("ok", |_ctx: CallContext| ()).unwrap();
        scheduler
            .add_task(
                TaskBuilder::new()
                    .id("a")
                    .function("ok")
                    .trigger(DateTrigger::new(t0())),
            )
            .await
            .unwrap();
        scheduler.start().await.unwrap();
        scheduler.process_tasks().await;
        seen.take(&snapshotter);
        assert_eq!(seen.counter(RUNS_TOTAL, &[("outcome", "succeeded")]), 1);
        assert_eq!(seen.histogram(RUN_LATENESS_SECONDS, &[]), vec![0.0]);
        assert!(
            seen.counters.keys().all(|k| !k.contains("task=")),
            "{:?}",
            seen.counters
        );
        scheduler.shutdown(false).await.unwrap();
    });
}

#[test]
fn a_failing_store_counts_errors_under_its_alias() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let mut seen = Seen::default();
    local(&recorder, async {
        let clock = ManualClock::new(t0());
        let store = flaky_store();
        let down = store.down();
        let scheduler = asyncz::builder()
            .clock(clock.clone())
            .store("flaky", store)
            .executor("default", DebugExecutor::new())
            .build()
            .unwrap();
        scheduler.start().await.unwrap();
        down.store(true, Ordering::SeqCst);
        scheduler.process_tasks().await;
        seen.take(&snapshotter);
        assert_eq!(seen.counter(STORE_ERRORS_TOTAL, &[("store", "flaky")]), 1);
        assert_eq!(
            seen.histogram(
                STORE_CALL_SECONDS,
                &[("store", "flaky"), ("op", "get_due_tasks")]
            )
            .len(),
            1
        );
        down.store(false, Ordering::SeqCst);
        scheduler.process_tasks().await;
        seen.take(&snapshotter);
        assert_eq!(seen.counter(STORE_ERRORS_TOTAL, &[("store", "flaky")]), 1);
        scheduler.shutdown(false).await.unwrap();
    });
}
