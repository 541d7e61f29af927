//! Run and node records to BSON documents and back. Reading never panics: a field that is
//! missing or of the wrong type is an error naming the record, the field and what was found.

use asyncz_core::chrono::{DateTime, Utc};
use asyncz_core::cluster::{Fence, NodeInfo, NodeState, OnNodeDeath, RunKind, RunRecord, RunState};
use asyncz_core::{Error, Result};
use mongodb::bson::{doc, Bson, Document};

/// The error of a record that cannot be read.
fn bad(what: &str, id: &str, message: impl std::fmt::Display) -> Error {
    Error::backend("store (mongo)", format!("{what} '{id}': {message}"))
}

/// The id of a document, for error messages (`?` when it has none that is a string).
pub(super) fn id_of(document: &Document) -> String {
    match document.get("_id") {
        Some(Bson::String(id)) => id.clone(),
        Some(other) => other.to_string(),
        None => "?".to_owned(),
    }
}

/// An integer field (Int32, Int64, or a Double holding a whole number); `None` when absent
/// or null.
fn int(what: &str, document: &Document, field: &str) -> Result<Option<i64>> {
    match document.get(field) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Int32(v)) => Ok(Some(i64::from(*v))),
        Some(Bson::Int64(v)) => Ok(Some(*v)),
        #[allow(clippy::cast_possible_truncation)]
        Some(Bson::Double(v)) if v.fract() == 0.0 && v.abs() < 9.0e15 => Ok(Some(*v as i64)),
        Some(other) => Err(bad(
            what,
            &id_of(document),
            format!("field '{field}' is {other}, expected an integer"),
        )),
    }
}

fn required_int(what: &str, document: &Document, field: &str) -> Result<i64> {
    int(what, document, field)?.ok_or_else(|| {
        bad(
            what,
            &id_of(document),
            format!("field '{field}' is missing"),
        )
    })
}

fn string<'d>(what: &str, document: &'d Document, field: &str) -> Result<Option<&'d str>> {
    match document.get(field) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::String(s)) => Ok(Some(s)),
        Some(other) => Err(bad(
            what,
            &id_of(document),
            format!("field '{field}' is {other}, expected a string"),
        )),
    }
}

fn required_string<'d>(what: &str, document: &'d Document, field: &str) -> Result<&'d str> {
    string(what, document, field)?.ok_or_else(|| {
        bad(
            what,
            &id_of(document),
            format!("field '{field}' is missing"),
        )
    })
}

fn time(what: &str, document: &Document, field: &str) -> Result<Option<DateTime<Utc>>> {
    int(what, document, field)?
        .map(|us| {
            DateTime::<Utc>::from_timestamp_micros(us).ok_or_else(|| {
                bad(
                    what,
                    &id_of(document),
                    format!("field '{field}' = {us} µs is out of range"),
                )
            })
        })
        .transpose()
}

fn required_time(what: &str, document: &Document, field: &str) -> Result<DateTime<Utc>> {
    time(what, document, field)?.ok_or_else(|| {
        bad(
            what,
            &id_of(document),
            format!("field '{field}' is missing"),
        )
    })
}

/// A fence as stored (an integer; `i64` in BSON).
pub(super) fn fence_bson(fence: Fence) -> Result<i64> {
    i64::try_from(fence).map_err(|_| {
        Error::invalid(
            "fence",
            format!("{fence} is above the largest fence MongoDB stores (i64::MAX)"),
        )
    })
}

/// The fence of a task document (0 before its first claim).
pub(super) fn task_fence(document: &Document) -> Result<Fence> {
    let fence = int("task", document, "fence")?.unwrap_or(0);
    Fence::try_from(fence).map_err(|_| {
        bad(
            "task",
            &id_of(document),
            format!("field 'fence' = {fence} is negative"),
        )
    })
}

/// The fence of a task's last completed commit (0 before its first).
pub(super) fn committed_fence(document: &Document) -> Result<Fence> {
    let fence = int("task", document, "committed_fence")?.unwrap_or(0);
    Fence::try_from(fence).map_err(|_| {
        bad(
            "task",
            &id_of(document),
            format!("field 'committed_fence' = {fence} is negative"),
        )
    })
}

/// The document of `run`.
pub(super) fn run_document(run: &RunRecord) -> Result<Document> {
    Ok(doc! {
        "_id": &run.run_id,
        "task_id": &run.task_id,
        "scheduled_run_time": run.scheduled_run_time.timestamp_micros(),
        "kind": run.kind.as_str(),
        "state": run.state.as_str(),
        "node": run.node.clone(),
        "fence": fence_bson(run.fence)?,
        "attempt": i64::from(run.attempt),
        "on_node_death": run.on_node_death.as_str(),
        "created_at": run.created_at.timestamp_micros(),
        "started_at": run.started_at.map(|t| t.timestamp_micros()),
        "finished_at": run.finished_at.map(|t| t.timestamp_micros()),
        "error": run.error.clone(),
    })
}

/// The run in `document`.
pub(super) fn run_of(document: &Document) -> Result<RunRecord> {
    const RUN: &str = "run";
    let id = id_of(document);
    let parse = |field: &str| -> Result<&str> { required_string(RUN, document, field) };
    let kind = parse("kind")?
        .parse::<RunKind>()
        .map_err(|e| bad(RUN, &id, e))?;
    let state = parse("state")?
        .parse::<RunState>()
        .map_err(|e| bad(RUN, &id, e))?;
    let on_node_death = parse("on_node_death")?
        .parse::<OnNodeDeath>()
        .map_err(|e| bad(RUN, &id, e))?;
    let fence = required_int(RUN, document, "fence")?;
    let attempt = required_int(RUN, document, "attempt")?;
    let mut run = RunRecord::new(
        parse("task_id")?,
        required_time(RUN, document, "scheduled_run_time")?,
        kind,
        state,
        required_time(RUN, document, "created_at")?,
    );
    run.run_id = parse("_id")?.to_owned();
    run.node = string(RUN, document, "node")?.map(str::to_owned);
    run.fence = Fence::try_from(fence)
        .map_err(|_| bad(RUN, &id, format!("field 'fence' = {fence} is negative")))?;
    run.attempt = u32::try_from(attempt).map_err(|_| {
        bad(
            RUN,
            &id,
            format!("field 'attempt' = {attempt} is out of range"),
        )
    })?;
    run.on_node_death = on_node_death;
    run.started_at = time(RUN, document, "started_at")?;
    run.finished_at = time(RUN, document, "finished_at")?;
    run.error = string(RUN, document, "error")?.map(str::to_owned);
    Ok(run)
}

/// A node state as stored.
pub(super) fn node_state_of(document: &Document) -> Result<NodeState> {
    match required_string("node", document, "state")? {
        "alive" => Ok(NodeState::Alive),
        "dead" => Ok(NodeState::Dead),
        other => Err(bad(
            "node",
            &id_of(document),
            format!("unknown state {other:?} (expected alive or dead)"),
        )),
    }
}

/// The node in `document`.
pub(super) fn node_of(document: &Document) -> Result<NodeInfo> {
    const NODE: &str = "node";
    let pid = required_int(NODE, document, "pid")?;
    let pid = u32::try_from(pid).map_err(|_| {
        bad(
            NODE,
            &id_of(document),
            format!("field 'pid' = {pid} is out of range"),
        )
    })?;
    let mut node = NodeInfo::new(
        required_string(NODE, document, "_id")?,
        required_string(NODE, document, "host")?,
        pid,
        required_time(NODE, document, "started_at")?,
    );
    node.last_heartbeat = required_time(NODE, document, "last_heartbeat")?;
    node.state = node_state_of(document)?;
    node.functions = functions_of(document);
    Ok(node)
}

/// The `functions` a node published (missing: a node of a build that did not publish them).
/// They are advisory (only `asyncz doctor` reads them), so a value that is not a list of
/// strings is logged, naming what was found, and read as none: it must not stop listing nodes
/// or marking them dead.
pub(super) fn functions_of(document: &Document) -> Vec<String> {
    let found = match document.get("functions") {
        None | Some(Bson::Null) => return Vec::new(),
        Some(Bson::Array(items)) => {
            let names: Option<Vec<String>> = items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect();
            match names {
                Some(names) => return names,
                None => format!(
                    "a list holding {:?}",
                    items.iter().find(|i| i.as_str().is_none())
                ),
            }
        }
        Some(other) => format!("{:?}", other.element_type()),
    };
    tracing::warn!(
        target: "asyncz.stores",
        node = %id_of(document),
        "node '{}' field 'functions' is {found}, not a list of names; read as none",
        id_of(document)
    );
    Vec::new()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_run_reads_back_as_written() {
        let t = DateTime::<Utc>::from_timestamp_micros(1_767_225_600_123_457).unwrap();
        let mut run = RunRecord::new("t", t, RunKind::Manual, RunState::Failed, t)
            .with_owner("n", 7)
            .with_on_node_death(OnNodeDeath::Rerun)
            .with_error("boom");
        run.attempt = 3;
        run.started_at = Some(t);
        run.finished_at = Some(t);
        assert_eq!(run_of(&run_document(&run).unwrap()).unwrap(), run);
        let requested = RunRecord::new("t", t, RunKind::Scheduled, RunState::Requested, t);
        assert_eq!(
            run_of(&run_document(&requested).unwrap()).unwrap(),
            requested
        );
    }

    #[test]
    fn a_bad_run_document_is_an_error_naming_the_field_and_value() {
        let t = DateTime::<Utc>::from_timestamp_micros(0).unwrap();
        let run = RunRecord::new("t", t, RunKind::Manual, RunState::Requested, t);
        let mut document = run_document(&run).unwrap();
        document.insert("state", "exploded");
        let e = run_of(&document).unwrap_err().to_string();
        assert!(e.contains(&run.run_id) && e.contains("exploded"), "{e}");
        document.insert("state", "requested");
        document.insert("attempt", "one");
        let e = run_of(&document).unwrap_err().to_string();
        assert!(e.contains("'attempt'") && e.contains("one"), "{e}");
        document.insert("attempt", -1_i64);
        let e = run_of(&document).unwrap_err().to_string();
        assert!(e.contains("'attempt' = -1"), "{e}");
        document.remove("created_at");
        let e = run_of(&document).unwrap_err().to_string();
        assert!(e.contains("'created_at' is missing"), "{e}");
    }

    #[test]
    fn a_fence_is_read_from_any_integer_type_and_0_when_absent() {
        assert_eq!(task_fence(&doc! {"_id": "t"}).unwrap(), 0);
        assert_eq!(task_fence(&doc! {"_id": "t", "fence": 3_i32}).unwrap(), 3);
        assert_eq!(task_fence(&doc! {"_id": "t", "fence": 4_i64}).unwrap(), 4);
        assert_eq!(task_fence(&doc! {"_id": "t", "fence": 5.0}).unwrap(), 5);
        let e = task_fence(&doc! {"_id": "t", "fence": -1_i64})
            .unwrap_err()
            .to_string();
        assert!(e.contains("'t'") && e.contains("-1"), "{e}");
        assert!(fence_bson(u64::MAX)
            .unwrap_err()
            .to_string()
            .contains(&u64::MAX.to_string()));
    }
}
