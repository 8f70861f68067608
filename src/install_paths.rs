//! Where the installed default model and the ONNX Runtime library live (README, "The two
//! commands" and "Files and environment"): an environment variable first, else the user's
//! data folder.

use std::path::{Path, PathBuf};

/// File names of the default model and its fp16 and int8 twins.
pub const DEFAULT_MODEL: &str = "yolo11n-pose.onnx";
pub const DEFAULT_MODEL_FP16: &str = "yolo11n-pose-fp16.onnx";
pub const DEFAULT_MODEL_INT8: &str = "yolo11n-pose-int8.onnx";

/// Which twin of the default model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weights {
    Fp32,
    /// fp16 weights, fp32 inputs and outputs.
    Fp16,
    /// Static int8 (Q/DQ), the pose head's last convolutions and the decode in float.
    Int8,
}

impl Weights {
    /// What the twin's file name adds to the fp32 one's stem.
    fn suffix(self) -> &'static str {
        match self {
            Weights::Fp32 => "",
            Weights::Fp16 => "-fp16",
            Weights::Int8 => "-int8",
        }
    }
}

/// `${XDG_DATA_HOME:-~/.local/share}/posebatch`.
pub fn data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
            Path::new(&home).join(".local/share")
        });
    base.join("posebatch")
}

/// The default model: `POSEBATCH_MODEL` (a file, or a folder holding the models), else
/// the data folder. For fp16 and int8, the `-fp16` or `-int8` twin beside the chosen file.
pub fn default_model(weights: Weights) -> PathBuf {
    let name = match weights {
        Weights::Fp32 => DEFAULT_MODEL,
        Weights::Fp16 => DEFAULT_MODEL_FP16,
        Weights::Int8 => DEFAULT_MODEL_INT8,
    };
    match std::env::var_os("POSEBATCH_MODEL").filter(|v| !v.is_empty()).map(PathBuf::from) {
        Some(dir) if dir.is_dir() => dir.join(name),
        Some(file) if weights != Weights::Fp32 => {
            let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            file.with_file_name(format!("{stem}{}.onnx", weights.suffix()))
        }
        Some(file) => file,
        None => data_dir().join("models").join(name),
    }
}

/// The ONNX Runtime shared library: `ORT_DYLIB_PATH`, else the data folder.
pub fn onnxruntime_library() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| data_dir().join("onnxruntime").join("libonnxruntime.so"))
}

/// Folders holding CUDA libraries (NVRTC, and for the CUDA provider the CUDA runtime and
/// cuDNN): `POSEBATCH_CUDA_LIBS` (colon-separated), then the data folder's `cuda/`, where
/// `make setup` puts NVRTC.
pub fn cuda_library_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("POSEBATCH_CUDA_LIBS")
        .map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect())
        .unwrap_or_default();
    let installed = data_dir().join("cuda");
    if installed.is_dir() {
        dirs.push(installed);
    }
    dirs
}
