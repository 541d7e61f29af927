#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The JSON API through `tower::ServiceExt::oneshot`: every route, every role, bad input, auth
//! bypass on every state-changing route, sessions with CSRF, the audit log, and run now on a
//! cluster node over SQLite.

use std::sync::Arc;
use std::time::Duration;

use asyncz::cluster::ClusterConfig;
use asyncz::{CallContext, IntervalTrigger, Scheduler, TaskBuilder};
use asyncz_web::{router, MemoryAudit, Role, WebConfig};
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

const READER: &str = "reader-token";
const OPERATOR: &str = "operator-token";
const ADMIN: &str = "admin-token";

struct App {
    router: Router,
    scheduler: Scheduler,
    audit: Arc<MemoryAudit>,
    _dir: Option<tempfile::TempDir>,
}

fn config(audit: &Arc<MemoryAudit>) -> WebConfig {
    WebConfig::new()
        .token("rita", Role::Read, READER)
        .token("otto", Role::Operate, OPERATOR)
        .token("ada", Role::Admin, ADMIN)
        .login_attempts_per_minute(3)
        .audit(audit.clone())
}

async fn seeded(scheduler: Scheduler) -> Scheduler {
    scheduler.register("noop", |_ctx: CallContext| {}).unwrap();
    scheduler
        .register("fail", |_ctx: CallContext| -> Result<(), String> {
            Err("it broke".to_owned())
        })
        .unwrap();
    scheduler.start().await.unwrap();
    for (id, hours) in [("alpha", 1), ("beta", 2), ("gamma", 3)] {
        scheduler
            .add_task(
                TaskBuilder::new()
                    .id(id)
                    .name(format!("task {id}"))
                    .function("noop")
                    .trigger(IntervalTrigger::new().hours(hours)),
            )
            .await
            .unwrap();
    }
    scheduler
        .add_task(
            TaskBuilder::new()
                .id("sleepy")
                .function("noop")
                .trigger(IntervalTrigger::new().hours(1))
                .paused(),
        )
        .await
        .unwrap();
    scheduler
}

async fn app() -> App {
    let scheduler = seeded(asyncz::builder().build().unwrap()).await;
    let audit = Arc::new(MemoryAudit::new());
    App {
        router: router(scheduler.clone(), config(&audit)),
        scheduler,
        audit,
        _dir: None,
    }
}

/// One request: method, path, bearer token, JSON body; the status and the JSON answer.
async fn call(
    router: &Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = match body {
        Some(body) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    send(router, request).await
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, value)
}

fn error_field(body: &Value) -> Option<&str> {
    body["error"]["field"].as_str()
}

#[tokio::test]
async fn listing_filters_sorts_and_pages() {
    let app = app().await;
    let (status, body) = call(
        &app.router,
        Method::GET,
        "/api/v1/tasks",
        Some(READER),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids: Vec<&str> = body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    // By next run time, paused last.
    assert_eq!(ids, ["alpha", "beta", "gamma", "sleepy"]);
    assert_eq!(body["total"], 4);
    assert!(body["tasks"][0]["version"].as_str().unwrap().len() == 16);

    let (_, body) = call(
        &app.router,
        Method::GET,
        "/api/v1/tasks?state=paused",
        Some(READER),
        None,
    )
    .await;
    assert_eq!(body["total"], 1);
    assert_eq!(body["tasks"][0]["id"], "sleepy");

    let (_, body) = call(
        &app.router,
        Method::GET,
        "/api/v1/tasks?sort_by=id&desc=true&per_page=2&page=2",
        Some(READER),
        None,
    )
    .await;
    let ids: Vec<&str> = body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["beta", "alpha"]);
    assert_eq!(body["total"], 4);

    let (_, body) = call(
        &app.router,
        Method::GET,
        "/api/v1/tasks?q=GAMMA",
        Some(READER),
        None,
    )
    .await;
    assert_eq!(body["total"], 1);
    app.scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn bad_list_parameters_are_400s_naming_the_field() {
    let app = app().await;
    for (query, field) in [
        ("state=sleeping", "state"),
        ("sort_by=colour", "sort_by"),
        ("per_page=0", "per_page"),
        ("per_page=100000", "per_page"),
        ("page=0", "page"),
        ("colour=red", "colour"),
        ("desc=maybe", "desc"),
    ] {
        let (status, body) = call(
            &app.router,
            Method::GET,
            &format!("/api/v1/tasks?{query}"),
            Some(READER),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["code"], "invalid", "{query}: {body}");
        assert_eq!(error_field(&body), Some(field), "{query}: {body}");
    }
    app.scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn a_task_shows_its_next_ten_fire_times_and_an_etag() {
    let app = app().await;
    let (status, body) = call(
        &app.router,
        Method::GET,
        "/api/v1/tasks/alpha",
        Some(READER),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], "alpha");
    assert_eq!(body["name"], "task alpha");
    assert_eq!(body["next_fire_times"].as_array().unwrap().len(), 10);
    let (status, body) = call(
        &app.router,
        Method::GET,
        "/api/v1/tasks/nope",
        Some(READER),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("'nope'"));
    // A paused task previews from now.
    let (_, body) = call(
        &app.router,
        Method::GET,
        "/api/v1/tasks/sleepy/preview?count=3",
        Some(READER),
        None,
    )
    .await;
    assert_eq!(body["fire_times"].as_array().unwrap().len(), 3);
    let (status, body) = call(
        &app.router,
        Method::GET,
        "/api/v1/tasks/sleepy/preview?count=0",
        Some(READER),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_field(&body), Some("count"));
    app.scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn adding_a_task_validates_every_field() {
    let app = app().await;
    let good = json!({
        "function": "noop",
        "id": "report",
        "name": "Daily report",
        "trigger": {"type": "cron", "hour": "9", "minute": "30"},
        "args": [1, "two"],
        "kwargs": {"k": true},
        "max_instances": 2,
        "mistrigger_grace_time": 30,
    });
    let (status, body) = call(
        &app.router,
        Method::POST,
        "/api/v1/tasks",
        Some(ADMIN),
        Some(good.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["id"], "report");
    assert_eq!(body["max_instances"], 2);
    assert_eq!(body["mistrigger_grace_time"], 30.0, "durations are seconds");
    assert_eq!(body["args"], json!([1, "two"]));
    assert_eq!(body["schedule_state"], "scheduled");
    let info = app
        .scheduler
        .get_task_info("report", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.callable_reference.as_deref(), Some("noop"));

    // The same id again is a conflict.
    let (status, body) = call(
        &app.router,
        Method::POST,
        "/api/v1/tasks",
        Some(ADMIN),
        Some(good),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let cases = [
        (
            json!({"function": "os:system", "trigger": {"type": "interval", "seconds": 5}}),
            "function",
        ),
        (
            json!({"function": "noop", "trigger": {"type": "sundial"}}),
            "trigger",
        ),
        (
            json!({"function": "noop", "trigger": {"type": "cron", "hour": "25"}}),
            "hour",
        ),
        (
            json!({"function": "noop", "trigger": {"type": "interval", "seconds": 5}, "colour": 1}),
            "colour",
        ),
        (json!({"function": "noop"}), "trigger"),
        (
            json!({"function": "noop", "trigger": {"type": "interval", "seconds": 5}, "max_instances": -1}),
            "max_instances",
        ),
        (
            json!({"function": "noop", "trigger": {"type": "interval", "seconds": 5}, "mistrigger_grace_time": -3}),
            "mistrigger_grace_time",
        ),
        (
            json!({"function": "noop", "trigger": {"type": "interval", "seconds": 5}, "store": "nowhere"}),
            "store",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = call(
            &app.router,
            Method::POST,
            "/api/v1/tasks",
            Some(ADMIN),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {answer}");
        assert!(
            error_field(&answer).is_some_and(|f| f.contains(field)),
            "{body} -> {answer}"
        );
    }
    // Not JSON at all.
    let request = Request::post("/api/v1/tasks")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let (status, body) = send(&app.router, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid");
    // The failed adds left the store as it was.
    assert_eq!(app.scheduler.get_tasks(None).await.unwrap().len(), 5);
    app.scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn an_edit_against_a_stale_version_is_refused() {
    let app = app().await;
    let (_, body) = call(
        &app.router,
        Method::GET,
        "/api/v1/tasks/beta",
        Some(READER),
        None,
    )
    .await;
    let version = body["version"].as_str().unwrap().to_owned();

    let patch = |name: &str, version: &str| {
        Request::patch("/api/v1/tasks/beta")
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::IF_MATCH, format!("\"{version}\""))
            .body(Body::from(json!({"name": name}).to_string()))
            .unwrap()
    };
    let (status, body) = send(&app.router, patch("first edit", &version)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "first edit");
    assert_ne!(body["version"], version.as_str());
    // A second operator still holding the old version.
    let (status, body) = send(&app.router, patch("second edit", &version)).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{body}");
    assert_eq!(body["error"]["code"], "stale");
    let info = app
        .scheduler
        .get_task_info("beta", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.name, "first edit");

    // Reschedule with the current version.
    let (_, body) = call(
        &app.router,
        Method::GET,
        "/api/v1/tasks/beta",
        Some(READER),
        None,
    )
    .await;
    let current = body["version"].as_str().unwrap().to_owned();
    let request = Request::post("/api/v1/tasks/beta/reschedule")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::IF_MATCH, current)
        .body(Body::from(
            json!({"trigger": {"type": "interval", "minutes": 5}}).to_string(),
        ))
        .unwrap();
    let (status, body) = send(&app.router, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["trigger_description"]
            .as_str()
            .unwrap()
            .contains("0:05:00"),
        "{body}"
    );
    app.scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn operators_pause_resume_and_run_and_the_audit_names_them() {
    let app = app().await;
    let (status, body) = call(
        &app.router,
        Method::POST,
        "/api/v1/tasks/alpha/pause",
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["schedule_state"], "paused");
    let (status, body) = call(
        &app.router,
        Method::POST,
        "/api/v1/tasks/alpha/resume",
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["task"]["schedule_state"], "scheduled");
    let (status, body) = call(
        &app.router,
        Method::POST,
        "/api/v1/tasks/alpha/run",
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = call(
        &app.router,
        Method::POST,
        "/api/v1/tasks/nope/pause",
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &app.router,
        Method::DELETE,
        "/api/v1/tasks/gamma",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(app
        .scheduler
        .get_task_info("gamma", None)
        .await
        .unwrap()
        .is_none());

    let records: Vec<(String, String, String, bool)> = app
        .audit
        .records()
        .into_iter()
        .map(|r| (r.principal, r.action, r.target, r.ok))
        .collect();
    let expect =
        |p: &str, a: &str, t: &str, ok: bool| (p.to_owned(), a.to_owned(), t.to_owned(), ok);
    assert_eq!(
        records,
        [
            expect("otto", "pause", "alpha", true),
            expect("otto", "resume", "alpha", true),
            expect("otto", "run", "alpha", true),
            expect("otto", "pause", "nope", false),
            expect("ada", "delete", "gamma", true),
        ]
    );
    app.scheduler.shutdown(true).await.unwrap();
}

/// Every state-changing route, with the role it needs.
fn changing_routes() -> Vec<(Method, &'static str, Option<Value>, Role)> {
    let trigger = json!({"trigger": {"type": "interval", "seconds": 5}});
    vec![
        (
            Method::POST,
            "/api/v1/tasks",
            Some(json!({"function": "noop", "trigger": {"type": "interval", "seconds": 5}})),
            Role::Admin,
        ),
        (
            Method::PATCH,
            "/api/v1/tasks/alpha",
            Some(json!({"name": "x"})),
            Role::Admin,
        ),
        (
            Method::POST,
            "/api/v1/tasks/alpha/reschedule",
            Some(trigger),
            Role::Admin,
        ),
        (Method::DELETE, "/api/v1/tasks/alpha", None, Role::Admin),
        (
            Method::POST,
            "/api/v1/tasks/alpha/pause",
            None,
            Role::Operate,
        ),
        (
            Method::POST,
            "/api/v1/tasks/alpha/resume",
            None,
            Role::Operate,
        ),
        (Method::POST, "/api/v1/tasks/alpha/run", None, Role::Operate),
    ]
}

#[tokio::test]
async fn no_state_changing_route_can_be_reached_without_the_role() {
    let app = app().await;
    let before = app
        .scheduler
        .get_task_infos(&Default::default())
        .await
        .unwrap();
    for (method, path, body, needed) in changing_routes() {
        let mut refused: Vec<(Option<&str>, StatusCode)> = vec![
            (None, StatusCode::UNAUTHORIZED),
            (Some("wrong-token"), StatusCode::UNAUTHORIZED),
            (Some(READER), StatusCode::FORBIDDEN),
        ];
        if needed == Role::Admin {
            refused.push((Some(OPERATOR), StatusCode::FORBIDDEN));
        }
        for (token, expected) in refused {
            let (status, answer) =
                call(&app.router, method.clone(), path, token, body.clone()).await;
            assert_eq!(status, expected, "{method} {path} with {token:?}: {answer}");
        }
        // A token sent some other way than `Bearer` is no credential either.
        let request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::AUTHORIZATION, format!("Basic {ADMIN}"))
            .body(Body::empty())
            .unwrap();
        let (status, _) = send(&app.router, request).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with Basic"
        );
    }
    // Nothing changed and nothing was audited as done.
    let after = app
        .scheduler
        .get_task_infos(&Default::default())
        .await
        .unwrap();
    assert_eq!(before, after);
    assert!(app.audit.records().iter().all(|r| !r.ok));
    // Reads need a token too.
    for path in [
        "/api/v1/tasks",
        "/api/v1/tasks/alpha",
        "/api/v1/status",
        "/api/v1/history",
        "/api/v1/nodes",
        "/api/v1/events",
    ] {
        let (status, _) = call(&app.router, Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "GET {path}");
    }
    app.scheduler.shutdown(true).await.unwrap();
}

fn set_cookie(response: &axum::response::Response) -> String {
    response
        .headers()
        .get(header::SET_COOKIE)
        .expect("a Set-Cookie header")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_browser_session_needs_its_csrf_token_to_change_anything() {
    let app = app().await;
    let login = Request::post("/api/v1/session")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({"token": OPERATOR}).to_string()))
        .unwrap();
    let response = app.router.clone().oneshot(login).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie_header = set_cookie(&response);
    assert!(cookie_header.contains("HttpOnly"), "{cookie_header}");
    assert!(cookie_header.contains("SameSite=Strict"), "{cookie_header}");
    let cookie = cookie_header.split(';').next().unwrap().to_owned();
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["principal"], "otto");
    assert_eq!(body["role"], "operate");
    let csrf = body["csrf"].as_str().unwrap().to_owned();

    let with_cookie = |method: Method, path: &str, csrf: Option<&str>| {
        let mut r = Request::builder()
            .method(method)
            .uri(path)
            .header(header::COOKIE, cookie.clone());
        if let Some(csrf) = csrf {
            r = r.header("x-csrf-token", csrf);
        }
        r.body(Body::empty()).unwrap()
    };
    let (status, _) = send(&app.router, with_cookie(Method::GET, "/api/v1/tasks", None)).await;
    assert_eq!(status, StatusCode::OK, "a read needs no CSRF token");
    let (status, body) = send(
        &app.router,
        with_cookie(Method::POST, "/api/v1/tasks/alpha/pause", None),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "csrf");
    let (status, _) = send(
        &app.router,
        with_cookie(Method::POST, "/api/v1/tasks/alpha/pause", Some("forged")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let info = app
        .scheduler
        .get_task_info("alpha", None)
        .await
        .unwrap()
        .unwrap();
    assert!(!info.paused, "a forged request changed nothing");
    let (status, body) = send(
        &app.router,
        with_cookie(Method::POST, "/api/v1/tasks/alpha/pause", Some(&csrf)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The session carries the token's role: an operator cannot delete.
    let (status, _) = send(
        &app.router,
        with_cookie(Method::DELETE, "/api/v1/tasks/alpha", Some(&csrf)),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, _) = send(
        &app.router,
        with_cookie(Method::DELETE, "/api/v1/session", Some(&csrf)),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(&app.router, with_cookie(Method::GET, "/api/v1/tasks", None)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the session is gone after logout"
    );
    app.scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn failed_logins_are_rate_limited() {
    let app = app().await;
    let login = |token: &str| {
        Request::post("/api/v1/session")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({"token": token}).to_string()))
            .unwrap()
    };
    for _ in 0..3 {
        let (status, _) = send(&app.router, login("guess")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = send(&app.router, login("guess")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // Even the right token waits out the window: guessing cannot go on between good logins.
    let (status, _) = send(&app.router, login(ADMIN)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    app.scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn cors_is_off_unless_origins_are_configured() {
    let app = app().await;
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/api/v1/tasks")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .body(Body::empty())
            .unwrap()
    };
    let response = app
        .router
        .clone()
        .oneshot(preflight("https://evil.example"))
        .await
        .unwrap();
    assert!(response
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .is_none());

    let audit = Arc::new(MemoryAudit::new());
    let with_cors = router(
        app.scheduler.clone(),
        config(&audit)
            .cors_origins(["https://ops.example.com"])
            .unwrap(),
    );
    let response = with_cors
        .clone()
        .oneshot(preflight("https://ops.example.com"))
        .await
        .unwrap();
    assert_eq!(
        response
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .unwrap(),
        "https://ops.example.com"
    );
    let response = with_cors
        .oneshot(preflight("https://evil.example"))
        .await
        .unwrap();
    assert!(response
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .is_none());

    let err = WebConfig::new()
        .cors_origins(["*"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("'*'"), "{err}");
    app.scheduler.shutdown(true).await.unwrap();
}

#[test]
fn auth_off_is_refused_beyond_loopback_and_bad_hashes_are_named() {
    let off = WebConfig::new().without_auth();
    assert!(off.check_bind("127.0.0.1:8080".parse().unwrap()).is_ok());
    assert!(off.check_bind("[::1]:8080".parse().unwrap()).is_ok());
    let err = off
        .check_bind("0.0.0.0:8080".parse().unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("0.0.0.0:8080"), "{err}");
    assert!(WebConfig::new()
        .check_bind("0.0.0.0:8080".parse().unwrap())
        .is_ok());
    let err = WebConfig::new()
        .token_hash("x", Role::Read, "abc")
        .unwrap_err()
        .to_string();
    assert!(err.contains("'abc'"), "{err}");
    let hash = asyncz_web::hash_token("t");
    assert!(WebConfig::new()
        .token_hash("x", Role::Read, hash.to_uppercase())
        .is_ok());
}

#[tokio::test]
async fn previewing_a_trigger_and_the_status_summary() {
    let app = app().await;
    let body = json!({"trigger": {"type": "interval", "minutes": 10}, "count": 3, "from": "2026-01-01T00:00:00Z"});
    let (status, answer) = call(
        &app.router,
        Method::POST,
        "/api/v1/preview",
        Some(READER),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["fire_times"].as_array().unwrap().len(), 3);
    let (status, answer) = call(
        &app.router,
        Method::POST,
        "/api/v1/preview",
        Some(READER),
        Some(json!({"trigger": {"type": "cron", "minute": "61"}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

    let (status, answer) = call(
        &app.router,
        Method::GET,
        "/api/v1/status",
        Some(READER),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["tasks"], 4);
    assert_eq!(answer["tasks_by_state"]["scheduled"], 3);
    assert_eq!(answer["tasks_by_state"]["paused"], 1);
    assert!(answer["next_run_time"].is_string());
    assert_eq!(answer["scheduler"], "running");
    let (status, _) = call(
        &app.router,
        Method::GET,
        "/api/v1/nothing-here",
        Some(READER),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn events_stream_as_server_sent_events() {
    let app = app().await;
    let request = Request::get("/api/v1/events")
        .header(header::AUTHORIZATION, format!("Bearer {READER}"))
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut body = response.into_body();
    app.scheduler.pause_task("alpha", None).await.unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("an event within 5 s")
        .unwrap()
        .unwrap();
    let text = String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap();
    assert!(text.contains("event: "), "{text}");
    assert!(text.contains("alpha"), "{text}");
    app.scheduler.shutdown(true).await.unwrap();
}

fn cluster_node(db: &std::path::Path) -> Scheduler {
    let stores = json!({
        "asyncz.stores.default": {"type": "sql", "url": format!("sqlite://{}", db.display())},
    });
    asyncz::builder()
        .config(stores.as_object().cloned().unwrap())
        .cluster(
            ClusterConfig::new()
                .node_id("web-node")
                .poll_interval(Duration::from_millis(50)),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn run_now_on_a_cluster_node_is_a_request_whose_record_shows_the_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let scheduler = seeded(cluster_node(&dir.path().join("web.db"))).await;
    scheduler
        .add_task(
            TaskBuilder::new()
                .id("broken")
                .function("fail")
                .trigger(IntervalTrigger::new().hours(1))
                .paused(),
        )
        .await
        .unwrap();
    let audit = Arc::new(MemoryAudit::new());
    let app = App {
        router: router(scheduler.clone(), config(&audit)),
        scheduler,
        audit,
        _dir: Some(dir),
    };
    for (id, outcome) in [("sleepy", "succeeded"), ("broken", "failed")] {
        let (status, body) = call(
            &app.router,
            Method::POST,
            &format!("/api/v1/tasks/{id}/run"),
            Some(OPERATOR),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["run"]["state"], "requested");
        let run_id = body["run"]["run_id"].as_str().unwrap().to_owned();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let run = loop {
            let (status, body) = call(
                &app.router,
                Method::GET,
                &format!("/api/v1/runs/{run_id}"),
                Some(READER),
                None,
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let state = body["run"]["state"].as_str().unwrap().to_owned();
            if ["succeeded", "failed", "missed", "abandoned"].contains(&state.as_str()) {
                break body["run"].clone();
            }
            assert!(tokio::time::Instant::now() < deadline, "still {state}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(run["state"], outcome, "{run}");
        assert_eq!(run["node"], "web-node");
        let (_, history) = call(
            &app.router,
            Method::GET,
            &format!("/api/v1/tasks/{id}/history"),
            Some(READER),
            None,
        )
        .await;
        assert_eq!(history["runs"][0]["run_id"], run_id.as_str(), "{history}");
    }
    let (_, failed) = call(
        &app.router,
        Method::GET,
        "/api/v1/history?state=failed",
        Some(READER),
        None,
    )
    .await;
    let runs = failed["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{failed}");
    assert!(
        runs[0]["error"].as_str().unwrap().contains("it broke"),
        "{failed}"
    );
    let (status, body) = call(
        &app.router,
        Method::GET,
        "/api/v1/history?state=exploded",
        Some(READER),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_field(&body), Some("state"));
    let (status, _) = call(
        &app.router,
        Method::POST,
        "/api/v1/tasks/nope/run",
        Some(OPERATOR),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &app.router,
        Method::GET,
        "/api/v1/runs/nope",
        Some(READER),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, nodes) = call(
        &app.router,
        Method::GET,
        "/api/v1/nodes",
        Some(READER),
        None,
    )
    .await;
    let nodes = nodes["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0]["node_id"], "web-node");
    assert_eq!(nodes[0]["alive"], true);
    // The node publishes the functions it registered (sorted).
    let functions = nodes[0]["functions"].as_array().unwrap();
    assert!(functions.contains(&json!("fail")), "{functions:?}");
    assert!(
        functions.windows(2).all(|w| w[0].as_str() < w[1].as_str()),
        "{functions:?}"
    );
    let (_, status) = call(
        &app.router,
        Method::GET,
        "/api/v1/status",
        Some(READER),
        None,
    )
    .await;
    assert_eq!(status["nodes_alive"], 1);
    app.scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn a_page_on_another_site_cannot_post_to_a_server_without_auth() {
    let scheduler = seeded(asyncz::builder().build().unwrap()).await;
    let open = router(scheduler.clone(), WebConfig::new().without_auth());
    let post = |origin: Option<&str>, site: Option<&str>| {
        let mut r =
            Request::post("/api/v1/tasks/alpha/pause").header(header::HOST, "127.0.0.1:8080");
        if let Some(origin) = origin {
            r = r.header(header::ORIGIN, origin);
        }
        if let Some(site) = site {
            r = r.header("sec-fetch-site", site);
        }
        r.body(Body::empty()).unwrap()
    };
    for (origin, site) in [
        (Some("https://evil.example"), Some("cross-site")),
        (Some("https://evil.example"), None),
        (Some("null"), None),
        (None, Some("cross-site")),
    ] {
        let (status, body) = send(&open, post(origin, site)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{origin:?} {site:?}: {body}");
        assert_eq!(body["error"]["code"], "cross_origin");
    }
    assert!(
        !scheduler
            .get_task_info("alpha", None)
            .await
            .unwrap()
            .unwrap()
            .paused
    );
    // The same origin (the dashboard's own forms) and non-browser clients (no Origin) pass.
    let (status, _) = send(
        &open,
        post(Some("http://127.0.0.1:8080"), Some("same-origin")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(&open, post(None, None)).await;
    assert_eq!(status, StatusCode::OK);
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn the_openapi_document_matches_the_routes_and_the_bodies() {
    let app = app().await;
    let (status, doc) = call(&app.router, Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let doc_text: Value = serde_json::from_str(asyncz_web::OPENAPI).unwrap();
    assert_eq!(doc, doc_text);
    // Every documented operation is routed (not the API's 404, not 405).
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations += 1;
            let concrete = path
                .replace("{id}", "no-such-task")
                .replace("{run_id}", "r1");
            let method: Method = method.to_uppercase().parse().unwrap();
            if path == "/events" {
                // A stream that never ends: check the status alone.
                let request = Request::get("/api/v1/events")
                    .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
                    .body(Body::empty())
                    .unwrap();
                let response = app.router.clone().oneshot(request).await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                continue;
            }
            let (status, body) = call(
                &app.router,
                method.clone(),
                &format!("/api/v1{concrete}"),
                Some(ADMIN),
                None,
            )
            .await;
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert!(
                !(status == StatusCode::NOT_FOUND
                    && body["error"]["message"] == "no such API route"),
                "{method} {path} is documented but not routed"
            );
        }
    }
    assert!(operations >= 19, "{operations}");
    // An undocumented path is not routed.
    let (status, _) = call(
        &app.router,
        Method::GET,
        "/api/v1/tasks/alpha/secrets",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The task the API answers has exactly the documented fields.
    let (_, task) = call(
        &app.router,
        Method::GET,
        "/api/v1/tasks/alpha",
        Some(READER),
        None,
    )
    .await;
    let documented: std::collections::BTreeSet<&String> = doc["components"]["schemas"]["Task"]
        ["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    let answered: std::collections::BTreeSet<&String> = task.as_object().unwrap().keys().collect();
    assert_eq!(answered, documented);
    // Run states are the library's.
    let states: Vec<String> = asyncz::cluster::RunState::ALL
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    let documented_states: Vec<String> = doc["components"]["schemas"]["Run"]["properties"]["state"]
        ["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, documented_states);
    app.scheduler.shutdown(true).await.unwrap();
}
