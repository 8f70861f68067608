//! The process-wide ONNX Runtime environment and one session per element: library
//! loading, execution-provider choice with CPU fallback, and model validation.

use std::path::Path;
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::ep::{self, ExecutionProvider};
use ort::session::Session;
use ort::session::builder::SessionBuilder;

use super::EngineError;
use crate::install_paths;

/// Which execution provider to ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Provider {
    /// CUDA when the loaded ONNX Runtime has it and it starts, else CPU.
    #[default]
    Auto,
    Cpu,
    Cuda,
    TensorRt,
}

/// ONNX Runtime allows one environment per process: it is created on first use, from the
/// library `install_paths::onnxruntime_library` names, and kept.
pub fn environment() -> Result<&'static Environment, EngineError> {
    static ENV: OnceLock<Result<Environment, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let lib = install_paths::onnxruntime_library();
        if !lib.exists() {
            return Err(format!(
                "ONNX Runtime library not found at {} (set ORT_DYLIB_PATH, or run `make setup`)",
                lib.display()
            ));
        }
        let builder = ort::init_from(&lib)
            .map_err(|e| format!("could not load ONNX Runtime from {}: {e}", lib.display()))?;
        builder
            .with_name("posebatch")
            .build()
            .map_err(|e| format!("could not create the ONNX Runtime environment: {e}"))
    })
    .as_ref()
    .map_err(|e| EngineError::Runtime(e.clone()))
}

/// A created session, the provider it really runs on, and warnings for the bus.
pub struct CreatedSession {
    pub session: Session,
    pub provider: &'static str,
    pub warnings: Vec<String>,
}

fn builder(threads: usize) -> Result<SessionBuilder, EngineError> {
    let env = environment()?;
    let mut b = Session::builder(env).map_err(|e| EngineError::Runtime(e.to_string()))?;
    if threads > 0 {
        b = b
            .with_intra_threads(threads)
            .map_err(|e| EngineError::Runtime(e.to_string()))?;
    }
    Ok(b)
}

/// A raw CUDA stream (`CUstream`) for the GPU provider to run on; it must outlive the
/// session.
pub type ComputeStream = *mut ();

/// Registers the GPU provider on a fresh builder; Err says why it could not.
fn with_gpu(
    provider: Provider,
    device_id: u32,
    threads: usize,
    stream: Option<ComputeStream>,
) -> Result<(SessionBuilder, &'static str), String> {
    let b = builder(threads).map_err(|e| e.to_string())?;
    let (dispatch, name, compiled_in) = match provider {
        Provider::TensorRt => {
            let mut trt = ep::TensorRT::default().with_device_id(device_id as i32);
            if let Some(stream) = stream {
                // SAFETY: the caller keeps the stream alive longer than the session.
                trt = unsafe { trt.with_compute_stream(stream) };
            }
            (trt.build().error_on_failure(), "tensorrt", ep::TensorRT::is_available())
        }
        _ => {
            // Grow the arena by what is asked, not by powers of two: memory stays near the
            // model's real need instead of creeping up (a known ONNX Runtime CUDA issue).
            let mut cuda = ep::CUDA::default()
                .with_device_id(device_id as i32)
                .with_arena_extend_strategy(ep::ArenaExtendStrategy::SameAsRequested);
            if let Some(stream) = stream {
                // SAFETY: the caller keeps the stream alive longer than the session.
                cuda = unsafe { cuda.with_compute_stream(stream) };
            }
            (cuda.build().error_on_failure(), "cuda", ep::CUDA::is_available())
        }
    };
    if !compiled_in.unwrap_or(false) {
        return Err(format!("the loaded ONNX Runtime has no {name} provider"));
    }
    preload_cuda_libraries()?;
    b.with_execution_providers([dispatch])
        .map(|b| (b, name))
        .map_err(|e| e.message().to_string())
}

fn commit(mut b: SessionBuilder, model: &Path) -> Result<Session, EngineError> {
    b.commit_from_file(model).map_err(|e| {
        EngineError::Model(format!("could not load model {}: {}", model.display(), e.message()))
    })
}

/// Creates the session for `model` on the requested provider, falling back to CPU with a
/// warning when a GPU provider cannot start (not compiled in, no driver, missing library).
/// A GPU provider runs on `stream` when given (the preprocessing's stream), so work
/// queued there before `run` is ordered before inference.
pub fn create(
    model: &Path,
    provider: Provider,
    device_id: u32,
    threads: usize,
    stream: Option<ComputeStream>,
) -> Result<CreatedSession, EngineError> {
    let mut warnings = Vec::new();
    if provider != Provider::Cpu {
        let why = match with_gpu(provider, device_id, threads, stream) {
            Ok((b, name)) => match commit(b, model) {
                Ok(session) => return Ok(CreatedSession { session, provider: name, warnings }),
                Err(e) => e.to_string(),
            },
            Err(why) => why,
        };
        // auto on a machine without a GPU is the normal CPU case, not a warning.
        if provider != Provider::Auto {
            warnings.push(format!("GPU execution provider unavailable, running on CPU: {why}"));
        }
    }
    let session = commit(builder(threads)?, model)?;
    Ok(CreatedSession { session, provider: "cpu", warnings })
}

/// Loads the CUDA 13 and cuDNN 9 libraries the CUDA provider needs from the CUDA library
/// folders (`install_paths::cuda_library_dirs`: `POSEBATCH_CUDA_LIBS`, e.g. a bundle's
/// `cuda/` folder or a Python environment's `nvidia/cu13/lib` and `nvidia/cudnn/lib`),
/// once. Where they hold neither, the system's library path is used.
fn preload_cuda_libraries() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let dirs = install_paths::cuda_library_dirs();
        let holding = |lib: &str| dirs.iter().find(|d| d.join(lib).exists()).cloned();
        let cuda = holding("libcudart.so.13");
        let cudnn = holding("libcudnn.so.9");
        if cuda.is_none() && cudnn.is_none() {
            return Ok(());
        }
        ep::cuda::preload_dylibs(cuda.as_deref(), cudnn.as_deref())
            .map_err(|e| format!("could not load the CUDA libraries from {dirs:?}: {e}"))
    })
    .clone()
}

/// True when the loaded ONNX Runtime was built with the CUDA provider (the GPU package).
pub fn gpu_provider_compiled_in() -> bool {
    environment().is_ok() && ep::CUDA::is_available().unwrap_or(false)
}
