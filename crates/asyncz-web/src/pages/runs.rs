//! History (run records), one run, and the nodes.

use std::sync::Arc;

use asyncz_core::cluster::{HistoryQuery, NodeState, RunRecord, RunState};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::page;
use super::tasks::urlencode;
use super::{api_error_page, humanize, page_error, Viewer};
use crate::{AppState, Role};

fn secs(d: Option<chrono::Duration>) -> String {
    match d {
        Some(d) => format!("{:.3} s", d.num_microseconds().unwrap_or(0) as f64 / 1e6),
        None => "—".to_owned(),
    }
}

/// A table of run records.
pub(crate) fn runs_table(viewer: &Viewer, runs: &[RunRecord], with_task: bool) -> Markup {
    html! {
        @if runs.is_empty() {
            p.muted { "No runs recorded (the run history needs a store with a ledger: SQL, Redis or MongoDB in cluster mode)." }
        } @else {
            div.table-wrap {
                table.runs {
                    thead { tr {
                        @if with_task { th scope="col" { "Task" } }
                        th scope="col" { "Scheduled" } th scope="col" { "State" } th scope="col" { "Duration" }
                        th scope="col" { "Lateness" } th scope="col" { "Node" } th scope="col" { "Error" }
                    } }
                    tbody {
                        @for run in runs {
                            tr {
                                @if with_task {
                                    td { a href=(viewer.href(&format!("/tasks/{}", urlencode(&run.task_id)))) { (run.task_id) } }
                                }
                                td { a href=(viewer.href(&format!("/runs/{}", urlencode(&run.run_id)))) { (viewer.time(run.scheduled_run_time)) } }
                                td { span class=(format!("run {}", run.state)) { (run.state) } }
                                td { (secs(run.duration())) }
                                td { (secs(run.lateness())) }
                                td { (run.node.clone().unwrap_or_default()) }
                                td.error { (run.error.clone().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct HistoryPage {
    state: Option<String>,
    #[allow(dead_code)]
    tz: Option<String>,
}

pub(crate) async fn history(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Query(q): Query<HistoryPage>,
) -> Response {
    if let Err(r) = viewer.require(Role::Read) {
        return r;
    }
    let mut query = HistoryQuery::new().limit(200);
    if let Some(s) = q.state.as_deref().filter(|s| !s.is_empty()) {
        match s.parse::<RunState>() {
            Ok(s) => query = query.states([s]),
            Err(e) => return page_error(&viewer, StatusCode::BAD_REQUEST, &e.to_string()),
        }
    }
    let runs = match state.scheduler.history(&query).await {
        Ok(runs) => runs,
        Err(e) => return api_error_page(&viewer, e.into()),
    };
    let content = html! {
        form.filters method="get" action=(viewer.href("/history")) {
            label { "State "
                select name="state" {
                    option value="" { "any" }
                    @for s in RunState::ALL {
                        option value=(s.as_str()) selected[q.state.as_deref() == Some(s.as_str())] { (s.as_str()) }
                    }
                }
            }
            button type="submit" { "Show" }
        }
        div #live-runs { (runs_table(&viewer, &runs, true)) }
    };
    page(&viewer, "History", content).into_response()
}

pub(crate) async fn run(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(run_id): Path<String>,
) -> Response {
    if let Err(r) = viewer.require(Role::Read) {
        return r;
    }
    let run = match state.scheduler.run_record(&run_id).await {
        Ok(Some(run)) => run,
        Ok(None) => {
            return page_error(
                &viewer,
                StatusCode::NOT_FOUND,
                &format!("no run with the id '{run_id}' was found"),
            )
        }
        Err(e) => return api_error_page(&viewer, e.into()),
    };
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| viewer.time(t)).unwrap_or_else(|| "—".into())
    };
    let content = html! {
        section.card {
            dl.facts {
                dt { "Run" } dd { code { (run.run_id) } }
                dt { "Task" } dd { a href=(viewer.href(&format!("/tasks/{}", urlencode(&run.task_id)))) { (run.task_id) } }
                dt { "State" } dd { span class=(format!("run {}", run.state)) { (run.state) } }
                dt { "Kind" } dd { (format!("{:?}", run.kind).to_lowercase()) }
                dt { "Scheduled" } dd { (viewer.time(run.scheduled_run_time)) }
                dt { "Started" } dd { (time(run.started_at)) }
                dt { "Finished" } dd { (time(run.finished_at)) }
                dt { "Duration" } dd { (secs(run.duration())) }
                dt { "Lateness" } dd { (secs(run.lateness())) }
                dt { "Node" } dd { (run.node.clone().unwrap_or_default()) }
                dt { "Attempt" } dd { (run.attempt) }
                dt { "Error" } dd { pre { (run.error.clone().unwrap_or_default()) } }
            }
        }
    };
    page(&viewer, "Run", content).into_response()
}

pub(crate) async fn nodes(State(state): State<Arc<AppState>>, viewer: Viewer) -> Response {
    if let Err(r) = viewer.require(Role::Read) {
        return r;
    }
    let nodes = match state.scheduler.nodes().await {
        Ok(nodes) => nodes,
        Err(e) => return api_error_page(&viewer, e.into()),
    };
    let content = html! {
        @if nodes.is_empty() { p.muted { "No cluster nodes (this scheduler does not run in a cluster)." } }
        @else {
            div.table-wrap {
                table.nodes {
                    thead { tr { th scope="col" { "Node" } th scope="col" { "Host" } th scope="col" { "Pid" } th scope="col" { "Started" } th scope="col" { "Heartbeat" } th scope="col" { "State" } th scope="col" { "Functions" } } }
                    tbody {
                        @for n in &nodes {
                            tr {
                                td { code { (n.node_id) } }
                                td { (n.host) }
                                td { (n.pid) }
                                td { (viewer.time(n.started_at)) }
                                td { (humanize((viewer.now - n.last_heartbeat).num_seconds().max(0) as u64)) " ago" }
                                td { span class=(if n.state == NodeState::Alive { "node alive" } else { "node dead" }) { (n.state.as_str()) } }
                                td {
                                    @if n.functions.is_empty() { span.muted { "not published" } }
                                    @else { (n.functions.join(", ")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(&viewer, "Nodes", content).into_response()
}
