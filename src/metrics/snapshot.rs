//! What one scrape shows of one element: plain numbers, taken from the element's stats at
//! the moment of the scrape.

/// A latency distribution as a Prometheus histogram: the count in each bucket by its upper
/// bound (seconds), not cumulative (prometheus-client adds them up), the last at +Inf; the
/// sum of the values (seconds) and their count.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

/// Upper bounds of the latency histograms' buckets, seconds: 5 ms to 10 s.
pub const LATENCY_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// One stream of an element.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamSnapshot {
    pub index: u32,
    pub frames_in: u64,
    pub frames_out: u64,
    pub dropped: u64,
    pub late: u64,
    pub passed: u64,
    pub budget_missed: u64,
    pub queued: u64,
    pub paused: bool,
    /// Sink-pad arrival to source-pad push.
    pub end_to_end: Histogram,
    /// Capture (running time) to push; live streams only.
    pub capture: Option<Histogram>,
}

/// One posebatch element.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ElementSnapshot {
    /// The element's name: the `element` label of its series.
    pub element: String,
    pub streams: Vec<StreamSnapshot>,
    pub batches: u64,
    pub mean_batch_size: f64,
    /// "cpu", "cuda", "tensorrt", "remote" ("none" before READY).
    pub provider: String,
    /// Per batch: the model run and decode, and the letterbox.
    pub inference: Histogram,
    pub preprocess: Histogram,
    pub peak_rss_bytes: u64,
    /// Used and total memory of the GPU the model runs on, bytes; None without one.
    pub gpu_memory: Option<(u64, u64)>,
    /// With an inference server: whether it answers now.
    pub server_reachable: Option<bool>,
}
