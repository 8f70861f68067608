//! Where the installed default model and the ONNX Runtime library live (README, "The two
//! commands" and "Files and environment"): an environment variable first, else the user's
//! data folder.

use std::path::{Path, PathBuf};

/// File names of the default model and its fp16 twin.
pub const DEFAULT_MODEL: &str = "yolo11n-pose.onnx";
pub const DEFAULT_MODEL_FP16: &str = "yolo11n-pose-fp16.onnx";

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
/// the data folder. With `fp16`, the `-fp16` twin beside the chosen file.
pub fn default_model(fp16: bool) -> PathBuf {
    let name = if fp16 { DEFAULT_MODEL_FP16 } else { DEFAULT_MODEL };
    match std::env::var_os("POSEBATCH_MODEL").filter(|v| !v.is_empty()).map(PathBuf::from) {
        Some(dir) if dir.is_dir() => dir.join(name),
        Some(file) if fp16 => {
            let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            file.with_file_name(format!("{stem}-fp16.onnx"))
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
