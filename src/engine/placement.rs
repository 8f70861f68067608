//! Where the model runs: which execution provider, which model file (fp16 or fp32, decided
//! once the provider is known), and on which CUDA stream. A GPU that cannot be used gives
//! way to the CPU, and the user hears why whenever they could have expected the GPU.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ort::session::Session;

use super::gpu::{self, GpuPreprocessor};
use super::session::{self, TensorRtOptions};
use super::{EngineConfig, EngineError, Precision, Provider};
use crate::install_paths::{self, Weights};

/// A session and where it runs.
pub struct Placed {
    pub session: Session,
    /// "cpu", "cuda" or "tensorrt".
    pub provider: &'static str,
    pub model_path: PathBuf,
    /// GPU preprocessing, when the session runs on the GPU and the kernel could be built.
    pub preprocessor: Option<GpuPreprocessor>,
    /// The CUDA stream the session was told to run on; it must outlive the session.
    pub stream: Option<Arc<cudarc::driver::CudaStream>>,
    pub warnings: Vec<String>,
}

/// The model file for this placement: the user's, or the installed default whose
/// precision follows the provider (`auto`: fp16 for CUDA; fp32 for TensorRT, which makes
/// its own fp16 engine, and for the CPU); int8 is the Q/DQ twin (CPU only).
pub fn model_path(config: &EngineConfig, provider: Provider) -> PathBuf {
    if let Some(model) = &config.model {
        return model.clone();
    }
    let weights = match config.precision {
        Precision::Int8 => Weights::Int8,
        Precision::Fp16 if provider != Provider::TensorRt => Weights::Fp16,
        Precision::Auto if provider == Provider::Cuda => Weights::Fp16,
        _ => Weights::Fp32,
    };
    install_paths::default_model(weights)
}

/// The int8 twin is built for ONNX Runtime's CPU kernels: asymmetric uint8 activations
/// (zero points other than 0), which TensorRT's explicit quantization does not take (it
/// wants symmetric int8), and the CUDA provider has no int8 convolutions at all (it would
/// run the Q/DQ model in float with the quantization on top, slower than fp16). So int8 asked
/// of a GPU provider is an error that says what to use instead; `auto` runs it on the CPU.
fn int8_provider(config: &EngineConfig, warnings: &mut Vec<String>) -> Result<Provider, EngineError> {
    match config.provider {
        Provider::Cuda | Provider::TensorRt => Err(EngineError::Model(
            "precision=int8 runs on the CPU: the int8 model has asymmetric uint8 activations, which neither the \
             CUDA provider nor TensorRT runs as int8 (use precision=fp16 on a GPU)"
                .into(),
        )),
        Provider::Auto => {
            if gpu::driver_present() {
                warnings.push("precision=int8 runs on the CPU (precision=fp16 is the GPU's fast path)".into());
            }
            Ok(Provider::Cpu)
        }
        Provider::Cpu => Ok(Provider::Cpu),
    }
}

fn existing(path: PathBuf) -> Result<PathBuf, EngineError> {
    if path.is_file() {
        Ok(path)
    } else {
        Err(EngineError::Model(format!(
            "model file {} not found (set the model property or POSEBATCH_MODEL, or run `make setup`)",
            path.display()
        )))
    }
}

/// Places the model: on the GPU when asked (or `auto`) and possible, else on the CPU.
pub fn place(config: &EngineConfig) -> Result<Placed, EngineError> {
    let mut warnings = Vec::new();
    let provider = match config.precision {
        Precision::Int8 => int8_provider(config, &mut warnings)?,
        _ => config.provider,
    };
    let config = &EngineConfig { provider, ..config.clone() };
    if config.provider != Provider::Cpu {
        match place_on_gpu(config, &mut warnings)? {
            Ok(placed) => return Ok(placed),
            Err(why) => {
                // `auto` on a machine with no NVIDIA driver is the normal CPU case; with a
                // driver, or a GPU asked for by name, the user expected the GPU.
                if config.provider != Provider::Auto || gpu::driver_present() {
                    warnings.push(format!("GPU execution provider unavailable, running on CPU: {why}"));
                }
            }
        }
    }
    let model_path = existing(model_path(config, Provider::Cpu))?;
    let session = session::cpu_session(&model_path, config.threads)?;
    Ok(Placed { session, provider: "cpu", model_path, preprocessor: None, stream: None, warnings })
}

/// Ok(Err(why)) when the GPU cannot be used; Err only for what the CPU cannot fix either
/// (a missing model file).
fn place_on_gpu(config: &EngineConfig, warnings: &mut Vec<String>) -> Result<Result<Placed, String>, EngineError> {
    let tensorrt = config.provider == Provider::TensorRt;
    let provider = if tensorrt { Provider::TensorRt } else { Provider::Cuda };
    let model_path = existing(model_path(config, provider))?;
    if !session::gpu_provider_compiled_in() {
        return Ok(Err("the loaded ONNX Runtime is the CPU build (`scripts/setup.sh --gpu` installs the GPU one)".into()));
    }
    if !gpu::driver_present() {
        return Ok(Err("no NVIDIA driver (libcuda.so.1 not found)".into()));
    }
    // The preprocessing's stream comes first: the session is told to run on it.
    let preprocessor = match GpuPreprocessor::new(config.device_id) {
        Ok(p) => Some(p),
        Err(why) => {
            warnings.push(format!("GPU preprocessing unavailable, frames are letterboxed on the CPU: {why}"));
            None
        }
    };
    let stream = preprocessor.as_ref().map(|p| p.stream());
    let trt_options = match tensorrt {
        true => match tensorrt_options(config, &model_path) {
            Ok(options) => Some(options),
            Err(e) => return Ok(Err(e)),
        },
        false => None,
    };
    let raw_stream = stream.as_ref().map(|s| s.cu_stream() as session::ComputeStream);
    match session::gpu_session(&model_path, config.device_id, config.threads, raw_stream, trt_options.as_ref()) {
        Ok((session, provider)) => {
            Ok(Ok(Placed { session, provider, model_path, preprocessor, stream, warnings: std::mem::take(warnings) }))
        }
        Err(why) => Ok(Err(why)),
    }
}

/// TensorRT's profile needs the input's name before the session exists: read it from a
/// CPU session of the same file.
fn tensorrt_options(config: &EngineConfig, model: &Path) -> Result<TensorRtOptions, String> {
    let probe = session::cpu_session(model, 1).map_err(|e| e.to_string())?;
    let input_name = probe.inputs().first().map(|i| i.name().to_string()).ok_or("the model has no input")?;
    let size = config.input_size;
    Ok(TensorRtOptions {
        input_name,
        input_size: size,
        optimal: config.input_shape.canvas(size, size * 9 / 16, size),
        max_batch_size: config.max_batch_size.max(1),
        fp16: config.precision != Precision::Fp32,
        cache_dir: install_paths::data_dir().join("tensorrt"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_follows_the_provider_and_a_given_model_is_kept() {
        let auto = EngineConfig::default();
        let name = |p: PathBuf| p.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(name(model_path(&auto, Provider::Cuda)), install_paths::DEFAULT_MODEL_FP16);
        assert_eq!(name(model_path(&auto, Provider::Cpu)), install_paths::DEFAULT_MODEL, "a CPU fallback runs fp32");
        assert_eq!(name(model_path(&auto, Provider::TensorRt)), install_paths::DEFAULT_MODEL, "TensorRT builds its own fp16");
        let fp16 = EngineConfig { precision: Precision::Fp16, ..Default::default() };
        assert_eq!(name(model_path(&fp16, Provider::Cpu)), install_paths::DEFAULT_MODEL_FP16, "fp16 asked for is fp16");
        let fp32 = EngineConfig { precision: Precision::Fp32, ..Default::default() };
        assert_eq!(name(model_path(&fp32, Provider::Cuda)), install_paths::DEFAULT_MODEL);
        let int8 = EngineConfig { precision: Precision::Int8, ..Default::default() };
        assert_eq!(name(model_path(&int8, Provider::Cpu)), install_paths::DEFAULT_MODEL_INT8);
        let given = EngineConfig { model: Some("/models/mine.onnx".into()), ..Default::default() };
        assert_eq!(model_path(&given, Provider::Cuda), PathBuf::from("/models/mine.onnx"));
    }

    #[test]
    fn without_a_gpu_auto_runs_on_cpu_silently_and_cuda_says_why() {
        if gpu::driver_present() {
            eprintln!("SKIPPED (a CUDA driver is present)");
            return;
        }
        let model = Some(install_paths::default_model(Weights::Fp32));
        let auto = place(&EngineConfig { model: model.clone(), ..Default::default() }).unwrap();
        assert_eq!((auto.provider, auto.warnings.len()), ("cpu", 0), "{:?}", auto.warnings);
        let cuda = place(&EngineConfig { model, provider: Provider::Cuda, ..Default::default() }).unwrap();
        assert_eq!(cuda.provider, "cpu");
        assert_eq!(cuda.warnings.len(), 1, "{:?}", cuda.warnings);
        assert!(cuda.warnings[0].contains("running on CPU"), "{}", cuda.warnings[0]);
    }

    #[test]
    fn int8_refuses_gpu_providers_and_runs_on_the_cpu_under_auto() {
        let model = Some(install_paths::default_model(Weights::Fp32));
        for provider in [Provider::Cuda, Provider::TensorRt] {
            let on_gpu = EngineConfig { model: model.clone(), provider, precision: Precision::Int8, ..Default::default() };
            let err = place(&on_gpu).err().expect("int8 on a GPU provider is refused");
            assert!(err.to_string().contains("precision=fp16"), "{err}");
        }
        let auto = place(&EngineConfig { model, precision: Precision::Int8, ..Default::default() }).unwrap();
        assert_eq!(auto.provider, "cpu");
    }
}
