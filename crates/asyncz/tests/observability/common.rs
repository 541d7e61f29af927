//! Helpers: a store that can be made to fail, a fixed start instant, and a recorder snapshot
//! keyed by name and labels.

use std::collections::BTreeMap;

use asyncz::chrono::{DateTime, TimeZone, Utc};
use asyncz::MemoryStore;
use asyncz_testkit::OutageStore;
use metrics_util::debugging::{DebugValue, Snapshotter};

/// A fixed instant the manual-clock tests start from.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("valid date")
}

/// A memory store that answers every call with a backend error while its `down()` switch is
/// set, and reports one undecodable record.
pub fn flaky_store() -> OutageStore<MemoryStore> {
    OutageStore::new(MemoryStore::new()).with_undecodable("broken", "cannot decode (test record)")
}

/// A metric's identity in a snapshot: `name{label=value,...}` with labels sorted.
pub fn key(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.sort();
    format!("{name}{{{}}}", labels.join(","))
}

/// Accumulates a recorder's snapshots (each snapshot drains counters and histograms).
#[derive(Default)]
pub struct Seen {
    pub counters: BTreeMap<String, u64>,
    pub gauges: BTreeMap<String, f64>,
    pub histograms: BTreeMap<String, Vec<f64>>,
}

impl Seen {
    pub fn take(&mut self, snapshotter: &Snapshotter) {
        for (ck, _, _, value) in snapshotter.snapshot().into_vec() {
            let k = ck.key();
            let labels: Vec<(&str, &str)> = k.labels().map(|l| (l.key(), l.value())).collect();
            let id = key(k.name(), &labels);
            match value {
                DebugValue::Counter(n) => *self.counters.entry(id).or_default() += n,
                // Drained too: what a snapshot shows is the change since the last one.
                DebugValue::Gauge(g) => *self.gauges.entry(id).or_default() += g.into_inner(),
                DebugValue::Histogram(values) => self
                    .histograms
                    .entry(id)
                    .or_default()
                    .extend(values.into_iter().map(|v| v.into_inner())),
            }
        }
    }

    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.counters.get(&key(name, labels)).copied().unwrap_or(0)
    }

    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.gauges.get(&key(name, labels)).copied()
    }

    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.histograms
            .get(&key(name, labels))
            .cloned()
            .unwrap_or_default()
    }
}
