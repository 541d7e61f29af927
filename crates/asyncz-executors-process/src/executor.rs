//! The process-pool executor: a queue of jobs, one driver thread per worker process. A driver
//! owns its worker (spawned on demand), writes one request at a time to its stdin and reads the
//! reply from its stdout, so a run's outcome — including the worker dying under it — is known
//! exactly. Drivers are plain threads: the pool works whatever runtime the scheduler has.

use std::collections::{BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, BufWriter};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use asyncz_core::{
    async_trait, Error, Executor, ExecutorContext, Job, Result, RunOutcome, TaskFailure,
};
use tracing::level_filters::LevelFilter;

use crate::protocol::{
    read_frame, write_frame, Hello, LogRecord, Reply, Request, LOG_LEVEL_ENV, LOG_LINE_PREFIX,
    PARENT_ENV, PROTOCOL_VERSION, WORKER_ENV,
};
use crate::ProcessPoolExecutorConfig;

/// The tracing target worker logs are re-emitted under.
pub const LOG_TARGET: &str = "asyncz.executors.process";
/// How long a worker may take to exit after its stdin closes before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// Runs registered task functions in a pool of worker processes (spec: `ProcessPoolExecutor`,
/// alias `processpool`). A worker is the program itself (or [`ProcessPoolExecutorConfig::program`])
/// re-executed in worker mode: its `main` calls [`crate::worker_main_if_requested`] first.
///
/// # Behavior
/// - Only registered functions run here: [`Executor::supports_closures`] is false, so the
///   scheduler refuses a closure task for this executor when it is added.
/// - At most `max_workers` workers exist; each runs one job at a time. Workers start on
///   demand and are kept for the next job.
/// - `mistrigger_grace_time` is checked in the parent just before a run is sent to its worker,
///   so time spent queued (and starting a worker) counts.
/// - A worker that crashes, aborts or is killed while running a task gives that run a
///   `TASK_ERROR` naming the pid, the exit status or signal, and the task; the driver starts
///   a new worker for the next run, and the scheduler keeps running.
/// - With `task_timeout`, a run without a reply in time is a `TASK_ERROR`; its worker is
///   killed and replaced.
/// - Worker tracing events are re-emitted in the parent with target
///   [`LOG_TARGET`] and the field `pid`; other output of the worker (stdout and stderr) is
///   re-emitted line by line the same way.
/// - A run's `max_instances` slot is released before its last outcome event, so a listener
///   that re-runs the task from that event is not refused.
/// - `shutdown(wait = true)` returns once running and queued jobs have ended and every worker
///   has exited and been reaped. With `cancel_futures`, queued jobs are dropped: their
///   `max_instances` slots are released and no execution event is emitted for them.
/// - `shutdown(wait = false)` returns at once and leaves no worker behind: queued jobs are
///   dropped (as with `cancel_futures`), every worker is killed, and each run that was in
///   progress is a `TASK_ERROR` saying it was stopped by `shutdown(wait = false)`; the drivers
///   reap the workers.
/// - No worker outlives the pool's process: on Linux a worker gets SIGKILL when its parent
///   dies (`PR_SET_PDEATHSIG`), and everywhere (Unix) a worker exits as soon as the pipe from
///   its pool closes, even in the middle of a job. So neither a program that exits after
///   `shutdown(wait = false)` nor one that is killed leaves workers running.
/// - A result too large for a frame (256 MiB of MessagePack) is a `TASK_ERROR` naming its
///   size and the limit; the worker keeps serving.
#[derive(Debug, Default)]
pub struct ProcessPoolExecutor {
    config: ProcessPoolExecutorConfig,
    pool: Mutex<Option<Arc<Pool>>>,
}

#[derive(Debug)]
struct Pool {
    alias: String,
    program: PathBuf,
    config: ProcessPoolExecutorConfig,
    log_level: LevelFilter,
    state: Mutex<State>,
    ready: Condvar,
    pids: Mutex<BTreeSet<u32>>,
    /// Set by `shutdown(wait = false)`: running workers are being killed, nothing new starts.
    stopping: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Job>,
    closed: bool,
    idle: usize,
    drivers: usize,
    next_driver: usize,
    handles: Vec<JoinHandle<()>>,
    /// Each driver holds a clone; `shutdown(wait)` waits for the channel to close.
    alive: Option<tokio::sync::mpsc::Sender<()>>,
    all_done: Option<tokio::sync::mpsc::Receiver<()>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ProcessPoolExecutor {
    /// A pool with the defaults: up to 10 workers, this program as the worker binary.
    pub fn new() -> Self {
        Self::default()
    }

    /// A pool with these options.
    pub fn with_config(config: ProcessPoolExecutorConfig) -> Self {
        ProcessPoolExecutor {
            config,
            pool: Mutex::new(None),
        }
    }

    /// The options this executor was built with.
    pub fn config(&self) -> &ProcessPoolExecutorConfig {
        &self.config
    }

    /// The process ids of the live workers (empty when stopped).
    pub fn worker_pids(&self) -> Vec<u32> {
        match lock(&self.pool).as_ref() {
            Some(pool) => lock(&pool.pids).iter().copied().collect(),
            None => Vec::new(),
        }
    }

    fn backend(alias: &str) -> String {
        format!("executor '{alias}' (processpool)")
    }
}

#[async_trait]
impl Executor for ProcessPoolExecutor {
    fn kind(&self) -> &'static str {
        crate::ALIAS
    }

    fn supports_closures(&self) -> bool {
        false
    }

    async fn start(&self, ctx: ExecutorContext) -> Result<()> {
        if crate::worker::is_worker() {
            // A worker binary that did not call the hook runs its main, which would start
            // workers of its own, recursively.
            return Err(Error::backend(
                Self::backend(&ctx.alias),
                format!(
                    "this process was started as a process-pool worker but did not call \
                     asyncz_executors_process::worker_main_if_requested at the top of main \
                     ({WORKER_ENV} is set); refusing to start workers of its own"
                ),
            ));
        }
        let mut slot = lock(&self.pool);
        if slot.is_some() {
            return Ok(());
        }
        let program = match &self.config.program {
            Some(p) => p.clone(),
            None => std::env::current_exe().map_err(|e| {
                Error::backend(
                    Self::backend(&ctx.alias),
                    format!("cannot find this program's path to start workers: {e}"),
                )
            })?,
        };
        let (alive, all_done) = tokio::sync::mpsc::channel(1);
        *slot = Some(Arc::new(Pool {
            alias: ctx.alias.clone(),
            program,
            config: self.config.clone(),
            log_level: LevelFilter::current(),
            state: Mutex::new(State {
                alive: Some(alive),
                all_done: Some(all_done),
                ..State::default()
            }),
            ready: Condvar::new(),
            pids: Mutex::new(BTreeSet::new()),
            stopping: AtomicBool::new(false),
        }));
        Ok(())
    }

    async fn shutdown(&self, wait: bool) -> Result<()> {
        let wait = self.config.pool.overwrite_wait.unwrap_or(wait);
        let Some(pool) = lock(&self.pool).take() else {
            return Ok(());
        };
        if !wait {
            for job in pool.stop() {
                tracing::warn!(target: LOG_TARGET, executor = %pool.alias, task = ?job.task_id(), "queued job dropped by shutdown(wait = false)");
                job.finish();
            }
            return Ok(());
        }
        let (dropped, all_done) = pool.close(self.config.pool.cancel_futures);
        for job in dropped {
            tracing::warn!(target: LOG_TARGET, executor = %pool.alias, task = ?job.task_id(), "queued job dropped by shutdown (cancel_futures)");
            job.finish();
        }
        if let Some(mut all_done) = all_done {
            while all_done.recv().await.is_some() {}
        }
        // Every driver has reaped its worker and is returning; join them so none outlives us.
        let handles = std::mem::take(&mut lock(&pool.state).handles);
        let join = move || {
            for handle in handles {
                let _ = handle.join();
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => rt
                .spawn_blocking(join)
                .await
                .map_err(|e| Error::backend(Self::backend(&pool.alias), e)),
            Err(_) => {
                join();
                Ok(())
            }
        }
    }

    async fn send_task(&self, job: Job) -> Result<()> {
        let pool = lock(&self.pool).clone();
        let Some(pool) = pool else {
            return Err(Error::backend(
                "executor (processpool)",
                "the executor is not started (or was shut down)",
            ));
        };
        pool.submit(job)
    }
}

impl Drop for ProcessPoolExecutor {
    fn drop(&mut self) {
        // Dropped without shutdown: drivers finish what is queued, stop and reap their workers.
        if let Some(pool) = lock(&self.pool).take() {
            let _ = pool.close(false);
        }
    }
}

impl Pool {
    fn close(&self, cancel: bool) -> (Vec<Job>, Option<tokio::sync::mpsc::Receiver<()>>) {
        let mut state = lock(&self.state);
        state.closed = true;
        state.alive = None;
        let dropped = if cancel {
            state.queue.drain(..).collect()
        } else {
            Vec::new()
        };
        let all_done = state.all_done.take();
        drop(state);
        self.ready.notify_all();
        (dropped, all_done)
    }

    fn submit(self: &Arc<Self>, job: Job) -> Result<()> {
        let mut state = lock(&self.state);
        if state.closed {
            return Err(Error::backend(
                Self::backend_name(&self.alias),
                "the executor is shut down",
            ));
        }
        state.queue.push_back(job);
        if state.queue.len() > state.idle && state.drivers < self.config.pool.max_workers as usize {
            let index = state.next_driver;
            let alive = state.alive.clone();
            let pool = Arc::clone(self);
            let spawned = std::thread::Builder::new()
                .name(format!("asyncz-process-{index}"))
                .spawn(move || pool.drive(alive));
            match spawned {
                Ok(handle) => {
                    state.drivers += 1;
                    state.next_driver += 1;
                    state.handles.push(handle);
                }
                Err(e) if state.drivers == 0 => {
                    // No driver would ever take the job: hand the error back to the scheduler.
                    drop(state.queue.pop_back());
                    return Err(Error::backend(
                        Self::backend_name(&self.alias),
                        format!("cannot start a driver thread: {e}"),
                    ));
                }
                Err(e) => {
                    tracing::warn!(target: LOG_TARGET, executor = %self.alias, error = %e, "cannot start another driver thread; the job waits for a running one");
                }
            }
        }
        drop(state);
        self.ready.notify_one();
        Ok(())
    }

    fn backend_name(alias: &str) -> String {
        ProcessPoolExecutor::backend(alias)
    }

    /// One driver: takes jobs until the pool is closed and drained, running each on its worker.
    fn drive(self: Arc<Self>, alive: Option<tokio::sync::mpsc::Sender<()>>) {
        // The guard retires the worker and signs the driver off even if a run panics (in an
        // event listener, say), so no worker is left unreaped and shutdown never hangs.
        let mut driver = Driver {
            pool: Arc::clone(&self),
            worker: None,
            _alive: alive,
        };
        loop {
            let job = {
                let mut state = lock(&self.state);
                loop {
                    if let Some(job) = state.queue.pop_front() {
                        break Some(job);
                    }
                    if state.closed {
                        break None;
                    }
                    state.idle += 1;
                    state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
                    state.idle -= 1;
                }
            };
            let Some(job) = job else { break };
            self.run_job(&mut driver.worker, job);
        }
    }

    fn run_job(&self, worker: &mut Option<Worker>, mut job: Job) {
        let run_times = job.run_times().to_vec();
        let last = run_times.last().copied();
        // The slot is free before the last outcome goes out, so a listener reacting to it
        // with `run_task` is not refused (`Job::release_slot`).
        let report = |job: &mut Job, run_time, outcome| {
            if Some(run_time) == last {
                job.release_slot();
            }
            job.report(run_time, outcome);
        };
        let Some(function) = job.function_name().map(str::to_owned) else {
            let message = format!(
                "executor '{}' runs registered functions only; task '{}' is a closure",
                self.alias,
                job.task_id()
            );
            for run_time in run_times {
                report(&mut job, run_time, failed(message.clone()));
            }
            job.finish();
            return;
        };
        for run_time in run_times {
            if self.stopping.load(Ordering::SeqCst) {
                // shutdown(wait = false): runs not started are dropped, like queued jobs.
                break;
            }
            let current = match worker {
                Some(w) => w,
                None => match self.spawn_worker() {
                    Ok(w) => worker.insert(w),
                    Err(message) => {
                        report(&mut job, run_time, failed(message));
                        continue;
                    }
                },
            };
            // After the worker is up, so queueing and startup both count, as upstream.
            if let Some(late) = job.missed_by(run_time) {
                tracing::warn!(target: "asyncz.executors", task = ?job.task_id(), %run_time, late_by = %late, "run time of task was missed");
                report(&mut job, run_time, RunOutcome::missed(late));
                continue;
            }
            // Checked after the worker's pid is listed (SeqCst both sides): a shutdown without
            // wait either is seen here, or kills this worker.
            if self.stopping.load(Ordering::SeqCst) {
                break;
            }
            // In a cluster: the run record moves to running only while it is still this
            // node's (a node resumed after a pause past its lease must not run it).
            if !job.begin_blocking(run_time) {
                if Some(run_time) == last {
                    job.release_slot();
                }
                continue;
            }
            let request = Request {
                task_id: job.task_id().to_owned(),
                function: function.clone(),
                args: job.args().to_vec(),
                kwargs: job.kwargs().clone(),
                scheduled_run_time: run_time,
                run: job.ticket(run_time).cloned(),
            };
            let span = job.span();
            *lock(&current.run_span) = span.clone();
            // The span stays the worker's until its next run: lines the log thread reads after
            // the reply still come from this run (a worker runs one request at a time).
            let reply = span.in_scope(|| current.call(&request, self.config.task_timeout));
            current.runs += 1;
            let outcome = match reply {
                Ok(Reply::Ok(value)) => RunOutcome::returned(value),
                Ok(Reply::Err(failure)) => RunOutcome::Failed(failure),
                Ok(Reply::Panicked(panic)) => RunOutcome::Panicked(panic),
                Err(Lost::TimedOut(limit)) => {
                    let Some(stuck) = worker.take() else { continue };
                    let pid = stuck.pid;
                    let status = self.retire(stuck, true);
                    let message = format!(
                        "task '{}' (function '{function}') did not finish within {limit:?}; \
                         worker process {pid} was killed ({status})",
                        job.task_id()
                    );
                    tracing::error!(target: LOG_TARGET, executor = %self.alias, pid, task = ?job.task_id(), error = ?message, "run timed out; starting a new worker for the next run");
                    RunOutcome::TimedOut {
                        timeout: limit,
                        detail: message,
                    }
                }
                Err(lost) => {
                    let Some(dead) = worker.take() else { continue };
                    let pid = dead.pid;
                    let status = self.retire(dead, false);
                    let message = if self.stopping.load(Ordering::SeqCst) {
                        format!(
                            "worker process {pid} was stopped by shutdown(wait = false) while \
                             running task '{}' (function '{function}'); it {status}",
                            job.task_id()
                        )
                    } else {
                        format!(
                            "worker process {pid} {status} while running task '{}' (function \
                             '{function}'){lost}",
                            job.task_id()
                        )
                    };
                    tracing::error!(target: LOG_TARGET, executor = %self.alias, pid, task = ?job.task_id(), error = ?message, "worker lost while running a task; starting a new worker for the next run");
                    RunOutcome::WorkerDied {
                        signal: status.signal(),
                        exit_code: status.exit_code(),
                        detail: message,
                    }
                }
            };
            report(&mut job, run_time, outcome);
            let used_up = match (worker.as_ref(), self.config.max_tasks_per_child) {
                (Some(w), Some(max)) => w.runs >= max,
                _ => false,
            };
            if used_up {
                if let Some(w) = worker.take() {
                    tracing::debug!(target: LOG_TARGET, executor = %self.alias, pid = w.pid, "worker reached max_tasks_per_child; replacing it");
                    self.retire(w, false);
                }
            }
        }
        job.finish();
    }

    /// `shutdown(wait = false)`: no run starts any more, queued jobs are dropped, and every
    /// worker is killed now (its driver reports the run it was in and reaps it).
    fn stop(&self) -> Vec<Job> {
        self.stopping.store(true, Ordering::SeqCst);
        let (dropped, _) = self.close(true);
        // Under the pids lock: a listed pid is not reaped yet (retire unlists it first), so it
        // cannot belong to another process.
        let pids = lock(&self.pids);
        for &pid in pids.iter() {
            kill_worker(pid);
        }
        dropped
    }

    fn spawn_worker(&self) -> std::result::Result<Worker, String> {
        let program = self.program.display();
        let mut command = Command::new(&self.program);
        command
            .args(&self.config.args)
            .env(WORKER_ENV, PROTOCOL_VERSION.to_string())
            .env(LOG_LEVEL_ENV, self.log_level.to_string())
            .env(PARENT_ENV, std::process::id().to_string())
            .envs(&self.config.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|e| {
            format!(
                "executor '{}' cannot start a worker process '{program}': {e}",
                self.alias
            )
        })?;
        let pid = child.id();
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("worker process {pid} has no stdio pipes"));
        };
        let run_span = Arc::new(Mutex::new(tracing::Span::none()));
        let logs_span = Arc::clone(&run_span);
        let logs = std::thread::Builder::new()
            .name(format!("asyncz-process-log-{pid}"))
            .spawn(move || forward_logs(pid, stderr, &logs_span))
            .ok();
        // The hello is read on a helper thread so a worker that never answers times out.
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::Builder::new()
            .name(format!("asyncz-process-hello-{pid}"))
            .spawn(move || {
                let mut stdout = BufReader::new(stdout);
                let hello = read_frame::<_, Hello>(&mut stdout);
                let _ = tx.send((hello, stdout));
            });
        let mut worker = Worker {
            pid,
            child,
            stdin: BufWriter::new(stdin),
            stdout: None,
            logs,
            runs: 0,
            run_span,
        };
        // `kill` for a worker that does not answer; one that answered wrongly exits by itself.
        let fail =
            |worker: Worker, why: String, kill: bool| -> std::result::Result<Worker, String> {
                let status = self.retire(worker, kill);
                Err(format!(
                    "worker process {pid} of executor '{}' ('{program}') {why}; it {status}",
                    self.alias
                ))
            };
        if reader.is_err() {
            return fail(worker, "could not be read from".to_owned(), true);
        }
        match rx.recv_timeout(self.config.startup_timeout) {
            Ok((Ok(Some(hello)), stdout)) => {
                worker.stdout = Some(stdout);
                if hello.version != PROTOCOL_VERSION {
                    return fail(
                        worker,
                        format!(
                            "speaks protocol version {} instead of {PROTOCOL_VERSION} (the \
                             worker binary is from another asyncz version)",
                            hello.version
                        ),
                        false,
                    );
                }
                if let Some(error) = hello.error {
                    return fail(
                        worker,
                        format!("could not register its functions: {error}"),
                        false,
                    );
                }
            }
            Ok((Ok(None), _)) | Ok((Err(_), _)) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                return fail(
                    worker,
                    "closed its output before its hello (does its main call \
                     asyncz_executors_process::worker_main_if_requested first?)"
                        .to_owned(),
                    false,
                );
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return fail(
                    worker,
                    format!(
                        "did not start within {:?} (does its main call \
                         asyncz_executors_process::worker_main_if_requested first?)",
                        self.config.startup_timeout
                    ),
                    true,
                );
            }
        }
        lock(&self.pids).insert(pid);
        tracing::debug!(target: LOG_TARGET, executor = %self.alias, pid, "worker process started");
        Ok(worker)
    }

    /// Stops a worker (closing its stdin, and killing it at once with `kill`, or when it does
    /// not exit in time), reaps it and describes how it ended.
    fn retire(&self, mut worker: Worker, kill: bool) -> Ended {
        lock(&self.pids).remove(&worker.pid);
        if kill {
            let _ = worker.child.kill();
        }
        drop(worker.stdin);
        drop(worker.stdout.take());
        let deadline = Instant::now() + EXIT_GRACE;
        let mut pause = Duration::from_micros(100);
        let status = loop {
            match worker.child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Ok(None) => {
                    let _ = worker.child.kill();
                    break worker.child.wait();
                }
                Err(e) => break Err(e),
            }
        };
        if let Some(logs) = worker.logs.take() {
            // The log pipe closes when the worker exits, unless a process it started still
            // holds it; never wait on that.
            let deadline = Instant::now() + Duration::from_millis(500);
            while !logs.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if logs.is_finished() {
                let _ = logs.join();
            }
        }
        match status {
            Ok(status) => Ended {
                text: describe(status),
                status: Some(status),
            },
            Err(e) => Ended {
                text: format!("could not be waited for ({e})"),
                status: None,
            },
        }
    }
}

/// How a retired worker ended: its exit status (when it could be waited for) and that, said
/// for people ("exited with signal 9 (SIGKILL)").
#[derive(Debug)]
struct Ended {
    status: Option<ExitStatus>,
    text: String,
}

impl Ended {
    /// The signal that ended the worker (Unix).
    fn signal(&self) -> Option<i32> {
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            self.status.and_then(|s| s.signal())
        }
        #[cfg(not(unix))]
        {
            None
        }
    }

    /// The worker's exit code, when it exited.
    fn exit_code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// A run that failed before the function could be asked (no worker, a closure, ...).
fn failed(message: String) -> RunOutcome {
    RunOutcome::Failed(TaskFailure::new(message))
}

/// A driver thread's resources, released when the thread ends however it ends.
struct Driver {
    pool: Arc<Pool>,
    worker: Option<Worker>,
    /// Dropped last: `shutdown(wait)` returns once every driver has dropped its sender.
    _alive: Option<tokio::sync::mpsc::Sender<()>>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            self.pool.retire(worker, false);
        }
        lock(&self.pool.state).drivers -= 1;
    }
}

#[derive(Debug)]
struct Worker {
    pid: u32,
    child: Child,
    stdin: BufWriter<ChildStdin>,
    stdout: Option<BufReader<ChildStdout>>,
    logs: Option<JoinHandle<()>>,
    /// Requests answered so far (for `max_tasks_per_child`).
    runs: u32,
    /// The `asyncz.run` span of the run the worker is on: its forwarded log lines go inside.
    run_span: Arc<Mutex<tracing::Span>>,
}

/// Why a worker could not answer a request.
#[derive(Debug)]
enum Lost {
    /// The worker is gone (with an explanation, when there is more to say than its exit).
    Gone(String),
    /// No reply within the task timeout; the worker is still running the task.
    TimedOut(Duration),
}

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lost::Gone(why) if why.is_empty() => Ok(()),
            Lost::Gone(why) => write!(f, " ({why})"),
            Lost::TimedOut(limit) => write!(f, " (no reply within {limit:?})"),
        }
    }
}

impl Worker {
    fn call(
        &mut self,
        request: &Request,
        timeout: Option<Duration>,
    ) -> std::result::Result<Reply, Lost> {
        // A write error means the worker is gone; its reader tells how.
        if let Err(e) = write_frame(&mut self.stdin, request) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(Lost::Gone(format!("cannot send the job: {e}")));
            }
        }
        let Some(stdout) = self.stdout.as_mut() else {
            return Err(Lost::Gone(String::new()));
        };
        if let Some(limit) = timeout {
            if stdout.buffer().is_empty() {
                match readable_within(stdout.get_ref(), limit) {
                    Ok(true) => {}
                    Ok(false) => return Err(Lost::TimedOut(limit)),
                    Err(e) => return Err(Lost::Gone(format!("cannot wait for the reply: {e}"))),
                }
            }
        }
        match read_frame::<_, Reply>(stdout) {
            Ok(Some(reply)) => Ok(reply),
            Ok(None) => Err(Lost::Gone(String::new())),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(Lost::Gone(String::new()))
            }
            Err(e) => Err(Lost::Gone(format!("unreadable reply: {e}"))),
        }
    }
}

/// Whether `pipe` has something to read (or was closed) within `limit`.
#[cfg(unix)]
fn readable_within(pipe: &ChildStdout, limit: Duration) -> std::io::Result<bool> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = Timespec {
            tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [PollFd::new(pipe, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(not(unix))]
fn readable_within(_pipe: &ChildStdout, _limit: Duration) -> std::io::Result<bool> {
    Ok(true)
}

/// Sends SIGKILL to a worker by pid (the caller makes sure it is not reaped yet).
#[cfg(unix)]
fn kill_worker(pid: u32) {
    use rustix::process::{kill_process, Pid, Signal};
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        let _ = kill_process(pid, Signal::KILL);
    }
}

#[cfg(not(unix))]
fn kill_worker(_pid: u32) {}

/// "exited with status 3", "exited with signal 6 (SIGABRT)".
fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return match signal_name(signal) {
                Some(name) => format!("exited with signal {signal} ({name})"),
                None => format!("exited with signal {signal}"),
            };
        }
    }
    match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => format!("exited ({status})"),
    }
}

#[cfg(unix)]
fn signal_name(signal: i32) -> Option<&'static str> {
    // The numbers POSIX fixes everywhere, plus Linux's numbering for the rest.
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        8 => "SIGFPE",
        9 => "SIGKILL",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        #[cfg(target_os = "linux")]
        7 => "SIGBUS",
        #[cfg(target_os = "linux")]
        11 => "SIGSEGV",
        #[cfg(target_os = "linux")]
        10 => "SIGUSR1",
        #[cfg(target_os = "linux")]
        12 => "SIGUSR2",
        #[cfg(target_os = "macos")]
        10 => "SIGBUS",
        #[cfg(target_os = "macos")]
        11 => "SIGSEGV",
        _ => return None,
    })
}

/// Re-emits a worker's stderr in the parent's tracing: structured log lines with their level,
/// anything else as plain output lines.
fn forward_logs(pid: u32, stderr: std::process::ChildStderr, run_span: &Mutex<tracing::Span>) {
    let mut reader = BufReader::new(stderr);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = line.trim_end_matches(['\n', '\r']);
        let record = text
            .strip_prefix(LOG_LINE_PREFIX)
            .and_then(|json| serde_json::from_str::<LogRecord>(json).ok());
        let span = lock(run_span).clone();
        let _entered = span.enter();
        match record {
            Some(record) => emit(pid, &record),
            None => {
                tracing::info!(target: LOG_TARGET, pid, "{text}");
            }
        }
    }
}

fn emit(pid: u32, record: &LogRecord) {
    let target = record.target.as_str();
    let message = record.message.as_str();
    let fields = serde_json::Value::Object(record.fields.clone());
    macro_rules! at {
        ($level:ident) => {
            tracing::$level!(target: LOG_TARGET, pid, worker_target = target, fields = %fields, "{message}")
        };
    }
    match record.level.as_str() {
        "ERROR" => at!(error),
        "WARN" => at!(warn),
        "INFO" => at!(info),
        "DEBUG" => at!(debug),
        _ => at!(trace),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn exit_statuses_read_well() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            describe(ExitStatus::from_raw(3 << 8)),
            "exited with status 3"
        );
        assert_eq!(
            describe(ExitStatus::from_raw(6)),
            "exited with signal 6 (SIGABRT)"
        );
        assert_eq!(
            describe(ExitStatus::from_raw(9)),
            "exited with signal 9 (SIGKILL)"
        );
    }
}
