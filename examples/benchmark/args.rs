//! Command-line options of the benchmark.

use std::path::PathBuf;

#[derive(Clone, Debug, serde::Serialize)]
pub struct Args {
    pub videos: Vec<PathBuf>,
    pub num_streams: usize,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub live: bool,
    /// Synthetic frames drawn by videotestsrc one by one (costing CPU like a decoder), not
    /// one frame repeated.
    pub drawn: bool,
    /// Synthetic frames from fakesrc: a fresh zeroed buffer for every frame (new memory, as
    /// a decoder's output), instead of imagefreeze's one buffer repeated.
    pub fakesrc: bool,
    pub batch_size: u32,
    pub batch_timeout_ms: u64,
    pub input_size: u32,
    /// posebatch's input-shape: fit or square.
    pub input_shape: String,
    pub duration_s: f64,
    pub frames: Option<u64>,
    pub provider: String,
    pub precision: String,
    pub overflow: String,
    pub threads: u32,
    /// posebatch's latency-budget in ms; None = the element's default.
    pub latency_budget_ms: Option<u64>,
    pub tracking: bool,
    /// posebatch's smoothing (One Euro per tracked person).
    pub smoothing: bool,
    /// Run the model on this inference server (Open Inference Protocol, gRPC).
    pub inference_server: Option<String>,
    pub remote_model: String,
    pub json: Option<PathBuf>,
    pub baseline: bool,
    pub sweep: Vec<usize>,
    /// Seconds per sweep point; None = `duration_s`.
    pub sweep_duration_s: Option<f64>,
    pub plot: PathBuf,
    pub max_p99_ms: f64,
    pub max_gpu_gb: f64,
    pub min_rate: f64,
}

pub const USAGE: &str = "\
benchmark: N streams through one posebatch; prints per-stream and summary tables and PASS/FAIL.

sources:   --synthetic (default: live videotestsrc, one frame repeated)  |  --videos a.mp4 b.mp4 ...
           --num-streams N (4)  --width W (1920)  --height H (1080)  --fps F (30)  --live true|false (true)
           --source imagefreeze|drawn|fakesrc (imagefreeze: one frame repeated, costing nothing; drawn
           (= --drawn): every frame drawn by videotestsrc, costing CPU as decoders do; fakesrc: a fresh
           zeroed buffer every frame, new memory as a decoder's output is, drawn by nobody)
element:   --batch-size B (8)  --batch-timeout MS (40)  --input-size S (640)  --input-shape fit|square (fit)
           --provider auto|cpu|cuda|tensorrt  --precision auto|fp32|fp16|int8  --overflow auto|block|drop-oldest|pass-oldest  --threads T (0)
           --latency-budget MS (the element's default; 0 = off)  --tracking true|false (true)  --smoothing true|false (false)
           --inference-server HOST:PORT (a Triton/KServe/MLServer pool)  --remote-model NAME (yolo11n-pose)
length:    --duration SECONDS (10)  or  --frames N (per stream)
output:    --json out.json  --baseline  --sweep 1,2,4,8,16  --sweep-duration SECONDS (--duration)
           --plot sweep.png (benchmark-sweep.png)
criteria:  --max-p99-ms (100)  --max-gpu-gb (11)  --min-rate (0.95 of the source rate)";

impl Args {
    pub fn parse() -> Result<Args, String> {
        let mut a = Args {
            videos: Vec::new(),
            num_streams: 4,
            width: 1920,
            height: 1080,
            fps: 30,
            live: true,
            drawn: false,
            fakesrc: false,
            batch_size: 8,
            batch_timeout_ms: 40,
            input_size: 640,
            input_shape: "fit".into(),
            duration_s: 10.0,
            frames: None,
            provider: "auto".into(),
            precision: "auto".into(),
            overflow: "auto".into(),
            threads: 0,
            latency_budget_ms: None,
            tracking: true,
            smoothing: false,
            inference_server: None,
            remote_model: "yolo11n-pose".into(),
            json: None,
            baseline: false,
            sweep: Vec::new(),
            sweep_duration_s: None,
            plot: "benchmark-sweep.png".into(),
            max_p99_ms: 100.0,
            max_gpu_gb: 11.0,
            min_rate: 0.95,
        };
        let mut it = std::env::args().skip(1).peekable();
        while let Some(arg) = it.next() {
            let mut value = || it.next().ok_or(format!("{arg} needs a value"));
            fn num<T: std::str::FromStr>(name: &str, v: String) -> Result<T, String> {
                v.parse().map_err(|_| format!("{name}: bad value {v}"))
            }
            match arg.as_str() {
                "--synthetic" => a.videos.clear(),
                "--videos" => {
                    while let Some(v) = it.next_if(|v| !v.starts_with("--")) {
                        a.videos.push(v.into());
                    }
                }
                "--num-streams" => a.num_streams = num(&arg, value()?)?,
                "--width" => a.width = num(&arg, value()?)?,
                "--height" => a.height = num(&arg, value()?)?,
                "--fps" => a.fps = num(&arg, value()?)?,
                "--live" => a.live = num(&arg, value()?)?,
                "--drawn" => a.drawn = true,
                "--source" => match value()?.as_str() {
                    "imagefreeze" => (a.drawn, a.fakesrc) = (false, false),
                    "drawn" => (a.drawn, a.fakesrc) = (true, false),
                    "fakesrc" => (a.drawn, a.fakesrc) = (false, true),
                    other => return Err(format!("--source: imagefreeze, drawn or fakesrc, not {other}")),
                },
                "--batch-size" => a.batch_size = num(&arg, value()?)?,
                "--batch-timeout" => a.batch_timeout_ms = num(&arg, value()?)?,
                "--input-size" => a.input_size = num(&arg, value()?)?,
                "--input-shape" => a.input_shape = value()?,
                "--duration" => a.duration_s = num(&arg, value()?)?,
                "--frames" => a.frames = Some(num(&arg, value()?)?),
                "--provider" => a.provider = value()?,
                "--precision" => a.precision = value()?,
                "--overflow" => a.overflow = value()?,
                "--threads" => a.threads = num(&arg, value()?)?,
                "--latency-budget" => a.latency_budget_ms = Some(num(&arg, value()?)?),
                "--tracking" => a.tracking = num(&arg, value()?)?,
                "--smoothing" => a.smoothing = num(&arg, value()?)?,
                "--inference-server" => a.inference_server = Some(value()?),
                "--remote-model" => a.remote_model = value()?,
                "--json" => a.json = Some(value()?.into()),
                "--baseline" => a.baseline = true,
                "--sweep" => {
                    a.sweep = value()?.split(',').map(|n| num("--sweep", n.trim().to_string())).collect::<Result<_, _>>()?
                }
                "--sweep-duration" => a.sweep_duration_s = Some(num(&arg, value()?)?),
                "--plot" => a.plot = value()?.into(),
                "--max-p99-ms" => a.max_p99_ms = num(&arg, value()?)?,
                "--max-gpu-gb" => a.max_gpu_gb = num(&arg, value()?)?,
                "--min-rate" => a.min_rate = num(&arg, value()?)?,
                "-h" | "--help" => return Err(USAGE.into()),
                other => return Err(format!("unknown option {other}\n\n{USAGE}")),
            }
        }
        if a.num_streams == 0 {
            return Err("--num-streams must be at least 1".into());
        }
        Ok(a)
    }

    /// The source's own frame rate for live sources; None for files and non-live (as fast as possible).
    pub fn source_rate(&self) -> Option<f64> {
        (self.videos.is_empty() && self.live).then_some(self.fps as f64)
    }
}
