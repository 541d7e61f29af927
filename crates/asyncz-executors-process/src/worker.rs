//! Worker mode: the user's binary, re-executed by the pool, serves jobs instead of running
//! its `main`. The worker keeps the protocol on private copies of its stdin/stdout and points
//! fd 0 at /dev/null and fd 1 at stderr, so a task that prints or reads stdin cannot corrupt
//! the protocol; its tracing events go to stderr as structured lines the parent re-emits.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use asyncz_core::{
    catch_panic, panic_message, CallContext, FunctionRegistry, Map, TaskFailure, TaskFunction,
    Value,
};
use tracing::level_filters::LevelFilter;
use tracing::span;
use tracing::{Event, Metadata, Subscriber};

use crate::protocol::{
    frame_too_large, read_frame, write_frame, Hello, LogRecord, Reply, Request, LOG_LEVEL_ENV,
    LOG_LINE_PREFIX, MAX_FRAME, PARENT_ENV, PROTOCOL_VERSION, WORKER_ENV,
};

/// Exit code of a worker whose function registration failed.
const EXIT_REGISTRATION_FAILED: i32 = 2;
/// Exit code of a worker that could not set up its protocol pipes or lost them mid-frame.
const EXIT_PROTOCOL: i32 = 70;
/// Exit code of a worker whose pool is gone (its parent died, or closed the pipe mid-run).
const EXIT_ORPHANED: i32 = 71;

/// A job is running (set by the serving thread, read by the parent watch).
static BUSY: AtomicBool = AtomicBool::new(false);
/// The pool closed its end of the job pipe (set by the parent watch).
static HUNG_UP: AtomicBool = AtomicBool::new(false);

/// True when this process was started by a process pool as a worker.
pub fn is_worker() -> bool {
    std::env::var_os(WORKER_ENV).is_some()
}

/// The process-pool hook: call it first thing in `main`, with the function that registers
/// your task functions (the same one you call on the scheduler's registry in the parent).
///
/// In a process started by [`crate::ProcessPoolExecutor`] it registers the functions, serves
/// jobs until the pool closes its stdin, and exits the process: it never returns. In any other
/// process it returns at once and does nothing.
///
/// ```no_run
/// use asyncz_core::{CallContext, FunctionRegistry, TaskFunction};
///
/// fn functions(registry: &FunctionRegistry) -> asyncz_core::Result<()> {
///     registry.insert("reports.render", TaskFunction::new_sync(|ctx: CallContext| {
///         println!("rendering for {}", ctx.scheduled_run_time);
///     }))
/// }
///
/// fn main() {
///     asyncz_executors_process::worker_main_if_requested(functions);
///     // ... the program proper: build the scheduler, call `functions(scheduler.functions())`
/// }
/// ```
pub fn worker_main_if_requested<F>(register: F)
where
    F: FnOnce(&FunctionRegistry) -> asyncz_core::Result<()>,
{
    if !is_worker() {
        return;
    }
    let code = serve(register);
    std::process::exit(code);
}

fn serve<F>(register: F) -> i32
where
    F: FnOnce(&FunctionRegistry) -> asyncz_core::Result<()>,
{
    let level = std::env::var(LOG_LEVEL_ENV)
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let parent = std::env::var(PARENT_ENV)
        .ok()
        .and_then(|p| p.parse::<u32>().ok());
    // Processes the task functions start are not workers.
    std::env::remove_var(WORKER_ENV);
    std::env::remove_var(LOG_LEVEL_ENV);
    std::env::remove_var(PARENT_ENV);
    if let Err(why) = die_with_parent(parent) {
        eprintln!("asyncz worker {}: {why}; exiting", std::process::id());
        return EXIT_ORPHANED;
    }
    let (input, output) = match protocol_pipes() {
        Ok(pipes) => pipes,
        Err(e) => {
            eprintln!(
                "asyncz worker {}: cannot set up the protocol pipes: {e}",
                std::process::id()
            );
            return EXIT_PROTOCOL;
        }
    };
    let _ = tracing::subscriber::set_global_default(StderrSubscriber::new(level));
    install_panic_hook();
    watch_parent(&input);
    let mut input = BufReader::new(input);
    let mut output = BufWriter::new(output);

    let registry = FunctionRegistry::new();
    let error = register(&registry).err().map(|e| e.to_string());
    let failed = error.is_some();
    let hello = Hello {
        version: PROTOCOL_VERSION,
        pid: std::process::id(),
        error,
    };
    if write_frame(&mut output, &hello).is_err() || failed {
        return if failed {
            EXIT_REGISTRATION_FAILED
        } else {
            EXIT_PROTOCOL
        };
    }
    let mut runtime = None;
    loop {
        let request: Request = match read_frame(&mut input) {
            Ok(Some(request)) => request,
            Ok(None) => return 0,
            Err(e) => {
                tracing::error!(target: "asyncz.worker", error = %e, "cannot read a job from the pool");
                return EXIT_PROTOCOL;
            }
        };
        // Paired with the parent watch (both SeqCst): one of the two sees the other's store,
        // so a job that arrives as the pool goes is either never started or stopped.
        BUSY.store(true, Ordering::SeqCst);
        if HUNG_UP.load(Ordering::SeqCst) {
            return EXIT_ORPHANED;
        }
        let (task_id, function) = (request.task_id.clone(), request.function.clone());
        let reply = run(&registry, &mut runtime, request);
        let mut sent = write_frame(&mut output, &reply);
        if let Some(size) = sent.as_ref().err().and_then(frame_too_large) {
            // Nothing was written: the protocol is intact, so say why instead of dying.
            let message = format!(
                "the result of task '{task_id}' (function '{function}') is {size} bytes of \
                 MessagePack, above the frame limit of {MAX_FRAME} bytes"
            );
            sent = write_frame(&mut output, &Reply::Err(TaskFailure::new(message)));
        }
        BUSY.store(false, Ordering::SeqCst);
        if let Err(e) = sent {
            tracing::error!(target: "asyncz.worker", error = %e, "cannot send a reply to the pool");
            return EXIT_PROTOCOL;
        }
    }
}

fn run(
    registry: &FunctionRegistry,
    runtime: &mut Option<tokio::runtime::Runtime>,
    request: Request,
) -> Reply {
    let pid = std::process::id();
    let Some(function) = registry.get(&request.function) else {
        return Reply::Err(TaskFailure::new(format!(
            "function '{}' is not registered in worker process {pid} (register it in the \
             function passed to worker_main_if_requested)",
            request.function
        )));
    };
    let ctx = CallContext {
        task_id: request.task_id,
        scheduled_run_time: request.scheduled_run_time,
        args: request.args,
        kwargs: request.kwargs,
        run: request.run,
    };
    let result = catch_panic(|| match function {
        TaskFunction::Sync(f) => f(ctx),
        TaskFunction::Async(f) => {
            let rt = match runtime {
                Some(rt) => rt,
                None => match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => runtime.insert(rt),
                    Err(e) => {
                        return Err(asyncz_core::TaskError::new(format!(
                            "worker process {pid} cannot build a tokio runtime for an async \
                             function: {e}"
                        )))
                    }
                },
            };
            rt.block_on(f(ctx))
        }
    });
    match result {
        Ok(Ok(value)) => Reply::Ok(value),
        Ok(Err(e)) => Reply::Err(e.to_failure()),
        Err(mut panic) => {
            // The parent only knows which worker it asked; say which process panicked.
            panic.message = format!("{} (worker process {pid})", panic.message);
            Reply::Panicked(panic)
        }
    }
}

/// Ties the worker's life to its pool's process: on Linux the kernel kills the worker when
/// the parent dies (`PR_SET_PDEATHSIG`); a parent that died before that was set is caught by
/// comparing `getppid` with the pid the pool passed in.
#[cfg(target_os = "linux")]
fn die_with_parent(parent: Option<u32>) -> Result<(), String> {
    use rustix::process::{getppid, set_parent_process_death_signal, Pid, Signal};
    set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(|e| format!("cannot set the parent-death signal: {e}"))?;
    let expected = parent.and_then(|p| Pid::from_raw(i32::try_from(p).ok()?));
    match expected {
        Some(pid) if getppid() != Some(pid) => Err(format!(
            "the pool's process {} is gone (parent is now {:?})",
            pid.as_raw_pid(),
            getppid().map(Pid::as_raw_pid)
        )),
        _ => Ok(()),
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_parent: Option<u32>) -> Result<(), String> {
    Ok(())
}

/// Watches the job pipe on a thread of its own: when the pool's end closes (the pool shut
/// down, or its process died, whatever the platform) while a job runs, the worker exits at
/// once instead of finishing a job nobody waits for; between jobs the serving loop sees the
/// end of the pipe and exits by itself.
#[cfg(unix)]
fn watch_parent(input: &File) {
    use rustix::event::{poll, PollFd, PollFlags};
    let Ok(pipe) = input.try_clone() else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("asyncz-worker-watch".to_owned())
        .spawn(move || loop {
            // No events asked: poll still reports the hang-up, and never the jobs.
            let mut fds = [PollFd::new(&pipe, PollFlags::empty())];
            match poll(&mut fds, None) {
                Ok(_) => {
                    let gone = PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL;
                    if !fds[0].revents().intersects(gone) {
                        continue;
                    }
                    HUNG_UP.store(true, Ordering::SeqCst);
                    if BUSY.load(Ordering::SeqCst) {
                        eprintln!(
                            "asyncz worker {}: the pool is gone while a job runs; exiting",
                            std::process::id()
                        );
                        std::process::exit(EXIT_ORPHANED);
                    }
                    return;
                }
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return,
            }
        });
}

#[cfg(not(unix))]
fn watch_parent<T>(_input: &T) {}

/// Panics of task functions are reported in their reply (with the location that
/// [`catch_panic`]'s hook, chained onto this one, records); panics on other threads are
/// logged, since nobody would see them otherwise.
fn install_panic_hook() {
    let main = std::thread::current().id();
    std::panic::set_hook(Box::new(move |info| {
        let location = info.location().map(|l| l.to_string());
        if std::thread::current().id() != main {
            let message = panic_message(info.payload());
            tracing::error!(target: "asyncz.worker", location = location.as_deref().unwrap_or("?"), "{message}");
        }
    }));
}

#[cfg(unix)]
fn protocol_pipes() -> io::Result<(File, File)> {
    use rustix::io::fcntl_dupfd_cloexec;
    // Private, close-on-exec copies, so processes a task starts do not hold the pipes open.
    let input = File::from(fcntl_dupfd_cloexec(io::stdin(), 3)?);
    let output = File::from(fcntl_dupfd_cloexec(io::stdout(), 3)?);
    let null = File::open("/dev/null")?;
    rustix::stdio::dup2_stdin(&null)?;
    rustix::stdio::dup2_stdout(io::stderr())?;
    Ok((input, output))
}

#[cfg(not(unix))]
fn protocol_pipes() -> io::Result<(std::io::Stdin, std::io::Stdout)> {
    // Without fd juggling, a task that prints to stdout corrupts the protocol here.
    Ok((io::stdin(), io::stdout()))
}

/// Writes each tracing event as one [`LogRecord`] line on stderr. Spans are not recorded.
struct StderrSubscriber {
    max: LevelFilter,
    next_span: AtomicU64,
}

impl StderrSubscriber {
    fn new(max: LevelFilter) -> Self {
        StderrSubscriber {
            max,
            next_span: AtomicU64::new(1),
        }
    }
}

impl Subscriber for StderrSubscriber {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max)
    }
    fn new_span(&self, _span: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed))
    }
    fn record(&self, _span: &span::Id, _values: &span::Record<'_>) {}
    fn record_follows_from(&self, _span: &span::Id, _follows: &span::Id) {}
    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        let mut visitor = FieldVisitor::default();
        event.record(&mut visitor);
        let record = LogRecord {
            level: metadata.level().to_string(),
            target: metadata.target().to_owned(),
            message: visitor.message,
            fields: visitor.fields,
        };
        if let Ok(json) = serde_json::to_string(&record) {
            let mut err = io::stderr().lock();
            let _ = writeln!(err, "{LOG_LINE_PREFIX}{json}");
        }
    }
    fn enter(&self, _span: &span::Id) {}
    fn exit(&self, _span: &span::Id) {}
}

#[derive(Default)]
struct FieldVisitor {
    message: String,
    fields: Map,
}

impl FieldVisitor {
    fn put(&mut self, field: &tracing::field::Field, value: Value) {
        if field.name() == "message" {
            self.message = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
        } else {
            self.fields.insert(field.name().to_owned(), value);
        }
    }
}

impl tracing::field::Visit for FieldVisitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.put(field, Value::from(value));
    }
}
