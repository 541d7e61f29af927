//! `claim_round` with a look first: one plain statement (no transaction, no lock) answers
//! whether any run request waits and any task is due, and the earliest next run time. An
//! idle poll ends there — one statement per poll and node instead of a transaction of five
//! — and a busy one goes on to the claims.

use asyncz_core::cluster::{ClaimRequest, ClaimedRound};
use asyncz_core::Result;

use crate::store::SqlStore;

impl SqlStore {
    /// The statement of [`SqlStore::peek`]: `(requests waiting, tasks due, earliest next
    /// run time)`, each of the counts 0 or 1 (`LIMIT 1` inside: index range scans).
    fn peek_sql(&self) -> String {
        let c = &self.cluster_sql;
        format!(
            "SELECT \
             (SELECT COUNT(*) FROM (SELECT 1 AS x FROM {runs} WHERE state = 'requested' LIMIT 1) r), \
             (SELECT COUNT(*) FROM (SELECT 1 AS x FROM {tasks} WHERE next_run_time <= {now} LIMIT 1) d), \
             (SELECT MIN(next_run_time) FROM {tasks})",
            runs = c.names.runs,
            tasks = c.names.tasks,
            now = c.ph(1),
        )
    }

    pub(super) async fn claim_round_peeking(
        &self,
        request: ClaimRequest<'_>,
    ) -> Result<ClaimedRound> {
        let s = self.started()?;
        let peek = self.peek_sql();
        let (requested, due, next): (i64, i64, Option<i64>) =
            crate::store::on_pool!(&s.backend, |pool| sqlx::query_as(&peek)
                .bind(request.now.timestamp_micros())
                .fetch_one(pool)
                .await)
            .map_err(|e| self.db_error(&s, "cannot look for due tasks and run requests", e))?;
        if requested == 0 && due == 0 {
            // An undecodable record's time must not wake the engine: with any, the
            // scheduler asks `get_next_run_time`, which skips them.
            let next = self
                .started
                .undecodable()
                .is_empty()
                .then(|| next.and_then(asyncz_core::chrono::DateTime::from_timestamp_micros));
            return Ok(ClaimedRound::new(Vec::new(), Vec::new(), next));
        }
        let requests = if requested > 0 {
            self.take_requests(request.node, request.limit).await?
        } else {
            Vec::new()
        };
        let tasks = if due > 0 {
            self.claim(request).await?
        } else {
            Vec::new()
        };
        Ok(ClaimedRound::new(requests, tasks, None))
    }
}
