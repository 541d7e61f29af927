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

/// The store specs given, or `ASYNCZ_STORE_URL`.
pub fn specs(given: &[String]) -> Result<Vec<String>, CliError> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    match std::env::var("ASYNCZ_STORE_URL") {
        Ok(url) if !url.is_empty() => Ok(vec![url]),
        _ => Err(CliError::Usage(
            "no store: give --store URL or set ASYNCZ_STORE_URL".to_owned(),
        )),
    }
}

/// A scheduler over the stores, started paused (reads and writes only; nothing fires).
pub async fn open(given: &[String]) -> Result<Scheduler, CliError> {
    let mut stores = Map::new();
    for spec in specs(given)? {
        let (alias, map) = store_config(&spec)?;
        if stores.contains_key(&alias) {
            return Err(CliError::Usage(format!(
                "--store: alias {} is given twice",
                quote(&alias)
            )));
        }
        stores.insert(alias, Value::Object(map));
    }
    let mut config = Map::new();
    config.insert("asyncz.stores".into(), Value::Object(stores));
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
