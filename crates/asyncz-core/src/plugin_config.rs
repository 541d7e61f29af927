//! Typed plugin configurations.
//!
//! A store or executor plugin reads its options (the scheduler's `stores.<alias>.*` or
//! `executors.<alias>.*` keys, without `type`) into a plain `#[derive(Deserialize)]` struct
//! with `#[serde(deny_unknown_fields)]` and the spec's defaults, through
//! [`parse_plugin_config`]. The `deserialize_with` helpers here keep upstream's coercions:
//! configuration files and environment variables give every value as a string, so `"false"`,
//! `"3"` and `"2.5"` (seconds) are accepted where a boolean, an integer or a duration is
//! expected, as Python's `asbool` / `int()` / `float()` accept them.
//!
//! Every error is an [`Error::InvalidArgument`] whose field is the plugin's own key (`url`,
//! `pool_kwargs.env.A`) and whose message names the rejected value; the scheduler, which knows
//! the alias, prefixes `stores.<alias>.` or `executors.<alias>.`.
//!
//! ```
//! use asyncz_core::plugin_config::{self, parse_plugin_config, PluginConfig};
//! use serde::Deserialize;
//!
//! /// Options of a hypothetical store.
//! #[derive(Debug, Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Options {
//!     /// `url` (required).
//!     url: String,
//!     /// `connect_timeout`, in seconds (default 10).
//!     #[serde(default = "plugin_config::default_connect_timeout")]
//!     #[serde(deserialize_with = "plugin_config::positive_seconds")]
//!     connect_timeout: std::time::Duration,
//! }
//! impl PluginConfig for Options {}
//!
//! let map = |v: serde_json::Value| v.as_object().cloned().unwrap();
//! let ok: Options = parse_plugin_config(&map(serde_json::json!({"url": "x", "connect_timeout": "2.5"})))?;
//! assert_eq!(ok.connect_timeout.as_millis(), 2500);
//! let err = parse_plugin_config::<Options>(&map(serde_json::json!({"url": "x", "timeout": 1}))).unwrap_err();
//! assert_eq!(err.to_string(), "invalid timeout: unknown option (expected url, connect_timeout)");
//! # Ok::<(), asyncz_core::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt::Display;
use std::time::Duration;

use serde::de::{DeserializeOwned, Deserializer, Error as _, Visitor};
use serde::Deserialize;
use serde_path_to_error::Segment;

use crate::{Error, Map, Result, Value};

mod pool;

pub use pool::{parse_pool_config, PoolConfig, DEFAULT_MAX_WORKERS};

/// The default of every store's `connect_timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A plugin's configuration struct: what [`parse_plugin_config`] reads.
pub trait PluginConfig: DeserializeOwned {
    /// The keys the plugin accepts, listed by the unknown-key error. The default is serde's
    /// own field list (aliases included); a struct with a `#[serde(flatten)]` field, for which
    /// serde has no list, names its keys here.
    fn accepted_keys() -> Vec<&'static str> {
        serde_fields::<Self>()
    }
}

/// Reads a plugin configuration map into `T`; an error names the key (the path, for nested
/// values: `env.A`, `args[0]`) and the rejected value, and an unknown key lists the accepted
/// ones.
pub fn parse_plugin_config<T: PluginConfig>(map: &Map) -> Result<T> {
    let value = Value::Object(map.clone());
    serde_path_to_error::deserialize(&value).map_err(|e| {
        let path: Vec<String> = e.path().iter().map(segment).collect();
        to_error(&path, &e.into_inner().to_string(), T::accepted_keys)
    })
}

/// Puts `prefix` before the field of an [`Error::InvalidArgument`] (other errors pass
/// through): the scheduler, which knows the alias, turns a plugin's `url` into
/// `stores.reports.url`.
pub fn prefix_field(err: Error, prefix: &str) -> Error {
    match err {
        Error::InvalidArgument { field, message } => Error::invalid(join(prefix, &field), message),
        other => other,
    }
}

fn segment(s: &Segment) -> String {
    match s {
        Segment::Seq { index } => format!("[{index}]"),
        Segment::Map { key } | Segment::Enum { variant: key } => key.clone(),
        Segment::Unknown => "?".to_owned(),
    }
}

/// Turns serde's message into the field and message of [`Error::InvalidArgument`].
fn to_error(path: &[String], message: &str, keys: impl FnOnce() -> Vec<&'static str>) -> Error {
    let mut field = String::new();
    for part in path {
        if !field.is_empty() && !part.starts_with('[') {
            field.push('.');
        }
        field.push_str(part);
    }
    // serde names the key itself in these messages; at the top level (a flattened struct
    // reports there) the path is empty.
    let named = |prefix: &str| message.strip_prefix(prefix).and_then(quoted);
    if let Some(key) = named("unknown field ") {
        if field.is_empty() {
            field = key.to_owned();
        }
        let keys = if path.len() <= 1 { keys() } else { Vec::new() };
        let message = if keys.is_empty() {
            "unknown option (this plugin takes no options)".to_owned()
        } else {
            format!("unknown option (expected {})", keys.join(", "))
        };
        return Error::invalid(field, message);
    }
    if let Some(key) = named("missing field ") {
        return Error::invalid(join(&field, key), "is required");
    }
    if let Some(key) = named("duplicate field ") {
        return Error::invalid(
            join(&field, key),
            "is given twice (by its name and an alias)",
        );
    }
    if field.is_empty() {
        field.push_str("config");
    }
    Error::invalid(field, message)
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The text between the first pair of backticks.
fn quoted(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('`')?;
    rest.split_once('`').map(|(key, _)| key)
}

/// Serde's field list of a derived struct: `deserialize_struct` is handed it.
fn serde_fields<T: DeserializeOwned>() -> Vec<&'static str> {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldCatcher(&mut fields));
    fields.to_vec()
}

struct FieldCatcher<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldCatcher<'_> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> std::result::Result<V::Value, Self::Error> {
        Err(serde_json::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> std::result::Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(serde_json::Error::custom("fields caught"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

// The coercions below work on a `Value` and return the message alone, so the scheduler's
// own config parsing (`config.rs`) can share them with a field name of its own.

fn fail<E: serde::de::Error>(message: impl Display) -> E {
    E::custom(message)
}

/// A boolean, coerced like upstream's `asbool`: true/false, yes/no, on/off, y/n, t/f, 1/0
/// (any case, as strings too).
pub fn coerced_bool<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    to_bool(&Value::deserialize(d)?).map_err(fail)
}

/// [`coerced_bool`], or `None` for null.
pub fn optional_bool<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<bool>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => to_bool(&v).map(Some).map_err(fail),
    }
}

pub(crate) fn to_bool(value: &Value) -> std::result::Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "y" | "t" | "1" => Ok(true),
            "false" | "no" | "off" | "n" | "f" | "0" => Ok(false),
            _ => Err(format!("'{s}' is not a boolean")),
        },
        other => Err(format!("{other} is not a boolean")),
    }
}

/// A non-negative integer, from a number or a numeric string.
pub fn coerced_u64<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    to_u64(&Value::deserialize(d)?).map_err(fail)
}

pub(crate) fn to_u64(value: &Value) -> std::result::Result<u64, String> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| format!("{n} is not a non-negative integer")),
        Value::String(s) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("'{s}' is not a non-negative integer")),
        other => Err(format!("{other} is not an integer")),
    }
}

/// A positive `u32` (a count: workers, connections), from a number or a numeric string.
pub fn positive_u32<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u32, D::Error> {
    to_positive_u32(&Value::deserialize(d)?).map_err(fail)
}

/// [`positive_u32`], or `None` for null.
pub fn optional_positive_u32<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u32>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => to_positive_u32(&v).map(Some).map_err(fail),
    }
}

pub(crate) fn to_positive_u32(value: &Value) -> std::result::Result<u32, String> {
    let n = to_u64(value)?;
    if n == 0 {
        return Err("must be a positive integer, got 0".to_owned());
    }
    u32::try_from(n).map_err(|_| format!("{n} is too large"))
}

/// A duration in (fractional) seconds, zero or more, from a number or a numeric string.
pub fn seconds<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Duration, D::Error> {
    to_seconds(&Value::deserialize(d)?).map_err(fail)
}

/// A duration above zero in (fractional) seconds: a timeout of zero would fail everything
/// it bounds. Every store's `connect_timeout` (with [`default_connect_timeout`]).
pub fn positive_seconds<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Duration, D::Error> {
    to_positive_seconds(&Value::deserialize(d)?).map_err(fail)
}

/// A limit that may be off: null (`None`, no limit) or a positive number of seconds, like
/// upstream's grace times.
pub fn optional_positive_seconds<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Duration>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => to_positive_seconds(&v).map(Some).map_err(fail),
    }
}

/// The serde default of a `connect_timeout` field: [`DEFAULT_CONNECT_TIMEOUT`].
pub fn default_connect_timeout() -> Duration {
    DEFAULT_CONNECT_TIMEOUT
}

pub(crate) fn to_positive_seconds(value: &Value) -> std::result::Result<Duration, String> {
    let d = to_seconds(value)?;
    if d.is_zero() {
        return Err(format!("{value} is not a positive number of seconds"));
    }
    Ok(d)
}

pub(crate) fn to_seconds(value: &Value) -> std::result::Result<Duration, String> {
    let secs = match value {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a number"))?,
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("'{s}' is not a number"))?,
        other => return Err(format!("{other} is not a number")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("{secs} is not a non-negative number of seconds"));
    }
    // About 136 years: beyond any schedule, and far from chrono's range limits.
    if secs > f64::from(u32::MAX) {
        return Err(format!("{secs} seconds is too long"));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{secs}: {e}"))
}

/// A string that is not empty (or only blanks), trimmed: a URL, a key name.
pub fn non_empty_string<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Value::String(s) => Err(fail(format!("'{s}' must not be empty"))),
        other => Err(fail(format!("{other} is not a string"))),
    }
}

/// A map of strings (environment variables); numbers and booleans are taken as their text,
/// as a shell would give them. An error names the entry (`env.A`).
pub fn string_values<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<BTreeMap<String, String>, D::Error> {
    let map = BTreeMap::<String, Text>::deserialize(d)?;
    Ok(map.into_iter().map(|(k, Text(v))| (k, v)).collect())
}

/// A string, a number or a boolean, as text.
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Text(s)),
            Value::Number(n) => Ok(Text(n.to_string())),
            Value::Bool(b) => Ok(Text(b.to_string())),
            other => Err(fail(format!("{other} is not a string"))),
        }
    }
}

#[cfg(test)]
mod tests;
