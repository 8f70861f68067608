//! Element snapshots as Prometheus metric families, through `prometheus-client`'s collector
//! interface: counters, gauges and histograms per stream (labels `element`, `stream`) and per
//! element (label `element`). Names follow Prometheus' conventions: a `posebatch_` prefix,
//! base units (seconds, bytes), `_total` on counters.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::snapshot::{ElementSnapshot, Histogram, StreamSnapshot};

type Labels = Vec<(&'static str, String)>;

/// Takes the snapshots of every element on an endpoint, at each scrape.
pub type Snapshots = Box<dyn Fn() -> Vec<ElementSnapshot> + Send + Sync>;

/// The collector behind an endpoint: it asks for fresh snapshots at each scrape.
pub struct PoseBatchCollector(pub Snapshots);

impl std::fmt::Debug for PoseBatchCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PoseBatchCollector")
    }
}

fn element_labels(e: &ElementSnapshot) -> Labels {
    vec![("element", e.element.clone())]
}

fn stream_labels(e: &ElementSnapshot, s: &StreamSnapshot) -> Labels {
    vec![("element", e.element.clone()), ("stream", s.index.to_string())]
}

/// One family: its descriptor, then one sample per (labels, value); nothing at all when
/// there is no sample (no GPU, no inference server).
fn family<T>(
    encoder: &mut DescriptorEncoder,
    (name, help, unit, kind): (&str, &str, Option<Unit>, MetricType),
    samples: impl Iterator<Item = (Labels, T)>,
    encode: impl Fn(&mut MetricEncoder, &T) -> Result<(), std::fmt::Error>,
) -> Result<(), std::fmt::Error> {
    let samples: Vec<(Labels, T)> = samples.collect();
    if samples.is_empty() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, unit.as_ref(), kind)?;
    for (labels, value) in samples {
        encode(&mut metric.encode_family(&labels)?, &value)?;
    }
    Ok(())
}

fn counter(m: &mut MetricEncoder, v: &u64) -> Result<(), std::fmt::Error> {
    m.encode_counter::<NoLabelSet, _, u64>(v, None)
}

fn gauge(m: &mut MetricEncoder, v: &f64) -> Result<(), std::fmt::Error> {
    m.encode_gauge(v)
}

fn histogram(m: &mut MetricEncoder, h: &Histogram) -> Result<(), std::fmt::Error> {
    m.encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)
}

impl Collector for PoseBatchCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let elements = (self.0)();
        let streams = || elements.iter().flat_map(|e| e.streams.iter().map(move |s| (e, s)));
        let counters: [(&str, &str, fn(&StreamSnapshot) -> u64); 6] = [
            ("posebatch_frames_in", "Frames that arrived on the stream's sink pad", |s| s.frames_in),
            ("posebatch_frames_out", "Frames pushed on the stream's source pad", |s| s.frames_out),
            ("posebatch_frames_dropped", "Frames dropped for room (overflow) or while paused", |s| s.dropped),
            ("posebatch_frames_late", "Frames dropped before inference for missing the latency budget", |s| s.late),
            ("posebatch_frames_passed", "Frames pushed on without inference (no PoseMeta)", |s| s.passed),
            ("posebatch_frames_budget_missed", "Frames that left after their latency budget", |s| s.budget_missed),
        ];
        for (name, help, value) in counters {
            family(&mut encoder, (name, help, None, MetricType::Counter), streams().map(|(e, s)| (stream_labels(e, s), value(s))), counter)?;
        }
        family(
            &mut encoder,
            ("posebatch_frames_queued", "Frames waiting in the stream's queue", None, MetricType::Gauge),
            streams().map(|(e, s)| (stream_labels(e, s), s.queued as f64)),
            gauge,
        )?;
        family(
            &mut encoder,
            ("posebatch_stream_paused", "1 while the stream is paused (by the application or for GPU memory)", None, MetricType::Gauge),
            streams().map(|(e, s)| (stream_labels(e, s), f64::from(u8::from(s.paused)))),
            gauge,
        )?;
        family(
            &mut encoder,
            ("posebatch_end_to_end_latency", "Sink-pad arrival to source-pad push", Some(Unit::Seconds), MetricType::Histogram),
            streams().map(|(e, s)| (stream_labels(e, s), s.end_to_end.clone())),
            histogram,
        )?;
        family(
            &mut encoder,
            ("posebatch_capture_latency", "Capture (running time) to source-pad push, live streams", Some(Unit::Seconds), MetricType::Histogram),
            streams().filter_map(|(e, s)| Some((stream_labels(e, s), s.capture.clone()?))),
            histogram,
        )?;
        let each = || elements.iter();
        family(
            &mut encoder,
            ("posebatch_batches", "Batches run", None, MetricType::Counter),
            each().map(|e| (element_labels(e), e.batches)),
            counter,
        )?;
        family(
            &mut encoder,
            ("posebatch_mean_batch_size", "Frames per batch, on average since the start", None, MetricType::Gauge),
            each().map(|e| (element_labels(e), e.mean_batch_size)),
            gauge,
        )?;
        family(
            &mut encoder,
            ("posebatch_inference_latency", "A batch's model run and decoding", Some(Unit::Seconds), MetricType::Histogram),
            each().map(|e| (element_labels(e), e.inference.clone())),
            histogram,
        )?;
        family(
            &mut encoder,
            ("posebatch_preprocess_latency", "A batch's letterbox", Some(Unit::Seconds), MetricType::Histogram),
            each().map(|e| (element_labels(e), e.preprocess.clone())),
            histogram,
        )?;
        family(
            &mut encoder,
            ("posebatch_provider", "Where inference runs: 1 for the element's provider", None, MetricType::Gauge),
            each().map(|e| (vec![("element", e.element.clone()), ("provider", e.provider.clone())], 1.0)),
            gauge,
        )?;
        family(
            &mut encoder,
            ("posebatch_peak_rss", "Peak resident memory of the process", Some(Unit::Bytes), MetricType::Gauge),
            each().map(|e| (element_labels(e), e.peak_rss_bytes as f64)),
            gauge,
        )?;
        family(
            &mut encoder,
            ("posebatch_gpu_memory_used", "Memory in use on the element's GPU", Some(Unit::Bytes), MetricType::Gauge),
            each().filter_map(|e| Some((element_labels(e), e.gpu_memory?.0 as f64))),
            gauge,
        )?;
        family(
            &mut encoder,
            ("posebatch_gpu_memory_total", "Memory of the element's GPU", Some(Unit::Bytes), MetricType::Gauge),
            each().filter_map(|e| Some((element_labels(e), e.gpu_memory?.1 as f64))),
            gauge,
        )?;
        family(
            &mut encoder,
            ("posebatch_inference_server_up", "1 while the inference server answers", None, MetricType::Gauge),
            each().filter_map(|e| Some((element_labels(e), f64::from(u8::from(e.server_reachable?))))),
            gauge,
        )
    }
}

/// A registry holding just `collector`.
pub fn registry(collector: PoseBatchCollector) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collector));
    registry
}

/// The scrape body in the OpenMetrics text format (with `# EOF`), or in Prometheus' classic
/// text format (0.0.4) when `openmetrics` is false.
pub fn render(registry: &Registry, openmetrics: bool) -> Result<String, std::fmt::Error> {
    let mut body = String::new();
    match openmetrics {
        true => prometheus_client::encoding::text::encode(&mut body, registry)?,
        false => prometheus_client::encoding::prometheus_text::encode(&mut body, registry)?,
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<ElementSnapshot> {
        let h = Histogram { buckets: vec![(0.1, 3), (1.0, 2), (f64::INFINITY, 0)], sum: 1.5, count: 5 };
        vec![ElementSnapshot {
            element: "p".into(),
            streams: vec![
                StreamSnapshot { index: 0, frames_in: 10, frames_out: 8, end_to_end: h.clone(), ..Default::default() },
                StreamSnapshot { index: 3, frames_in: 7, paused: true, capture: Some(h.clone()), ..Default::default() },
            ],
            batches: 4,
            mean_batch_size: 2.5,
            provider: "cpu".into(),
            inference: h.clone(),
            preprocess: h,
            peak_rss_bytes: 1000,
            gpu_memory: None,
            server_reachable: Some(true),
        }]
    }

    #[test]
    fn every_stream_is_labelled_and_counters_end_in_total() {
        let body = render(&registry(PoseBatchCollector(Box::new(sample))), true).unwrap();
        assert!(body.contains("posebatch_frames_in_total{element=\"p\",stream=\"0\"} 10"), "{body}");
        assert!(body.contains("posebatch_frames_in_total{element=\"p\",stream=\"3\"} 7"), "{body}");
        assert!(body.contains("posebatch_stream_paused{element=\"p\",stream=\"3\"} 1"), "{body}");
        assert!(body.contains("posebatch_end_to_end_latency_seconds_bucket{le=\"0.1\",element=\"p\",stream=\"0\"} 3")
            || body.contains("posebatch_end_to_end_latency_seconds_bucket{element=\"p\",stream=\"0\",le=\"0.1\"} 3"), "{body}");
        assert!(body.contains("posebatch_end_to_end_latency_seconds_bucket{le=\"+Inf\",element=\"p\",stream=\"0\"} 5"), "{body}");
        assert!(body.contains("posebatch_provider{element=\"p\",provider=\"cpu\"} 1"), "{body}");
        assert!(body.contains("posebatch_inference_server_up{element=\"p\"} 1"), "{body}");
        assert!(!body.contains("gpu_memory"), "no GPU series without a GPU: {body}");
        assert!(body.ends_with("# EOF\n"));
        let classic = render(&registry(PoseBatchCollector(Box::new(sample))), false).unwrap();
        assert!(!classic.contains("# EOF") && classic.contains("posebatch_frames_out_total"), "{classic}");
    }
}
