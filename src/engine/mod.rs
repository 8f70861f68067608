//! The inference engine: loads and validates a YOLO-pose model, and turns a batch of raw
//! frames into poses per frame with one `Session::run`.

pub mod gpu;
pub mod preprocess;
pub mod session;
pub mod yolo_pose;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ort::value::{DynValue, TensorRef};

use gpu::binding::GpuBatchRunner;
use gpu::{GpuPreprocessor, GpuTimes};

pub use preprocess::{FrameView, Letterbox, PackedLayout, PixelFormat, YuvMatrix};
pub use session::Provider;
pub use yolo_pose::{DEFAULT_IOU_THRESHOLD, DEFAULT_MAX_POSES, DEFAULT_SCORE_THRESHOLD, DecodeParams};

/// Default of the element's `input-size`.
pub const DEFAULT_INPUT_SIZE: usize = 640;

use crate::meta::Person;

/// Why the engine could not load or run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    /// The ONNX Runtime library or environment.
    Runtime(String),
    /// The model file: missing, unreadable, or not a pose model.
    Model(String),
    /// A frame that cannot be read.
    Input(String),
    /// `Session::run` failed.
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

pub struct Engine {
    session: ort::session::Session,
    /// Preprocessing and input binding on the GPU; None = on the CPU. Dropped after the
    /// session, which runs on its CUDA stream.
    gpu: Option<GpuBatchRunner>,
    input_name: String,
    num_keypoints: usize,
    input_size: usize,
    /// The batch's input tensor, reused between batches.
    input: Vec<f32>,
    /// The provider the session really runs on ("cpu", "cuda", "tensorrt").
    pub provider: &'static str,
    /// Where frames are letterboxed: "gpu" or "cpu".
    pub preprocessing: &'static str,
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

/// Runs `work(item, out)` for each pair, the pairs spread over the CPU cores (the batch
/// thread waits for them anyway); results in order.
pub(crate) fn spread_over_cores<T: Sync, O: Send, R: Send>(
    items: &[T],
    outs: &mut [O],
    work: impl Fn(&T, &mut O) -> Result<R, String> + Sync,
) -> Result<Vec<R>, String> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(items.len()).max(1);
    if workers == 1 {
        return items.iter().zip(outs).map(|(item, out)| work(item, out)).collect();
    }
    let per_worker = items.len().div_ceil(workers);
    let work = &work;
    let results: Vec<Result<Vec<R>, String>> = std::thread::scope(|scope| {
        let jobs: Vec<_> = items
            .chunks(per_worker)
            .zip(outs.chunks_mut(per_worker))
            .map(|(items, outs)| scope.spawn(move || items.iter().zip(outs).map(|(item, out)| work(item, out)).collect()))
            .collect();
        jobs.into_iter().map(|j| j.join().unwrap_or_else(|_| Err("a preprocessing thread panicked".into()))).collect()
    });
    let mut all = Vec::with_capacity(items.len());
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

/// Letterboxes every frame into its slot of the batch tensor.
fn letterbox_batch(frames: &[FrameView], size: usize, input: &mut [f32]) -> Result<Vec<Letterbox>, EngineError> {
    let mut slots: Vec<&mut [f32]> = input.chunks_exact_mut(3 * size * size).collect();
    spread_over_cores(frames, &mut slots, |frame, out| preprocess::letterbox_into(frame, size, out).map_err(|e| e.to_string()))
        .map_err(EngineError::Input)
}

impl Engine {
    /// Loads and validates the model. `on_gpu` decides what `Precision::Auto` means.
    pub fn load(config: &EngineConfig) -> Result<Engine, EngineError> {
        if config.input_size == 0 || !config.input_size.is_multiple_of(32) {
            return Err(EngineError::Model(format!(
                "input-size {} is not a positive multiple of 32",
                config.input_size
            )));
        }
        let wants_gpu = config.provider != Provider::Cpu;
        let fp16 = match config.precision {
            Precision::Fp16 => true,
            Precision::Fp32 => false,
            Precision::Auto => wants_gpu && session::gpu_provider_compiled_in(),
        };
        let path = config
            .model
            .clone()
            .unwrap_or_else(|| crate::install_paths::default_model(fp16));
        if !path.is_file() {
            return Err(EngineError::Model(format!(
                "model file {} not found (set the model property or POSEBATCH_MODEL, or run `make setup`)",
                path.display()
            )));
        }
        // The preprocessing's CUDA stream comes first: the session is told to run on it.
        let preprocessor = if wants_gpu && session::gpu_provider_compiled_in() {
            Some(GpuPreprocessor::new(config.device_id))
        } else {
            None
        };
        let stream = preprocessor.as_ref().and_then(|p| p.as_ref().ok()).map(|p| p.stream_handle());
        let mut created = session::create(&path, config.provider, config.device_id, config.threads, stream)?;
        let num_keypoints = validate(&created.session, &path, config.input_size)?;
        let gpu = match preprocessor {
            // On a GPU provider, preprocess on the GPU too, or say why not.
            Some(preprocessor) if created.provider != "cpu" => {
                let runner = preprocessor.and_then(|mut p| {
                    p.check_against_cpu(config.input_size)?;
                    GpuBatchRunner::new(&created.session, p, config.device_id)
                });
                match runner {
                    Ok(runner) => Some(runner),
                    Err(why) => {
                        created.warnings.push(format!("GPU preprocessing unavailable, frames are letterboxed on the CPU: {why}"));
                        None
                    }
                }
            }
            _ => None,
        };
        let input_name = created.session.inputs()[0].name().to_string();
        let mut engine = Engine {
            session: created.session,
            preprocessing: if gpu.is_some() { "gpu" } else { "cpu" },
            gpu,
            input_name,
            num_keypoints,
            input_size: config.input_size,
            input: Vec::new(),
            provider: created.provider,
            model_path: path,
            warnings: created.warnings,
        };
        engine.check_gpu_path();
        Ok(engine)
    }

    /// One grey frame through the GPU path; if it fails, the CPU path takes over, and the
    /// user hears why.
    fn check_gpu_path(&mut self) {
        if self.gpu.is_none() {
            return;
        }
        if let Err(e) = self.infer_grey_frame(&DecodeParams::default()) {
            self.gpu = None;
            self.preprocessing = "cpu";
            self.warnings.push(format!("GPU preprocessing failed on a test frame, frames are letterboxed on the CPU: {e}"));
        }
    }

    /// Runs one grey frame of the model's input size: a warm-up, and its time an estimate
    /// of one frame's inference.
    pub fn infer_grey_frame(&mut self, params: &DecodeParams) -> Result<BatchResult, EngineError> {
        let size = self.input_size;
        let grey = vec![114u8; size * size * 3];
        let frame = FrameView {
            format: PixelFormat::Packed(PackedLayout::RGB),
            width: size,
            height: size,
            planes: [&grey, &[], &[]],
            strides: [size * 3, 0, 0],
        };
        self.infer(&[frame], params)
    }

    pub fn num_keypoints(&self) -> usize {
        self.num_keypoints
    }

    pub fn input_size(&self) -> usize {
        self.input_size
    }

    /// Runs one batch: letterbox every frame into the batch tensor (on the GPU when the
    /// session runs there), one `Session::run`, decode each image's poses back to its own
    /// frame pixels.
    pub fn infer(&mut self, frames: &[FrameView], params: &DecodeParams) -> Result<BatchResult, EngineError> {
        let start = Instant::now();
        let (size, num_keypoints) = (self.input_size, self.num_keypoints);
        let decode = |output: &DynValue, letterboxes: &[Letterbox]| decode_output(output, letterboxes, num_keypoints, params);
        let (poses, gpu_times) = match self.gpu.as_mut() {
            Some(gpu) => {
                let (poses, times) = gpu.run(&mut self.session, frames, size, decode).map_err(EngineError::Inference)?;
                (poses?, Some(times))
            }
            None => {
                let per_image = 3 * size * size;
                self.input.resize(frames.len() * per_image, 0.0);
                let letterboxes = letterbox_batch(frames, size, &mut self.input)?;
                let shape = [frames.len(), 3, size, size];
                let tensor = TensorRef::from_array_view((shape, self.input.as_slice()))
                    .map_err(|e| EngineError::Inference(e.to_string()))?;
                let outputs = self
                    .session
                    .run(ort::inputs![self.input_name.as_str() => tensor])
                    .map_err(|e| EngineError::Inference(format!("inference failed: {e}")))?;
                (decode(&outputs[0], &letterboxes)?, None)
            }
        };
        Ok(BatchResult {
            people: poses,
            inference_time: start.elapsed(),
            gpu_times,
        })
    }
}

/// Checks the model output `[batch, 5 + 3k, anchors]` and decodes each image's poses.
pub fn decode_output(
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
