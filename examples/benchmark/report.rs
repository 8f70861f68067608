//! What the benchmark prints and writes: tables, PASS/FAIL criteria, JSON, the sweep plot.

use std::path::Path;

use plotters::prelude::*;

use crate::args::Args;
use crate::font::register_font;
use crate::baseline::Baseline;
use crate::measure::Measurement;

#[derive(Clone, Debug, serde::Serialize)]
pub struct Criterion {
    pub name: String,
    pub pass: bool,
    pub value: String,
}

fn opt(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

pub fn print_streams(m: &Measurement) {
    println!(
        "\n{:<7} {:>9} {:>9} {:>8} {:>6} {:>7} {:>7} {:>7} {:>9} {:>9} {:>9} {:>10}",
        "stream", "in", "out", "dropped", "late", "missed", "passed", "fps", "e2e p50", "e2e p99", "e2e max", "capt p99"
    );
    for s in &m.streams {
        println!(
            "{:<7} {:>9} {:>9} {:>8} {:>6} {:>7} {:>7} {:>7.2} {:>7.1}ms {:>7.1}ms {:>7.1}ms {:>8}ms",
            s.index, s.frames_in, s.frames_out, s.dropped, s.late, s.budget_missed, s.passed, s.fps, s.e2e_p50_ms,
            s.e2e_p99_ms, s.e2e_max_ms, opt(s.capture_p99_ms)
        );
    }
}

pub fn print_summary(m: &Measurement, baseline: Option<&Baseline>) {
    println!(
        "\nsummary ({} streams, {:.1} s, provider {}, preprocessing on {}):",
        m.num_streams, m.seconds, m.provider, m.preprocessing
    );
    println!("  aggregate fps          {:.2} ({:.2} with inference)", m.fps, m.inferred_fps);
    println!("  e2e latency            avg {:.1} ms, p99 {:.1} ms", m.e2e_mean_ms, m.e2e_p99_ms);
    println!(
        "  inference per batch    avg {:.1} ms, p99 {:.1} ms ({} time), mean batch {:.2}",
        m.inference_mean_ms, m.inference_p99_ms, m.inference_clock, m.mean_batch_size
    );
    println!(
        "  letterbox              p99 {:.2} ms per batch ({} time), {:.3} ms per frame, {:.1} % of a batch",
        m.preprocess_p99_ms,
        m.inference_clock,
        m.preprocess_frame_ms,
        m.preprocess_share * 100.0
    );
    if let Some(us) = m.smoothing_person_us {
        println!("  smoothing              {us:.2} µs per person");
    }
    println!("  dropped                {:.1} %", m.drop_percent);
    if let Some([a, b, c]) = m.capture_p99_by_third_ms {
        let budget = m.latency_budget_ms.map_or("no budget".into(), |ms| format!("budget {ms:.0} ms"));
        println!("  capture-to-sink p99    {a:.1} / {b:.1} / {c:.1} ms in each third of the run ({budget})");
    }
    println!("  peak GPU memory        {} MB (process {} MB)", opt(m.gpu_memory_peak_mb), opt(m.gpu_process_memory_peak_mb));
    println!("  peak RSS               {:.0} MB", m.peak_rss_mb);
    if let Some(b) = baseline {
        println!(
            "  bare model             {:.2} fps at batch {} ({:.1} ms a batch) -> posebatch at {:.3} x the ceiling",
            b.fps,
            b.batch_size,
            b.batch_mean_ms,
            m.inferred_fps / b.fps
        );
    }
}

pub fn criteria(args: &Args, m: &Measurement) -> Vec<Criterion> {
    let mut out = Vec::new();
    if let Some(rate) = args.source_rate() {
        let slowest = m.streams.iter().map(|s| s.fps).fold(f64::INFINITY, f64::min);
        out.push(Criterion {
            name: format!("every stream at its source rate ({rate} fps, >= {:.0} %)", args.min_rate * 100.0),
            pass: slowest >= rate * args.min_rate,
            value: format!("slowest stream {slowest:.2} fps"),
        });
    }
    out.push(Criterion {
        name: format!("e2e latency p99 < {} ms", args.max_p99_ms),
        pass: m.e2e_p99_ms < args.max_p99_ms,
        value: format!("{:.1} ms", m.e2e_p99_ms),
    });
    out.push(Criterion {
        name: format!("GPU memory < {} GB", args.max_gpu_gb),
        pass: m.gpu_memory_peak_mb.is_none_or(|mb| mb < args.max_gpu_gb * 1000.0),
        value: m.gpu_memory_peak_mb.map_or("no GPU".into(), |mb| format!("{:.0} MB", mb)),
    });
    if m.drop_percent > 0.0 {
        // Overload: latency must stay bounded by the timeout and two batches' inference.
        let bound = args.batch_timeout_ms as f64 + 2.0 * m.inference_p99_ms;
        out.push(Criterion {
            name: "overload: e2e p99 <= batch-timeout + 2 x inference p99".into(),
            pass: m.e2e_p99_ms <= bound,
            value: format!("{:.1} ms <= {:.1} ms", m.e2e_p99_ms, bound),
        });
    }
    out
}

pub fn print_criteria(criteria: &[Criterion]) {
    println!();
    for c in criteria {
        println!("{} {} ({})", if c.pass { "PASS" } else { "FAIL" }, c.name, c.value);
    }
}

pub fn print_sweep(rows: &[Measurement]) {
    println!("\n{:>8} {:>10} {:>10} {:>10} {:>9}", "streams", "fps", "e2e p99", "infer p99", "dropped");
    for m in rows {
        println!(
            "{:>8} {:>10.2} {:>8.1}ms {:>8.1}ms {:>8.1}%",
            m.num_streams, m.fps, m.e2e_p99_ms, m.inference_p99_ms, m.drop_percent
        );
    }
}

/// fps (left axis) and e2e p99 latency (right axis) against the number of streams.
pub fn plot_sweep(rows: &[Measurement], path: &Path) -> Result<(), String> {
    register_font()?;
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let max_streams = rows.iter().map(|m| m.num_streams).max().unwrap_or(1) as f64;
    let max_fps = rows.iter().map(|m| m.fps).fold(1.0, f64::max) * 1.15;
    let max_p99 = rows.iter().map(|m| m.e2e_p99_ms).fold(1.0, f64::max) * 1.15;
    let mut chart = ChartBuilder::on(&root)
        .caption("posebatch: throughput and latency against streams", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .right_y_label_area_size(60)
        .build_cartesian_2d(0.0..max_streams * 1.05, 0.0..max_fps)
        .map_err(|e| err(&e))?
        .set_secondary_coord(0.0..max_streams * 1.05, 0.0..max_p99);
    chart
        .configure_mesh()
        .x_desc("streams")
        .y_desc("frames/s (all streams)")
        .draw()
        .map_err(|e| err(&e))?;
    chart.configure_secondary_axes().y_desc("e2e latency p99 (ms)").draw().map_err(|e| err(&e))?;
    let fps: Vec<(f64, f64)> = rows.iter().map(|m| (m.num_streams as f64, m.fps)).collect();
    let p99: Vec<(f64, f64)> = rows.iter().map(|m| (m.num_streams as f64, m.e2e_p99_ms)).collect();
    chart
        .draw_series(LineSeries::new(fps.clone(), BLUE.stroke_width(2)))
        .map_err(|e| err(&e))?
        .label("fps")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
    chart.draw_series(fps.iter().map(|p| Circle::new(*p, 4, BLUE.filled()))).map_err(|e| err(&e))?;
    chart
        .draw_secondary_series(LineSeries::new(p99.clone(), RED.stroke_width(2)))
        .map_err(|e| err(&e))?
        .label("e2e p99 (ms)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
    chart.draw_secondary_series(p99.iter().map(|p| Circle::new(*p, 4, RED.filled()))).map_err(|e| err(&e))?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

/// CPU model, cores and GPU of this machine, for the JSON report.
pub fn machine() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())))
        .unwrap_or_default();
    let gpu = gstposebatch::bench::gpu_info(0);
    serde_json::json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "gpu": gpu.as_ref().map(|g| g.0.clone()),
        "driver": gpu.map(|g| g.1),
    })
}
