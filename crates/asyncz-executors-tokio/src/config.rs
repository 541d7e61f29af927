//! Configuration of the tokio executor.

use asyncz_core::plugin_config::optional_positive_u32;
use asyncz_core::{parse_plugin_config, Map, PluginConfig, Result};
use serde::Deserialize;

/// Options of [`crate::TokioExecutor`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TokioExecutorConfig {
    /// `max_workers`: at most this many jobs run at once (further ones wait for a slot; the
    /// wait counts against `mistrigger_grace_time`). `None` (the default, or null):
    /// unlimited.
    #[serde(default, deserialize_with = "optional_positive_u32")]
    pub max_workers: Option<u32>,
    /// `blocking_workers`: how many threads of the runtime's blocking pool run sync jobs
    /// (default: upstream's `min(32, cpus + 4)`). Async jobs do not use them.
    #[serde(default, deserialize_with = "optional_positive_u32")]
    pub blocking_workers: Option<u32>,
}

impl PluginConfig for TokioExecutorConfig {}

impl TokioExecutorConfig {
    /// At most `max_workers` jobs run at once (default: unlimited).
    pub fn max_workers(mut self, max_workers: u32) -> Self {
        self.max_workers = Some(max_workers);
        self
    }

    /// Threads of the runtime's blocking pool that run sync jobs.
    pub fn blocking_workers(mut self, blocking_workers: u32) -> Self {
        self.blocking_workers = Some(blocking_workers);
        self
    }

    /// Reads `max_workers` and `blocking_workers` (numbers or numeric strings); an error names
    /// the key and the value, and an unknown key is rejected.
    pub fn from_map(map: &Map) -> Result<Self> {
        parse_plugin_config(map)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use asyncz_core::{Error, Value};

    fn parse(v: Value) -> Result<TokioExecutorConfig> {
        TokioExecutorConfig::from_map(v.as_object().unwrap())
    }

    #[test]
    fn counts_coerce_and_default_to_unlimited() {
        assert_eq!(
            parse(serde_json::json!({})).unwrap(),
            TokioExecutorConfig::default()
        );
        let c = parse(serde_json::json!({"max_workers": "3", "blocking_workers": 2})).unwrap();
        assert_eq!((c.max_workers, c.blocking_workers), (Some(3), Some(2)));
        assert_eq!(
            parse(serde_json::json!({"max_workers": null}))
                .unwrap()
                .max_workers,
            None
        );
    }

    /// Each setter sets the option its map key does.
    #[test]
    fn the_setters_match_the_map_keys() {
        let from_map = parse(serde_json::json!({"max_workers": 3, "blocking_workers": 2})).unwrap();
        let built = TokioExecutorConfig::default()
            .max_workers(3)
            .blocking_workers(2);
        assert_eq!(built, from_map);
    }

    #[test]
    fn errors_name_the_key_and_the_value() {
        for (bad, field, fragment) in [
            (
                serde_json::json!({"max_workers": 0}),
                "max_workers",
                "got 0",
            ),
            (
                serde_json::json!({"blocking_workers": "lots"}),
                "blocking_workers",
                "'lots'",
            ),
            (
                serde_json::json!({"max_wokers": 3}),
                "max_wokers",
                "expected max_workers, blocking_workers",
            ),
        ] {
            match parse(bad.clone()).unwrap_err() {
                Error::InvalidArgument { field: f, message } => {
                    assert_eq!(f, field, "{bad}: {message}");
                    assert!(
                        message.contains(fragment),
                        "{bad}: '{message}' lacks '{fragment}'"
                    );
                }
                other => panic!("{other}"),
            }
        }
    }
}
