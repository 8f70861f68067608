//! ONNX Runtime: the process-wide environment, the execution providers and how each is
//! configured, and session creation. Which provider and model to use is decided in
//! `engine::placement`; this file only builds what it is asked for.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::ep::{self, ArbitrarilyConfigurableExecutionProvider, ArenaExtendStrategy, ExecutionProvider};
use ort::session::Session;
use ort::session::builder::SessionBuilder;

use super::EngineError;
use super::preprocess::Canvas;
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

/// True when the loaded ONNX Runtime was built with the CUDA provider (the GPU package).
pub fn gpu_provider_compiled_in() -> bool {
    environment().is_ok() && ep::CUDA::is_available().unwrap_or(false)
}

/// A session builder with posebatch's CPU threading: `threads` intra-op threads (0 = ONNX
/// Runtime's default) that sleep rather than spin between operators. Spinning threads burn
/// the CPU that decoders and live sources need: measured here with eight live sources
/// drawing 1080p30 on two cores, inference ran twice as fast without spinning (3.84 against
/// 1.96 frames/s) and the sources kept their rate, for 3 % less throughput on an idle machine.
fn builder(threads: usize) -> Result<SessionBuilder, EngineError> {
    let env = environment()?;
    let runtime = |e: ort::Error| EngineError::Runtime(e.to_string());
    let mut b = Session::builder(env).map_err(runtime)?.with_intra_op_spinning(false).map_err(|e| runtime(e.into()))?;
    if threads > 0 {
        b = b.with_intra_threads(threads).map_err(|e| EngineError::Runtime(e.to_string()))?;
    }
    Ok(b)
}

fn commit(mut b: SessionBuilder, model: &Path) -> Result<Session, EngineError> {
    b.commit_from_file(model)
        .map_err(|e| EngineError::Model(format!("could not load model {}: {}", model.display(), e.message())))
}

/// A session on the CPU.
pub fn cpu_session(model: &Path, threads: usize) -> Result<Session, EngineError> {
    commit(builder(threads)?, model)
}

/// A raw CUDA stream (`CUstream`) for the GPU provider to run on; it must outlive the
/// session.
pub type ComputeStream = *mut ();

/// What TensorRT is told beyond CUDA's options.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorRtOptions {
    /// The model's input name, for the optimisation profile.
    pub input_name: String,
    /// The profile covers inputs from 32x32 up to this square (every fitted canvas).
    pub input_size: usize,
    /// The canvas the engine is tuned for (a 16:9 camera's, or the square).
    pub optimal: Canvas,
    /// The profile covers batches of 1 to this many frames; it is also the size optimised for.
    pub max_batch_size: usize,
    pub fp16: bool,
    /// Where built engines and timing data are kept between runs.
    pub cache_dir: PathBuf,
}

impl TensorRtOptions {
    /// The folder of this profile's engines: an engine built for one profile is never
    /// loaded for another.
    pub fn profile_cache_dir(&self) -> PathBuf {
        let precision = if self.fp16 { "fp16" } else { "fp32" };
        self.cache_dir.join(format!(
            "batch{}-max{s}x{s}-opt{}x{}-{precision}",
            self.max_batch_size, self.optimal.width, self.optimal.height, s = self.input_size
        ))
    }
}

/// A boolean option as ONNX Runtime's option parser reads it. (ort's own `with_*(bool)`
/// setters send "true"/"false" in rc.15: its macro's bool case never matches.)
fn flag(on: bool) -> &'static str {
    if on { "1" } else { "0" }
}

/// The CUDA provider as posebatch configures it.
///
/// cuDNN picks convolution algorithms by heuristic rather than by timing every one: the
/// exhaustive default costs hundreds of ms to seconds on each new input shape (every new
/// batch size), and keeps the largest workspace it tried. The workspace is bounded too, and
/// the arena grows by what is asked, not by powers of two, so memory stays near the model's
/// need.
pub fn cuda_provider(device_id: u32, stream: Option<ComputeStream>) -> ep::CUDA {
    let mut cuda = ep::CUDA::default()
        .with_device_id(device_id as i32)
        .with_arena_extend_strategy(ArenaExtendStrategy::SameAsRequested)
        .with_conv_algorithm_search(ep::cuda::ConvAlgorithmSearch::Heuristic)
        .with_arbitrary_config("cudnn_conv_use_max_workspace", flag(false));
    if let Some(stream) = stream {
        // SAFETY: the engine keeps the stream alive longer than the session.
        cuda = unsafe { cuda.with_compute_stream(stream) };
    }
    cuda
}

/// The TensorRT provider: one engine for every batch size from 1 to `max_batch_size` and
/// every input from 32x32 to `input_size` square (an optimisation profile rather than an
/// engine per new shape: fitted canvases differ by camera), kept in the profile's cache
/// folder so it is built once per model, GPU and profile; fp16 when asked.
pub fn tensorrt_provider(device_id: u32, stream: Option<ComputeStream>, options: &TensorRtOptions) -> ep::TensorRT {
    let shape = |n: usize, c: Canvas| format!("{}:{n}x3x{}x{}", options.input_name, c.height, c.width);
    let cache = options.profile_cache_dir().display().to_string();
    let mut trt = ep::TensorRT::default()
        .with_device_id(device_id as i32)
        .with_arbitrary_config("trt_fp16_enable", flag(options.fp16))
        .with_arbitrary_config("trt_engine_cache_enable", flag(true))
        .with_engine_cache_path(&cache)
        .with_arbitrary_config("trt_timing_cache_enable", flag(true))
        .with_timing_cache_path(&cache)
        .with_profile_min_shapes(shape(1, Canvas::square(32)))
        .with_profile_opt_shapes(shape(options.max_batch_size, options.optimal))
        .with_profile_max_shapes(shape(options.max_batch_size, Canvas::square(options.input_size)));
    if let Some(stream) = stream {
        // SAFETY: the engine keeps the stream alive longer than the session.
        trt = unsafe { trt.with_compute_stream(stream) };
    }
    trt
}

/// A session on the GPU: TensorRT (with CUDA behind it for what TensorRT does not take)
/// when `tensorrt` is given, else CUDA. Err says why the provider could not start.
pub fn gpu_session(
    model: &Path,
    device_id: u32,
    threads: usize,
    stream: Option<ComputeStream>,
    tensorrt: Option<&TensorRtOptions>,
) -> Result<(Session, &'static str), String> {
    preload_cuda_libraries()?;
    let b = builder(threads).map_err(|e| e.to_string())?;
    let cuda = cuda_provider(device_id, stream).build().error_on_failure();
    let (providers, name) = match tensorrt {
        Some(options) => {
            if !ep::TensorRT::is_available().unwrap_or(false) {
                return Err("the loaded ONNX Runtime has no TensorRT provider".into());
            }
            let cache = options.profile_cache_dir();
            if let Err(e) = std::fs::create_dir_all(&cache) {
                return Err(format!("cannot create the TensorRT cache {}: {e}", cache.display()));
            }
            let trt = tensorrt_provider(device_id, stream, options).build().error_on_failure();
            (vec![trt, cuda], "tensorrt")
        }
        None => (vec![cuda], "cuda"),
    };
    let b = b.with_execution_providers(providers).map_err(|e| e.message().to_string())?;
    commit(b, model).map(|s| (s, name)).map_err(|e| e.to_string())
}

/// Loads the CUDA 13 and cuDNN 9 libraries the CUDA provider needs from the CUDA library
/// folders (`install_paths::cuda_library_dirs`: `POSEBATCH_CUDA_LIBS`, then the data
/// folder's `cuda/`, where `scripts/setup.sh --gpu` puts them), once. Where none holds
/// them, the system's library path is used.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The options as ONNX Runtime receives them (their Debug form lists each key/value).
    fn options(provider: &impl std::fmt::Debug) -> String {
        format!("{provider:?}")
    }

    #[test]
    fn cuda_searches_convolutions_by_heuristic_with_a_bounded_workspace() {
        let text = options(&cuda_provider(1, None));
        for (key, value) in [
            ("device_id", "1"),
            ("cudnn_conv_algo_search", "HEURISTIC"),
            ("cudnn_conv_use_max_workspace", "0"),
            ("arena_extend_strategy", "kSameAsRequested"),
        ] {
            assert!(text.contains(&format!("{key:?}: {value:?}")), "{key}={value} in {text}");
        }
        assert!(!text.contains("user_compute_stream"), "no stream unless given: {text}");
        let with_stream = options(&cuda_provider(0, Some(0x1234 as ComputeStream)));
        assert!(with_stream.contains(&format!("{:?}: {:?}", "user_compute_stream", 0x1234.to_string())), "{with_stream}");
    }

    #[test]
    fn tensorrt_has_one_profile_up_to_the_batch_size_and_square_a_cache_per_profile_and_fp16_when_asked() {
        let trt = TensorRtOptions {
            input_name: "images".into(),
            input_size: 640,
            optimal: Canvas { width: 640, height: 384 },
            max_batch_size: 8,
            fp16: true,
            cache_dir: "/data/tensorrt".into(),
        };
        let text = options(&tensorrt_provider(0, None, &trt));
        for (key, value) in [
            ("trt_profile_min_shapes", "images:1x3x32x32"),
            ("trt_profile_opt_shapes", "images:8x3x384x640"),
            ("trt_profile_max_shapes", "images:8x3x640x640"),
            ("trt_fp16_enable", "1"),
            ("trt_engine_cache_enable", "1"),
            ("trt_engine_cache_path", "/data/tensorrt/batch8-max640x640-opt640x384-fp16"),
            ("trt_timing_cache_enable", "1"),
        ] {
            assert!(text.contains(&format!("{key:?}: {value:?}")), "{key}={value} in {text}");
        }
        let fp32 = options(&tensorrt_provider(0, None, &TensorRtOptions { fp16: false, ..trt.clone() }));
        assert!(fp32.contains(&format!("{:?}: {:?}", "trt_fp16_enable", "0")), "{fp32}");
        let square = TensorRtOptions { optimal: Canvas::square(640), ..trt };
        let text = options(&tensorrt_provider(0, None, &square));
        assert!(text.contains("batch8-max640x640-opt640x640-fp16"), "another profile, another cache: {text}");
    }
}
