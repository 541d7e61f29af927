//! Tasks: list, get, add, update, reschedule, pause, resume, run now, delete, preview.

use std::sync::Arc;

use asyncz_core::{preview_fire_times, ScheduleState, TaskBuilder, TaskInfoQuery, TaskUpdate};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::audited;
use super::body::{
    seconds, AddTask, Body, CountParam, ListTasks, Params, PreviewTrigger, Reschedule, StoreParam,
    TaskView, UpdateTask,
};
use crate::auth::{Access, AdminRole, OperateRole, ReadRole};
use crate::{ApiError, AppState};

/// Fire times shown with a task, and the most a preview returns.
const NEXT_FIRES: usize = 10;
const PREVIEW_MAX: usize = 1000;

pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    _: Access<ReadRole>,
    Params(p): Params<ListTasks>,
) -> Result<impl IntoResponse, ApiError> {
    let mut query = TaskInfoQuery::new();
    if let Some(s) = p.state.as_deref().filter(|s| !s.is_empty()) {
        let parsed: ScheduleState = s.parse().map_err(|_| {
            ApiError::invalid(
                "state",
                format!("'{s}' is not one of pending, paused, scheduled"),
            )
        })?;
        query = query.schedule_state(parsed);
    }
    if let Some(e) = p.executor {
        query = query.executor(e);
    }
    if let Some(t) = p.trigger {
        query = query.trigger(t);
    }
    if let Some(s) = p.store.filter(|s| !s.is_empty()) {
        query = query.store(s);
    }
    if let Some(q) = p.q {
        query = query.q(q);
    }
    if let Some(key) = p.sort_by.as_deref().filter(|s| !s.is_empty()) {
        query = query.sort_by(key)?;
    }
    query = query.descending(p.desc);
    let per_page = p.per_page.unwrap_or(50);
    if per_page == 0 || per_page > state.config.page_size_max {
        return Err(ApiError::invalid(
            "per_page",
            format!(
                "{per_page} is not between 1 and {}",
                state.config.page_size_max
            ),
        ));
    }
    let page = p.page.unwrap_or(1);
    if page == 0 {
        return Err(ApiError::invalid("page", "pages count from 1"));
    }
    let infos = state.scheduler.get_task_infos(&query).await?;
    let total = infos.len();
    let tasks: Vec<TaskView> = infos
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(TaskView::new)
        .collect();
    Ok(Json(json!({
        "tasks": tasks,
        "total": total,
        "page": page,
        "per_page": per_page,
    })))
}

/// A task's view with its next fire times (a paused task's from now).
async fn detail(state: &AppState, id: &str, store: Option<&str>) -> Result<TaskView, ApiError> {
    let task = state
        .scheduler
        .get_task(id, store)
        .await?
        .ok_or_else(|| ApiError::task_not_found(id))?;
    let tz = state.scheduler.timezone();
    let fires = match task.next_run_time() {
        Some(_) => task.preview_run_times(tz, NEXT_FIRES),
        None => preview_fire_times(
            task.trigger().as_ref(),
            tz,
            state.scheduler.clock().now(),
            NEXT_FIRES,
        ),
    };
    let mut view = TaskView::new(task.snapshot());
    view.next_fire_times = Some(fires);
    Ok(view)
}

pub(crate) async fn get(
    State(state): State<Arc<AppState>>,
    _: Access<ReadRole>,
    Path(id): Path<String>,
    Params(p): Params<StoreParam>,
) -> Result<impl IntoResponse, ApiError> {
    let view = detail(&state, &id, p.store.as_deref()).await?;
    let etag = format!("\"{}\"", view.version);
    Ok(([(header::ETAG, etag)], Json(view)))
}

pub(crate) async fn add(
    State(state): State<Arc<AppState>>,
    access: Access<AdminRole>,
    Body(body): Body<AddTask>,
) -> Result<impl IntoResponse, ApiError> {
    let target = body.id.clone().unwrap_or_default();
    let result = add_task(&state, body).await;
    let target = result.as_ref().map(|v| v.info.id.clone()).unwrap_or(target);
    let view = audited(&state, &access.principal, "add", &target, result)?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn add_task(state: &AppState, body: AddTask) -> Result<TaskView, ApiError> {
    let function = body.function.trim();
    if function.is_empty() {
        return Err(ApiError::invalid(
            "function",
            "must name a registered function",
        ));
    }
    let registry = state.scheduler.functions();
    // A scheduler that runs tasks knows its functions; one serving a store alone (no
    // functions registered) records the name for the nodes that do.
    if !registry.names().is_empty() && !registry.contains(function) {
        return Err(ApiError::invalid(
            "function",
            format!("'{function}' is not a registered function"),
        ));
    }
    let mut builder = TaskBuilder::new()
        .function(function)
        .trigger(body.trigger.spec()?)
        .args(body.args)
        .kwargs(body.kwargs)
        .replace_existing(body.replace_existing);
    if let Some(id) = body.id {
        builder = builder.id(id);
    }
    if let Some(name) = body.name {
        builder = builder.name(name);
    }
    if let Some(e) = body.executor {
        builder = builder.executor(e);
    }
    if let Some(s) = body.store {
        builder = builder.store(s);
    }
    if let Some(c) = body.coalesce {
        builder = builder.coalesce(c);
    }
    if let Some(m) = body.max_instances {
        builder = builder.max_instances(m);
    }
    if let Some(grace) = body.mistrigger_grace_time {
        let grace = grace
            .map(|s| seconds("mistrigger_grace_time", s))
            .transpose()?;
        builder = builder.mistrigger_grace_time(grace);
    }
    if body.paused {
        builder = builder.paused();
    }
    let handle = state.scheduler.add_task(builder).await?;
    detail(state, handle.id(), Some(handle.store())).await
}

/// The `If-Match` of a request, without quotes; `*` or none means no check.
fn if_match(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::invalid("If-Match", "is not ASCII"))?
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_owned();
    Ok((value != "*" && !value.is_empty()).then_some(value))
}

/// Refuses an edit made against an older version of the task (412).
async fn check_version(
    state: &AppState,
    id: &str,
    store: Option<&str>,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let Some(expected) = if_match(headers)? else {
        return Ok(());
    };
    let info = state
        .scheduler
        .get_task_info(id, store)
        .await?
        .ok_or_else(|| ApiError::task_not_found(id))?;
    let current = super::body::version_of(&info);
    if current != expected {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "stale",
            format!("task '{id}' changed since version '{expected}' (now '{current}'); reload it and edit again"),
        ));
    }
    Ok(())
}

pub(crate) async fn update(
    State(state): State<Arc<AppState>>,
    access: Access<AdminRole>,
    Path(id): Path<String>,
    Params(p): Params<StoreParam>,
    headers: HeaderMap,
    Body(body): Body<UpdateTask>,
) -> Result<impl IntoResponse, ApiError> {
    let result = async {
        let store = p.store.as_deref();
        let mut update = TaskUpdate::new();
        if let Some(n) = body.name {
            update = update.name(n);
        }
        if let Some(f) = body.function {
            update = update.function(f);
        }
        if let Some(a) = body.args {
            update = update.args(a);
        }
        if let Some(k) = body.kwargs {
            update = update.kwargs(k);
        }
        if let Some(t) = &body.trigger {
            update = update.trigger(t.spec()?);
        }
        if let Some(e) = body.executor {
            update = update.executor(e);
        }
        if let Some(c) = body.coalesce {
            update = update.coalesce(c);
        }
        if let Some(m) = body.max_instances {
            update = update.max_instances(m);
        }
        if let Some(grace) = body.mistrigger_grace_time {
            let grace = grace
                .map(|s| seconds("mistrigger_grace_time", s))
                .transpose()?;
            update = update.mistrigger_grace_time(grace);
        }
        check_version(&state, &id, store, &headers).await?;
        state.scheduler.update_task(&id, store, update).await?;
        detail(&state, &id, store).await
    }
    .await;
    Ok(Json(audited(
        &state,
        &access.principal,
        "update",
        &id,
        result,
    )?))
}

pub(crate) async fn reschedule(
    State(state): State<Arc<AppState>>,
    access: Access<AdminRole>,
    Path(id): Path<String>,
    Params(p): Params<StoreParam>,
    headers: HeaderMap,
    Body(body): Body<Reschedule>,
) -> Result<impl IntoResponse, ApiError> {
    let result = async {
        let store = p.store.as_deref();
        let spec = body.trigger.spec()?;
        check_version(&state, &id, store, &headers).await?;
        state.scheduler.reschedule_task(&id, store, spec).await?;
        detail(&state, &id, store).await
    }
    .await;
    Ok(Json(audited(
        &state,
        &access.principal,
        "reschedule",
        &id,
        result,
    )?))
}

pub(crate) async fn pause(
    State(state): State<Arc<AppState>>,
    access: Access<OperateRole>,
    Path(id): Path<String>,
    Params(p): Params<StoreParam>,
) -> Result<impl IntoResponse, ApiError> {
    let result = async {
        state.scheduler.pause_task(&id, p.store.as_deref()).await?;
        detail(&state, &id, p.store.as_deref()).await
    }
    .await;
    Ok(Json(audited(
        &state,
        &access.principal,
        "pause",
        &id,
        result,
    )?))
}

pub(crate) async fn resume(
    State(state): State<Arc<AppState>>,
    access: Access<OperateRole>,
    Path(id): Path<String>,
    Params(p): Params<StoreParam>,
) -> Result<impl IntoResponse, ApiError> {
    let result = async {
        match state.scheduler.resume_task(&id, p.store.as_deref()).await? {
            Some(_) => Ok(Some(detail(&state, &id, p.store.as_deref()).await?)),
            // Its schedule was over: resuming removed it.
            None => Ok(None),
        }
    }
    .await;
    let view = audited(&state, &access.principal, "resume", &id, result)?;
    Ok(Json(json!({ "task": view, "removed": view.is_none() })))
}

/// Run now. On a cluster node this writes a run request any live node takes (202 with the run
/// record to follow at `/runs/{run_id}`); otherwise the scheduler runs it itself (200).
pub(crate) async fn run(
    State(state): State<Arc<AppState>>,
    access: Access<OperateRole>,
    Path(id): Path<String>,
    Params(p): Params<StoreParam>,
) -> Result<axum::response::Response, ApiError> {
    if state.clustered() {
        let result = async {
            // Look the task up first so an unknown id is a 404 rather than a request no node
            // can ever serve.
            state
                .scheduler
                .get_task(&id, p.store.as_deref())
                .await?
                .ok_or_else(|| ApiError::task_not_found(&id))?;
            Ok(state.scheduler.request_run(&id).await?)
        }
        .await;
        let run = audited(&state, &access.principal, "run", &id, result)?;
        return Ok((StatusCode::ACCEPTED, Json(json!({ "run": run }))).into_response());
    }
    let result = async {
        let info = state
            .scheduler
            .run_task(&id, p.store.as_deref(), Default::default())
            .await?;
        Ok(info.map(TaskView::new))
    }
    .await;
    let view = audited(&state, &access.principal, "run", &id, result)?;
    Ok(Json(json!({ "task": view, "removed": view.is_none() })).into_response())
}

pub(crate) async fn delete(
    State(state): State<Arc<AppState>>,
    access: Access<AdminRole>,
    Path(id): Path<String>,
    Params(p): Params<StoreParam>,
) -> Result<impl IntoResponse, ApiError> {
    let result = state
        .scheduler
        .delete_task(&id, p.store.as_deref())
        .await
        .map_err(ApiError::from);
    audited(&state, &access.principal, "delete", &id, result)?;
    Ok(StatusCode::NO_CONTENT)
}

fn preview_count(count: Option<usize>) -> Result<usize, ApiError> {
    let count = count.unwrap_or(NEXT_FIRES);
    if count == 0 || count > PREVIEW_MAX {
        return Err(ApiError::invalid(
            "count",
            format!("{count} is not between 1 and {PREVIEW_MAX}"),
        ));
    }
    Ok(count)
}

pub(crate) async fn preview_task(
    State(state): State<Arc<AppState>>,
    _: Access<ReadRole>,
    Path(id): Path<String>,
    Params(p): Params<CountParam>,
) -> Result<impl IntoResponse, ApiError> {
    let count = preview_count(p.count)?;
    let task = state
        .scheduler
        .get_task(&id, p.store.as_deref())
        .await?
        .ok_or_else(|| ApiError::task_not_found(&id))?;
    let tz = state.scheduler.timezone();
    let fires = match task.next_run_time() {
        Some(_) => task.preview_run_times(tz, count),
        None => preview_fire_times(
            task.trigger().as_ref(),
            tz,
            state.scheduler.clock().now(),
            count,
        ),
    };
    Ok(Json(json!({ "fire_times": fires })))
}

pub(crate) async fn preview_trigger(
    State(state): State<Arc<AppState>>,
    _: Access<ReadRole>,
    Body(body): Body<PreviewTrigger>,
) -> Result<impl IntoResponse, ApiError> {
    let count = preview_count(body.count)?;
    let fires = state
        .scheduler
        .preview(body.trigger.spec()?, count, body.from)?;
    Ok(Json(json!({ "fire_times": fires })))
}
