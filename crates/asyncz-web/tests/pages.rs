#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The dashboard through `oneshot`, nested under `/asyncz` as a service would mount it: login,
//! pages, forms with CSRF, escaping, optimistic concurrency on the schedule form, bulk actions.

use std::sync::Arc;

use asyncz::{CallContext, IntervalTrigger, Scheduler, TaskBuilder};
use asyncz_web::{router, MemoryAudit, Role, WebConfig};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;

const OPERATOR: &str = "operator-token";
const ADMIN: &str = "admin-token";
const HOST: &str = "127.0.0.1:8080";

async fn app() -> (Router, Scheduler) {
    let scheduler = asyncz::builder().build().unwrap();
    scheduler.register("noop", |_ctx: CallContext| {}).unwrap();
    scheduler.start().await.unwrap();
    for (id, name) in [
        ("alpha", "Alpha <script>alert(1)</script>"),
        ("beta", "Beta"),
    ] {
        scheduler
            .add_task(
                TaskBuilder::new()
                    .id(id)
                    .name(name)
                    .function("noop")
                    .trigger(IntervalTrigger::new().hours(1)),
            )
            .await
            .unwrap();
    }
    let config = WebConfig::new()
        .token("otto", Role::Operate, OPERATOR)
        .token("ada", Role::Admin, ADMIN)
        .audit(Arc::new(MemoryAudit::new()));
    let app = Router::new().nest("/asyncz", router(scheduler.clone(), config));
    (app, scheduler)
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    cookie: Option<String>,
    body: String,
}

async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &header::HeaderValue| v.to_str().unwrap().to_owned())
    };
    let location = header(header::LOCATION);
    let cookie = header(header::SET_COOKIE);
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        location,
        cookie,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut r = Request::get(path).header(header::HOST, HOST);
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, c);
    }
    r.body(Body::empty()).unwrap()
}

fn post(path: &str, cookie: Option<&str>, form: &str) -> Request<Body> {
    let mut r = Request::post(path)
        .header(header::HOST, HOST)
        .header(header::ORIGIN, format!("http://{HOST}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, c);
    }
    r.body(Body::from(form.to_owned())).unwrap()
}

/// Logs in with `token`; the session cookie and the CSRF token of its forms.
async fn login(app: &Router, token: &str) -> (String, String) {
    let answer = send(app, post("/asyncz/login", None, &format!("token={token}"))).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(answer.location.as_deref(), Some("/asyncz"));
    let cookie = answer.cookie.unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let page = send(app, get("/asyncz/tasks", Some(&cookie))).await;
    let marker = "name=\"csrf\" value=\"";
    let start = page.body.find(marker).expect("a CSRF field") + marker.len();
    let csrf = page.body[start..].split('"').next().unwrap().to_owned();
    assert_eq!(csrf.len(), 64);
    (cookie, csrf)
}

#[tokio::test]
async fn pages_need_a_login_and_show_the_tasks_escaped() {
    let (app, scheduler) = app().await;
    for path in [
        "/asyncz",
        "/asyncz/tasks",
        "/asyncz/tasks/alpha",
        "/asyncz/history",
        "/asyncz/nodes",
        "/asyncz/timeline",
    ] {
        let answer = send(&app, get(path, None)).await;
        assert!(answer.status.is_redirection(), "{path}: {}", answer.status);
        assert_eq!(answer.location.as_deref(), Some("/asyncz/login"), "{path}");
    }
    let wrong = send(&app, post("/asyncz/login", None, "token=guess")).await;
    assert_eq!(wrong.location.as_deref(), Some("/asyncz/login?failed=1"));
    assert!(wrong.cookie.is_none());

    let (cookie, _) = login(&app, OPERATOR).await;
    let overview = send(&app, get("/asyncz", Some(&cookie))).await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(overview.body.contains("Overview"), "{}", overview.body);
    assert!(overview.body.contains("href=\"/asyncz/assets/app.css\""));
    let tasks = send(&app, get("/asyncz/tasks", Some(&cookie))).await;
    assert!(
        tasks.body.contains("href=\"/asyncz/tasks/alpha\""),
        "{}",
        tasks.body
    );
    assert!(
        !tasks.body.contains("<script>alert(1)"),
        "names are escaped"
    );
    assert!(tasks.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(tasks.body.contains("2 tasks"));
    let search = send(&app, get("/asyncz/tasks?q=beta", Some(&cookie))).await;
    assert!(search.body.contains("1 tasks"), "{}", search.body);
    let detail = send(&app, get("/asyncz/tasks/beta?tz=Asia/Tokyo", Some(&cookie))).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert_eq!(
        detail.body.matches("<li><time").count(),
        10,
        "ten next fire times"
    );
    assert!(detail.body.contains("JST"), "times in the viewer's zone");
    assert!(
        detail
            .body
            .contains(r#"<span class="words">every hour</span>"#),
        "the trigger in words"
    );
    assert!(detail.body.contains("Run now") && detail.body.contains("Pause"));
    assert!(
        !detail.body.contains("Edit schedule"),
        "an operator cannot edit"
    );
    let missing = send(&app, get("/asyncz/tasks/nope", Some(&cookie))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let css = send(&app, get("/asyncz/assets/app.css", None)).await;
    assert!(css.body.contains("prefers-color-scheme: dark"));
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn forms_need_the_session_csrf_token_and_redirect_to_fixed_paths() {
    let (app, scheduler) = app().await;
    let (cookie, csrf) = login(&app, OPERATOR).await;
    let forged = send(
        &app,
        post(
            "/asyncz/tasks/beta/action",
            Some(&cookie),
            "action=pause&csrf=nope",
        ),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let missing = send(
        &app,
        post("/asyncz/tasks/beta/action", Some(&cookie), "action=pause"),
    )
    .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    // From another site, even with the right token.
    let mut cross = post(
        "/asyncz/tasks/beta/action",
        Some(&cookie),
        &format!("action=pause&csrf={csrf}"),
    );
    cross
        .headers_mut()
        .insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    assert_eq!(send(&app, cross).await.status, StatusCode::FORBIDDEN);
    assert!(
        !scheduler
            .get_task_info("beta", None)
            .await
            .unwrap()
            .unwrap()
            .paused
    );

    let done = send(
        &app,
        post(
            "/asyncz/tasks/beta/action",
            Some(&cookie),
            &format!("action=pause&csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some("/asyncz/tasks/beta?notice=paused")
    );
    assert!(
        scheduler
            .get_task_info("beta", None)
            .await
            .unwrap()
            .unwrap()
            .paused
    );
    let shown = send(&app, get("/asyncz/tasks/beta?notice=paused", Some(&cookie))).await;
    assert!(shown.body.contains("Paused."));
    // Notices are codes: text in the query is never shown.
    let spoof = send(
        &app,
        get(
            "/asyncz/tasks/beta?notice=Your+account+is+locked",
            Some(&cookie),
        ),
    )
    .await;
    assert!(!spoof.body.contains("locked"));
    // An operator cannot remove.
    let refused = send(
        &app,
        post(
            "/asyncz/tasks/beta/action",
            Some(&cookie),
            &format!("action=remove&csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(scheduler
        .get_task_info("beta", None)
        .await
        .unwrap()
        .is_some());

    // Bulk: resume both (alpha is scheduled, beta paused), then pause both.
    let bulk = send(
        &app,
        post(
            "/asyncz/tasks/bulk",
            Some(&cookie),
            &format!("csrf={csrf}&action=pause&ids=alpha&ids=beta"),
        ),
    )
    .await;
    assert_eq!(
        bulk.location.as_deref(),
        Some("/asyncz/tasks?notice=bulk"),
        "{}",
        bulk.body
    );
    for id in ["alpha", "beta"] {
        assert!(
            scheduler
                .get_task_info(id, None)
                .await
                .unwrap()
                .unwrap()
                .paused,
            "{id}"
        );
    }
    let none = send(
        &app,
        post(
            "/asyncz/tasks/bulk",
            Some(&cookie),
            &format!("csrf={csrf}&action=pause"),
        ),
    )
    .await;
    assert_eq!(none.location.as_deref(), Some("/asyncz/tasks?notice=none"));

    let out = send(
        &app,
        post("/asyncz/logout", Some(&cookie), &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(
        out.location.as_deref(),
        Some("/asyncz/login?notice=logged-out")
    );
    let after = send(&app, get("/asyncz/tasks", Some(&cookie))).await;
    assert_eq!(after.location.as_deref(), Some("/asyncz/login"));
    scheduler.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn the_schedule_form_refuses_a_stale_edit() {
    let (app, scheduler) = app().await;
    let (cookie, csrf) = login(&app, ADMIN).await;
    let detail = send(&app, get("/asyncz/tasks/beta", Some(&cookie))).await;
    assert!(detail.body.contains("Edit schedule"));
    let marker = "name=\"version\" value=\"";
    let start = detail.body.find(marker).unwrap() + marker.len();
    let version = detail.body[start..].split('"').next().unwrap().to_owned();

    let form = |value: &str| format!("csrf={csrf}&version={version}&kind=cron&value={value}");
    let saved = send(
        &app,
        post(
            "/asyncz/tasks/beta/schedule",
            Some(&cookie),
            &form("*%2F5+*+*+*+*"),
        ),
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let info = scheduler
        .get_task_info("beta", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.trigger_alias, "cron", "{info:?}");
    // A second admin still holding the old page.
    let stale = send(
        &app,
        post(
            "/asyncz/tasks/beta/schedule",
            Some(&cookie),
            &form("0+9+*+*+*"),
        ),
    )
    .await;
    assert_eq!(
        stale.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        stale.body
    );
    assert!(stale.body.contains("reload the page"));
    let after = scheduler
        .get_task_info("beta", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.trigger_description, info.trigger_description);
    // A bad expression is an error page naming it, and changes nothing.
    let detail = send(&app, get("/asyncz/tasks/beta", Some(&cookie))).await;
    let start = detail.body.find(marker).unwrap() + marker.len();
    let version = detail.body[start..].split('"').next().unwrap().to_owned();
    let bad = send(
        &app,
        post(
            "/asyncz/tasks/beta/schedule",
            Some(&cookie),
            &format!("csrf={csrf}&version={version}&kind=cron&value=99+*+*+*+*"),
        ),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert!(bad.body.contains("99"), "{}", bad.body);
    // Remove, as an admin.
    let removed = send(
        &app,
        post(
            "/asyncz/tasks/alpha/action",
            Some(&cookie),
            &format!("action=remove&csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(
        removed.location.as_deref(),
        Some("/asyncz/tasks?notice=removed")
    );
    assert!(scheduler
        .get_task_info("alpha", None)
        .await
        .unwrap()
        .is_none());
    scheduler.shutdown(true).await.unwrap();
}
