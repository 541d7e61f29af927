//! The overview: counts by state, the next fires, failing tasks, nodes alive, recent runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use asyncz_core::cluster::{HistoryQuery, NodeState, RunState};
use asyncz_core::TaskInfoQuery;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::layout::{notice, page};
use super::runs::runs_table;
use super::tasks::urlencode;
use super::{api_error_page, Viewer};
use crate::{AppState, Role};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct OverviewQuery {
    notice: Option<String>,
    #[allow(dead_code)]
    tz: Option<String>,
}

pub(crate) async fn show(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Query(q): Query<OverviewQuery>,
) -> Response {
    if let Err(r) = viewer.require(Role::Read) {
        return r;
    }
    let infos = match state.scheduler.get_task_infos(&TaskInfoQuery::new()).await {
        Ok(infos) => infos,
        Err(e) => return api_error_page(&viewer, e.into()),
    };
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for info in &infos {
        *counts.entry(info.schedule_state.as_str()).or_default() += 1;
    }
    let next: Vec<_> = infos
        .iter()
        .filter(|i| i.next_run_time.is_some())
        .take(10)
        .collect();
    let recent = state
        .scheduler
        .history(&HistoryQuery::new().limit(20))
        .await
        .unwrap_or_default();
    let failing = state
        .scheduler
        .history(&HistoryQuery::new().states([RunState::Failed]).limit(10))
        .await
        .unwrap_or_default();
    let nodes = if state.clustered() {
        state.scheduler.nodes().await.unwrap_or_default()
    } else {
        Vec::new()
    };
    let alive = nodes.iter().filter(|n| n.state == NodeState::Alive).count();
    let content = html! {
        (notice(q.notice.as_deref()))
        section.stats aria-label="Counts" {
            div.stat { span.n { (infos.len()) } span.l { "tasks" } }
            div.stat { span.n { (counts.get("scheduled").copied().unwrap_or(0)) } span.l { "scheduled" } }
            div.stat { span.n { (counts.get("paused").copied().unwrap_or(0)) } span.l { "paused" } }
            div.stat { span.n { (alive) } span.l { "nodes alive" } }
        }
        div.grid {
            section.card {
                h2 { "Next fires" }
                @if next.is_empty() { p.muted { "Nothing is scheduled." } }
                ol.fires {
                    @for info in &next {
                        @if let Some(t) = info.next_run_time {
                            li {
                                a href=(viewer.href(&format!("/tasks/{}", urlencode(&info.id)))) { (info.name) }
                                " · " time datetime=(t.to_rfc3339()) title=(viewer.time(t)) { (viewer.relative(t)) }
                            }
                        }
                    }
                }
            }
            section.card {
                h2 { "Failing" }
                @if failing.is_empty() { p.muted { "No failed runs recorded." } }
                ul {
                    @for run in &failing {
                        li {
                            a href=(viewer.href(&format!("/tasks/{}", urlencode(&run.task_id)))) { (run.task_id) }
                            " · " span.error { (run.error.clone().unwrap_or_default()) }
                        }
                    }
                }
            }
        }
        section.card {
            h2 { "Recent runs" }
            div #live-runs { (runs_table(&viewer, &recent, true)) }
        }
    };
    page(&viewer, "Overview", content).into_response()
}
