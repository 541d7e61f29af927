#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `/healthz`, `/readyz` and `/metrics` through `tower::ServiceExt::oneshot`: the probes answer
//! without a token and reveal no error text, readiness follows a store outage and its
//! recovery, and `/metrics` renders the installed Prometheus recorder for the `read` role.

use std::sync::atomic::Ordering;

use asyncz::prometheus::PrometheusMetrics;
use asyncz::{CallContext, IntervalTrigger, MemoryStore, Scheduler, TaskBuilder};
use asyncz_testkit::OutageStore;
use asyncz_web::{router, Role, WebConfig};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const READER: &str = "reader-token";

async fn get(router: &Router, path: &str, token: Option<&str>) -> (StatusCode, String, String) {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn config() -> WebConfig {
    WebConfig::new().token("rita", Role::Read, READER)
}

#[tokio::test]
async fn healthz_follows_the_lifecycle_without_a_token() {
    let scheduler = asyncz::builder().build().unwrap();
    let app = router(scheduler.clone(), config());

    let (status, _, body) = get(&app, "/healthz", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let body = json(&body);
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["state"], "stopped");

    scheduler.start().await.unwrap();
    scheduler.process_tasks().await;
    let (status, _, body) = get(&app, "/healthz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body = json(&body);
    assert_eq!(
        (&body["status"], &body["state"]),
        (&"ok".into(), &"running".into())
    );
    assert!(body["last_round_at"].is_string(), "{body}");

    scheduler.pause().unwrap();
    let (status, _, body) = get(&app, "/healthz", None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a paused scheduler is alive: {body}"
    );
    assert_eq!(json(&body)["state"], "paused");

    scheduler.shutdown(false).await.unwrap();
    let (status, _, _) = get(&app, "/healthz", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn readyz_follows_a_store_outage_and_names_only_the_store() {
    let store = OutageStore::new(MemoryStore::new());
    let down = store.down();
    let scheduler = asyncz::builder().store("orders", store).build().unwrap();
    let app = router(scheduler.clone(), config());

    let (status, _, body) = get(&app, "/readyz", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "stopped: {body}");

    scheduler.start().await.unwrap();
    scheduler.process_tasks().await;
    let (status, content_type, body) = get(&app, "/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(json(&body)["status"], "ready");

    down.store(true, Ordering::SeqCst);
    scheduler.process_tasks().await;
    let (status, _, body) = get(&app, "/readyz", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        !body.contains("connection refused"),
        "an anonymous probe must not see the store's error text: {body}"
    );
    let body = json(&body);
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["unreachable_stores"], serde_json::json!(["orders"]));
    let (status, _, _) = get(&app, "/healthz", None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a store outage is not a dead engine"
    );

    down.store(false, Ordering::SeqCst);
    scheduler.process_tasks().await;
    let (status, _, body) = get(&app, "/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    scheduler.shutdown(false).await.unwrap();
}

#[tokio::test]
async fn readyz_in_front_of_stores_alone_asks_the_stores_now() {
    // A control plane's scheduler is paused and makes no rounds: nothing else would notice.
    let store = OutageStore::new(MemoryStore::new());
    let down = store.down();
    let scheduler = asyncz::builder().store("orders", store).build().unwrap();
    scheduler.start_paused().await.unwrap();
    let app = router(scheduler.clone(), config().control_plane());
    let (status, _, body) = get(&app, "/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    down.store(true, Ordering::SeqCst);
    let (status, _, body) = get(&app, "/readyz", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(
        json(&body)["unreachable_stores"],
        serde_json::json!(["orders"])
    );
    let (status, _, body) = get(&app, "/healthz", None).await;
    assert_eq!(status, StatusCode::OK, "paused is alive: {body}");
    down.store(false, Ordering::SeqCst);
    let (status, _, _) = get(&app, "/readyz", None).await;
    assert_eq!(status, StatusCode::OK);
    scheduler.shutdown(false).await.unwrap();
}

async fn seeded() -> Scheduler {
    let scheduler = asyncz::builder().build().unwrap();
    scheduler.register("noop", |_ctx: CallContext| {}).unwrap();
    scheduler.start().await.unwrap();
    for (id, paused) in [("a", false), ("b", false), ("c", true)] {
        let mut task = TaskBuilder::new()
            .id(id)
            .function("noop")
            .trigger(IntervalTrigger::new().hours(1));
        if paused {
            task = task.paused();
        }
        scheduler.add_task(task).await.unwrap();
    }
    scheduler
}

#[tokio::test]
async fn metrics_renders_the_recorder_for_readers_and_is_absent_unless_configured() {
    let scheduler = seeded().await;

    let plain = router(scheduler.clone(), config());
    let (status, _, body) = get(&plain, "/metrics", Some(READER)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let metrics = PrometheusMetrics::install().unwrap();
    let app = router(
        scheduler.clone(),
        config().metrics(move || metrics.render_only()),
    );
    let (status, _, body) = get(&app, "/metrics", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _, body) = get(&app, "/metrics", Some("wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    let (status, content_type, body) = get(&app, "/metrics", Some(READER)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    // The task gauges were refreshed from the store before rendering.
    assert!(
        body.lines()
            .any(|l| l == r#"asyncz_tasks{state="scheduled"} 2"#),
        "{body}"
    );
    assert!(
        body.lines()
            .any(|l| l == r#"asyncz_tasks{state="paused"} 1"#),
        "{body}"
    );

    let open = router(
        scheduler.clone(),
        WebConfig::new()
            .without_auth()
            .metrics(|| "custom 1\n".to_owned()),
    );
    let (status, _, body) = get(&open, "/metrics", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "custom 1\n"));
    scheduler.shutdown(false).await.unwrap();
}
