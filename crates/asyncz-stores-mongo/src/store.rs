//! The MongoDB store implementation.

use std::sync::Arc;
use std::time::Duration;

use asyncz_core::chrono::{DateTime, Utc};
use asyncz_core::cluster::ClusterStore;
use asyncz_core::record::StartedCell;
use asyncz_core::{async_trait, Error, Result, ScheduleChange, Store, StoreContext, Task};
use futures::TryStreamExt;
use mongodb::bson::{doc, spec::BinarySubtype, Binary, Bson, Document};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Collection, IndexModel};

use crate::config::{redact, MongoStoreConfig};

pub(crate) type Started = asyncz_core::record::Started<Collections>;

/// The collections of one started store: the tasks, and beside them (`<collection>_runs`,
/// `<collection>_nodes`) the cluster's run ledger and node registry.
#[derive(Debug, Clone)]
pub(crate) struct Collections {
    /// `{_id, next_run_time, state}`, plus `claimed_by`, `claimed_until` and `fence` while a
    /// cluster node holds (or held) a claim.
    pub(crate) tasks: Collection<Document>,
    /// One document per run (see `cluster::documents`).
    pub(crate) runs: Collection<Document>,
    /// One document per node.
    pub(crate) nodes: Collection<Document>,
}

/// Keeps tasks in MongoDB (spec: `MongoDBStore`).
#[derive(Debug, Clone)]
pub struct MongoStore {
    config: MongoStoreConfig,
    pub(crate) started: Arc<StartedCell<Collections>>,
    /// A client the application gave (used instead of connecting to `config.url`).
    client: Option<mongodb::Client>,
}

pub(crate) fn binary(bytes: Vec<u8>) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes,
    })
}

pub(crate) fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    match e.kind.as_ref() {
        mongodb::error::ErrorKind::Write(mongodb::error::WriteFailure::WriteError(w)) => {
            w.code == 11000
        }
        mongodb::error::ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .is_some_and(|errs| errs.iter().any(|w| w.code == 11000)),
        mongodb::error::ErrorKind::Command(c) => c.code == 11000,
        _ => e.to_string().contains("E11000") || e.to_string().contains("duplicate key"),
    }
}

impl MongoStore {
    /// A store for `config` (connects on start).
    pub fn new(config: MongoStoreConfig) -> Self {
        MongoStore {
            config,
            started: Arc::new(StartedCell::new(crate::ALIAS)),
            client: None,
        }
    }

    /// A store on a client the application already has (`config.url` is ignored).
    pub fn with_client(client: mongodb::Client, config: MongoStoreConfig) -> Self {
        MongoStore {
            client: Some(client),
            ..MongoStore::new(config)
        }
    }

    /// (database, collection).
    pub fn names(&self) -> (&str, &str) {
        (&self.config.database, &self.config.collection)
    }

    pub(crate) fn started(&self) -> Result<Arc<Started>> {
        self.started.get()
    }

    pub(crate) fn err(&self, s: &Started, what: &str, e: mongodb::error::Error) -> Error {
        Error::backend(
            format!("store '{}' (mongo)", s.alias()),
            format!("{what}: {e}"),
        )
    }

    /// The task in `document`; one without a binary state, or whose state does not decode,
    /// is an [`Error::Decode`] (and noted as undecodable).
    pub(crate) fn read(s: &Started, document: &Document) -> Result<Task> {
        let id = document.get_str("_id").unwrap_or_default();
        match document.get("state") {
            Some(Bson::Binary(b)) => s.records.read(id, &b.bytes),
            _ => Err(s.records.reject(id, "the document has no binary 'state'")),
        }
    }

    /// The tasks of every document that decodes; the others are noted and skipped.
    fn read_all(s: &Started, documents: &[Document]) -> Vec<Task> {
        documents
            .iter()
            .filter_map(|d| Self::read(s, d).ok())
            .collect()
    }

    fn document(&self, s: &Started, task: &Task) -> Result<Document> {
        let bytes = s.records.encode(task)?;
        let mut document = doc! { "_id": task.id(), "state": binary(bytes) };
        if let Some(t) = task.next_run_time() {
            document.insert("next_run_time", t.timestamp_micros());
        }
        Ok(document)
    }

    /// Overwrites the raw state of a record (tests of undecodable records; feature
    /// `testing`).
    #[cfg(feature = "testing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
    pub async fn write_raw_state(&self, task_id: &str, bytes: &[u8]) -> Result<()> {
        let s = self.started()?;
        s.backend
            .tasks
            .update_one(
                doc! {"_id": task_id},
                doc! {"$set": {"state": binary(bytes.to_vec())}},
            )
            .await
            .map_err(|e| self.err(&s, "cannot write", e))?;
        Ok(())
    }

    /// Whether a raw record exists for `task_id`, decodable or not.
    pub async fn record_exists(&self, task_id: &str) -> Result<bool> {
        let s = self.started()?;
        let n = s
            .backend
            .tasks
            .count_documents(doc! {"_id": task_id})
            .await
            .map_err(|e| self.err(&s, "cannot read", e))?;
        Ok(n > 0)
    }

    /// Drops the collection, and the run ledger and node registry beside it (tests and
    /// tooling).
    pub async fn drop_collection(&self) -> Result<()> {
        let s = self.started()?;
        let c = &s.backend;
        for collection in [&c.tasks, &c.runs, &c.nodes] {
            collection
                .drop()
                .await
                .map_err(|e| self.err(&s, &format!("cannot drop '{}'", collection.name()), e))?;
        }
        Ok(())
    }

    /// The collection on a client that answered a ping within `connect_timeout`. A client made
    /// here has it as its connect and server selection timeouts, so later operations are
    /// bounded the same way; an application's own client is bounded here by a timer.
    async fn connect(&self, alias: &str, backend: &str) -> Result<Collection<Document>> {
        let timeout = self.config.connect_timeout;
        let url = redact(&self.config.url);
        let connecting = async {
            // Err: the URL is wrong; Ok(Err): the server did not answer.
            let client = match &self.client {
                Some(client) => client.clone(),
                None => {
                    let mut options = ClientOptions::parse(&self.config.url)
                        .await
                        .map_err(|e| Error::invalid("stores.mongo.url", format!("'{url}': {e}")))?;
                    options.connect_timeout = Some(timeout);
                    options.server_selection_timeout = Some(timeout);
                    mongodb::Client::with_options(options)
                        .map_err(|e| Error::invalid("stores.mongo.url", format!("'{url}': {e}")))?
                }
            };
            let database = client.database(&self.config.database);
            match database.run_command(doc! {"ping": 1}).await {
                Ok(_) => Ok(Ok(database.collection::<Document>(&self.config.collection))),
                Err(e) => Ok(Err(e.to_string())),
            }
        };
        // The driver gives up after `timeout` with the cause; the timer (a moment later) is
        // for a client that is not ours, and for URL resolution (mongodb+srv://).
        let outcome = tokio::time::timeout(timeout + Duration::from_secs(1), connecting).await;
        let error = match outcome {
            Ok(Ok(Ok(collection))) => return Ok(collection),
            Ok(Ok(Err(e))) => e,
            // A URL the driver cannot read: a configuration error, not a connection failure.
            Ok(Err(e)) => return Err(e),
            Err(_) => "timed out".to_owned(),
        };
        tracing::warn!(
            target: "asyncz.stores.mongo",
            store = ?alias,
            url = ?url,
            error = ?error,
            "cannot connect to MongoDB"
        );
        Err(Error::backend(
            backend,
            format!("cannot connect within connect_timeout = {timeout:?}: {error}"),
        ))
    }

    async fn find(&self, s: &Started, filter: Document, sorted: bool) -> Result<Vec<Document>> {
        let mut find = s.backend.tasks.find(filter);
        if sorted {
            find = find.sort(doc! {"next_run_time": 1, "_id": 1});
        }
        let cursor = find
            .await
            .map_err(|e| self.err(s, "cannot read tasks", e))?;
        cursor
            .try_collect()
            .await
            .map_err(|e| self.err(s, "cannot read tasks", e))
    }
}

/// How many statements one `update` or `delete` command of `store_schedules` carries at
/// most, and about how many bytes (a command must stay under the server's 16 MiB).
const SCHEDULES_PER_COMMAND: usize = 200;
const SCHEDULE_BYTES_PER_COMMAND: usize = 4 << 20;

fn chunks<T>(items: &[T], size: impl Fn(&T) -> usize) -> Vec<&[T]> {
    asyncz_core::chunks_by(
        items,
        SCHEDULES_PER_COMMAND,
        SCHEDULE_BYTES_PER_COMMAND,
        size,
    )
}

/// The update that stores `task` (encoded as `bytes`). The same write ends any cluster claim
/// on the task (clears it, moves its fence), so a node that claimed it before this change
/// cannot commit over it.
fn update_of(task: &Task, bytes: Vec<u8>) -> Document {
    match task.next_run_time() {
        Some(t) => doc! {
            "$set": {"state": binary(bytes), "next_run_time": t.timestamp_micros()},
            "$unset": {"claimed_by": "", "claimed_until": ""},
            "$inc": {"fence": 1_i64},
        },
        // Paused: the field goes away, so the sparse index leaves the task out.
        None => doc! {
            "$set": {"state": binary(bytes)},
            "$unset": {"next_run_time": "", "claimed_by": "", "claimed_until": ""},
            "$inc": {"fence": 1_i64},
        },
    }
}

impl MongoStore {
    /// Runs a multi-statement write command; returns how many documents it matched (`n`).
    /// A statement's write error fails the whole call.
    async fn write_command(
        &self,
        s: &Started,
        database: &mongodb::Database,
        command: Document,
        what: &str,
    ) -> Result<usize> {
        let mut command = command;
        // `run_command` applies no write concern of its own: pass the collection's (from the
        // URL or the client), so a `w=majority` is honoured as by `update_one`.
        if let Some(concern) = s.backend.tasks.write_concern() {
            let concern = mongodb::bson::to_document(concern).map_err(|e| {
                Error::backend(
                    format!("store '{}' (mongo)", s.alias()),
                    format!("{what}: cannot encode the write concern: {e}"),
                )
            })?;
            if !concern.is_empty() {
                command.insert("writeConcern", concern);
            }
        }
        let reply = database
            .run_command(command)
            .await
            .map_err(|e| self.err(s, what, e))?;
        if let Ok(error) = reply.get_document("writeConcernError") {
            return Err(Error::backend(
                format!("store '{}' (mongo)", s.alias()),
                format!("{what}: {error:?}"),
            ));
        }
        if let Ok(errors) = reply.get_array("writeErrors") {
            if !errors.is_empty() {
                return Err(Error::backend(
                    format!("store '{}' (mongo)", s.alias()),
                    format!("{what}: {errors:?}"),
                ));
            }
        }
        let n = match reply.get("n") {
            Some(Bson::Int32(n)) => i64::from(*n),
            Some(Bson::Int64(n)) => *n,
            Some(Bson::Double(n)) => *n as i64,
            _ => 0,
        };
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Which of `ids` are stored.
    async fn stored_of(
        &self,
        s: &Started,
        ids: &[&str],
    ) -> Result<std::collections::HashSet<String>> {
        let found: Vec<Document> = s
            .backend
            .tasks
            .find(doc! {"_id": {"$in": ids.to_vec()}})
            .projection(doc! {"_id": 1})
            .await
            .map_err(|e| self.err(s, "cannot read", e))?
            .try_collect()
            .await
            .map_err(|e| self.err(s, "cannot read", e))?;
        Ok(found
            .iter()
            .filter_map(|d| d.get_str("_id").ok().map(str::to_owned))
            .collect())
    }
}

#[async_trait]
impl Store for MongoStore {
    fn kind(&self) -> &'static str {
        crate::ALIAS
    }

    fn is_persistent(&self) -> bool {
        true
    }

    async fn start(&self, ctx: StoreContext) -> Result<()> {
        let records = self
            .started
            .records(ctx, self.config.encryption_key.as_deref())?;
        let url = redact(&self.config.url);
        let backend = format!("store '{}' (mongo, {url})", records.alias());
        let collection = self.connect(records.alias(), &backend).await?;
        let index = IndexModel::builder()
            .keys(doc! {"next_run_time": 1})
            .options(IndexOptions::builder().sparse(true).build())
            .build();
        collection
            .create_index(index)
            .await
            .map_err(|e| Error::backend(&backend, format!("cannot create the index: {e}")))?;
        let collections = crate::cluster::collections_beside(collection, &backend).await?;
        self.started.set(records, collections);
        Ok(())
    }

    async fn shutdown(&self) -> Result<()> {
        if let Some(s) = self.started.take() {
            // A client made here is shut down now. Dropped instead, the driver ends its
            // sessions in a task spawned on the runtime, and that task panics inside the
            // driver when the runtime is going away (a CLI process exiting prints the trace).
            // An application's own client stays open: it is theirs to close.
            if self.client.is_none() {
                s.backend
                    .tasks
                    .client()
                    .clone()
                    .shutdown()
                    .immediate(true)
                    .await;
            }
        }
        Ok(())
    }

    async fn lookup_task(&self, task_id: &str) -> Result<Option<Task>> {
        let s = self.started()?;
        let found = s
            .backend
            .tasks
            .find_one(doc! {"_id": task_id})
            .await
            .map_err(|e| self.err(&s, "cannot read", e))?;
        found.map(|document| Self::read(&s, &document)).transpose()
    }

    async fn get_due_tasks(&self, now: DateTime<Utc>) -> Result<Vec<Task>> {
        let s = self.started()?;
        let documents = self
            .find(
                &s,
                doc! {"next_run_time": {"$lte": now.timestamp_micros()}},
                true,
            )
            .await?;
        Ok(Self::read_all(&s, &documents))
    }

    async fn get_next_run_time(&self) -> Result<Option<DateTime<Utc>>> {
        let s = self.started()?;
        // Undecodable records never run, so their times must not wake the engine: of the
        // first `len + 1` scheduled records, at least one is not among them.
        let skip = self.started.undecodable().len();
        let cursor = s
            .backend
            .tasks
            .find(doc! {"next_run_time": {"$exists": true}})
            .sort(doc! {"next_run_time": 1, "_id": 1})
            .projection(doc! {"next_run_time": 1})
            .limit(i64::try_from(skip).unwrap_or(i64::MAX).saturating_add(1))
            .await
            .map_err(|e| self.err(&s, "cannot read the next run time", e))?;
        let first: Vec<Document> = cursor
            .try_collect()
            .await
            .map_err(|e| self.err(&s, "cannot read the next run time", e))?;
        Ok(first
            .iter()
            .find(|d| {
                !self
                    .started
                    .undecodable()
                    .contains(d.get_str("_id").unwrap_or_default())
            })
            .and_then(|d| d.get_i64("next_run_time").ok())
            .and_then(DateTime::<Utc>::from_timestamp_micros))
    }

    async fn get_all_tasks(&self) -> Result<Vec<Task>> {
        let s = self.started()?;
        let documents = self.find(&s, doc! {}, false).await?;
        let mut tasks = Self::read_all(&s, &documents);
        asyncz_core::sort_tasks(&mut tasks);
        Ok(tasks)
    }

    async fn add_task(&self, task: &Task) -> Result<()> {
        let s = self.started()?;
        let document = self.document(&s, task)?;
        match s.backend.tasks.insert_one(document).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => Err(Error::conflict(task.id())),
            Err(e) => Err(self.err(&s, "cannot insert", e)),
        }
    }

    async fn update_task(&self, task: &Task) -> Result<()> {
        let s = self.started()?;
        let update = update_of(task, s.records.encode(task)?);
        let result = s
            .backend
            .tasks
            .update_one(doc! {"_id": task.id()}, update)
            .await
            .map_err(|e| self.err(&s, "cannot update", e))?;
        if result.matched_count == 0 {
            return Err(Error::task_lookup(task.id()));
        }
        self.started.undecodable().clear(task.id());
        Ok(())
    }

    async fn delete_task(&self, task_id: &str) -> Result<()> {
        let s = self.started()?;
        // A claim on the task goes with its document: a commit under it matches nothing.
        let result = s
            .backend
            .tasks
            .delete_one(doc! {"_id": task_id})
            .await
            .map_err(|e| self.err(&s, "cannot delete", e))?;
        if result.deleted_count == 0 {
            return Err(Error::task_lookup(task_id));
        }
        self.started.undecodable().clear(task_id);
        Ok(())
    }

    fn batches_schedules(&self) -> bool {
        true
    }

    /// The changes in `update` and `delete` commands of up to 200 statements each: a round
    /// trip per 200 tasks instead of one per task. Not one transaction (each document's write
    /// is atomic on its own, as with `update_task`).
    async fn store_schedules(&self, changes: &[ScheduleChange]) -> Result<Vec<Result<()>>> {
        let s = self.started()?;
        let tasks = &s.backend.tasks;
        let ns = tasks.namespace();
        let database = tasks.client().database(&ns.db);
        let mut results: Vec<Option<Result<()>>> = Vec::with_capacity(changes.len());
        // (index, id, update, encoded size)
        let mut updates: Vec<(usize, &str, Document, usize)> = Vec::new();
        let mut deletes: Vec<(usize, &str)> = Vec::new();
        for (i, change) in changes.iter().enumerate() {
            results.push(None);
            match change {
                ScheduleChange::Update(task) => match s.records.encode(task) {
                    Ok(bytes) => {
                        let size = bytes.len() + task.id().len();
                        updates.push((i, task.id(), update_of(task, bytes), size));
                    }
                    Err(e) => results[i] = Some(Err(e)),
                },
                ScheduleChange::Delete(id) => deletes.push((i, id.as_str())),
                other => {
                    results[i] = Some(Err(Error::invalid(
                        "schedule change",
                        format!(
                            "task {:?}: a kind of change this store does not know",
                            other.task_id()
                        ),
                    )))
                }
            }
        }
        // Not one transaction: once a command has written, a later failure must not fail the
        // whole call (the engine would not run what was written). Each command's changes get
        // its outcome.
        let backend = format!("store '{}' (mongo)", s.alias());
        let mut first_error: Option<String> = None;
        let mut found = vec![true; changes.len()];
        for part in chunks(&updates, |(_, _, _, size)| *size) {
            let statements: Vec<Document> = part
                .iter()
                .map(|(_, id, update, _)| doc! {"q": {"_id": *id}, "u": update.clone()})
                .collect();
            let command = doc! {"update": &ns.coll, "updates": statements, "ordered": false};
            let ids: Vec<&str> = part.iter().map(|(_, id, _, _)| *id).collect();
            let outcome = match &first_error {
                // The server just failed: the rest is not tried in this call.
                Some(e) => Err(e.clone()),
                None => match self
                    .write_command(&s, &database, command, "cannot update")
                    .await
                {
                    Ok(matched) if matched >= part.len() => Ok(None),
                    Ok(_) => self.stored_of(&s, &ids).await.map(Some),
                    Err(e) => Err(e),
                }
                .map_err(|e| e.to_string()),
            };
            if let Err(e) = &outcome {
                first_error.get_or_insert_with(|| e.clone());
            }
            for (i, id, _, _) in part {
                match &outcome {
                    Ok(None) => {}
                    Ok(Some(stored)) => found[*i] = stored.contains(*id),
                    Err(e) => results[*i] = Some(Err(Error::backend(backend.clone(), e.clone()))),
                }
            }
        }
        for part in chunks(&deletes, |(_, id)| id.len()) {
            let ids: Vec<&str> = part.iter().map(|(_, id)| *id).collect();
            // Which are stored, read first: a delete reports only how many it removed.
            let outcome = match &first_error {
                Some(e) => Err(e.clone()),
                None => match self.stored_of(&s, &ids).await {
                    Ok(stored) => {
                        let statements: Vec<Document> = ids
                            .iter()
                            .map(|id| doc! {"q": {"_id": *id}, "limit": 1})
                            .collect();
                        let command =
                            doc! {"delete": &ns.coll, "deletes": statements, "ordered": false};
                        self.write_command(&s, &database, command, "cannot delete")
                            .await
                            .map(|_| stored)
                    }
                    Err(e) => Err(e),
                }
                .map_err(|e| e.to_string()),
            };
            if let Err(e) = &outcome {
                first_error.get_or_insert_with(|| e.clone());
            }
            for (i, id) in part {
                match &outcome {
                    Ok(stored) => found[*i] = stored.contains(*id),
                    Err(e) => results[*i] = Some(Err(Error::backend(backend.clone(), e.clone()))),
                }
            }
        }
        Ok(changes
            .iter()
            .zip(results)
            .zip(found)
            .map(|((change, result), found)| match result {
                Some(result) => result,
                None if found => {
                    self.started.undecodable().clear(change.task_id());
                    Ok(())
                }
                None => Err(Error::task_lookup(change.task_id())),
            })
            .collect())
    }

    async fn remove_all_tasks(&self) -> Result<()> {
        let s = self.started()?;
        s.backend
            .tasks
            .delete_many(doc! {})
            .await
            .map_err(|e| self.err(&s, "cannot delete", e))?;
        self.started.undecodable().clear_all();
        Ok(())
    }

    fn undecodable_records(&self) -> Vec<(String, String)> {
        self.started.undecodable().list()
    }

    fn cluster(&self) -> Option<&dyn ClusterStore> {
        Some(self)
    }
}
