//! The benchmark users run to size their hardware: N synthetic or video streams through one
//! posebatch, per-stream and summary tables, PASS/FAIL against the success criteria, and
//! optionally the bare model's ceiling (`--baseline`), a stream-count sweep (`--sweep`) and
//! a JSON report (`--json`).
//!
//!     cargo run --release --example benchmark -- --synthetic
//!     cargo run --release --example benchmark -- --help

mod args;
mod baseline;
mod font;
mod measure;
mod report;

use args::Args;

fn main() {
    let args = match Args::parse() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    gst::init().map_err(|e| e.to_string())?;
    gstposebatch::plugin_register_static().map_err(|e| e.to_string())?;
    let source = if args.videos.is_empty() {
        format!("synthetic {}x{} at {} fps{}", args.width, args.height, args.fps, if args.live { ", live" } else { "" })
    } else {
        format!("{} video file(s)", args.videos.len())
    };
    println!(
        "posebatch benchmark: {} streams, {source}, batch {} / {} ms, input {} {}, provider {}, precision {}, overflow {}",
        args.num_streams,
        args.batch_size,
        args.batch_timeout_ms,
        args.input_size,
        args.input_shape,
        args.provider,
        args.precision,
        args.overflow
    );

    let m = measure::run(args, args.num_streams, false)?;
    report::print_streams(&m);
    let baseline = if args.baseline {
        let batch = (m.mean_batch_size.round() as usize).max(1);
        println!("\nbaseline: the bare model at batch {batch} on tensors prepared beforehand ...");
        Some(baseline::run(args, batch, args.duration_s.min(10.0))?)
    } else {
        None
    };
    report::print_summary(&m, baseline.as_ref());
    let criteria = report::criteria(args, &m);
    report::print_criteria(&criteria);

    let mut sweep = Vec::new();
    if !args.sweep.is_empty() {
        let point = Args { duration_s: args.sweep_duration_s.unwrap_or(args.duration_s), ..args.clone() };
        for &n in &args.sweep {
            println!("sweep: {n} streams ...");
            sweep.push(measure::run(&point, n, true)?);
        }
        report::print_sweep(&sweep);
        report::plot_sweep(&sweep, &args.plot)?;
        println!("plot: {}", args.plot.display());
    }

    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "machine": report::machine(),
            "config": args,
            "measurement": m,
            "baseline": baseline,
            "ratio_to_baseline": baseline.as_ref().map(|b| m.inferred_fps / b.fps),
            "criteria": criteria,
            "sweep": sweep,
        });
        std::fs::write(path, serde_json::to_string_pretty(&json).unwrap()).map_err(|e| e.to_string())?;
        println!("json: {}", path.display());
    }
    Ok(())
}
