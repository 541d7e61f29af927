//! The tasks pages: the list (filter, search, sort, pages, bulk actions), a task's detail
//! (schedule, next fire times, options, runs, actions, schedule editing) and the timeline.

use std::sync::Arc;

use asyncz_core::cluster::HistoryQuery;
use asyncz_core::{preview_fire_times, ScheduleState, TaskInfo, TaskInfoQuery};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{csrf_field, notice, page, sparkline};
use super::runs::runs_table;
use super::{api_error_page, back, check_form, page_error, Viewer};
use crate::api::audited;
use crate::api::body::{version_of, TriggerBody};
use crate::{ApiError, AppState, Role};

const PER_PAGE: usize = 50;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    q: Option<String>,
    state: Option<String>,
    sort_by: Option<String>,
    #[serde(default)]
    desc: bool,
    page: Option<usize>,
    notice: Option<String>,
    #[allow(dead_code)]
    tz: Option<String>,
}

pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Response {
    if let Err(r) = viewer.require(Role::Read) {
        return r;
    }
    let mut query = TaskInfoQuery::new();
    if let Some(s) = q.state.as_deref().filter(|s| !s.is_empty()) {
        match s.parse::<ScheduleState>() {
            Ok(s) => query = query.schedule_state(s),
            Err(e) => return page_error(&viewer, StatusCode::BAD_REQUEST, &e.to_string()),
        }
    }
    if let Some(text) = q.q.clone().filter(|s| !s.is_empty()) {
        query = query.q(text);
    }
    if let Some(key) = q.sort_by.as_deref().filter(|s| !s.is_empty()) {
        match query.clone().sort_by(key) {
            Ok(sorted) => query = sorted,
            Err(e) => return page_error(&viewer, StatusCode::BAD_REQUEST, &e.to_string()),
        }
    }
    query = query.descending(q.desc);
    let infos = match state.scheduler.get_task_infos(&query).await {
        Ok(infos) => infos,
        Err(e) => return api_error_page(&viewer, e.into()),
    };
    let total = infos.len();
    let pages = total.div_ceil(PER_PAGE).max(1);
    let current = q.page.unwrap_or(1).clamp(1, pages);
    let shown = &infos[((current - 1) * PER_PAGE).min(total)..(current * PER_PAGE).min(total)];
    let link = |page: usize| {
        let mut params = vec![format!("page={page}")];
        for (k, v) in [("q", &q.q), ("state", &q.state), ("sort_by", &q.sort_by)] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                params.push(format!("{k}={}", urlencode(v)));
            }
        }
        if q.desc {
            params.push("desc=true".into());
        }
        viewer.href(&format!("/tasks?{}", params.join("&")))
    };
    let can_operate = viewer
        .principal
        .as_ref()
        .is_some_and(|p| p.role >= Role::Operate);
    let content = html! {
        (notice(q.notice.as_deref()))
        form.filters method="get" action=(viewer.href("/tasks")) role="search" {
            label { "Search " input type="search" name="q" value=(q.q.clone().unwrap_or_default()); }
            label { "State "
                select name="state" {
                    @for (value, label) in [("", "any"), ("scheduled", "scheduled"), ("paused", "paused"), ("pending", "pending")] {
                        option value=(value) selected[q.state.as_deref().unwrap_or("") == value] { (label) }
                    }
                }
            }
            label { "Sort "
                select name="sort_by" {
                    @for key in ["next_run_time", "name", "id", "schedule_state", "executor", "store", "trigger"] {
                        option value=(key) selected[q.sort_by.as_deref().unwrap_or("next_run_time") == key] { (key) }
                    }
                }
            }
            label { input type="checkbox" name="desc" value="true" checked[q.desc]; " descending" }
            button type="submit" { "Apply" }
        }
        form #bulk method="post" action=(viewer.href("/tasks/bulk")) {
            (csrf_field(&viewer))
            p.count { (total) " tasks · page " (current) " of " (pages) }
            div.table-wrap {
                table.tasks {
                    thead { tr {
                        @if can_operate { th scope="col" { span.sr { "Select" } } }
                        th scope="col" { "Task" } th scope="col" { "State" } th scope="col" { "Schedule" }
                        th scope="col" { "Next run" } th scope="col" { "Executor" } th scope="col" { "Store" }
                    } }
                    tbody {
                        @for info in shown {
                            tr {
                                @if can_operate {
                                    td { input type="checkbox" name="ids" value=(info.id) aria-label=(format!("select {}", info.id)); }
                                }
                                td { a href=(viewer.href(&format!("/tasks/{}", urlencode(&info.id)))) { (info.name) } br; small.id { (info.id) } }
                                td { span class=(format!("state {}", info.schedule_state)) { (info.schedule_state) } }
                                td { code { (info.trigger_description) } }
                                td { (next_run(&viewer, info)) }
                                td { (info.executor) }
                                td { (info.store_alias) }
                            }
                        }
                    }
                }
            }
            @if can_operate {
                div.bulk {
                    label { "With the selected: "
                        select name="action" {
                            option value="pause" { "pause" }
                            option value="resume" { "resume" }
                            option value="run" { "run now" }
                            @if viewer.principal.as_ref().is_some_and(|p| p.role >= Role::Admin) {
                                option value="remove" { "remove" }
                            }
                        }
                    }
                    button type="submit" { "Apply" }
                }
            }
        }
        nav.pages aria-label="Pages" {
            @if current > 1 { a href=(link(current - 1)) rel="prev" { "← previous" } }
            @if current < pages { a href=(link(current + 1)) rel="next" { "next →" } }
        }
    };
    page(&viewer, "Tasks", content).into_response()
}

fn next_run(viewer: &Viewer, info: &TaskInfo) -> Markup {
    html! {
        @match info.next_run_time {
            Some(t) => { time datetime=(t.to_rfc3339()) title=(viewer.time(t)) { (viewer.relative(t)) } }
            None => { span.muted { "—" } }
        }
    }
}

/// Percent-encodes a path segment or query value.
pub(crate) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DetailQuery {
    notice: Option<String>,
    #[allow(dead_code)]
    tz: Option<String>,
}

pub(crate) async fn detail(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Response {
    if let Err(r) = viewer.require(Role::Read) {
        return r;
    }
    let task = match state.scheduler.get_task(&id, None).await {
        Ok(Some(task)) => task,
        Ok(None) => return api_error_page(&viewer, ApiError::task_not_found(&id)),
        Err(e) => return api_error_page(&viewer, e.into()),
    };
    let tz = state.scheduler.timezone();
    let fires = match task.next_run_time() {
        Some(_) => task.preview_run_times(tz, 10),
        None => preview_fire_times(task.trigger().as_ref(), tz, viewer.now, 10),
    };
    let info = task.snapshot();
    let words = asyncz_triggers::in_words(task.trigger().as_ref());
    let runs = state
        .scheduler
        .history(&HistoryQuery::new().task(id.clone()).limit(50))
        .await
        .unwrap_or_default();
    let mut lateness: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.lateness())
        .map(|d| d.num_microseconds().unwrap_or(0) as f64 / 1e6)
        .collect();
    lateness.reverse();
    let mut durations: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.duration())
        .map(|d| d.num_microseconds().unwrap_or(0) as f64 / 1e6)
        .collect();
    durations.reverse();
    let role = viewer
        .principal
        .as_ref()
        .map(|p| p.role)
        .unwrap_or(Role::Read);
    let action = viewer.href(&format!("/tasks/{}/action", urlencode(&id)));
    let content = html! {
        (notice(q.notice.as_deref()))
        section.card {
            h2 { (info.name) }
            dl.facts {
                dt { "Id" } dd { code { (info.id) } }
                dt { "State" } dd { span class=(format!("state {}", info.schedule_state)) { (info.schedule_state) } }
                dt { "Schedule" } dd {
                    @if let Some(words) = &words { span.words { (words) } " · " }
                    code { (info.trigger_description) }
                }
                dt { "Next run" } dd { (next_run(&viewer, &info)) }
                dt { "Function" } dd { code { (info.callable_reference.clone().unwrap_or(info.callable_name.clone())) } }
                dt { "Executor" } dd { (info.executor) }
                dt { "Store" } dd { (info.store_alias) }
                dt { "Coalesce" } dd { (info.coalesce) }
                dt { "Max instances" } dd { (info.max_instances) }
                dt { "Misfire grace" } dd { (info.mistrigger_grace_time.map(|d| format!("{} s", d.as_secs_f64())).unwrap_or_else(|| "none".into())) }
                dt { "Args" } dd { code { (serde_json::Value::from(info.args.clone())) } }
                dt { "Kwargs" } dd { code { (serde_json::Value::Object(info.kwargs.clone())) } }
            }
            @if role >= Role::Operate {
                div.actions {
                    form method="post" action=(action) { (csrf_field(&viewer)) input type="hidden" name="action" value="run"; button type="submit" { "Run now" } }
                    @if info.paused {
                        form method="post" action=(action) { (csrf_field(&viewer)) input type="hidden" name="action" value="resume"; button type="submit" { "Resume" } }
                    } @else {
                        form method="post" action=(action) { (csrf_field(&viewer)) input type="hidden" name="action" value="pause"; button type="submit" { "Pause" } }
                    }
                    @if role >= Role::Admin {
                        form method="post" action=(action) { (csrf_field(&viewer)) input type="hidden" name="action" value="remove"; button.danger type="submit" { "Remove" } }
                    }
                }
            }
        }
        section.card {
            h2 { "Next 10 fire times" }
            ol.fires { @for t in &fires { li { time datetime=(t.to_rfc3339()) { (viewer.time(*t)) } " · " (viewer.relative(*t)) } } }
        }
        @if role >= Role::Admin {
            section.card {
                h2 { "Edit schedule" }
                form.schedule method="post" action=(viewer.href(&format!("/tasks/{}/schedule", urlencode(&id)))) {
                    (csrf_field(&viewer))
                    input type="hidden" name="version" value=(version_of(&info));
                    label { "Trigger "
                        select name="kind" {
                            option value="cron" selected[info.trigger_alias == "cron"] { "cron" }
                            option value="interval" selected[info.trigger_alias == "interval"] { "interval" }
                        }
                    }
                    label { "Cron expression (crontab) or interval in seconds "
                        input type="text" name="value" required placeholder="*/5 * * * *  or  300";
                    }
                    button type="submit" { "Save schedule" }
                }
            }
        }
        section.card {
            h2 { "Runs" }
            div.sparks { (sparkline("lateness", &lateness)) (sparkline("duration", &durations)) }
            (runs_table(&viewer, &runs, false))
        }
    };
    page(&viewer, &format!("Task {}", info.name), content).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default)]
    csrf: String,
    action: String,
}

/// Runs one action on one task for `principal`, audited.
async fn act(
    state: &AppState,
    principal: &crate::Principal,
    id: &str,
    action: &str,
) -> Result<&'static str, ApiError> {
    let s = &state.scheduler;
    let result = match action {
        "pause" => s
            .pause_task(id, None)
            .await
            .map(|_| "paused")
            .map_err(Into::into),
        "resume" => s
            .resume_task(id, None)
            .await
            .map(|t| if t.is_some() { "resumed" } else { "finished" })
            .map_err(Into::into),
        "run" if state.clustered() => s.request_run(id).await.map(|_| "run").map_err(Into::into),
        "run" => s
            .run_task(id, None, Default::default())
            .await
            .map(|_| "run")
            .map_err(Into::into),
        "remove" => s
            .delete_task(id, None)
            .await
            .map(|_| "removed")
            .map_err(Into::into),
        other => Err(ApiError::invalid(
            "action",
            format!("'{other}' is not one of pause, resume, run, remove"),
        )),
    };
    audited(state, principal, action, id, result)
}

fn needed(action: &str) -> Role {
    if action == "remove" {
        Role::Admin
    } else {
        Role::Operate
    }
}

pub(crate) async fn action(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    let principal = match check_form(&state, &viewer, &headers, needed(&form.action), &form.csrf) {
        Ok(p) => p,
        Err(r) => return r,
    };
    match act(&state, &principal, &id, &form.action).await {
        Ok("removed") | Ok("finished") => back(&viewer, "/tasks", "removed"),
        Ok(code) => back(&viewer, &format!("/tasks/{}", urlencode(&id)), code),
        Err(e) => api_error_page(&viewer, e),
    }
}

pub(crate) async fn bulk(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    headers: HeaderMap,
    body: String,
) -> Response {
    // `ids` repeats, which `Form` into a struct cannot take: read the pairs.
    let pairs: Vec<(String, String)> = form_pairs(&body);
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let action = field("action");
    let principal = match check_form(&state, &viewer, &headers, needed(&action), &field("csrf")) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let ids: Vec<&String> = pairs
        .iter()
        .filter(|(k, _)| k == "ids")
        .map(|(_, v)| v)
        .collect();
    if ids.is_empty() {
        return back(&viewer, "/tasks", "none");
    }
    let mut failures = Vec::new();
    for id in ids {
        if let Err(e) = act(&state, &principal, id, &action).await {
            failures.push(format!("{id}: {}", e.message));
        }
    }
    if failures.is_empty() {
        back(&viewer, "/tasks", "bulk")
    } else {
        page_error(&viewer, StatusCode::CONFLICT, &failures.join("; "))
    }
}

/// `application/x-www-form-urlencoded` pairs, decoded.
fn form_pairs(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (urldecode(k), urldecode(v))
        })
        .collect()
}

fn urldecode(s: &str) -> String {
    let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16)).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(hi), Some(lo)) => {
                    out.push(hi * 16 + lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Debug, Deserialize)]
pub(crate) struct ScheduleForm {
    #[serde(default)]
    csrf: String,
    version: String,
    kind: String,
    value: String,
}

pub(crate) async fn schedule(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ScheduleForm>,
) -> Response {
    let principal = match check_form(&state, &viewer, &headers, Role::Admin, &form.csrf) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let result = async {
        let value = form.value.trim();
        let spec: asyncz_core::TriggerSpec = match form.kind.as_str() {
            "cron" => asyncz_triggers::CronTrigger::from_crontab(value, None)?.into(),
            "interval" => {
                let secs: u64 = value.parse().map_err(|_| {
                    ApiError::invalid(
                        "value",
                        format!("'{value}' is not a whole number of seconds"),
                    )
                })?;
                let mut args = asyncz_core::Map::new();
                args.insert("seconds".into(), secs.into());
                TriggerBody {
                    kind: "interval".into(),
                    args,
                }
                .spec()?
            }
            other => {
                return Err(ApiError::invalid(
                    "kind",
                    format!("'{other}' is not cron or interval"),
                ))
            }
        };
        let info = state
            .scheduler
            .get_task_info(&id, None)
            .await?
            .ok_or_else(|| ApiError::task_not_found(&id))?;
        if version_of(&info) != form.version {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "stale",
                "someone changed this task since you opened it; reload the page and edit again",
            ));
        }
        state.scheduler.reschedule_task(&id, None, spec).await?;
        Ok("rescheduled")
    }
    .await;
    match audited(&state, &principal, "reschedule", &id, result) {
        Ok(code) => back(&viewer, &format!("/tasks/{}", urlencode(&id)), code),
        Err(e) => api_error_page(&viewer, e),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct TimelineQuery {
    hours: Option<i64>,
    #[allow(dead_code)]
    tz: Option<String>,
}

/// Upcoming fires across tasks, in time order, over the next `hours` (default 24, at most a
/// week), at most 500.
pub(crate) async fn timeline(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Query(q): Query<TimelineQuery>,
) -> Response {
    if let Err(r) = viewer.require(Role::Read) {
        return r;
    }
    let hours = q.hours.unwrap_or(24).clamp(1, 24 * 7);
    let until = viewer.now + chrono::Duration::hours(hours);
    let tasks = match state.scheduler.get_tasks(None).await {
        Ok(tasks) => tasks,
        Err(e) => return api_error_page(&viewer, e.into()),
    };
    let tz = state.scheduler.timezone();
    let mut fires: Vec<(DateTime<Utc>, String, String)> = Vec::new();
    for task in &tasks {
        if task.next_run_time().is_none() {
            continue;
        }
        for t in task.preview_run_times(tz, 100) {
            if t > until {
                break;
            }
            fires.push((t, task.id().to_owned(), task.name().to_owned()));
        }
    }
    fires.sort();
    fires.truncate(500);
    let content = html! {
        form.filters method="get" action=(viewer.href("/timeline")) {
            label { "Next " input type="number" name="hours" min="1" max="168" value=(hours); " hours" }
            button type="submit" { "Show" }
        }
        @if fires.is_empty() { p.muted { "Nothing fires in this window." } }
        ol.timeline {
            @for (t, id, name) in &fires {
                li {
                    time datetime=(t.to_rfc3339()) { (viewer.time(*t)) }
                    " · " a href=(viewer.href(&format!("/tasks/{}", urlencode(id)))) { (name) }
                    " · " span.muted { (viewer.relative(*t)) }
                }
            }
        }
    };
    page(&viewer, "Timeline", content).into_response()
}
