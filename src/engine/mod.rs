//! The inference engine: loads and validates a YOLO-pose model where it can run (see
//! `placement`), and turns a batch of raw frames into the people in each frame: letterbox
//! (on the CPU or the GPU) into an input tensor, one IoBinding run, decode. Both memories
//! take the same path through ONNX Runtime (`binding`).

mod binding;
pub mod gpu;
mod parallel;
mod placement;
pub mod preprocess;
mod session;
#[cfg(test)]
mod test_frames;
mod yolo_pose;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
use ort::value::{DynValue, Tensor};

use binding::BoundSession;
use gpu::{GpuPreprocessor, GpuTimes};

use parallel::spread_over_cores;
pub use preprocess::{FrameView, Letterbox, PackedLayout, PixelFormat, YuvMatrix};
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
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::Runtime(m) | EngineError::Model(m) | EngineError::Input(m) | EngineError::Inference(m) => {
                f.write_str(m)
            }
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
}

#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// The model file; None = the installed default (fp32 or its fp16 twin).
    pub model: Option<PathBuf>,
    pub provider: Provider,
    pub device_id: u32,
    pub precision: Precision,
    /// Side of the square model input, a multiple of 32.
    pub input_size: usize,
    /// The largest batch: TensorRT's profile and the GPU warm-up cover 1 to this.
    pub max_batch_size: usize,
    /// CPU inference threads; 0 = ONNX Runtime's default.
    pub threads: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            model: None,
            provider: Provider::Auto,
            device_id: 0,
            precision: Precision::Auto,
            input_size: DEFAULT_INPUT_SIZE,
            max_batch_size: crate::batcher::DEFAULT_MAX_BATCH_SIZE,
            threads: 0,
        }
    }
}

/// The result of one batch.
pub struct BatchResult {
    /// The people in each frame, in the order the frames were given.
    pub people: Vec<Vec<Person>>,
    /// Wall time of preprocessing, inference and decoding.
    pub inference_time: Duration,
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

pub struct Engine {
    run: OnStream<Runner, std::sync::Arc<cudarc::driver::CudaStream>>,
    /// Preprocessing on the GPU; None = letterboxed on the CPU.
    gpu: Option<GpuPreprocessor>,
    num_keypoints: usize,
    input_size: usize,
    /// The provider the session really runs on ("cpu", "cuda", "tensorrt").
    pub provider: &'static str,
    /// Where frames are letterboxed: "gpu" or "cpu".
    pub preprocessing: &'static str,
    /// The GPU the session runs on, e.g. "NVIDIA H200 (sm_90)"; None on the CPU.
    pub device: Option<String>,
    pub model_path: PathBuf,
    /// Things the user should hear about (a provider that fell back to CPU).
    pub warnings: Vec<String>,
}

/// The model's keypoint count from its `kpt_shape` metadata (e.g. "[17, 3]").
fn parse_kpt_shape(text: &str) -> Option<(usize, usize)> {
    let nums: Vec<usize> = text
        .trim_matches(|c| c == '[' || c == ']' || c == '(' || c == ')')
        .split(',')
        .map(|s| s.trim().parse().ok())
        .collect::<Option<_>>()?;
    match nums.as_slice() {
        [k, d] => Some((*k, *d)),
        _ => None,
    }
}

/// Checks the model is a YOLO-pose model this engine can run; returns its keypoint count.
fn validate(session: &ort::session::Session, path: &Path, input_size: usize) -> Result<usize, EngineError> {
    let bad = |why: String| EngineError::Model(format!("{} is not a YOLO pose model: {why}", path.display()));
    let metadata = session.metadata().map_err(|e| bad(e.to_string()))?;
    if let Some(task) = metadata.custom("task")
        && task != "pose"
    {
        return Err(bad(format!("its task is \"{task}\"")));
    }
    let [input] = session.inputs() else {
        return Err(bad(format!("it has {} inputs, one image input expected", session.inputs().len())));
    };
    let shape = input.dtype().tensor_shape().ok_or_else(|| bad("its input is not a tensor".into()))?;
    if input.dtype().tensor_type() != Some(ort::value::TensorElementType::Float32) {
        return Err(bad("its input is not float32".into()));
    }
    let dims: &[i64] = shape;
    if dims.len() != 4 || !(dims[1] == 3 || dims[1] < 0) {
        return Err(bad(format!("input shape {dims:?}, [batch, 3, height, width] expected")));
    }
    let Some(output) = session.outputs().first() else {
        return Err(bad("it has no output".into()));
    };
    let out_dims: &[i64] = output.dtype().tensor_shape().ok_or_else(|| bad("its output is not a tensor".into()))?;
    let num_keypoints = match metadata.custom("kpt_shape").as_deref().map(parse_kpt_shape) {
        Some(Some((k, 3))) => k,
        Some(_) => return Err(bad("its kpt_shape is not [k, 3]".into())),
        None => 17,
    };
    let channels = 5 + 3 * num_keypoints as i64;
    if out_dims.len() != 3 || !(out_dims[1] == channels || out_dims[1] < 0) {
        return Err(bad(format!(
            "output shape {out_dims:?}, [batch, {channels}, anchors] expected"
        )));
    }
    // A pose model with a fixed input size needs input-size to match.
    for &side in &dims[2..] {
        if side > 0 && side as usize != input_size {
            return Err(EngineError::Model(format!(
                "{} takes {side}x{side} input only; set input-size={side}",
                path.display()
            )));
        }
    }
    Ok(num_keypoints)
}

/// Letterboxes every frame into its slot of a host tensor, over the CPU cores.
fn letterbox_on_cpu(frames: &[FrameView], size: usize, input: &mut Tensor<f32>) -> Result<Vec<Letterbox>, String> {
    let (_, values) = input.try_extract_tensor_mut::<f32>().map_err(|e| format!("input tensor: {e}"))?;
    let mut slots: Vec<&mut [f32]> = values.chunks_exact_mut(3 * size * size).collect();
    spread_over_cores(frames, &mut slots, |frame, out| preprocess::letterbox_into(frame, size, out).map_err(|e| e.0))
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

impl Engine {
    /// Loads the model where it can run and validates it.
    pub fn load(config: &EngineConfig) -> Result<Engine, EngineError> {
        if config.input_size == 0 || !config.input_size.is_multiple_of(32) {
            return Err(EngineError::Model(format!(
                "input-size {} is not a positive multiple of 32",
                config.input_size
            )));
        }
        let placed = placement::place(config)?;
        let num_keypoints = validate(&placed.session, &placed.model_path, config.input_size)?;
        let gpu = placed.preprocessor;
        let bind = |on_gpu: bool| -> Result<BoundSession, EngineError> {
            BoundSession::new(&placed.session, input_memory(on_gpu, config.device_id)?, output_memory(placed.provider, config.device_id)?)
                .map_err(EngineError::Runtime)
        };
        let bound = bind(gpu.is_some())?;
        let mut engine = Engine {
            run: OnStream { runner: Runner { bound, session: placed.session }, _stream: placed.stream },
            preprocessing: if gpu.is_some() { "gpu" } else { "cpu" },
            device: gpu.as_ref().map(|g| g.device_name.clone()),
            gpu,
            num_keypoints,
            input_size: config.input_size,
            provider: placed.provider,
            model_path: placed.model_path,
            warnings: placed.warnings,
        };
        if let Err(why) = engine.check_gpu_preprocessing() {
            // The session stays on the stream (kept alive by `run`); only the letterbox moves.
            engine.gpu = None;
            engine.preprocessing = "cpu";
            engine.run.runner.bound = BoundSession::new(
                &engine.run.runner.session,
                input_memory(false, config.device_id)?,
                output_memory(engine.provider, config.device_id)?,
            )
            .map_err(EngineError::Runtime)?;
            engine.warnings.push(format!("GPU preprocessing failed its check, frames are letterboxed on the CPU: {why}"));
        }
        Ok(engine)
    }

    /// The GPU letterbox against the CPU's on test frames, then one frame through ONNX
    /// Runtime from GPU memory. Nothing to check when frames are letterboxed on the CPU.
    fn check_gpu_preprocessing(&mut self) -> Result<(), String> {
        let Some(gpu) = self.gpu.as_mut() else { return Ok(()) };
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
        let sizes: Vec<usize> = if self.provider == "cpu" { vec![1, max] } else { (1..=max).collect() };
        for n in sizes {
            self.infer_grey_frames(n, params)?;
        }
        let full_batch = self.infer_grey_frames(max, params)?.inference_time;
        let one_frame = self.infer_grey_frames(1, params)?.inference_time;
        Ok(WarmUp { one_frame, max_batch_size: max, full_batch })
    }

    /// Runs `n` grey frames of the model's input size.
    fn infer_grey_frames(&mut self, n: usize, params: &DecodeParams) -> Result<BatchResult, EngineError> {
        let size = self.input_size;
        let grey = vec![114u8; size * size * 3];
        let frame = FrameView {
            format: PixelFormat::Packed(PackedLayout::RGB),
            width: size,
            height: size,
            planes: [&grey, &[], &[]],
            strides: [size * 3, 0, 0],
        };
        self.infer(&vec![frame; n], params)
    }

    pub fn num_keypoints(&self) -> usize {
        self.num_keypoints
    }

    /// Runs one batch: letterbox every frame into the input tensor (on the GPU when the
    /// session runs there), one run, and decode each image's people back to its own frame
    /// pixels.
    pub fn infer(&mut self, frames: &[FrameView], params: &DecodeParams) -> Result<BatchResult, EngineError> {
        let start = Instant::now();
        let size = self.input_size;
        let Runner { bound, session } = &mut self.run.runner;
        let gpu = &mut self.gpu;
        let (outputs, letterboxes) = bound
            .run(session, (frames.len(), size), |input| match gpu.as_mut() {
                Some(gpu) => gpu.letterbox_batch(frames, size, input.data_ptr_mut() as u64),
                None => letterbox_on_cpu(frames, size, input),
            })
            .map_err(EngineError::Inference)?;
        // Before decoding: the end-of-inference event must not count CPU work.
        let gpu_times = gpu.as_ref().map(|g| g.finish_batch()).transpose().map_err(EngineError::Inference)?;
        let people = decode_output(&outputs[0], &letterboxes, self.num_keypoints, params)?;
        Ok(BatchResult { people, inference_time: start.elapsed(), gpu_times })
    }
}

/// Checks the model output `[batch, 5 + 3k, anchors]` and decodes each image's people.
fn decode_output(
    output: &DynValue,
    letterboxes: &[Letterbox],
    num_keypoints: usize,
    params: &DecodeParams,
) -> Result<Vec<Vec<Person>>, EngineError> {
    let (out_shape, data) = output.try_extract_tensor::<f32>().map_err(|e| EngineError::Inference(e.to_string()))?;
    let out_dims: &[i64] = out_shape;
    let [batch, channels, anchors] = out_dims else {
        return Err(EngineError::Inference(format!("unexpected output shape {out_dims:?}")));
    };
    let (batch, channels, anchors) = (*batch as usize, *channels as usize, *anchors as usize);
    if batch != letterboxes.len() || channels != 5 + 3 * num_keypoints {
        return Err(EngineError::Inference(format!("unexpected output shape {out_dims:?}")));
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
