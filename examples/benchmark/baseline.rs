//! The ceiling: the same model on the same kind of frames, run bare in a loop on tensors
//! prepared beforehand (frames decoded and letterboxed once; same batch size, threads,
//! input size and shape), as a program feeding ONNX Runtime ready tensors runs it. With a
//! remote server there is no bare model here: the engine's own batches are timed instead.

use std::time::{Duration, Instant};

use gst::prelude::*;
use gstposebatch::bench::{DecodeParams, Engine, EngineConfig, InputShape, Precision, Provider, RemoteConfig};

use crate::args::Args;

#[derive(Clone, Debug, serde::Serialize)]
pub struct Baseline {
    pub batch_size: usize,
    pub batches: usize,
    pub fps: f64,
    pub batch_mean_ms: f64,
    pub batch_p99_ms: f64,
    pub provider: String,
}

/// A few decoded frames from the benchmark's own sources (the synthetic one is the first
/// frame of the same videotestsrc pattern).
fn frames_in_memory(args: &Args, count: usize) -> Result<Vec<gst::Sample>, String> {
    let launch = if args.videos.is_empty() {
        format!(
            "videotestsrc pattern=ball num-buffers={count} ! video/x-raw,format=NV12,width={},height={} ! appsink name=s sync=false",
            args.width, args.height
        )
    } else {
        format!(
            "filesrc location=\"{}\" ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format=NV12 ! appsink name=s sync=false",
            args.videos[0].display()
        )
    };
    let pipeline = gst::parse::launch(&launch).map_err(|e| e.to_string())?.downcast::<gst::Pipeline>().unwrap();
    let sink = pipeline.by_name("s").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).map_err(|e| e.to_string())?;
    let samples: Vec<gst::Sample> = (0..count).map_while(|_| sink.pull_sample().ok()).collect();
    pipeline.set_state(gst::State::Null).map_err(|e| e.to_string())?;
    if samples.is_empty() {
        return Err("no frames for the baseline".into());
    }
    Ok(samples)
}

pub fn run(args: &Args, batch_size: usize, seconds: f64) -> Result<Baseline, String> {
    let samples = frames_in_memory(args, 8)?;
    let config = EngineConfig {
        model: None,
        provider: match args.provider.as_str() {
            "cpu" => Provider::Cpu,
            "cuda" => Provider::Cuda,
            "tensorrt" => Provider::TensorRt,
            _ => Provider::Auto,
        },
        device_id: 0,
        precision: match args.precision.as_str() {
            "fp32" => Precision::Fp32,
            "fp16" => Precision::Fp16,
            "int8" => Precision::Int8,
            _ => Precision::Auto,
        },
        input_size: args.input_size as usize,
        input_shape: if args.input_shape == "square" { InputShape::Square } else { InputShape::Fit },
        max_batch_size: batch_size,
        threads: args.threads as usize,
        remote: args.inference_server.as_ref().map(|address| RemoteConfig {
            address: address.clone(),
            model: args.remote_model.clone(),
            connect_timeout: std::time::Duration::from_secs(5),
        }),
    };
    let mut engine = Engine::load(&config).map_err(|e| e.to_string())?;
    let infos: Vec<gst_video::VideoInfo> = samples
        .iter()
        .map(|s| gst_video::VideoInfo::from_caps(s.caps().unwrap()).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let mapped: Vec<_> = samples
        .iter()
        .zip(&infos)
        .map(|(s, info)| gst_video::VideoFrameRef::from_buffer_ref_readable(s.buffer().unwrap(), info).unwrap())
        .collect();
    let views: Vec<_> = mapped.iter().map(|f| gstposebatch::bench::frame_view(f).expect("NV12 is supported")).collect();
    let batch: Vec<_> = (0..batch_size).map(|i| views[i % views.len()]).collect();
    let params = DecodeParams::default();
    engine.infer(&batch, &params).map_err(|e| e.to_string())?; // warm-up
    let start = Instant::now();
    let mut times = match args.inference_server {
        None => engine.time_bare_model(&batch, seconds).map_err(|e| e.to_string())?,
        Some(_) => {
            let mut times = Vec::new();
            while start.elapsed() < Duration::from_secs_f64(seconds) || times.len() < 3 {
                let t = Instant::now();
                engine.infer(&batch, &params).map_err(|e| e.to_string())?;
                times.push(t.elapsed());
            }
            times
        }
    };
    let total = start.elapsed().as_secs_f64();
    times.sort();
    let p99 = times[((times.len() - 1) as f64 * 0.99).round() as usize];
    Ok(Baseline {
        batch_size,
        batches: times.len(),
        fps: (times.len() * batch_size) as f64 / total,
        batch_mean_ms: times.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e3 / times.len() as f64,
        batch_p99_ms: p99.as_secs_f64() * 1e3,
        provider: engine.provider.to_string(),
    })
}
