#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::*;

fn map(v: Value) -> Map {
    v.as_object().cloned().unwrap()
}

fn err<T: PluginConfig + std::fmt::Debug>(v: Value) -> (String, String) {
    match parse_plugin_config::<T>(&map(v)).unwrap_err() {
        Error::InvalidArgument { field, message } => (field, message),
        other => panic!("not an InvalidArgument: {other}"),
    }
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Store {
    #[serde(alias = "database", deserialize_with = "non_empty_string")]
    url: String,
    #[serde(default, deserialize_with = "coerced_bool")]
    flag: bool,
    #[serde(
        default = "default_connect_timeout",
        deserialize_with = "positive_seconds"
    )]
    connect_timeout: Duration,
    #[serde(default, deserialize_with = "optional_positive_seconds")]
    grace: Option<Duration>,
    #[serde(default, deserialize_with = "string_values")]
    env: BTreeMap<String, String>,
    #[serde(default)]
    args: Vec<String>,
}
impl PluginConfig for Store {}

#[test]
fn upstream_coercions_are_accepted() {
    let s: Store = parse_plugin_config(&map(serde_json::json!({
        "database": " sqlite://x ", "flag": "Yes", "connect_timeout": "2.5", "grace": null,
        "env": {"A": 1, "B": true, "C": "c"}, "args": ["-q"],
    })))
    .unwrap();
    assert_eq!(s.url, "sqlite://x");
    assert!(s.flag);
    assert_eq!(s.connect_timeout, Duration::from_millis(2500));
    assert_eq!(s.grace, None);
    assert_eq!(s.env["A"], "1");
    assert_eq!(s.env["B"], "true");
    let s: Store =
        parse_plugin_config(&map(serde_json::json!({"url": "u", "flag": 0, "grace": 3}))).unwrap();
    assert_eq!((s.flag, s.grace), (false, Some(Duration::from_secs(3))));
    assert_eq!(s.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
}

#[test]
fn errors_name_the_key_and_the_value() {
    let cases = [
        (
            serde_json::json!({"url": "u", "flag": "maybe"}),
            "flag",
            "'maybe' is not a boolean",
        ),
        (
            serde_json::json!({"url": "u", "connect_timeout": 0}),
            "connect_timeout",
            "0 is not a positive",
        ),
        (
            serde_json::json!({"url": "u", "connect_timeout": -1}),
            "connect_timeout",
            "-1",
        ),
        (
            serde_json::json!({"url": "u", "connect_timeout": "soon"}),
            "connect_timeout",
            "'soon' is not a number",
        ),
        (
            serde_json::json!({"url": "u", "grace": 0}),
            "grace",
            "0 is not a positive",
        ),
        (serde_json::json!({"url": "  "}), "url", "must not be empty"),
        (serde_json::json!({"url": 5}), "url", "5 is not a string"),
        (
            serde_json::json!({"url": "u", "env": {"A": [1]}}),
            "env.A",
            "[1] is not a string",
        ),
        (
            serde_json::json!({"url": "u", "args": ["a", 2]}),
            "args[1]",
            "2",
        ),
        (serde_json::json!({}), "url", "is required"),
        (
            serde_json::json!({"url": "u", "database": "v"}),
            "url",
            "given twice",
        ),
    ];
    for (bad, field, fragment) in cases {
        let (f, m) = err::<Store>(bad.clone());
        assert_eq!(f, field, "{bad}: {m}");
        assert!(m.contains(fragment), "{bad}: '{m}' lacks '{fragment}'");
    }
}

#[test]
fn an_unknown_key_is_named_with_the_accepted_ones() {
    let (field, message) = err::<Store>(serde_json::json!({"url": "u", "colour": 1}));
    assert_eq!(field, "colour");
    assert_eq!(
        message,
        "unknown option (expected database, url, flag, connect_timeout, grace, env, args)"
    );

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Nothing {}
    impl PluginConfig for Nothing {}
    assert!(parse_plugin_config::<Nothing>(&Map::new()).is_ok());
    let (field, message) = err::<Nothing>(serde_json::json!({"directory": "/tmp"}));
    assert_eq!(field, "directory");
    assert!(message.contains("takes no options"), "{message}");
}

#[test]
fn counts_are_positive_and_fit() {
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Counts {
        #[serde(deserialize_with = "positive_u32")]
        n: u32,
        #[serde(default, deserialize_with = "optional_positive_u32")]
        m: Option<u32>,
        #[serde(default, deserialize_with = "coerced_u64")]
        big: u64,
    }
    impl PluginConfig for Counts {}
    let c: Counts =
        parse_plugin_config(&map(serde_json::json!({"n": "3", "m": null, "big": "0"}))).unwrap();
    assert_eq!((c.n, c.m, c.big), (3, None, 0));
    for (bad, field, fragment) in [
        (serde_json::json!({"n": 0}), "n", "got 0"),
        (serde_json::json!({"n": "many"}), "n", "'many'"),
        (
            serde_json::json!({"n": 4_294_967_296_u64}),
            "n",
            "4294967296 is too large",
        ),
        (serde_json::json!({"n": 1, "m": -2}), "m", "-2"),
        (serde_json::json!({"n": 1, "big": 1.5}), "big", "1.5"),
    ] {
        let (f, m) = err::<Counts>(bad.clone());
        assert_eq!(f, field, "{bad}: {m}");
        assert!(m.contains(fragment), "{bad}: '{m}' lacks '{fragment}'");
    }
}

/// A pool executor's config, shaped like the thread-pool one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pool {
    #[serde(flatten)]
    pool: PoolConfig,
    #[serde(default)]
    prefix: String,
    #[serde(default, deserialize_with = "string_values")]
    env: BTreeMap<String, String>,
}
impl PluginConfig for Pool {
    fn accepted_keys() -> Vec<&'static str> {
        let mut keys = PoolConfig::accepted_keys();
        keys.extend(["pool_kwargs", "prefix", "env"]);
        keys
    }
}

fn pool_err(v: Value) -> (String, String) {
    match parse_pool_config::<Pool>(&map(v)).unwrap_err() {
        Error::InvalidArgument { field, message } => (field, message),
        other => panic!("not an InvalidArgument: {other}"),
    }
}

#[test]
fn pool_options_flatten_into_a_config_that_denies_unknown_keys() {
    let p: Pool = parse_pool_config(&Map::new()).unwrap();
    assert_eq!(p.pool, PoolConfig::default());
    assert_eq!(p.pool.max_workers, 10);
    let p: Pool = parse_pool_config(&map(serde_json::json!({
        "max_workers": "3", "cancel_futures": "true", "overwrite_wait": "off",
        "pool_kwargs": {"prefix": "jobs-"},
    })))
    .unwrap();
    assert_eq!(
        (
            p.pool.max_workers,
            p.pool.cancel_futures,
            p.pool.overwrite_wait
        ),
        (3, true, Some(false))
    );
    assert_eq!(p.prefix, "jobs-");
    assert!(p.env.is_empty());
    let p: Pool = parse_pool_config(&map(
        serde_json::json!({"prefix": "x-", "pool_kwargs": null}),
    ))
    .unwrap();
    assert_eq!(p.prefix, "x-");
}

#[test]
fn pool_errors_name_the_key_at_the_top_level_and_in_pool_kwargs() {
    let cases = [
        (
            serde_json::json!({"max_workers": "many"}),
            "max_workers",
            "'many'",
        ),
        (
            serde_json::json!({"max_workers": 0}),
            "max_workers",
            "got 0",
        ),
        (
            serde_json::json!({"overwrite_wait": "perhaps"}),
            "overwrite_wait",
            "'perhaps'",
        ),
        (serde_json::json!({"prefix": 1}), "prefix", "1"),
        (
            serde_json::json!({"pool_kwargs": {"prefix": 1}}),
            "pool_kwargs.prefix",
            "1",
        ),
        (
            serde_json::json!({"pool_kwargs": {"env": {"A": [1]}}}),
            "pool_kwargs.env.A",
            "[1]",
        ),
        (
            serde_json::json!({"pool_kwargs": {"initializer": "x"}}),
            "pool_kwargs.initializer",
            "expected prefix, env",
        ),
        (
            serde_json::json!({"pool_kwargs": {"max_workers": 2}}),
            "pool_kwargs.max_workers",
            "unknown pool option",
        ),
        (
            serde_json::json!({"prefix": "a", "pool_kwargs": {"prefix": "b"}}),
            "pool_kwargs.prefix",
            "give it once",
        ),
        (
            serde_json::json!({"pool_kwargs": [1]}),
            "pool_kwargs",
            "[1]",
        ),
    ];
    for (bad, field, fragment) in cases {
        let (f, m) = pool_err(bad.clone());
        assert_eq!(f, field, "{bad}: {m}");
        assert!(m.contains(fragment), "{bad}: '{m}' lacks '{fragment}'");
    }
    let (field, message) = pool_err(serde_json::json!({"max_wokers": 2}));
    assert_eq!(field, "max_wokers");
    assert_eq!(
        message,
        "unknown option (expected max_workers, cancel_futures, overwrite_wait, pool_kwargs, prefix, env)"
    );
}

#[test]
fn the_scheduler_can_prefix_the_alias() {
    let err = parse_plugin_config::<Store>(&map(serde_json::json!({"url": 1}))).unwrap_err();
    let err = prefix_field(err, "stores.reports");
    assert!(
        err.to_string()
            .starts_with("invalid stores.reports.url: 1 is not a string"),
        "{err}"
    );
    let other = prefix_field(Error::task_lookup("t"), "stores.reports");
    assert!(!other.to_string().contains("stores.reports"), "{other}");
}
