//! The schema's versions and the migrations between them. Version 1 is the task table of
//! the single-process store (created in `store.rs`); version 2 adds cluster mode: the claim
//! columns on the task table (`claimed_by`, `claimed_until`, `fence`), the run ledger
//! `<table>_runs` and the node registry `<table>_nodes`; version 3 adds the `functions` a node
//! publishes to the node registry. The version is kept in `<table>_meta` (`schema_version`),
//! beside `compatible_version`, the oldest version whose builds could use the tables (version
//! 3 only adds a nullable column that version-2 statements never name, so it writes 2; builds
//! of version 2 predate the row and still refuse version 3). `start` upgrades an older table in
//! place (its records stay as they are) and refuses tables that need a newer asyncz. Versions
//! are only ever raised, so two builds starting at once cannot move them back.
//!
//! Every step is safe to run twice and by two processes starting at once: a column or index
//! that exists already is not an error.

use crate::store::{on_pool, Dialect, Pool};

/// The schema version this build writes.
pub(crate) const VERSION: i64 = 3;

/// The oldest schema version whose builds can use tables of [`VERSION`].
const COMPATIBLE: i64 = 2;

/// The quoted names of the tables and indexes that belong to task table `t`.
#[derive(Debug)]
pub(crate) struct Names {
    pub(crate) tasks: String,
    pub(crate) runs: String,
    pub(crate) nodes: String,
    pub(crate) meta: String,
    runs_key: String,
    runs_time: String,
    runs_state: String,
    runs_node: String,
}

impl Names {
    /// The names for table `t`; none is more than 14 characters longer than `t`, like the
    /// `next_run_time` index, so the MySQL length check of the table name covers them, and
    /// none is longer than 63 ([`derived_name`]).
    pub(crate) fn new(d: Dialect, t: &str) -> Names {
        let q = |suffix: &str| d.quote(&derived_name(t, suffix));
        Names {
            tasks: d.quote(t),
            runs: q("_runs"),
            nodes: q("_nodes"),
            meta: q("_meta"),
            runs_key: q("_runs_key"),
            runs_time: q("_runs_time"),
            runs_state: q("_runs_state"),
            runs_node: q("_runs_node"),
        }
    }
}

/// Identifiers are at most this long (PostgreSQL truncates longer ones, so `<t>_runs` of a
/// 63-character `t` would name the task table itself).
const MAX_NAME: usize = 63;

/// `<t><suffix>`, or, when that is longer than [`MAX_NAME`], a prefix of `t`, `_`, eight hex
/// digits of a hash of `t` (FNV-1a, stable across versions) and the suffix.
fn derived_name(t: &str, suffix: &str) -> String {
    if t.len() + suffix.len() <= MAX_NAME {
        return format!("{t}{suffix}");
    }
    let hash = t.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    // `t` is ASCII (validated), so any byte index is a char boundary.
    let keep = MAX_NAME.saturating_sub(suffix.len() + 9).min(t.len());
    format!("{}_{hash:08x}{suffix}", &t[..keep])
}

impl Dialect {
    fn text(self) -> &'static str {
        match self {
            Dialect::MySql => "LONGTEXT",
            _ => "TEXT",
        }
    }

    fn create_index(self, name: &str, table: &str, columns: &str) -> String {
        match self {
            // MySQL has no CREATE INDEX IF NOT EXISTS; a duplicate is ignored.
            Dialect::MySql => format!("CREATE INDEX {name} ON {table} ({columns})"),
            _ => format!("CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})"),
        }
    }
}

/// The statements from version 1 to 2.
fn to_v2(d: Dialect, n: &Names) -> Vec<String> {
    let (t, id, text) = (&n.tasks, d.id_type(), d.text());
    vec![
        format!("ALTER TABLE {t} ADD COLUMN claimed_by {id} NULL"),
        format!("ALTER TABLE {t} ADD COLUMN claimed_until BIGINT NULL"),
        format!("ALTER TABLE {t} ADD COLUMN fence BIGINT NOT NULL DEFAULT 0"),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\
             run_id {id} NOT NULL PRIMARY KEY, \
             task_id {id} NOT NULL, \
             scheduled_run_time BIGINT NOT NULL, \
             kind VARCHAR(16) NOT NULL, \
             state VARCHAR(16) NOT NULL, \
             node {id} NULL, \
             fence BIGINT NOT NULL, \
             attempt BIGINT NOT NULL, \
             on_node_death VARCHAR(16) NOT NULL, \
             created_at BIGINT NOT NULL, \
             started_at BIGINT NULL, \
             finished_at BIGINT NULL, \
             error {text} NULL, \
             CONSTRAINT {} UNIQUE (task_id, scheduled_run_time))",
            n.runs, n.runs_key
        ),
        d.create_index(&n.runs_time, &n.runs, "scheduled_run_time"),
        d.create_index(&n.runs_state, &n.runs, "state, created_at"),
        d.create_index(&n.runs_node, &n.runs, "node, state"),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\
             node_id {id} NOT NULL PRIMARY KEY, \
             host VARCHAR(255) NOT NULL, \
             pid BIGINT NOT NULL, \
             started_at BIGINT NOT NULL, \
             last_heartbeat BIGINT NOT NULL, \
             state VARCHAR(16) NOT NULL)",
            n.nodes
        ),
    ]
}

/// The statements from version 2 to 3.
fn to_v3(d: Dialect, n: &Names) -> Vec<String> {
    vec![format!(
        "ALTER TABLE {} ADD COLUMN functions {} NULL",
        n.nodes,
        d.text()
    )]
}

/// The statements from version `from` to `from + 1`.
fn steps(d: Dialect, n: &Names, from: i64) -> Vec<String> {
    match from {
        1 => to_v2(d, n),
        2 => to_v3(d, n),
        _ => Vec::new(),
    }
}

/// Whether `e` says the step was done already (by an earlier start or a process starting at
/// the same time): a duplicate column, index or table.
fn done_already(e: &sqlx::Error) -> bool {
    let Some(d) = e.as_database_error() else {
        return false;
    };
    if d.is_unique_violation() {
        return true;
    }
    let code = d.code().unwrap_or_default();
    let message = d.message();
    // PostgreSQL: duplicate column, table, object; MySQL: duplicate column (1060) and key
    // name (1061) share SQLSTATE 42S21 / 42000, so the message decides; SQLite: message.
    matches!(&*code, "42701" | "42P07" | "42710" | "42S21")
        || message.contains("Duplicate column name")
        || message.contains("Duplicate key name")
        || message.contains("duplicate column name")
}

/// The query that reads meta value `name`.
fn read_meta(n: &Names, name: &str) -> String {
    format!("SELECT value FROM {} WHERE name = '{name}'", n.meta)
}

/// The schema version the tables of `n` have now (1: no `_meta` row, a version-1 table).
pub(crate) async fn stored_version(pool: &Pool, n: &Names) -> Result<i64, sqlx::Error> {
    let read = read_meta(n, "schema_version");
    let version: Option<i64> = on_pool!(pool, |p| sqlx::query_scalar::<_, i64>(&read)
        .fetch_optional(p)
        .await)?;
    Ok(version.unwrap_or(1))
}

/// Raises meta value `name` to `value` (an update when it is lower, an insert when the row is
/// missing; a row already at `value` or above stays).
async fn write_meta(
    pool: &Pool,
    d: Dialect,
    n: &Names,
    name: &str,
    value: i64,
) -> Result<(), String> {
    // Only ever raised: a build starting beside a newer one never writes its older version
    // over the newer one's.
    let update = format!(
        "UPDATE {} SET value = {} WHERE name = '{name}' AND value < {}",
        n.meta,
        d.ph(1),
        d.ph(2)
    );
    let insert = format!(
        "INSERT INTO {} (name, value) VALUES ('{name}', {})",
        n.meta,
        d.ph(1)
    );
    let updated = on_pool!(pool, |p| sqlx::query(&update)
        .bind(value)
        .bind(value)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
    .map_err(|e| format!("cannot write the schema's {name}: {e}"))?;
    if updated == 0 {
        if let Err(e) = on_pool!(pool, |p| sqlx::query(&insert)
            .bind(value)
            .execute(p)
            .await
            .map(|_| ()))
        {
            if !done_already(&e) {
                return Err(format!("cannot write the schema's {name}: {e}"));
            }
        }
    }
    Ok(())
}

/// Brings the tables of `n` to [`VERSION`].
pub(crate) async fn upgrade(pool: &Pool, d: Dialect, n: &Names) -> Result<(), String> {
    let create_meta = format!(
        "CREATE TABLE IF NOT EXISTS {} (name VARCHAR(64) NOT NULL PRIMARY KEY, value BIGINT NOT NULL)",
        n.meta
    );
    if let Err(e) = on_pool!(pool, |p| sqlx::query(&create_meta)
        .execute(p)
        .await
        .map(|_| ()))
    {
        if !done_already(&e) {
            return Err(format!("cannot create the schema table {}: {e}", n.meta));
        }
    }
    let version = stored_version(pool, n)
        .await
        .map_err(|e| format!("cannot read the schema version from {}: {e}", n.meta))?;
    let read_compatible = read_meta(n, "compatible_version");
    let compatible: Option<i64> =
        on_pool!(pool, |p| sqlx::query_scalar::<_, i64>(&read_compatible)
            .fetch_optional(p)
            .await)
        .map_err(|e| format!("cannot read the schema version from {}: {e}", n.meta))?;
    // Tables newer than this build are fine as long as their writer said this build can use
    // them; before compatible_version existed every version needed its own build.
    let needs = compatible.unwrap_or(version);
    if needs > VERSION {
        return Err(format!(
            "the tables were made by a newer asyncz (schema version {version}, usable from version {needs}; this one knows up to {VERSION}): upgrade asyncz"
        ));
    }
    if version >= VERSION {
        return Ok(());
    }
    tracing::info!(
        target: "asyncz.stores",
        table = %n.tasks,
        from = version,
        to = VERSION,
        "upgrading the SQL store's schema"
    );
    for from in version..VERSION {
        for step in steps(d, n, from) {
            if let Err(e) = on_pool!(pool, |p| sqlx::query(&step).execute(p).await.map(|_| ())) {
                if !done_already(&e) {
                    return Err(format!(
                        "cannot upgrade the schema to version {} ({step}): {e}",
                        from + 1
                    ));
                }
            }
        }
    }
    // The compatible version first: a reader that sees the new schema_version finds it.
    write_meta(pool, d, n, "compatible_version", COMPATIBLE).await?;
    write_meta(pool, d, n, "schema_version", VERSION).await
}

/// The statements that drop the tables of cluster mode and the schema version.
pub(crate) fn drop(n: &Names) -> [String; 3] {
    [&n.runs, &n.nodes, &n.meta].map(|t| format!("DROP TABLE IF EXISTS {t}"))
}

#[cfg(test)]
mod tests {
    use super::derived_name;

    #[test]
    fn derived_names_stay_within_63_characters_and_apart() {
        assert_eq!(derived_name("jobs", "_runs"), "jobs_runs");
        let long = "t".repeat(63);
        let names: Vec<String> = ["_runs", "_nodes", "_meta", "_runs_state"]
            .iter()
            .map(|suffix| derived_name(&long, suffix))
            .collect();
        for (name, suffix) in names
            .iter()
            .zip(["_runs", "_nodes", "_meta", "_runs_state"])
        {
            assert!(name.len() <= 63 && name.ends_with(suffix), "{name}");
        }
        assert_ne!(
            derived_name(&long, "_runs"),
            derived_name(&"u".repeat(63), "_runs")
        );
        assert_eq!(derived_name(&long, "_runs"), derived_name(&long, "_runs"));
    }
}
