//! What the peer benchmarks report: lateness samples of one scheduler's runs, summarized as
//! percentiles and lost fires. The benchmarks themselves are in `benches/` (`cargo xtask bench
//! punctuality`); this crate is not published.

#![deny(missing_docs)]

/// The runs one scheduler made in a measuring window.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    /// Lateness of each run in the window (start − scheduled time), in milliseconds.
    pub late_ms: Vec<f64>,
    /// How many runs the schedules asked for in the window.
    pub expected: u64,
}

/// Percentiles and loss of a [`Samples`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Median lateness, in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile lateness, in milliseconds.
    pub p99_ms: f64,
    /// The share of expected runs that never started, in percent.
    pub lost_percent: f64,
}

impl Samples {
    /// The summary; `None` when no run was recorded.
    pub fn summary(&self) -> Option<Summary> {
        if self.late_ms.is_empty() {
            return None;
        }
        let mut sorted = self.late_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let ran = sorted.len() as u64;
        let lost = self.expected.saturating_sub(ran);
        Some(Summary {
            p50_ms: percentile(&sorted, 0.50),
            p99_ms: percentile(&sorted, 0.99),
            lost_percent: if self.expected == 0 {
                0.0
            } else {
                100.0 * lost as f64 / self.expected as f64
            },
        })
    }
}

/// The `p` quantile (0–1) of ascending `sorted` values, nearest rank; 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p.clamp(0.0, 1.0)).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.2} ms, p99 {:.2} ms, {} lost",
            self.p50_ms,
            self.p99_ms,
            if self.lost_percent == 0.0 {
                "0".to_owned()
            } else {
                format!("{:.1} %", self.lost_percent)
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_counts_what_did_not_run_as_lost() {
        let samples = Samples {
            late_ms: (1..=100).map(f64::from).collect(),
            expected: 200,
        };
        let s = samples.summary().expect("runs");
        assert_eq!(s.p50_ms, 51.0);
        assert_eq!(s.p99_ms, 99.0);
        assert_eq!(s.lost_percent, 50.0);
        assert_eq!(s.to_string(), "p50 51.00 ms, p99 99.00 ms, 50.0 % lost");
    }

    #[test]
    fn no_runs_is_no_summary_and_more_runs_than_expected_lose_nothing() {
        assert_eq!(Samples::default().summary(), None);
        let s = Samples {
            late_ms: vec![1.0, 2.0],
            expected: 1,
        }
        .summary()
        .expect("runs");
        assert_eq!(s.lost_percent, 0.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
