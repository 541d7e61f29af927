//! The parent ↔ worker protocol: length-prefixed MessagePack frames over the worker's
//! stdin (jobs) and stdout (replies), and structured log lines on its stderr.
//!
//! A frame is a 4-byte big-endian length followed by that many bytes of MessagePack (named
//! fields, so either side can add optional fields). The worker speaks first with a
//! [`Hello`]; then every [`Request`] gets exactly one [`Reply`].

use std::io::{self, Read, Write};

use asyncz_core::chrono::{DateTime, Utc};
use asyncz_core::{Map, PanicReport, TaskFailure, Value};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Set (to [`PROTOCOL_VERSION`]) in a worker's environment: "serve jobs, do not run main".
pub(crate) const WORKER_ENV: &str = "ASYNCZ_PROCESS_WORKER";
/// The most verbose log level the parent wants from the worker (`trace` ... `error`, `off`).
pub(crate) const LOG_LEVEL_ENV: &str = "ASYNCZ_PROCESS_WORKER_LOG";
/// The pid of the pool's process, set in a worker's environment: a worker whose parent is
/// not (or no longer) that process exits instead of serving.
pub(crate) const PARENT_ENV: &str = "ASYNCZ_PROCESS_WORKER_PARENT";
/// Bumped on an incompatible change; a worker of another version is refused at startup.
pub(crate) const PROTOCOL_VERSION: u32 = 2;
/// A stderr line starting with this is a JSON [`LogRecord`]; other lines are plain output.
pub(crate) const LOG_LINE_PREFIX: &str = "\u{1e}asyncz-log ";
/// Larger frames are refused (a corrupted length must not allocate gigabytes).
pub(crate) const MAX_FRAME: usize = 256 * 1024 * 1024;

/// The error inside the `io::Error` of a frame over [`MAX_FRAME`] (nothing was written).
#[derive(Debug)]
pub(crate) struct FrameTooLarge {
    pub size: usize,
}

impl std::fmt::Display for FrameTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "frame of {} bytes is above the limit of {MAX_FRAME}",
            self.size
        )
    }
}

impl std::error::Error for FrameTooLarge {}

/// The size of the frame `e` refused for being over [`MAX_FRAME`], if that is what it is.
pub(crate) fn frame_too_large(e: &io::Error) -> Option<usize> {
    e.get_ref()?.downcast_ref::<FrameTooLarge>().map(|t| t.size)
}

/// The worker's first frame.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Hello {
    pub version: u32,
    pub pid: u32,
    /// Why the worker cannot serve (its function registration failed).
    pub error: Option<String>,
}

/// One run of a registered function.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request {
    pub task_id: String,
    pub function: String,
    pub args: Vec<Value>,
    pub kwargs: Map,
    pub scheduled_run_time: DateTime<Utc>,
    /// In a cluster, the run's ledger identity (handed to the function's `CallContext`).
    #[serde(default)]
    pub run: Option<asyncz_core::cluster::RunTicket>,
}

/// The outcome of one [`Request`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply {
    Ok(Value),
    /// The function's error, with its source chain (version 2; was a string).
    Err(TaskFailure),
    /// The function's panic, with its location (version 2; was a string).
    Panicked(PanicReport),
}

/// One tracing event of a worker, as a line on its stderr.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct LogRecord {
    pub level: String,
    pub target: String,
    pub message: String,
    #[serde(default)]
    pub fields: Map,
}

pub(crate) fn write_frame<W: Write, T: Serialize>(out: &mut W, value: &T) -> io::Result<()> {
    let body = rmp_serde::to_vec_named(value)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&n| n as usize <= MAX_FRAME)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                FrameTooLarge { size: body.len() },
            )
        })?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(&body)?;
    out.flush()
}

/// The next frame; `Ok(None)` at a clean end of stream (between frames).
pub(crate) fn read_frame<R: Read, T: DeserializeOwned>(input: &mut R) -> io::Result<Option<T>> {
    let mut len = [0u8; 4];
    let mut filled = 0;
    while filled < len.len() {
        match input.read(&mut len[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes is above the limit of {MAX_FRAME}"),
        ));
    }
    let mut body = vec![0u8; len];
    input.read_exact(&mut body)?;
    rmp_serde::from_slice(&body)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn frames_round_trip_requests_and_replies() {
        let mut kwargs = Map::new();
        kwargs.insert(
            "k".into(),
            serde_json::json!({"nested": [1, -2, 3.5, null, "s"]}),
        );
        let request = Request {
            task_id: "t".into(),
            function: "f".into(),
            args: vec![serde_json::json!(u64::MAX), serde_json::json!(true)],
            kwargs: kwargs.clone(),
            scheduled_run_time: Utc::now(),
            run: None,
        };
        let mut buf = Vec::new();
        write_frame(&mut buf, &request).unwrap();
        let mut panic = PanicReport::new("boom");
        panic.location = Some(asyncz_core::PanicLocation {
            file: "src/jobs.rs".into(),
            line: 7,
            column: 9,
        });
        write_frame(&mut buf, &Reply::Panicked(panic.clone())).unwrap();
        let failure = TaskFailure::new("outer")
            .caused_by(&std::io::Error::other("inner"))
            .with_backtrace(Some("0: main".into()));
        write_frame(&mut buf, &Reply::Err(failure.clone())).unwrap();
        let mut input = buf.as_slice();
        let back: Request = read_frame(&mut input).unwrap().unwrap();
        assert_eq!(back.args, request.args);
        assert_eq!(back.kwargs, kwargs);
        assert_eq!(back.scheduled_run_time, request.scheduled_run_time);
        let reply: Reply = read_frame(&mut input).unwrap().unwrap();
        assert!(matches!(reply, Reply::Panicked(p) if p == panic));
        let reply: Reply = read_frame(&mut input).unwrap().unwrap();
        assert!(matches!(reply, Reply::Err(f) if f == failure && f.sources == ["inner"]));
        assert!(read_frame::<_, Reply>(&mut input).unwrap().is_none());
    }

    #[test]
    fn a_truncated_or_oversized_frame_is_an_error() {
        let mut input: &[u8] = &[0, 0];
        assert!(read_frame::<_, Reply>(&mut input).is_err());
        let mut input: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert!(read_frame::<_, Reply>(&mut input).is_err());
    }
}
