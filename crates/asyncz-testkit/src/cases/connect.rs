//! A store whose server is down fails to start within its `connect_timeout` (issue: the Redis
//! store's start hung about eight minutes).

use std::time::{Duration, Instant};

use asyncz_core::Store;

use super::{StoreCase, ANY, SKIPPED};
use crate::harness::store_context;
use crate::harness::StoreHarness;

/// The harness configures a 2 s connect timeout; this allows for retries and a slow machine.
const BOUND: Duration = Duration::from_secs(8);

pub(super) fn cases<H: StoreHarness>() -> Vec<StoreCase<H>> {
    vec![case!(
        start_against_an_unreachable_server_fails_within_its_connect_timeout,
        ANY,
        |h, _store| {
            let Some(unreachable) = h.unreachable_store().await else {
                return Err(SKIPPED.to_owned());
            };
            let unreachable = unreachable.map_err(|e| {
                format!("configuring the store failed (it must not connect yet): {e}")
            })?;
            let began = Instant::now();
            let outcome =
                tokio::time::timeout(Duration::from_secs(30), unreachable.start(store_context()))
                    .await;
            let took = began.elapsed();
            match outcome {
                Err(_) => Err(format!(
                    "start() against a closed port had not returned after {took:?}"
                )),
                Ok(Ok(())) => Err("start() against a closed port succeeded".to_owned()),
                Ok(Err(e)) => {
                    ensure!(
                        took <= BOUND,
                        "start() failed only after {took:?} (bound {BOUND:?}): {e}"
                    );
                    ensure!(!e.to_string().is_empty(), "the error says nothing");
                    Ok(())
                }
            }
        }
    )]
}
