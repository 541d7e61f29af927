//! Request and response bodies, validated by serde (unknown fields are refused, so a typo is a
//! 400 naming it rather than a silently ignored option).

use std::time::Duration;

use asyncz_core::{Map, TaskInfo, TriggerSpec, Value};
use axum::extract::{FromRequest, FromRequestParts};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

use crate::ApiError;

/// `axum::Json` whose rejection is an [`ApiError`].
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(crate) struct Body<T>(pub(crate) T);

/// `axum::extract::Query` whose rejection is an [`ApiError`].
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(crate) struct Params<T>(pub(crate) T);

/// A trigger: its plugin alias in `type`, its arguments beside it
/// (`{"type": "cron", "hour": "9", "day_of_week": "mon-fri"}`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TriggerBody {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(flatten)]
    pub(crate) args: Map,
}

impl TriggerBody {
    pub(crate) fn spec(&self) -> Result<TriggerSpec, ApiError> {
        if self.kind.trim().is_empty() {
            return Err(ApiError::invalid(
                "trigger.type",
                "must name a trigger (cron, interval, date, ...)",
            ));
        }
        TriggerSpec::alias(self.kind.trim(), Value::Object(self.args.clone())).map_err(Into::into)
    }
}

/// A present field whose value may be null: `Some(None)` for null, `None` when absent.
pub(crate) fn some<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Seconds (a non-negative finite number) as a duration; the error names `field`.
pub(crate) fn seconds(field: &str, secs: f64) -> Result<Duration, ApiError> {
    Duration::try_from_secs_f64(secs).map_err(|_| {
        ApiError::invalid(
            field,
            format!("{secs} is not a non-negative number of seconds"),
        )
    })
}

/// `POST /tasks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddTask {
    /// A function registered with the scheduler (never a path to import).
    pub(crate) function: String,
    pub(crate) trigger: TriggerBody,
    pub(crate) id: Option<String>,
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) args: Vec<Value>,
    #[serde(default)]
    pub(crate) kwargs: Map,
    pub(crate) executor: Option<String>,
    pub(crate) store: Option<String>,
    pub(crate) coalesce: Option<bool>,
    pub(crate) max_instances: Option<u32>,
    /// Seconds; null for no limit.
    #[serde(default, deserialize_with = "some")]
    pub(crate) mistrigger_grace_time: Option<Option<f64>>,
    #[serde(default)]
    pub(crate) paused: bool,
    #[serde(default)]
    pub(crate) replace_existing: bool,
}

/// `PATCH /tasks/{id}`: only the fields given change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateTask {
    pub(crate) name: Option<String>,
    pub(crate) function: Option<String>,
    pub(crate) args: Option<Vec<Value>>,
    pub(crate) kwargs: Option<Map>,
    pub(crate) trigger: Option<TriggerBody>,
    pub(crate) executor: Option<String>,
    pub(crate) coalesce: Option<bool>,
    pub(crate) max_instances: Option<u32>,
    #[serde(default, deserialize_with = "some")]
    pub(crate) mistrigger_grace_time: Option<Option<f64>>,
}

/// `POST /tasks/{id}/reschedule`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Reschedule {
    pub(crate) trigger: TriggerBody,
}

/// `POST /preview`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreviewTrigger {
    pub(crate) trigger: TriggerBody,
    pub(crate) count: Option<usize>,
    pub(crate) from: Option<chrono::DateTime<chrono::Utc>>,
}

/// `?store=`: which store a task is in (default: every store).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreParam {
    pub(crate) store: Option<String>,
}

/// `?count=&store=` of a task's preview.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CountParam {
    pub(crate) count: Option<usize>,
    pub(crate) store: Option<String>,
}

/// `GET /tasks`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListTasks {
    pub(crate) state: Option<String>,
    pub(crate) executor: Option<String>,
    pub(crate) trigger: Option<String>,
    pub(crate) store: Option<String>,
    pub(crate) q: Option<String>,
    pub(crate) sort_by: Option<String>,
    #[serde(default)]
    pub(crate) desc: bool,
    pub(crate) page: Option<usize>,
    pub(crate) per_page: Option<usize>,
}

/// `GET /history`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryParams {
    pub(crate) task: Option<String>,
    /// Comma-separated run states.
    pub(crate) state: Option<String>,
    pub(crate) before: Option<chrono::DateTime<chrono::Utc>>,
    pub(crate) limit: Option<usize>,
}

/// A task as the API shows it: its [`TaskInfo`] fields (durations in seconds) plus `version`,
/// the token `If-Match` takes, which changes whenever an operator-editable field does (not
/// when it merely fires), and, on a single task, its next fire times.
#[derive(Debug)]
pub(crate) struct TaskView {
    pub(crate) info: TaskInfo,
    pub(crate) version: String,
    pub(crate) next_fire_times: Option<Vec<chrono::DateTime<chrono::Utc>>>,
}

impl TaskView {
    pub(crate) fn new(info: TaskInfo) -> Self {
        let version = version_of(&info);
        TaskView {
            info,
            version,
            next_fire_times: None,
        }
    }
}

impl Serialize for TaskView {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut value = serde_json::to_value(&self.info).map_err(serde::ser::Error::custom)?;
        if let Some(map) = value.as_object_mut() {
            let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
            map.insert(
                "mistrigger_grace_time".into(),
                serde_json::json!(secs(self.info.mistrigger_grace_time)),
            );
            map.insert(
                "catchup_window".into(),
                serde_json::json!(secs(self.info.catchup_window)),
            );
            map.insert("version".into(), serde_json::json!(self.version));
            if let Some(fires) = &self.next_fire_times {
                map.insert("next_fire_times".into(), serde_json::json!(fires));
            }
        }
        value.serialize(s)
    }
}

/// The concurrency token of a task: a hash of what an edit can change.
pub(crate) fn version_of(info: &TaskInfo) -> String {
    let editable = serde_json::json!([
        info.name,
        info.callable_name,
        info.callable_reference,
        info.trigger_description,
        info.executor,
        info.coalesce,
        info.max_instances,
        info.mistrigger_grace_time.map(|d| d.as_secs_f64()),
        info.paused,
        info.args,
        info.kwargs,
    ]);
    let digest = Sha256::digest(editable.to_string().as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}
