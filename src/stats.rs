//! Measurements of one element: per-stream latency histograms and rates, inference times,
//! batch sizes, memory; and the `posebatch-stats` structure that reports them.
//!
//! Histograms are HDR histograms of nanoseconds with a fixed range (1 us to 10 min, 3
//! significant digits): their memory does not grow with the run's length.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::batcher::Counters;
use crate::memory_guard::MemoryReading;
use crate::metrics::{self, ElementSnapshot, LATENCY_BUCKETS, StreamSnapshot};

/// A latency distribution in nanoseconds.
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Latency(Histogram::new_with_bounds(1_000, 600_000_000_000, 3).expect("valid bounds"))
    }
}

impl Latency {
    pub fn record(&mut self, ns: u64) {
        self.0.saturating_record(ns.max(1_000));
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The value at quantile `q` (0..1); 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.0.is_empty() { 0 } else { self.0.value_at_quantile(q) }
    }

    /// As a Prometheus histogram: the count in each bucket up to `bounds` (seconds) and the
    /// rest at +Inf (not cumulative: the encoder adds them up), the sum and the count.
    pub fn histogram(&self, bounds: &[f64]) -> metrics::Histogram {
        let h = &self.0;
        let up_to = |bound: f64| if h.is_empty() { 0 } else { h.count_between(0, (bound * 1e9) as u64) };
        let mut below = 0;
        let mut buckets: Vec<(f64, u64)> = bounds
            .iter()
            .map(|&bound| {
                let cumulative = up_to(bound).max(below);
                let in_bucket = cumulative - below;
                below = cumulative;
                (bound, in_bucket)
            })
            .collect();
        buckets.push((f64::INFINITY, self.count().saturating_sub(below)));
        metrics::Histogram { buckets, sum: self.mean() * self.count() as f64 / 1e9, count: self.count() }
    }

    pub fn max(&self) -> u64 {
        if self.0.is_empty() { 0 } else { self.0.max() }
    }

    pub fn mean(&self) -> f64 {
        if self.0.is_empty() { 0.0 } else { self.0.mean() }
    }
}

#[derive(Default)]
pub struct StreamStats {
    /// Sink-pad arrival to source-pad push.
    pub end_to_end: Latency,
    /// Capture (the buffer's running time on the pipeline clock) to push; live streams only.
    pub capture: Latency,
    /// When the first and the latest frame left, on the element's clock.
    first_out: Option<u64>,
    last_out: u64,
    frames_out: u64,
}

impl StreamStats {
    pub fn frame_out(&mut self, now: u64) {
        self.first_out.get_or_insert(now);
        self.last_out = now;
        self.frames_out += 1;
    }

    /// Output frames per second between the first and the latest frame out.
    pub fn fps(&self) -> f64 {
        match self.first_out {
            Some(first) if self.last_out > first && self.frames_out > 1 => {
                (self.frames_out - 1) as f64 * 1e9 / (self.last_out - first) as f64
            }
            _ => 0.0,
        }
    }
}

#[derive(Default)]
pub struct Stats {
    pub streams: BTreeMap<u32, StreamStats>,
    /// Inference time of each batch.
    pub inference: Latency,
    /// What `inference` measures: "wall" (CPU) or "gpu" (CUDA events).
    pub inference_clock: &'static str,
    /// Letterbox of each batch: wall time on the CPU, upload and letterbox from CUDA events
    /// on the GPU.
    pub preprocess: Latency,
    /// Of all batches, the sum of those letterbox times (for the mean per frame).
    preprocess_total_ns: u64,
    pub batches: u64,
    pub batched_frames: u64,
    /// Keypoint smoothing: people smoothed, and the time it took.
    smoothed_people: u64,
    smoothing_ns: u64,
    pub memory: Option<MemoryReading>,
    pub memory_peak: u64,
    pub process_memory_peak: u64,
}

impl Stats {
    pub fn stream(&mut self, index: u32) -> &mut StreamStats {
        self.streams.entry(index).or_default()
    }

    /// One batch of `size` frames: its letterbox and its inference (model run and decode),
    /// timed by CUDA events when `gpu_clock`, else wall time.
    pub fn batch(&mut self, size: usize, inference_ns: u64, preprocess_ns: u64, gpu_clock: bool) {
        self.batches += 1;
        self.batched_frames += size as u64;
        self.inference.record(inference_ns);
        self.preprocess.record(preprocess_ns);
        self.preprocess_total_ns += preprocess_ns;
        self.inference_clock = if gpu_clock { "gpu" } else { "wall" };
    }

    /// One batch's smoothing: `people` smoothed in `ns`.
    pub fn smoothing(&mut self, people: usize, ns: u64) {
        self.smoothed_people += people as u64;
        self.smoothing_ns += ns;
    }

    pub fn memory_reading(&mut self, reading: MemoryReading) {
        self.memory_peak = self.memory_peak.max(reading.used);
        self.process_memory_peak = self.process_memory_peak.max(reading.process_used.unwrap_or(0));
        self.memory = Some(reading);
    }
}

/// Peak resident set size of this process, in bytes (Linux: VmHWM).
pub fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// One stream's counters and state, as the stats structure shows them.
pub struct StreamReport {
    pub index: u32,
    pub counters: Counters,
    pub queued: u64,
    pub paused: bool,
    pub pause_reason: &'static str,
    /// The stream's latency budget, ns; 0 = none (not live, or off).
    pub latency_budget: u64,
}

fn latency_fields(mut b: gst::structure::Builder, prefix: &str, l: &Latency, with_max: bool) -> gst::structure::Builder {
    b = b
        .field(format!("{prefix}-p50"), l.quantile(0.5))
        .field(format!("{prefix}-p99"), l.quantile(0.99))
        .field(format!("{prefix}-mean"), l.mean());
    if with_max {
        b = b.field(format!("{prefix}-max"), l.max());
    }
    b
}

/// The `posebatch-stats` structure: totals, then one `stream-N` structure per stream.
/// Times are nanoseconds (guint64, like GstClockTime), memory in bytes.
/// `provider`: what inference runs on ("cpu", "cuda", ...); `preprocessing`: where frames
/// are letterboxed ("cpu", "gpu").
pub fn structure(stats: &Stats, reports: &[StreamReport], provider: &str, preprocessing: &str) -> gst::Structure {
    let mut total = Counters::default();
    let mut all_e2e = Latency::default();
    let mut fps = 0.0;
    for r in reports {
        total.frames_in += r.counters.frames_in;
        total.frames_out += r.counters.frames_out;
        total.dropped += r.counters.dropped;
        total.late += r.counters.late;
        total.passed += r.counters.passed;
        total.budget_missed += r.counters.budget_missed;
    }
    let latency_budget = reports.iter().map(|r| r.latency_budget).max().unwrap_or(0);
    let mut b = gst::Structure::builder("posebatch-stats");
    for r in reports {
        let empty = StreamStats::default();
        let s = stats.streams.get(&r.index).unwrap_or(&empty);
        all_e2e.0.add(&s.end_to_end.0).expect("same bounds");
        fps += s.fps();
        let mut sb = gst::Structure::builder("stream")
            .field("index", r.index)
            .field("frames-in", r.counters.frames_in)
            .field("frames-out", r.counters.frames_out)
            .field("dropped", r.counters.dropped)
            .field("late", r.counters.late)
            .field("passed", r.counters.passed)
            .field("budget-missed", r.counters.budget_missed)
            .field("latency-budget", r.latency_budget)
            .field("queued", r.queued)
            .field("fps", s.fps())
            .field("paused", r.paused)
            .field("pause-reason", r.pause_reason);
        sb = latency_fields(sb, "e2e-latency", &s.end_to_end, true);
        if s.capture.count() > 0 {
            sb = latency_fields(sb, "capture-latency", &s.capture, false);
        }
        b = b.field(format!("stream-{}", r.index), sb.build());
    }
    b = b
        .field("frames-in", total.frames_in)
        .field("frames-out", total.frames_out)
        .field("dropped", total.dropped)
        .field("late", total.late)
        .field("passed", total.passed)
        .field("budget-missed", total.budget_missed)
        .field("latency-budget", latency_budget)
        .field("fps", fps)
        .field("batches", stats.batches)
        .field(
            "mean-batch-size",
            if stats.batches == 0 { 0.0 } else { stats.batched_frames as f64 / stats.batches as f64 },
        )
        .field("provider", provider)
        .field("preprocessing", preprocessing)
        .field("inference-clock", if stats.inference_clock.is_empty() { "wall" } else { stats.inference_clock })
        .field("peak-rss", peak_rss());
    b = latency_fields(b, "e2e-latency", &all_e2e, true);
    b = latency_fields(b, "inference-latency", &stats.inference, false);
    b = latency_fields(b, "preprocess-latency", &stats.preprocess, false);
    if stats.smoothed_people > 0 {
        b = b.field("smoothing-person-mean", stats.smoothing_ns as f64 / stats.smoothed_people as f64);
    }
    b = b.field(
        "preprocess-frame-mean",
        if stats.batched_frames == 0 { 0.0 } else { stats.preprocess_total_ns as f64 / stats.batched_frames as f64 },
    );
    if let Some(m) = stats.memory {
        b = b
            .field("gpu-memory-used", m.used)
            .field("gpu-memory-total", m.total)
            .field("gpu-memory-peak", stats.memory_peak)
            .field("gpu-process-memory", m.process_used.unwrap_or(0))
            .field("gpu-process-memory-peak", stats.process_memory_peak);
    }
    b.build()
}

/// What the metrics endpoint shows of an element: its streams' counters and latencies and
/// its own batches, provider and memory.
pub fn snapshot(stats: &Stats, reports: &[StreamReport], element: &str, provider: &str, server_reachable: Option<bool>) -> ElementSnapshot {
    let empty = StreamStats::default();
    let streams = reports
        .iter()
        .map(|r| {
            let s = stats.streams.get(&r.index).unwrap_or(&empty);
            let c = r.counters;
            StreamSnapshot {
                index: r.index,
                frames_in: c.frames_in,
                frames_out: c.frames_out,
                dropped: c.dropped,
                late: c.late,
                passed: c.passed,
                budget_missed: c.budget_missed,
                queued: r.queued,
                paused: r.paused,
                end_to_end: s.end_to_end.histogram(&LATENCY_BUCKETS),
                capture: (s.capture.count() > 0).then(|| s.capture.histogram(&LATENCY_BUCKETS)),
            }
        })
        .collect();
    ElementSnapshot {
        element: element.to_string(),
        streams,
        batches: stats.batches,
        mean_batch_size: if stats.batches == 0 { 0.0 } else { stats.batched_frames as f64 / stats.batches as f64 },
        provider: provider.to_string(),
        inference: stats.inference.histogram(&LATENCY_BUCKETS),
        preprocess: stats.preprocess.histogram(&LATENCY_BUCKETS),
        peak_rss_bytes: peak_rss(),
        gpu_memory: stats.memory.map(|m| (m.used, m.total)),
        server_reachable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_rates() {
        let mut l = Latency::default();
        for ms in 1..=100u64 {
            l.record(ms * 1_000_000);
        }
        let p50 = l.quantile(0.5) as f64 / 1e6;
        assert!((p50 - 50.0).abs() < 0.5, "{p50}");
        assert!((l.quantile(0.99) as f64 / 1e6 - 99.0).abs() < 0.5);
        let mut s = StreamStats::default();
        for i in 0..31u64 {
            s.frame_out(i * 33_333_333);
        }
        assert!((s.fps() - 30.0).abs() < 0.01);
        assert!(peak_rss() > 0);
    }

    #[test]
    fn structure_totals_streams() {
        gst::init().unwrap();
        let mut stats = Stats::default();
        stats.stream(0).end_to_end.record(5_000_000);
        stats.batch(2, 7_000_000, 400_000, false);
        let c = Counters { frames_in: 4, frames_out: 2, dropped: 1, late: 1, passed: 0, budget_missed: 1 };
        let reports =
            [StreamReport { index: 0, counters: c, queued: 0, paused: false, pause_reason: "", latency_budget: 500_000_000 }];
        let s = structure(&stats, &reports, "cpu", "cpu");
        assert_eq!(s.get::<u64>("frames-in").unwrap(), 4);
        assert_eq!((s.get::<u64>("late").unwrap(), s.get::<u64>("budget-missed").unwrap()), (1, 1));
        assert_eq!(s.get::<u64>("latency-budget").unwrap(), 500_000_000);
        assert_eq!(s.get::<f64>("mean-batch-size").unwrap(), 2.0);
        let s0 = s.get::<gst::Structure>("stream-0").unwrap();
        assert!((s0.get::<u64>("e2e-latency-p50").unwrap() as i64 - 5_000_000).abs() < 10_000);
        assert!(!s.has_field("gpu-memory-used"), "no GPU fields without a GPU");
        assert_eq!(s.get::<&str>("inference-clock").unwrap(), "wall");
        assert!((s.get::<u64>("preprocess-latency-p50").unwrap() as i64 - 400_000).abs() < 1_000, "the CPU letterbox too");
        assert_eq!(s.get::<f64>("preprocess-frame-mean").unwrap(), 200_000.0);
        stats.batch(2, 3_000_000, 1_000_000, true);
        let s = structure(&stats, &reports, "cuda", "gpu");
        assert_eq!(s.get::<&str>("inference-clock").unwrap(), "gpu");
        assert!((s.get::<u64>("preprocess-latency-p99").unwrap() as i64 - 1_000_000).abs() < 10_000);
    }
}
