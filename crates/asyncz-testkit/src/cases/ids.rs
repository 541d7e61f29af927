//! Ids are exact strings (issue: MySQL's default collation made `case`, `CASE` and `Case ` one
//! task, so deleting one deleted another).

use asyncz_core::{Error, Store, Task};

use super::{at_us, err, ids, StoreCase, ANY};
use crate::harness::sample_task;
use crate::harness::StoreHarness;

/// Ids that a case-insensitive, accent-insensitive or space-padding comparison would confuse.
const LOOKALIKES: [&str; 5] = ["case", "CASE", "case ", "cäse", "case\u{308}"];

pub(super) fn cases<H: StoreHarness>() -> Vec<StoreCase<H>> {
    vec![
        case!(
            ids_that_differ_by_case_space_or_accent_are_distinct_tasks,
            ANY,
            |h, store| {
                for (i, id) in LOOKALIKES.iter().enumerate() {
                    let added = store.add_task(&sample_task(id, at_us(i as i64))).await;
                    ensure!(
                        added.is_ok(),
                        "add_task({id:?}) with only lookalikes stored: {added:?}"
                    );
                }
                for (i, id) in LOOKALIKES.iter().enumerate() {
                    let found = store.lookup_task(id).await.map_err(err)?;
                    ensure!(
                        found.as_ref().map(Task::id) == Some(*id)
                            && found.as_ref().and_then(Task::next_run_time) == at_us(i as i64),
                        "lookup_task({id:?}) = {found:?}"
                    );
                }
                // Updating one leaves the others as they were.
                store
                    .update_task(&sample_task("CASE", at_us(100)).with_name("renamed"))
                    .await
                    .map_err(err)?;
                for (i, id) in LOOKALIKES.iter().enumerate() {
                    let found = store
                        .lookup_task(id)
                        .await
                        .map_err(err)?
                        .ok_or(format!("{id:?} is gone"))?;
                    let renamed = found.name() == "renamed";
                    ensure!(
                        renamed == (*id == "CASE"),
                        "update of \"CASE\" touched {id:?}: {found:?}"
                    );
                    if *id != "CASE" {
                        ensure!(
                            found.next_run_time() == at_us(i as i64),
                            "{id:?} changed: {found:?}"
                        );
                    }
                }
                // Deleting one deletes only it.
                store.delete_task("case ").await.map_err(err)?;
                let mut left = ids(&store.get_all_tasks().await.map_err(err)?);
                left.sort();
                let mut expected: Vec<String> = LOOKALIKES
                    .iter()
                    .filter(|id| **id != "case ")
                    .map(|s| (*s).to_owned())
                    .collect();
                expected.sort();
                ensure!(left == expected, "after delete_task(\"case \"): {left:?}");
                Ok(())
            }
        ),
        case!(
            a_lookalike_id_never_reaches_the_stored_task,
            ANY,
            |h, store| {
                store
                    .add_task(&sample_task("case", at_us(0)))
                    .await
                    .map_err(err)?;
                for other in ["CASE", "Case ", "case ", "cäse", " case"] {
                    let found = store.lookup_task(other).await.map_err(err)?;
                    ensure!(found.is_none(), "lookup_task({other:?}) found {found:?}");
                    let updated = store.update_task(&sample_task(other, at_us(7))).await;
                    ensure!(
                        matches!(updated, Err(Error::TaskLookup { .. })),
                        "update_task({other:?}) with only \"case\" stored: {updated:?}"
                    );
                    let deleted = store.delete_task(other).await;
                    ensure!(
                        matches!(deleted, Err(Error::TaskLookup { .. })),
                        "delete_task({other:?}) with only \"case\" stored: {deleted:?}"
                    );
                }
                let all = store.get_all_tasks().await.map_err(err)?;
                ensure!(ids(&all) == ["case"], "stored ids: {:?}", ids(&all));
                ensure!(
                    all.first().and_then(Task::next_run_time) == at_us(0),
                    "\"case\" changed: {all:?}"
                );
                Ok(())
            }
        ),
    ]
}
