//! The node registry on the `<table>_nodes` table: one row per node, its heartbeat on the
//! store's clock.

use std::time::Duration;

use asyncz_core::cluster::{NodeInfo, NodeState};
use asyncz_core::{Error, Result};

use super::{in_tx, micros_of, time_of};
use crate::store::{on_pool, IdColumn, IdParam, SqlStore};

const COLUMNS: &str = "node_id, host, pid, started_at, last_heartbeat, state, functions";

type NodeRow = (IdColumn, String, i64, i64, i64, String, Option<String>);

/// The `functions` column: the names as a JSON array (`NULL` for a node of a build that did
/// not publish them, or none registered).
fn functions_text(node: &NodeInfo) -> Option<String> {
    if node.functions.is_empty() {
        return None;
    }
    serde_json::to_string(&node.functions).ok()
}

/// The names in a `functions` column. They are advisory (only `asyncz doctor` reads them), so
/// a value that is not a JSON list of names is logged and read as none: it must not stop
/// `list_nodes` or `mark_dead_nodes`, whose deaths settle runs.
fn functions_of(node_id: &str, text: Option<&str>) -> Vec<String> {
    match text {
        None | Some("") => Vec::new(),
        Some(text) => serde_json::from_str(text).unwrap_or_else(|e| {
            tracing::warn!(
                target: "asyncz.stores",
                node = node_id,
                error = %e,
                "node '{node_id}' functions: not a JSON list of names; read as none"
            );
            Vec::new()
        }),
    }
}

fn state_of(node_id: &str, state: &str) -> Result<NodeState> {
    match state {
        "alive" => Ok(NodeState::Alive),
        "dead" => Ok(NodeState::Dead),
        other => Err(Error::invalid(
            format!("node '{node_id}' state"),
            format!("unknown node state {other:?} (expected alive or dead)"),
        )),
    }
}

fn node_of(row: NodeRow) -> Result<NodeInfo> {
    let (IdColumn(id), host, pid, started, beat, state, functions) = row;
    let functions = functions_of(&id, functions.as_deref());
    let pid = u32::try_from(pid)
        .map_err(|_| Error::invalid(format!("node '{id}' pid"), format!("{pid} is not a u32")))?;
    let started = time_of(&format!("node '{id}' started_at"), started)?;
    let beat = time_of(&format!("node '{id}' last_heartbeat"), beat)?;
    let state = state_of(&id, &state)?;
    let mut node = NodeInfo::new(id, host, pid, started);
    node.last_heartbeat = beat;
    node.state = state;
    node.functions = functions;
    Ok(node)
}

impl SqlStore {
    pub(super) async fn beat(&self, node: &NodeInfo) -> Result<Option<NodeState>> {
        let s = self.started()?;
        let c = &self.cluster_sql;
        let nodes = &c.names.nodes;
        let select = format!(
            "SELECT state FROM {nodes} WHERE node_id = {}{}",
            c.ph(1),
            c.for_update
        );
        let update = format!(
            "UPDATE {nodes} SET host = {}, pid = {}, started_at = {}, last_heartbeat = {}, state = 'alive', functions = {} WHERE node_id = {}",
            c.ph(1),
            c.ph(2),
            c.ph(3),
            c.ph(4),
            c.ph(5),
            c.ph(6)
        );
        let insert = format!(
            "INSERT INTO {nodes} ({COLUMNS}) VALUES ({}, {}, {}, {}, {}, 'alive', {})",
            c.ph(1),
            c.ph(2),
            c.ph(3),
            c.ph(4),
            c.ph(5),
            c.ph(6)
        );
        let functions = functions_text(node);
        let functions = functions.as_deref();
        let id = IdParam(&node.node_id);
        let (host, pid, started) = (
            node.host.as_str(),
            i64::from(node.pid),
            node.started_at.timestamp_micros(),
        );
        let before: Option<String> = in_tx!(self, s, |tx, now| {
            let before: Option<String> = sqlx::query_scalar(&select)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            match before {
                Some(_) => {
                    sqlx::query(&update)
                        .bind(host)
                        .bind(pid)
                        .bind(started)
                        .bind(now)
                        .bind(functions)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?
                }
                None => {
                    sqlx::query(&insert)
                        .bind(id)
                        .bind(host)
                        .bind(pid)
                        .bind(started)
                        .bind(now)
                        .bind(functions)
                        .execute(&mut *tx)
                        .await?
                }
            };
            before
        })
        .map_err(|e| self.db_error(&s, "cannot record a heartbeat", e))?;
        before
            .map(|state| state_of(&node.node_id, &state))
            .transpose()
    }

    pub(super) async fn nodes(&self) -> Result<Vec<NodeInfo>> {
        let s = self.started()?;
        let read = format!(
            "SELECT {COLUMNS} FROM {} ORDER BY CASE WHEN state = 'alive' THEN 0 ELSE 1 END, node_id",
            self.cluster_sql.names.nodes
        );
        let rows: Vec<NodeRow> = on_pool!(&s.backend, |pool| sqlx::query_as(&read)
            .fetch_all(pool)
            .await)
        .map_err(|e| self.db_error(&s, "cannot list nodes", e))?;
        rows.into_iter().map(node_of).collect()
    }

    pub(super) async fn mark_dead(&self, timeout: Duration) -> Result<Vec<NodeInfo>> {
        let s = self.started()?;
        let c = &self.cluster_sql;
        let nodes = &c.names.nodes;
        let select = format!(
            "SELECT {COLUMNS} FROM {nodes} WHERE state = 'alive' AND last_heartbeat < {} ORDER BY node_id{}",
            c.ph(1),
            c.skip_locked
        );
        let timeout = micros_of(timeout);
        let rows: Vec<NodeRow> = in_tx!(self, s, |tx, now| {
            let rows: Vec<NodeRow> = sqlx::query_as(&select)
                .bind(now.saturating_sub(timeout))
                .fetch_all(&mut *tx)
                .await?;
            for chunk in rows.chunks(500) {
                let update = format!(
                    "UPDATE {nodes} SET state = 'dead' WHERE state = 'alive' AND node_id IN ({})",
                    c.list(1, chunk.len())
                );
                let mut q = sqlx::query(&update);
                for (IdColumn(id), ..) in chunk {
                    q = q.bind(IdParam(id));
                }
                q.execute(&mut *tx).await?;
            }
            rows
        })
        .map_err(|e| self.locking_error(&s, "cannot mark dead nodes", e))?;
        rows.into_iter()
            .map(|row| {
                let mut node = node_of(row)?;
                node.state = NodeState::Dead;
                Ok(node)
            })
            .collect()
    }

    pub(super) async fn depart(&self, node_id: &str) -> Result<()> {
        let s = self.started()?;
        let leave = format!(
            "UPDATE {} SET state = 'dead' WHERE node_id = {}",
            self.cluster_sql.names.nodes,
            self.cluster_sql.ph(1)
        );
        on_pool!(&s.backend, |pool| sqlx::query(&leave)
            .bind(IdParam(node_id))
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(|e| self.db_error(&s, "cannot leave the cluster", e))
    }

    /// Deletes the nodes dead for longer than `dead_for` (heartbeat age on the database's
    /// clock, read in the same transaction).
    pub(super) async fn forget_dead(&self, dead_for: Duration) -> Result<u64> {
        let s = self.started()?;
        let delete = format!(
            "DELETE FROM {} WHERE state = 'dead' AND last_heartbeat < {}",
            self.cluster_sql.names.nodes,
            self.cluster_sql.ph(1)
        );
        let dead_for = micros_of(dead_for);
        in_tx!(self, s, |tx, now| {
            sqlx::query(&delete)
                .bind(now.saturating_sub(dead_for))
                .execute(&mut *tx)
                .await?
                .rows_affected()
        })
        .map_err(|e| self.db_error(&s, "cannot forget dead nodes", e))
    }
}
