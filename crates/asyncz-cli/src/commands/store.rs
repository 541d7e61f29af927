//! Store URLs (`--store [alias=]URL`, `ASYNCZ_STORE_URL`) and the scheduler the store
//! commands act through: built from the spec's `asyncz.stores.*` keys, so each store is made
//! by its own plugin, and started paused, so the engine never fires or advances a task.

use asyncz::{Map, Scheduler};
use serde_json::Value;

use crate::{quote, CliError};

/// Maps a URL's scheme to a store plugin and its config map.
pub fn store_config(spec: &str) -> Result<(String, Map), CliError> {
    let (alias, url) = match spec.split_once('=') {
        Some((alias, url)) if !alias.contains(':') && !alias.contains('/') => {
            (alias.to_owned(), url)
        }
        _ => ("default".to_owned(), spec),
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(CliError::Usage(format!(
            "--store: {} is not a URL (expected scheme://..., e.g. sqlite://tasks.db)",
            quote(url)
        )));
    };
    let mut map = Map::new();
    let kind = match scheme.to_ascii_lowercase().as_str() {
        "sqlite" | "postgres" | "postgresql" | "mysql" | "mariadb" => {
            let url = match scheme {
                "mariadb" => format!("mysql://{rest}"),
                _ => url.to_owned(),
            };
            map.insert("url".into(), Value::String(url));
            "sql"
        }
        "redis" | "rediss" => {
            map.insert("url".into(), Value::String(url.to_owned()));
            "redis"
        }
        "mongodb" | "mongodb+srv" => {
            map.insert("url".into(), Value::String(url.to_owned()));
            "mongo"
        }
        "file" => {
            if rest.is_empty() {
                return Err(CliError::Usage(format!(
                    "--store: {} names no directory",
                    quote(url)
                )));
            }
            map.insert("directory".into(), Value::String(rest.to_owned()));
            "file"
        }
        _ => {
            return Err(CliError::Usage(format!(
                "--store: unknown scheme {} in {} (expected one of: sqlite, postgres, mysql, mariadb, redis, mongodb, file)",
                quote(scheme),
                quote(url)
            )))
        }
    };
    if let Ok(key) = std::env::var("ASYNCZ_STORE_ENCRYPTION_KEY") {
        map.insert("encryption_key".into(), Value::String(key));
    }
    map.insert("type".into(), Value::String(kind.to_owned()));
    Ok((alias, map))
}

/// The store specs given, or `ASYNCZ_STORE_URL` (only when no config file names stores).
pub fn specs(given: &[String], have_config: bool) -> Result<Vec<String>, CliError> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    match std::env::var("ASYNCZ_STORE_URL") {
        Ok(url) if !url.is_empty() => Ok(vec![url]),
        _ if have_config => Ok(Vec::new()),
        _ => Err(CliError::Usage(
            "no store: give --store URL or --config FILE, or set ASYNCZ_STORE_URL or ASYNCZ_CONFIG"
                .to_owned(),
        )),
    }
}

/// The config file given, or `ASYNCZ_CONFIG`.
pub fn config_path(given: Option<&str>) -> Option<String> {
    given.map(str::to_owned).or_else(|| {
        std::env::var("ASYNCZ_CONFIG")
            .ok()
            .filter(|p| !p.is_empty())
    })
}

/// Reads a TOML config file holding the spec's `asyncz.*` keys (`[asyncz.stores.NAME]`
/// tables, `asyncz.timezone`, ...) as the flat map `SchedulerBuilder::config` reads. A store
/// table with a `url` and no `type` gets its type from the URL's scheme, as `--store` does.
pub fn read_config(path: &str) -> Result<Map, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("--config: cannot read {}: {e}", quote(path))))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| {
        CliError::Usage(format!(
            "--config: {} is not valid TOML: {}",
            quote(path),
            crate::one_line(e.message())
        ))
    })?;
    let value = serde_json::to_value(&table)
        .map_err(|e| CliError::Usage(format!("--config: {} cannot be read: {e}", quote(path))))?;
    let mut out = Map::new();
    let Value::Object(root) = value else {
        return Ok(out);
    };
    for (key, value) in root {
        if key != "asyncz" {
            return Err(CliError::Usage(format!(
                "--config: {}: unknown top-level key {} (expected an [asyncz] table)",
                quote(path),
                quote(&key)
            )));
        }
        let Value::Object(asyncz) = value else {
            return Err(CliError::Usage(format!(
                "--config: {}: 'asyncz' must be a table",
                quote(path)
            )));
        };
        for (k, mut v) in asyncz {
            if k == "stores" {
                if let Value::Object(stores) = &mut v {
                    for (alias, store) in stores.iter_mut() {
                        infer_store_type(alias, store)?;
                    }
                }
            }
            out.insert(format!("asyncz.{k}"), v);
        }
    }
    Ok(out)
}

fn infer_store_type(alias: &str, store: &mut Value) -> Result<(), CliError> {
    let Value::Object(map) = store else {
        return Ok(());
    };
    if map.contains_key("type") {
        return Ok(());
    }
    let Some(Value::String(url)) = map.get("url").cloned() else {
        return Ok(());
    };
    let (_, from_url) = store_config(&url)
        .map_err(|e| CliError::Usage(format!("--config: asyncz.stores.{alias}.url: {e}")))?;
    for (k, v) in from_url {
        map.entry(k).or_insert(v);
    }
    Ok(())
}

/// How long opening a networked store keeps trying (`connect_timeout` of the SQL, Redis and
/// MongoDB stores), unless the config file sets it.
pub const DEFAULT_CONNECT_TIMEOUT_SECS: f64 = 5.0;

/// The scheduler configuration map the store options describe: the config file's keys, then
/// the `--store` URLs (an alias given twice is an error).
pub fn config_map(
    given: &[String],
    config: Option<&str>,
    connect_timeout: f64,
) -> Result<Map, CliError> {
    let path = config_path(config);
    let mut map = match &path {
        Some(path) => read_config(path)?,
        None => Map::new(),
    };
    let mut stores = match map.remove("asyncz.stores") {
        Some(Value::Object(stores)) => stores,
        Some(_) => {
            return Err(CliError::Usage(
                "--config: asyncz.stores must be a table of stores".to_owned(),
            ))
        }
        None => Map::new(),
    };
    for spec in specs(given, !stores.is_empty())? {
        let (alias, map) = store_config(&spec)?;
        if stores.contains_key(&alias) {
            return Err(CliError::Usage(format!(
                "--store: alias {} is given twice",
                quote(&alias)
            )));
        }
        stores.insert(alias, Value::Object(map));
    }
    for store in stores.values_mut() {
        if let Value::Object(s) = store {
            let networked = matches!(
                s.get("type").and_then(Value::as_str),
                Some("sql" | "redis" | "mongo")
            );
            if networked && !s.contains_key("connect_timeout") {
                s.insert("connect_timeout".into(), Value::from(connect_timeout));
            }
        }
    }
    map.insert("asyncz.stores".into(), Value::Object(stores));
    Ok(map)
}

/// A scheduler over the stores, started paused (reads and writes only; nothing fires).
pub async fn open(
    given: &[String],
    config: Option<&str>,
    connect_timeout: f64,
) -> Result<Scheduler, CliError> {
    let config = config_map(given, config, connect_timeout)?;
    let scheduler = asyncz::builder()
        .config(config)
        .build()
        .map_err(CliError::from)?;
    scheduler
        .start_paused()
        .await
        .map_err(|e| CliError::Failed(crate::one_line(&e.to_string())))?;
    Ok(scheduler)
}
