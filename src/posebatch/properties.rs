//! The element's properties and action signals: their GObject enums, defaults, param
//! specs, and the settings they are stored in. Each default is defined once, beside the
//! policy it belongs to, and only named here.

use std::sync::LazyLock;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::batcher::{self, BatchConfig, Nanos, Overflow};
use crate::engine::{self, DecodeParams, EngineConfig, InputShape, Precision, Provider, RemoteConfig};
use crate::smoother::{self, OneEuroParams};
use crate::tracker::{self, TrackerConfig};

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstPoseBatchExecutionProvider")]
pub enum ExecutionProvider {
    #[default]
    #[enum_value(name = "Auto: CUDA when usable, else CPU", nick = "auto")]
    Auto,
    #[enum_value(name = "CPU", nick = "cpu")]
    Cpu,
    #[enum_value(name = "CUDA (falls back to CPU with a warning)", nick = "cuda")]
    Cuda,
    #[enum_value(name = "TensorRT (falls back to CPU with a warning)", nick = "tensorrt")]
    TensorRt,
}

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstPoseBatchPrecision")]
pub enum PrecisionSetting {
    #[default]
    #[enum_value(name = "Auto: fp16 on GPU, fp32 on CPU", nick = "auto")]
    Auto,
    #[enum_value(name = "fp32", nick = "fp32")]
    Fp32,
    #[enum_value(name = "fp16", nick = "fp16")]
    Fp16,
    #[enum_value(name = "int8: the static int8 (Q/DQ) model, on the CPU", nick = "int8")]
    Int8,
}

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstPoseBatchInputShape")]
pub enum InputShapeSetting {
    #[default]
    #[enum_value(name = "Fit: the smallest stride-32 rectangle holding the frame at input-size (1920x1080 at 640 runs as 640x384)", nick = "fit")]
    Fit,
    #[enum_value(name = "Square: input-size x input-size whatever the frame", nick = "square")]
    Square,
}

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstPoseBatchOverflow")]
pub enum OverflowSetting {
    #[default]
    #[enum_value(name = "Auto: drop-oldest for live sources, block otherwise", nick = "auto")]
    Auto,
    #[enum_value(name = "Block: back-pressure, nothing lost", nick = "block")]
    Block,
    #[enum_value(name = "Drop oldest queued frame", nick = "drop-oldest")]
    DropOldest,
    #[enum_value(name = "Push oldest queued frame on without inference", nick = "pass-oldest")]
    PassOldest,
}

impl OverflowSetting {
    /// The policy for a stream whose upstream is (or is not) live.
    pub fn resolve(self, live: bool) -> Overflow {
        match self {
            OverflowSetting::Auto if live => Overflow::DropOldest,
            OverflowSetting::Auto | OverflowSetting::Block => Overflow::Block,
            OverflowSetting::DropOldest => Overflow::DropOldest,
            OverflowSetting::PassOldest => Overflow::PassOldest,
        }
    }
}

const MS: u64 = 1_000_000;
pub const DEFAULT_DEVICE_ID: u32 = 0;
pub const DEFAULT_THREADS: u32 = 0;
pub const DEFAULT_VRAM_LIMIT: f64 = 0.9;
pub const DEFAULT_VRAM_RESUME: f64 = 0.8;
pub const DEFAULT_STATS_INTERVAL: Nanos = 1000 * MS;
/// `latency-budget`: the latency the element reports (GST_CLOCK_TIME_NONE = "auto").
pub const LATENCY_BUDGET_AUTO: Nanos = u64::MAX;
/// `latency-budget` that turns deadlines off.
pub const LATENCY_BUDGET_OFF: Nanos = 0;
/// `remote-model`: the name `docs/scale-out.md` serves the model under.
pub const DEFAULT_REMOTE_MODEL: &str = "yolo11n-pose";

/// The element's settings, as its properties set them.
#[derive(Debug, Clone)]
pub struct Settings {
    pub model: String,
    pub provider: ExecutionProvider,
    pub device_id: u32,
    pub precision: PrecisionSetting,
    pub input_size: u32,
    pub input_shape: InputShapeSetting,
    pub max_batch_size: u32,
    pub batch_timeout: Nanos,
    pub overflow: OverflowSetting,
    pub queue_size: u32,
    pub score_threshold: f32,
    pub iou_threshold: f32,
    pub max_poses: u32,
    pub threads: u32,
    pub vram_limit: f64,
    pub vram_resume: f64,
    pub stats_interval: Nanos,
    pub latency_budget: Nanos,
    pub tracking: bool,
    pub track_timeout: Nanos,
    pub smoothing: bool,
    pub smoothing_min_cutoff: f64,
    pub smoothing_beta: f64,
    pub smoothing_d_cutoff: f64,
    pub inference_server: String,
    pub remote_model: String,
    pub remote_timeout: Nanos,
    pub metrics_address: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: String::new(),
            provider: ExecutionProvider::default(),
            device_id: DEFAULT_DEVICE_ID,
            precision: PrecisionSetting::default(),
            input_size: engine::DEFAULT_INPUT_SIZE as u32,
            input_shape: InputShapeSetting::default(),
            max_batch_size: batcher::DEFAULT_MAX_BATCH_SIZE as u32,
            batch_timeout: batcher::DEFAULT_BATCH_TIMEOUT,
            overflow: OverflowSetting::default(),
            queue_size: batcher::DEFAULT_QUEUE_SIZE as u32,
            score_threshold: engine::DEFAULT_SCORE_THRESHOLD,
            iou_threshold: engine::DEFAULT_IOU_THRESHOLD,
            max_poses: engine::DEFAULT_MAX_POSES as u32,
            threads: DEFAULT_THREADS,
            vram_limit: DEFAULT_VRAM_LIMIT,
            vram_resume: DEFAULT_VRAM_RESUME,
            stats_interval: DEFAULT_STATS_INTERVAL,
            latency_budget: LATENCY_BUDGET_AUTO,
            tracking: true,
            track_timeout: tracker::DEFAULT_TRACK_TIMEOUT,
            smoothing: false,
            smoothing_min_cutoff: smoother::DEFAULT_PARAMS.min_cutoff as f64,
            smoothing_beta: smoother::DEFAULT_PARAMS.beta as f64,
            smoothing_d_cutoff: smoother::DEFAULT_PARAMS.d_cutoff as f64,
            inference_server: String::new(),
            remote_model: DEFAULT_REMOTE_MODEL.into(),
            remote_timeout: 0,
            metrics_address: String::new(),
        }
    }
}

impl Settings {
    pub fn batch_config(&self) -> BatchConfig {
        BatchConfig {
            max_batch_size: self.max_batch_size as usize,
            batch_timeout: self.batch_timeout,
            queue_size: self.queue_size as usize,
        }
    }

    pub fn tracker_config(&self) -> TrackerConfig {
        TrackerConfig { timeout: self.track_timeout, ..TrackerConfig::default() }
    }

    pub fn smoothing_params(&self) -> OneEuroParams {
        OneEuroParams {
            min_cutoff: self.smoothing_min_cutoff as f32,
            beta: self.smoothing_beta as f32,
            d_cutoff: self.smoothing_d_cutoff as f32,
        }
    }

    pub fn decode_params(&self) -> DecodeParams {
        DecodeParams {
            score_threshold: self.score_threshold,
            iou_threshold: self.iou_threshold,
            max_poses: self.max_poses as usize,
        }
    }

    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            model: (!self.model.is_empty()).then(|| self.model.clone().into()),
            provider: match self.provider {
                ExecutionProvider::Auto => Provider::Auto,
                ExecutionProvider::Cpu => Provider::Cpu,
                ExecutionProvider::Cuda => Provider::Cuda,
                ExecutionProvider::TensorRt => Provider::TensorRt,
            },
            device_id: self.device_id,
            precision: match self.precision {
                PrecisionSetting::Auto => Precision::Auto,
                PrecisionSetting::Fp32 => Precision::Fp32,
                PrecisionSetting::Fp16 => Precision::Fp16,
                PrecisionSetting::Int8 => Precision::Int8,
            },
            input_size: self.input_size as usize,
            input_shape: match self.input_shape {
                InputShapeSetting::Fit => InputShape::Fit,
                InputShapeSetting::Square => InputShape::Square,
            },
            max_batch_size: self.max_batch_size as usize,
            threads: self.threads as usize,
            remote: (!self.inference_server.is_empty()).then(|| RemoteConfig {
                address: self.inference_server.clone(),
                model: self.remote_model.clone(),
                connect_timeout: match self.remote_timeout {
                    0 => engine::WARM_UP_REMOTE_TIMEOUT,
                    ns => std::time::Duration::from_nanos(ns),
                },
            }),
        }
    }

    /// Stores a property GObject has already type-checked.
    pub fn set(&mut self, name: &str, value: &glib::Value) {
        let get = "type checked by GObject";
        match name {
            "model" => self.model = value.get::<Option<String>>().expect(get).unwrap_or_default(),
            "execution-provider" => self.provider = value.get().expect(get),
            "device-id" => self.device_id = value.get().expect(get),
            "precision" => self.precision = value.get().expect(get),
            "input-size" => self.input_size = value.get().expect(get),
            "input-shape" => self.input_shape = value.get().expect(get),
            "max-batch-size" => self.max_batch_size = value.get().expect(get),
            "batch-timeout" => self.batch_timeout = value.get().expect(get),
            "overflow" => self.overflow = value.get().expect(get),
            "queue-size" => self.queue_size = value.get().expect(get),
            "score-threshold" => self.score_threshold = value.get().expect(get),
            "iou-threshold" => self.iou_threshold = value.get().expect(get),
            "max-poses" => self.max_poses = value.get().expect(get),
            "threads" => self.threads = value.get().expect(get),
            "vram-limit" => self.vram_limit = value.get().expect(get),
            "vram-resume" => self.vram_resume = value.get().expect(get),
            "stats-interval" => self.stats_interval = value.get().expect(get),
            "latency-budget" => self.latency_budget = value.get().expect(get),
            "tracking" => self.tracking = value.get().expect(get),
            "track-timeout" => self.track_timeout = value.get().expect(get),
            "smoothing" => self.smoothing = value.get().expect(get),
            "smoothing-min-cutoff" => self.smoothing_min_cutoff = value.get().expect(get),
            "smoothing-beta" => self.smoothing_beta = value.get().expect(get),
            "smoothing-d-cutoff" => self.smoothing_d_cutoff = value.get().expect(get),
            "inference-server" => self.inference_server = value.get::<Option<String>>().expect(get).unwrap_or_default(),
            "remote-model" => self.remote_model = value.get::<Option<String>>().expect(get).unwrap_or_default(),
            "remote-timeout" => self.remote_timeout = value.get().expect(get),
            "metrics-address" => self.metrics_address = value.get::<Option<String>>().expect(get).unwrap_or_default(),
            _ => unimplemented!(),
        }
    }

    /// Reads a stored property (`stats` is the element's, not a setting).
    pub fn get(&self, name: &str) -> glib::Value {
        match name {
            "model" => self.model.to_value(),
            "execution-provider" => self.provider.to_value(),
            "device-id" => self.device_id.to_value(),
            "precision" => self.precision.to_value(),
            "input-size" => self.input_size.to_value(),
            "input-shape" => self.input_shape.to_value(),
            "max-batch-size" => self.max_batch_size.to_value(),
            "batch-timeout" => self.batch_timeout.to_value(),
            "overflow" => self.overflow.to_value(),
            "queue-size" => self.queue_size.to_value(),
            "score-threshold" => self.score_threshold.to_value(),
            "iou-threshold" => self.iou_threshold.to_value(),
            "max-poses" => self.max_poses.to_value(),
            "threads" => self.threads.to_value(),
            "vram-limit" => self.vram_limit.to_value(),
            "vram-resume" => self.vram_resume.to_value(),
            "stats-interval" => self.stats_interval.to_value(),
            "latency-budget" => self.latency_budget.to_value(),
            "tracking" => self.tracking.to_value(),
            "track-timeout" => self.track_timeout.to_value(),
            "smoothing" => self.smoothing.to_value(),
            "smoothing-min-cutoff" => self.smoothing_min_cutoff.to_value(),
            "smoothing-beta" => self.smoothing_beta.to_value(),
            "smoothing-d-cutoff" => self.smoothing_d_cutoff.to_value(),
            "inference-server" => self.inference_server.to_value(),
            "remote-model" => self.remote_model.to_value(),
            "remote-timeout" => self.remote_timeout.to_value(),
            "metrics-address" => self.metrics_address.to_value(),
            _ => unimplemented!(),
        }
    }
}

/// The element's properties, as `gst-inspect-1.0 posebatch` lists them.
pub fn param_specs() -> &'static [glib::ParamSpec] {
    static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
        let d = Settings::default();
        vec![
            glib::ParamSpecString::builder("model")
                .nick("Model")
                .blurb("YOLO-pose ONNX file; empty = the installed default (POSEBATCH_MODEL or ~/.local/share/posebatch/models)")
                .default_value(Some(""))
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder_with_default("execution-provider", d.provider)
                .nick("Execution provider")
                .blurb("Where inference runs; a GPU provider that cannot start falls back to CPU with a warning")
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("device-id")
                .nick("Device ID")
                .blurb("GPU index")
                .default_value(d.device_id)
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder_with_default("precision", d.precision)
                .nick("Precision")
                .blurb("Model weights: auto = fp16 on GPU, fp32 on CPU; int8 = the static int8 model (CPU only)")
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("input-size")
                .nick("Input size")
                .blurb("Model input's long side in pixels (multiple of 32); frames are scaled to fit it and letterboxed")
                .minimum(32)
                .maximum(4096)
                .default_value(d.input_size)
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder_with_default("input-shape", d.input_shape)
                .nick("Input shape")
                .blurb("Model input: fit = the smallest stride-32 rectangle holding the frame, square = input-size x input-size")
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("max-batch-size")
                .nick("Max batch size")
                .blurb("Most frames in one inference")
                .minimum(1)
                .maximum(256)
                .default_value(d.max_batch_size)
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt64::builder("batch-timeout")
                .nick("Batch timeout")
                .blurb("Longest a queued frame waits for the batch to fill (ns)")
                .default_value(d.batch_timeout)
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder_with_default("overflow", d.overflow)
                .nick("Overflow")
                .blurb("What happens when a stream's queue is full")
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("queue-size")
                .nick("Queue size")
                .blurb("Frames a stream may have waiting")
                .minimum(1)
                .maximum(1024)
                .default_value(d.queue_size)
                .mutable_ready()
                .build(),
            glib::ParamSpecFloat::builder("score-threshold")
                .nick("Score threshold")
                .blurb("Minimum person score")
                .minimum(0.0)
                .maximum(1.0)
                .default_value(d.score_threshold)
                .mutable_playing()
                .build(),
            glib::ParamSpecFloat::builder("iou-threshold")
                .nick("IoU threshold")
                .blurb("Box overlap above which NMS keeps only the best person")
                .minimum(0.0)
                .maximum(1.0)
                .default_value(d.iou_threshold)
                .mutable_playing()
                .build(),
            glib::ParamSpecUInt::builder("max-poses")
                .nick("Max poses")
                .blurb("Most people per frame")
                .minimum(1)
                .maximum(1000)
                .default_value(d.max_poses)
                .mutable_playing()
                .build(),
            glib::ParamSpecUInt::builder("threads")
                .nick("Threads")
                .blurb("CPU inference threads (0 = ONNX Runtime's default)")
                .default_value(d.threads)
                .mutable_ready()
                .build(),
            glib::ParamSpecDouble::builder("vram-limit")
                .nick("VRAM limit")
                .blurb("Fraction of GPU memory above which streams are paused, lowest priority first (0 = off)")
                .minimum(0.0)
                .maximum(1.0)
                .default_value(d.vram_limit)
                .mutable_playing()
                .build(),
            glib::ParamSpecDouble::builder("vram-resume")
                .nick("VRAM resume")
                .blurb("Fraction of GPU memory under which streams paused for memory resume")
                .minimum(0.0)
                .maximum(1.0)
                .default_value(d.vram_resume)
                .mutable_playing()
                .build(),
            glib::ParamSpecUInt64::builder("stats-interval")
                .nick("Stats interval")
                .blurb("Period of the posebatch-stats bus message (ns, 0 = off)")
                .default_value(d.stats_interval)
                .mutable_playing()
                .build(),
            glib::ParamSpecUInt64::builder("latency-budget")
                .nick("Latency budget")
                .blurb(
                    "Most a live frame may take from capture (its running time) to leaving its source pad, ns; frames that \
                     cannot make it are dropped before inference. 18446744073709551615 (GST_CLOCK_TIME_NONE) = the latency \
                     the element reports, 0 = off",
                )
                .default_value(d.latency_budget)
                .mutable_playing()
                .build(),
            glib::ParamSpecBoolean::builder("tracking")
                .nick("Tracking")
                .blurb("Give each person a track ID that stays with them from frame to frame (PoseMeta track-ids)")
                .default_value(d.tracking)
                .mutable_playing()
                .build(),
            glib::ParamSpecUInt64::builder("track-timeout")
                .nick("Track timeout")
                .blurb("How long a person unseen keeps their track ID, ns of stream time")
                .default_value(d.track_timeout)
                .mutable_playing()
                .build(),
            glib::ParamSpecBoolean::builder("smoothing")
                .nick("Smoothing")
                .blurb(
                    "Steady keypoints: a One Euro filter per tracked person, keypoint and coordinate, and on the box \
                     (needs tracking); PoseMeta keeps the raw keypoints too",
                )
                .default_value(d.smoothing)
                .mutable_playing()
                .build(),
            glib::ParamSpecDouble::builder("smoothing-min-cutoff")
                .nick("Smoothing min cutoff")
                .blurb("One Euro cutoff at rest, Hz: lower holds still keypoints steadier and lags more")
                .minimum(0.01)
                .maximum(100.0)
                .default_value(d.smoothing_min_cutoff)
                .mutable_playing()
                .build(),
            glib::ParamSpecDouble::builder("smoothing-beta")
                .nick("Smoothing beta")
                .blurb(
                    "How fast the cutoff rises with speed, Hz per (box height per second): speed is measured in the \
                     person's box heights, so one setting suits near and far people at any resolution",
                )
                .minimum(0.0)
                .maximum(10000.0)
                .default_value(d.smoothing_beta)
                .mutable_playing()
                .build(),
            glib::ParamSpecDouble::builder("smoothing-d-cutoff")
                .nick("Smoothing speed cutoff")
                .blurb("Cutoff of the One Euro filter's speed estimate, Hz")
                .minimum(0.01)
                .maximum(100.0)
                .default_value(d.smoothing_d_cutoff)
                .mutable_playing()
                .build(),
            glib::ParamSpecString::builder("inference-server")
                .nick("Inference server")
                .blurb(
                    "Run the model on this server (host:port or grpc://host:port: Triton, KServe or MLServer over the \
                     Open Inference Protocol, gRPC); empty = ONNX Runtime in this process",
                )
                .default_value(Some(""))
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("remote-model")
                .nick("Remote model")
                .blurb("The model's name on the inference server, optionally name:version")
                .default_value(Some(DEFAULT_REMOTE_MODEL))
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt64::builder("remote-timeout")
                .nick("Remote timeout")
                .blurb(
                    "Longest wait for the inference server's answer to a batch, ns (then the frames go on without \
                     poses); 0 = the latency budget for live streams with one, else wait for the answer",
                )
                .default_value(d.remote_timeout)
                .mutable_playing()
                .build(),
            glib::ParamSpecString::builder("metrics-address")
                .nick("Metrics address")
                .blurb(
                    "HOST:PORT to serve GET /metrics on (Prometheus text, OpenMetrics when asked), from READY to NULL; \
                     elements naming the same address share it; empty = off",
                )
                .default_value(Some(""))
                .mutable_ready()
                .build(),
            glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                .nick("Stats")
                .blurb("Counters, rates, latencies (ns), batch sizes and memory, in total and per stream (stream-N)")
                .read_only()
                .build(),
        ]
    });
    PROPERTIES.as_ref()
}

/// The action signals `pause-stream(uint index) -> bool` and `resume-stream(uint index) -> bool`.
pub fn signals() -> &'static [glib::subclass::Signal] {
    static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
        let control = |name: &str, pause: bool| {
            glib::subclass::Signal::builder(name)
                .param_types([u32::static_type()])
                .return_type::<bool>()
                .action()
                .class_handler(move |args| {
                    let element = args[0].get::<super::PoseBatch>().ok()?;
                    let index = args[1].get::<u32>().ok()?;
                    Some(element.imp().set_stream_paused(index, pause, batcher::PauseReason::User).to_value())
                })
                .build()
        };
        vec![control("pause-stream", true), control("resume-stream", false)]
    });
    SIGNALS.as_ref()
}
