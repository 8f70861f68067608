//! The inference engine: loads and validates a YOLO-pose model where it can run (see
//! `placement`), and turns a batch of raw frames into the people in each frame: letterbox
//! (on the CPU or the GPU) into an input tensor, one IoBinding run, decode. Both memories
//! take the same path through ONNX Runtime (`binding`).

mod binding;
pub mod gpu;
mod model_check;
mod parallel;
mod placement;
pub mod preprocess;
mod remote;
mod resize;
mod session;
#[cfg(test)]
mod test_frames;
mod yolo_pose;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
use ort::value::Tensor;

use binding::BoundSession;
use model_check::{InputType, ModelDescription};
use remote::{RemoteError, RemoteModel};
use gpu::{GpuPreprocessor, GpuTimes};

use parallel::spread_over_cores_with;
pub use preprocess::{Canvas, FrameView, InputShape, Letterbox, PackedLayout, PixelFormat, Scratch, YuvMatrix};
pub use session::Provider;
pub use yolo_pose::{DEFAULT_IOU_THRESHOLD, DEFAULT_MAX_POSES, DEFAULT_SCORE_THRESHOLD, DecodeParams};

use crate::meta::Person;

/// Default of the element's `input-size`.
pub const DEFAULT_INPUT_SIZE: usize = 640;

/// Why the engine could not load or run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    /// The ONNX Runtime library or environment.
    Runtime(String),
    /// The model file: missing, unreadable, or not a pose model.
    Model(String),
    /// A frame that cannot be read.
    Input(String),
    /// The run failed.
    Inference(String),
    /// The remote inference server cannot be reached now: this batch goes on without poses.
    Unavailable(String),
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::Runtime(m)
            | EngineError::Model(m)
            | EngineError::Input(m)
            | EngineError::Inference(m)
            | EngineError::Unavailable(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for EngineError {}

/// Which model weights to ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Precision {
    /// fp16 on a GPU, fp32 on CPU.
    #[default]
    Auto,
    Fp32,
    Fp16,
    /// The static int8 (Q/DQ) twin, for the CPU.
    Int8,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// The model file; None = the installed default (fp32 or its fp16 twin).
    pub model: Option<PathBuf>,
    pub provider: Provider,
    pub device_id: u32,
    pub precision: Precision,
    /// The model input's long side (its side, when square), a multiple of 32.
    pub input_size: usize,
    /// How frames fit into the model input: the smallest stride-32 rectangle, or a square.
    pub input_shape: InputShape,
    /// The largest batch: TensorRT's profile and the GPU warm-up cover 1 to this.
    pub max_batch_size: usize,
    /// CPU inference threads; 0 = ONNX Runtime's default.
    pub threads: usize,
    /// Run the model on an inference server instead (then `model`, `provider`, `device_id`,
    /// `precision` and `threads` are the server's business).
    pub remote: Option<RemoteConfig>,
}

/// A model on an inference server (Open Inference Protocol, gRPC).
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteConfig {
    /// `host:port` or `grpc://host:port`.
    pub address: String,
    /// The model's name there, optionally `name:version`.
    pub model: String,
    /// How long connecting and the first calls may take.
    pub connect_timeout: Duration,
}

/// How long the warm-up at READY waits for a remote server unless `remote-timeout` says:
/// long enough for a busy shared server, short enough that a server that never answers
/// does not hold the pipeline's start for long.
pub const WARM_UP_REMOTE_TIMEOUT: Duration = Duration::from_secs(5);

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            model: None,
            provider: Provider::Auto,
            device_id: 0,
            precision: Precision::Auto,
            input_size: DEFAULT_INPUT_SIZE,
            input_shape: InputShape::Fit,
            max_batch_size: crate::batcher::DEFAULT_MAX_BATCH_SIZE,
            threads: 0,
            remote: None,
        }
    }
}

/// The result of one batch.
pub struct BatchResult {
    /// The people in each frame, in the order the frames were given.
    pub people: Vec<Vec<Person>>,
    /// Wall time of preprocessing, inference and decoding.
    pub inference_time: Duration,
    /// Of that, the letterbox on the CPU (wall time; zero when the GPU letterboxes).
    pub preprocess_time: Duration,
    /// GPU time of preprocessing and inference, from CUDA events (GPU preprocessing only).
    pub gpu_times: Option<GpuTimes>,
}

/// What the warm-up measured, on a grey frame.
#[derive(Clone, Copy, Debug)]
pub struct WarmUp {
    pub one_frame: Duration,
    pub max_batch_size: usize,
    pub full_batch: Duration,
}

/// A session with its binding, and the owner of the CUDA stream the session was told to
/// run on. Fields drop in order: the binding and the session (which may still queue work
/// on the stream) before the stream, whatever became of the preprocessing that made it.
struct OnStream<R, S> {
    runner: R,
    _stream: Option<S>,
}

struct Runner {
    bound: BoundSession,
    session: ort::session::Session,
}

/// Where batches run. One per element, so the variants' size difference does not matter.
#[allow(clippy::large_enum_variant)]
enum Backend {
    /// ONNX Runtime in this process; frames letterboxed on the GPU when `gpu` is there.
    Local { run: OnStream<Runner, std::sync::Arc<cudarc::driver::CudaStream>>, gpu: Option<GpuPreprocessor> },
    /// A model on an inference server; frames letterboxed here.
    Remote(RemoteModel),
}

pub struct Engine {
    backend: Backend,
    /// The CPU letterbox's buffers, one set per worker, kept from batch to batch.
    scratch: Vec<Scratch>,
    num_keypoints: usize,
    input_size: usize,
    input_shape: InputShape,
    /// The longest the warm-up waits for a remote server's answer.
    warm_up_timeout: Duration,
    /// Where the model runs: "cpu", "cuda", "tensorrt" or "remote".
    pub provider: &'static str,
    /// Where frames are letterboxed: "gpu" or "cpu".
    pub preprocessing: &'static str,
    /// The GPU the session runs on, e.g. "NVIDIA H200 (sm_90)"; None on the CPU.
    pub device: Option<String>,
    /// The model: its file, or its name and server.
    pub model: String,
    /// Things the user should hear about (a provider that fell back to CPU).
    pub warnings: Vec<String>,
}

/// What a local ONNX Runtime session says about its model, for `model_check`.
fn describe(session: &ort::session::Session, path: &Path) -> Result<ModelDescription, EngineError> {
    let bad = |why: String| EngineError::Model(format!("{} is not a YOLO pose model: {why}", path.display()));
    let metadata = session.metadata().map_err(|e| bad(e.to_string()))?;
    let input_type = |t: Option<ort::value::TensorElementType>| match t {
        Some(ort::value::TensorElementType::Float32) => Some(InputType::Float32),
        _ => None, // an ONNX file is run on floats: a uint8 model is for servers
    };
    Ok(ModelDescription {
        name: path.display().to_string(),
        inputs: session
            .inputs()
            .iter()
            .map(|i| (input_type(i.dtype().tensor_type()), i.dtype().tensor_shape().map_or_else(Vec::new, |s| s.to_vec())))
            .collect(),
        outputs: session.outputs().iter().map(|o| o.dtype().tensor_shape().map_or_else(Vec::new, |s| s.to_vec())).collect(),
        task: metadata.custom("task"),
        kpt_shape: metadata.custom("kpt_shape"),
    })
}

/// Letterboxes every frame into its slot of `values` (n x 3 x canvas), over the CPU cores,
/// each worker with its buffers from `scratch`.
fn letterbox_on_cpu<T: preprocess::Level>(
    frames: &[FrameView],
    (size, canvas): (usize, Canvas),
    values: &mut [T],
    scratch: &mut Vec<Scratch>,
) -> Result<Vec<Letterbox>, String> {
    let mut slots: Vec<&mut [T]> = values.chunks_exact_mut(3 * canvas.area()).collect();
    spread_over_cores_with(frames, &mut slots, scratch, |frame, out, own| {
        preprocess::letterbox_with(frame, size, canvas, out, own).map_err(|e| e.0)
    })
}

/// The same into a host tensor of ONNX Runtime's.
fn letterbox_into_tensor(
    frames: &[FrameView],
    place: (usize, Canvas),
    input: &mut Tensor<f32>,
    scratch: &mut Vec<Scratch>,
) -> Result<Vec<Letterbox>, String> {
    let (_, values) = input.try_extract_tensor_mut::<f32>().map_err(|e| format!("input tensor: {e}"))?;
    letterbox_on_cpu(frames, place, values, scratch)
}

/// The frames of a batch grouped by the canvas each is letterboxed into (one model run
/// each: a tensor has one shape), groups in order of their first frame.
fn group_by_canvas(canvases: &[Canvas]) -> Vec<(Canvas, Vec<usize>)> {
    let mut groups: Vec<(Canvas, Vec<usize>)> = Vec::new();
    for (i, canvas) in canvases.iter().enumerate() {
        match groups.iter_mut().find(|(c, _)| c == canvas) {
            Some((_, members)) => members.push(i),
            None => groups.push((*canvas, vec![i])),
        }
    }
    groups
}

/// Where the input tensor lives: the CUDA arena when the GPU letterboxes, else the CPU
/// arena.
fn input_memory(on_gpu: bool, device_id: u32) -> Result<MemoryInfo<'static>, EngineError> {
    let info = match on_gpu {
        true => MemoryInfo::new(AllocationDevice::CUDA, device_id as i32, AllocatorType::Device, MemoryType::Default),
        false => MemoryInfo::new(AllocationDevice::CPU, 0, AllocatorType::Arena, MemoryType::Default),
    };
    info.map_err(|e| EngineError::Runtime(format!("memory info: {e}")))
}

/// Where the output goes: pinned host memory from a GPU (a faster copy), else the CPU
/// arena (reused from batch to batch, as a plain run's output is).
fn output_memory(provider: &str, device_id: u32) -> Result<MemoryInfo<'static>, EngineError> {
    let info = match provider {
        "cpu" => MemoryInfo::new(AllocationDevice::CPU, 0, AllocatorType::Arena, MemoryType::Default),
        _ => MemoryInfo::new(AllocationDevice::CUDA_PINNED, device_id as i32, AllocatorType::Device, MemoryType::CPUOutput),
    };
    info.map_err(|e| EngineError::Runtime(format!("memory info: {e}")))
}

/// The input shape asked for, unless the model takes one size only (then it gets that
/// square, and the user hears why).
fn usable_shape(config: &EngineConfig, fixed_size: bool, warnings: &mut Vec<String>) -> InputShape {
    if fixed_size && config.input_shape == InputShape::Fit {
        warnings.push(format!(
            "the model takes {0}x{0} input only: frames are letterboxed into that square (input-shape=square)",
            config.input_size
        ));
        return InputShape::Square;
    }
    config.input_shape
}

impl Engine {
    /// Loads the model where it can run (or finds it on its server) and validates it.
    pub fn load(config: &EngineConfig) -> Result<Engine, EngineError> {
        if config.input_size == 0 || !config.input_size.is_multiple_of(32) {
            return Err(EngineError::Model(format!(
                "input-size {} is not a positive multiple of 32",
                config.input_size
            )));
        }
        if let Some(remote) = &config.remote {
            let model = RemoteModel::connect(&remote.address, &remote.model, config.input_size, remote.connect_timeout)?;
            let mut warnings = Vec::new();
            let input_shape = usable_shape(config, model.fixed_size, &mut warnings);
            return Ok(Engine {
                scratch: Vec::new(),
                num_keypoints: model.num_keypoints,
                input_size: config.input_size,
                input_shape,
                warm_up_timeout: remote.connect_timeout,
                provider: "remote",
                preprocessing: "cpu",
                device: None,
                model: format!("{} at {}", remote.model, model.address()),
                warnings,
                backend: Backend::Remote(model),
            });
        }
        let mut placed = placement::place(config)?;
        let description = describe(&placed.session, &placed.model_path)?;
        let (_, num_keypoints) = model_check::check(&description, config.input_size)?;
        let input_shape = usable_shape(config, model_check::has_fixed_size(&description), &mut placed.warnings);
        let gpu = placed.preprocessor;
        let bound = BoundSession::new(
            &placed.session,
            input_memory(gpu.is_some(), config.device_id)?,
            output_memory(placed.provider, config.device_id)?,
        )
        .map_err(EngineError::Runtime)?;
        let mut engine = Engine {
            scratch: Vec::new(),
            preprocessing: if gpu.is_some() { "gpu" } else { "cpu" },
            device: gpu.as_ref().map(|g| g.device_name.clone()),
            backend: Backend::Local {
                run: OnStream { runner: Runner { bound, session: placed.session }, _stream: placed.stream },
                gpu,
            },
            num_keypoints,
            input_size: config.input_size,
            input_shape,
            warm_up_timeout: WARM_UP_REMOTE_TIMEOUT,
            provider: placed.provider,
            model: placed.model_path.display().to_string(),
            warnings: placed.warnings,
        };
        if let Err(why) = engine.check_gpu_preprocessing() {
            // The session stays on the stream (kept alive by `run`); only the letterbox moves.
            if let Backend::Local { run, gpu } = &mut engine.backend {
                *gpu = None;
                run.runner.bound = BoundSession::new(
                    &run.runner.session,
                    input_memory(false, config.device_id)?,
                    output_memory(engine.provider, config.device_id)?,
                )
                .map_err(EngineError::Runtime)?;
            }
            engine.preprocessing = "cpu";
            engine.warnings.push(format!("GPU preprocessing failed its check, frames are letterboxed on the CPU: {why}"));
        }
        Ok(engine)
    }

    /// The GPU letterbox against the CPU's on test frames, then one frame through ONNX
    /// Runtime from GPU memory. Nothing to check when frames are letterboxed on the CPU.
    fn check_gpu_preprocessing(&mut self) -> Result<(), String> {
        let Backend::Local { gpu: Some(gpu), .. } = &mut self.backend else { return Ok(()) };
        gpu.check_against_cpu(self.input_size)?;
        self.infer_grey_frames(1, &DecodeParams::default()).map(|_| ()).map_err(|e| e.to_string())
    }

    /// Runs the model before the first real frame so that no batch pays for first-time
    /// work: on a GPU every batch size it will see (cuDNN's algorithm choice and kernel
    /// loading happen per input shape); on the CPU one frame and the largest batch (the
    /// memory arena then holds every smaller batch too). Then times one frame and a full
    /// batch, a second time each: the latency the element reports and the cost model's
    /// first guess.
    pub fn warm_up(&mut self, max_batch_size: usize, params: &DecodeParams) -> Result<WarmUp, EngineError> {
        let max = max_batch_size.max(1);
        let on_gpu = matches!(self.provider, "cuda" | "tensorrt");
        let sizes: Vec<usize> = if on_gpu { (1..=max).collect() } else { vec![1, max] };
        for n in sizes {
            self.infer_grey_frames(n, params)?;
        }
        let full_batch = self.infer_grey_frames(max, params)?.inference_time;
        let one_frame = self.infer_grey_frames(1, params)?.inference_time;
        Ok(WarmUp { one_frame, max_batch_size: max, full_batch })
    }

    /// Runs `n` grey 16:9 frames (the shape of most cameras) scaled to the input size.
    fn infer_grey_frames(&mut self, n: usize, params: &DecodeParams) -> Result<BatchResult, EngineError> {
        let (width, height) = (self.input_size, self.input_size * 9 / 16);
        let grey = vec![114u8; width * height * 3];
        let frame = FrameView {
            format: PixelFormat::Packed(PackedLayout::RGB),
            width,
            height,
            planes: [&grey, &[], &[]],
            strides: [width * 3, 0, 0],
        };
        let timeout = self.warm_up_timeout;
        self.infer_within(&vec![frame; n], params, Some(timeout))
    }

    pub fn num_keypoints(&self) -> usize {
        self.num_keypoints
    }

    /// Runs one batch: letterbox every frame into the input tensor (on the GPU when the
    /// session runs there), one run, and decode each image's people back to its own frame
    /// pixels.
    pub fn infer(&mut self, frames: &[FrameView], params: &DecodeParams) -> Result<BatchResult, EngineError> {
        self.infer_within(frames, params, None)
    }

    /// `infer`, waiting at most `timeout` for a remote server (None: as long as it takes);
    /// a local model takes the time it takes.
    ///
    /// Frames whose canvases differ (portrait and landscape cameras, other sizes) run as
    /// one model run per canvas: on the CPU that costs what the frames' own pixels cost,
    /// where padding them all to one common box would run the model on the padding.
    pub fn infer_within(
        &mut self,
        frames: &[FrameView],
        params: &DecodeParams,
        timeout: Option<Duration>,
    ) -> Result<BatchResult, EngineError> {
        let start = Instant::now();
        let canvases: Vec<Canvas> =
            frames.iter().map(|f| self.input_shape.canvas(f.width, f.height, self.input_size)).collect();
        let mut people = vec![Vec::new(); frames.len()];
        let mut preprocess_time = Duration::ZERO;
        let mut gpu_times: Option<GpuTimes> = None;
        for (canvas, members) in group_by_canvas(&canvases) {
            let group: Vec<FrameView> = members.iter().map(|&i| frames[i]).collect();
            let ran = self.run_group(&group, canvas, params, timeout)?;
            for (i, found) in members.into_iter().zip(ran.people) {
                people[i] = found;
            }
            preprocess_time += ran.preprocess_time;
            gpu_times = match (gpu_times, ran.gpu_times) {
                (Some(a), Some(b)) => Some(GpuTimes { preprocess: a.preprocess + b.preprocess, inference: a.inference + b.inference }),
                (a, b) => a.or(b),
            };
        }
        Ok(BatchResult { people, inference_time: start.elapsed(), preprocess_time, gpu_times })
    }

    /// The ceiling the benchmark compares the element with: the model alone, run again and
    /// again on `frames` letterboxed once beforehand (one canvas: the first frame's), as a
    /// program that feeds ONNX Runtime ready tensors runs it. Returns each run's time.
    pub fn time_bare_model(&mut self, frames: &[FrameView], seconds: f64) -> Result<Vec<Duration>, EngineError> {
        let Backend::Local { run, .. } = &mut self.backend else {
            return Err(EngineError::Runtime("the bare model runs in this process only".into()));
        };
        let first = frames.first().ok_or_else(|| EngineError::Input("no frames".into()))?;
        let canvas = self.input_shape.canvas(first.width, first.height, self.input_size);
        let mut values = vec![0f32; frames.len() * 3 * canvas.area()];
        letterbox_on_cpu(frames, (self.input_size, canvas), &mut values, &mut self.scratch).map_err(EngineError::Input)?;
        let shape = [frames.len(), 3, canvas.height, canvas.width];
        let session = &mut run.runner.session;
        let mut times = Vec::new();
        let start = Instant::now();
        while start.elapsed().as_secs_f64() < seconds || times.len() < 3 {
            let input = ort::value::TensorRef::from_array_view((shape, values.as_slice()))
                .map_err(|e| EngineError::Inference(e.to_string()))?;
            let t = Instant::now();
            session.run(ort::inputs![input]).map_err(|e| EngineError::Inference(e.to_string()))?;
            times.push(t.elapsed());
        }
        Ok(times)
    }

    /// One model run over frames that share `canvas`.
    fn run_group(
        &mut self,
        frames: &[FrameView],
        canvas: Canvas,
        params: &DecodeParams,
        timeout: Option<Duration>,
    ) -> Result<BatchResult, EngineError> {
        let start = Instant::now();
        let (size, num_keypoints) = (self.input_size, self.num_keypoints);
        let scratch = &mut self.scratch;
        let mut preprocess_time = Duration::ZERO;
        let mut timed_letterbox = |letterbox: &mut dyn FnMut() -> Result<Vec<Letterbox>, String>| {
            let started = Instant::now();
            let letterboxes = letterbox();
            preprocess_time = started.elapsed();
            letterboxes
        };
        let (people, gpu_times) = match &mut self.backend {
            Backend::Local { run, gpu } => {
                let Runner { bound, session } = &mut run.runner;
                let (outputs, letterboxes) = bound
                    .run(session, frames.len(), canvas, |input| match gpu.as_mut() {
                        Some(gpu) => gpu.letterbox_batch(frames, size, canvas, input.data_ptr_mut() as u64),
                        None => timed_letterbox(&mut || letterbox_into_tensor(frames, (size, canvas), input, scratch)),
                    })
                    .map_err(EngineError::Inference)?;
                // Before decoding: the end-of-inference event must not count CPU work.
                let gpu_times = gpu.as_ref().map(|g| g.finish_batch()).transpose().map_err(EngineError::Inference)?;
                let (dims, data) = outputs[0].try_extract_tensor::<f32>().map_err(|e| EngineError::Inference(e.to_string()))?;
                (decode_output(dims, data, &letterboxes, num_keypoints, params)?, gpu_times)
            }
            Backend::Remote(remote) => {
                let values = 3 * canvas.area() * frames.len();
                let (bytes, letterboxes) = match remote.input_type {
                    InputType::Uint8 => {
                        let mut levels = vec![0u8; values];
                        let letterboxes = timed_letterbox(&mut || letterbox_on_cpu(frames, (size, canvas), &mut levels, scratch))
                            .map_err(EngineError::Input)?;
                        (levels, letterboxes)
                    }
                    InputType::Float32 => {
                        let mut floats = vec![0f32; values];
                        let letterboxes = timed_letterbox(&mut || letterbox_on_cpu(frames, (size, canvas), &mut floats, scratch))
                            .map_err(EngineError::Input)?;
                        (floats.iter().flat_map(|v| v.to_le_bytes()).collect(), letterboxes)
                    }
                };
                let (dims, data) = remote
                    .infer(frames.len(), canvas, bytes, timeout)
                    .map_err(|e| match e {
                        RemoteError::Unavailable(why) => EngineError::Unavailable(why),
                        RemoteError::Failed(why) => EngineError::Inference(why),
                    })?;
                (decode_output(&dims, &data, &letterboxes, num_keypoints, params)?, None)
            }
        };
        Ok(BatchResult { people, inference_time: start.elapsed(), preprocess_time, gpu_times })
    }
}

/// Checks the model output `[batch, 5 + 3k, anchors]` and decodes each image's people.
fn decode_output(
    dims: &[i64],
    data: &[f32],
    letterboxes: &[Letterbox],
    num_keypoints: usize,
    params: &DecodeParams,
) -> Result<Vec<Vec<Person>>, EngineError> {
    let [batch, channels, anchors] = dims else {
        return Err(EngineError::Inference(format!("unexpected output shape {dims:?}")));
    };
    let (batch, channels, anchors) = (*batch as usize, *channels as usize, *anchors as usize);
    if batch != letterboxes.len() || channels != 5 + 3 * num_keypoints || data.len() != batch * channels * anchors {
        return Err(EngineError::Inference(format!("unexpected output shape {dims:?} ({} values)", data.len())));
    }
    Ok(letterboxes
        .iter()
        .zip(data.chunks_exact(channels * anchors))
        .map(|(lb, image)| yolo_pose::decode_image(image, anchors, num_keypoints, lb, params))
        .collect())
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::OnStream;

    /// Records its name in a shared log when dropped.
    struct Dropped(&'static str, Rc<RefCell<Vec<&'static str>>>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.1.borrow_mut().push(self.0);
        }
    }

    /// The CUDA stream a session runs on is made and owned by the GPU preprocessing; when
    /// that fails its check (or is dropped for any reason) the session must not be left on
    /// a destroyed stream. Fakes stand in for the three owners.
    #[test]
    fn the_stream_outlives_the_session_whatever_happens_to_the_preprocessing() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let stream = Rc::new(Dropped("stream", log.clone()));
        let preprocessing = (Dropped("preprocessing", log.clone()), Rc::clone(&stream));
        let engine = OnStream { runner: Dropped("session", log.clone()), _stream: Some(stream) };
        drop(preprocessing); // the fall-back to CPU letterboxing
        assert_eq!(*log.borrow(), ["preprocessing"], "the stream lives on while the session does");
        drop(engine);
        assert_eq!(*log.borrow(), ["preprocessing", "session", "stream"]);
    }
}
