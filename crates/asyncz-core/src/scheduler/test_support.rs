//! Stores for the parts' unit tests.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::store::{Store, StoreContext};
use crate::task::Task;
use crate::Result;

/// A store whose every call hangs, like an unreachable server.
#[derive(Debug)]
pub(crate) struct NeverAnswers;

#[async_trait]
impl Store for NeverAnswers {
    fn kind(&self) -> &'static str {
        "never"
    }
    fn is_persistent(&self) -> bool {
        true
    }
    async fn start(&self, _ctx: StoreContext) -> Result<()> {
        futures::future::pending().await
    }
    async fn shutdown(&self) -> Result<()> {
        futures::future::pending().await
    }
    async fn lookup_task(&self, _id: &str) -> Result<Option<Task>> {
        futures::future::pending().await
    }
    async fn get_due_tasks(&self, _now: DateTime<Utc>) -> Result<Vec<Task>> {
        futures::future::pending().await
    }
    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        futures::future::pending().await
    }
    async fn get_all_tasks(&self) -> Result<Vec<Task>> {
        futures::future::pending().await
    }
    async fn add_task(&self, _task: &Task) -> Result<()> {
        futures::future::pending().await
    }
    async fn update_task(&self, _task: &Task) -> Result<()> {
        futures::future::pending().await
    }
    async fn delete_task(&self, _id: &str) -> Result<()> {
        futures::future::pending().await
    }
    async fn remove_all_tasks(&self) -> Result<()> {
        futures::future::pending().await
    }
}
