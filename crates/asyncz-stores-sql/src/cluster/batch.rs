//! The set-based statement shapes of a round's writes, per dialect: an `UPDATE` of many rows,
//! each with its own values, joined from a list of bound rows (PostgreSQL `UPDATE … FROM
//! (VALUES …)`, SQLite `UPDATE … FROM (SELECT column1 … FROM (VALUES …))`, MySQL/MariaDB
//! `UPDATE … JOIN (SELECT … UNION ALL SELECT …)`), and multi-row inserts. A busy round costs
//! a few statements instead of a few per fire.

use super::ClusterSql;
use crate::store::Dialect;

/// At most this many rows in one statement: with 13 columns a run insert binds 13,000
/// values, below every server's limit (PostgreSQL and MySQL 65,535, SQLite 32,766).
pub(super) const ROWS: usize = 1000;

impl ClusterSql {
    /// `UPDATE table SET col = <row's value>, …, extra WHERE key = <row's key>` for `rows`
    /// rows of bound values, each bound as `key, cols…` in that order.
    pub(super) fn update_from_values(
        &self,
        table: &str,
        key: &str,
        cols: &[&str],
        extra: &str,
        rows: usize,
    ) -> String {
        let width = cols.len() + 1;
        let tuples = |n: usize| self.tuples(1, width, n);
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!(", {extra}")
        };
        match self.dialect {
            Dialect::Postgres => {
                let set: Vec<String> = cols.iter().map(|c| format!("{c} = v.{c}")).collect();
                format!(
                    "UPDATE {table} SET {}{extra} FROM (VALUES {}) AS v({key}, {}) WHERE {table}.{key} = v.{key}",
                    set.join(", "),
                    tuples(rows),
                    cols.join(", ")
                )
            }
            Dialect::Sqlite => {
                let set: Vec<String> = cols.iter().map(|c| format!("{c} = v.{c}")).collect();
                let names: Vec<String> = std::iter::once(key)
                    .chain(cols.iter().copied())
                    .enumerate()
                    .map(|(i, c)| format!("column{} AS {c}", i + 1))
                    .collect();
                format!(
                    "UPDATE {table} SET {}{extra} FROM (SELECT {} FROM (VALUES {})) AS v WHERE {table}.{key} = v.{key}",
                    set.join(", "),
                    names.join(", "),
                    tuples(rows)
                )
            }
            Dialect::MySql => {
                let set: Vec<String> = cols.iter().map(|c| format!("x.{c} = v.{c}")).collect();
                let first: Vec<String> = std::iter::once(key)
                    .chain(cols.iter().copied())
                    .enumerate()
                    .map(|(i, c)| format!("{} AS {c}", self.ph(i + 1)))
                    .collect();
                let mut selects = vec![format!("SELECT {}", first.join(", "))];
                selects.extend(
                    (1..rows).map(|r| format!("SELECT {}", self.list(r * width + 1, width))),
                );
                format!(
                    "UPDATE {table} AS x JOIN ({}) AS v ON x.{key} = v.{key} SET {}{extra}",
                    selects.join(" UNION ALL "),
                    set.join(", ")
                )
            }
        }
    }

    /// `rows` tuples of `width` placeholders from the `first`th: `(…), (…)`.
    pub(super) fn tuples(&self, first: usize, width: usize, rows: usize) -> String {
        (0..rows)
            .map(|r| format!("({})", self.list(first + r * width, width)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
