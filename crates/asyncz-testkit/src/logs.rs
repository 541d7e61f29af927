//! Log lines captured for tests: one process-wide subscriber records every WARN and ERROR
//! event, for tests that count what a store or scheduler logged.
//!
//! Why process-wide: a scoped subscriber (`with_subscriber`, `set_default`) sees only the
//! events of the future or thread it is set on, not those of `spawn_blocking` or of other
//! runtime threads, and tracing caches a call site's interest when it first fires, so a scoped
//! count can miss lines (and a test that checks "at most N lines" then passes wrongly). The
//! global subscriber sees every line of the test binary, from every test running at once, so a
//! test picks its own lines by a value only it uses: a unique store alias or logger name
//! ([`unique_name`]), or a URL.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};

/// One captured WARN or ERROR event.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// Its level.
    pub level: Level,
    /// Its target (`asyncz.stores.redis`, ...).
    pub target: String,
    /// Every field as `(name, value)`, the value formatted with `{:?}` (a `?x` string field
    /// is quoted, a `%x` one is not); the message is the field `message`.
    pub fields: Vec<(String, String)>,
}

impl LogLine {
    /// The value of the field `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether any field's value contains `text`.
    pub fn mentions(&self, text: &str) -> bool {
        self.fields.iter().any(|(_, v)| v.contains(text))
    }
}

impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}:", self.level, self.target)?;
        for (name, value) in &self.fields {
            write!(f, " {name}={value}")?;
        }
        Ok(())
    }
}

static LINES: Mutex<Vec<LogLine>> = Mutex::new(Vec::new());
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

/// Installs the capturing subscriber as the global default (once per process; later calls
/// return the first outcome). Fails when the binary installed another global subscriber
/// first: then nothing is captured, and a test must not count on it.
pub fn capture_logs() -> Result<(), String> {
    INSTALLED
        .get_or_init(|| {
            tracing::subscriber::set_global_default(Recorder).map_err(|e| {
                format!("cannot capture log lines: another global tracing subscriber is installed ({e})")
            })
        })
        .clone()
}

/// Every line captured so far (of every test in the binary), oldest first.
pub fn captured_logs() -> Vec<LogLine> {
    LINES.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// A name no other call in this process gets (`{prefix}-{pid}-{n}`), to mark one test's
/// store alias or logger name.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

struct Recorder;

struct Fields(Vec<(String, String)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::WARN
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(Vec::new());
        event.record(&mut fields);
        let line = LogLine {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            fields: fields.0,
        };
        LINES.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_from_other_threads_are_captured_and_told_apart_by_their_fields() {
        capture_logs().expect("no other global subscriber in this test binary");
        let mine = unique_name("logs-test");
        let alias = mine.clone();
        std::thread::spawn(move || {
            tracing::warn!(target: "asyncz.test", store = ?alias, "from another thread");
            tracing::info!(target: "asyncz.test", store = ?alias, "not captured: below WARN");
        })
        .join()
        .expect("the thread");
        let lines: Vec<LogLine> = captured_logs()
            .into_iter()
            .filter(|l| l.mentions(&mine))
            .collect();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0].field("store"), Some(format!("{mine:?}").as_str()));
        assert_eq!(lines[0].field("message"), Some("from another thread"));
    }
}
