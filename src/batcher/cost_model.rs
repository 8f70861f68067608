//! What a batch of n frames costs to run, learned online from the batches the element
//! measures: a line a + b·n fitted by exponentially weighted least squares (recent batches
//! count most, so the model follows a machine whose load changes; the first batches are
//! averaged plainly, so it learns fast from a poor first guess), plus a margin of three
//! times the recent mean absolute error, so that predictions err on the late side.
//!
//! Pure: batch sizes and nanoseconds in, nanoseconds out.

use super::Nanos;

/// Weight of the newest batch in the running averages once 20 are known: about the last 20
/// batches count.
const NEWEST_WEIGHT: f64 = 0.05;

/// A batch this many times slower than predicted restarts the model from it.
const SLOWER_THAN_PREDICTED: f64 = 2.0;

#[derive(Clone, Debug, Default)]
pub struct CostModel {
    /// Batches observed.
    count: u64,
    /// Weighted sums of 1, n, n², t and n·t over the observed batches.
    sum_w: f64,
    sum_n: f64,
    sum_nn: f64,
    sum_t: f64,
    sum_nt: f64,
    /// Weighted mean absolute prediction error, ns.
    error: f64,
}

impl CostModel {
    /// True until a first batch is known.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Records one batch of `size` frames that took `cost` ns.
    pub fn observe(&mut self, size: usize, cost: Nanos) {
        let (n, t) = (size.max(1) as f64, cost as f64);
        // Far slower than predicted (the machine got busy: live sources or other work took
        // the CPU): believe the new cost at once instead of averaging towards it, as every
        // batch sized on the old figure would miss its deadline meanwhile.
        if self.count > 0 && t > SLOWER_THAN_PREDICTED * self.predict(size) as f64 {
            *self = CostModel::default();
        }
        self.count += 1;
        let add = (1.0 / self.count as f64).max(NEWEST_WEIGHT);
        if self.count > 1 {
            let miss = (t - self.line(n)).abs();
            self.error = (1.0 - add) * self.error + add * miss;
        }
        let keep = 1.0 - add;
        self.sum_w = keep * self.sum_w + add;
        self.sum_n = keep * self.sum_n + add * n;
        self.sum_nn = keep * self.sum_nn + add * n * n;
        self.sum_t = keep * self.sum_t + add * t;
        self.sum_nt = keep * self.sum_nt + add * n * t;
    }

    /// The fitted line at `n`, without margin; 0 with nothing observed.
    fn line(&self, n: f64) -> f64 {
        if self.is_empty() {
            return 0.0;
        }
        let (mean_n, mean_t) = (self.sum_n / self.sum_w, self.sum_t / self.sum_w);
        let var_n = self.sum_nn / self.sum_w - mean_n * mean_n;
        let cov = self.sum_nt / self.sum_w - mean_n * mean_t;
        // One batch size seen (or nearly): assume the cost is proportional to the size.
        // Otherwise the fitted line, made to grow with n and to stay positive.
        let (a, b) = if var_n < 0.05 {
            (0.0, mean_t / mean_n)
        } else {
            let b = (cov / var_n).max(0.0);
            let a = mean_t - b * mean_n;
            if a < 0.0 { (0.0, mean_t / mean_n) } else { (a, b) }
        };
        a + b * n
    }

    /// The predicted cost of a batch of `size` frames, with the margin; 0 when nothing is
    /// known yet (a deadline is then judged by the frames' ages alone).
    pub fn predict(&self, size: usize) -> Nanos {
        (self.line(size.max(1) as f64) + 3.0 * self.error).max(0.0) as Nanos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Nanos = 1_000_000;

    /// Deterministic noise in ±`amplitude`.
    fn noise(i: u64, amplitude: f64) -> f64 {
        let x = (i.wrapping_mul(2_654_435_761) % 1000) as f64 / 1000.0;
        (x - 0.5) * 2.0 * amplitude
    }

    #[test]
    fn converges_to_the_cost_line_and_predicts_on_the_late_side() {
        let mut model = CostModel::default();
        assert_eq!(model.predict(4), 0, "nothing known");
        // 30 ms fixed + 100 ms per frame, ±5 % noise, batch sizes 1..=8.
        for i in 0..400u64 {
            let n = (i % 8 + 1) as usize;
            let t = (30.0 + 100.0 * n as f64) * (1.0 + noise(i, 0.05));
            model.observe(n, (t * MS as f64) as Nanos);
        }
        for n in [1usize, 4, 8] {
            let truth = (30 + 100 * n as u64) * MS;
            let p = model.predict(n);
            assert!(p >= truth, "batch of {n}: predicted {p} under the true {truth}");
            assert!(p < truth + 60 * MS, "batch of {n}: predicted {p}, true {truth}: within the noise");
        }
    }

    #[test]
    fn one_batch_size_seen_means_proportional_cost() {
        let mut model = CostModel::default();
        model.observe(1, 100 * MS);
        assert_eq!(model.predict(1), 100 * MS);
        assert_eq!(model.predict(4), 400 * MS, "a seed of one frame scales");
    }

    #[test]
    fn a_machine_that_gets_much_busier_is_believed_at_once() {
        let mut model = CostModel::default();
        model.observe(1, 100 * MS); // the warm-up, on an idle machine
        model.observe(4, 400 * MS);
        model.observe(4, 1_200 * MS); // the real thing, sharing the CPU with live sources
        assert!(model.predict(4) >= 1_200 * MS, "{}", model.predict(4));
        assert!(model.predict(1) >= 300 * MS, "proportional from the one size seen: {}", model.predict(1));
    }

    #[test]
    fn a_poor_first_guess_is_forgotten_within_a_few_batches() {
        let mut model = CostModel::default();
        model.observe(1, 100 * MS);
        for _ in 0..5 {
            model.observe(1, 180 * MS); // slower, but not twice: averaged in
        }
        assert!(model.predict(1) > 150 * MS, "{}", model.predict(1));
    }

    #[test]
    fn follows_a_machine_that_slows_down() {
        let mut model = CostModel::default();
        for i in 0..100 {
            model.observe(i % 4 + 1, ((i % 4 + 1) as u64) * 50 * MS);
        }
        let before = model.predict(2);
        // The machine gets busy: everything costs three times as much.
        for i in 0..100 {
            model.observe(i % 4 + 1, ((i % 4 + 1) as u64) * 150 * MS);
        }
        let after = model.predict(2);
        assert!(before < 130 * MS && after > 280 * MS, "before {before}, after {after}");
    }
}
