//! Compiling the kernel at run time with NVRTC, to a CUBIN for the GPU at hand.
//!
//! A CUBIN rather than PTX: the driver loads a CUBIN from any NVRTC of the same CUDA
//! major version, while PTX from a newer NVRTC than the driver is refused.

use std::ffi::{CStr, CString};
use std::sync::OnceLock;

use cudarc::nvrtc::{result, sys};

use crate::install_paths;

/// NVRTC's library file name (CUDA 13).
const NVRTC_LIBRARY: &str = "libnvrtc.so.13";

/// Makes NVRTC loadable, once: from the CUDA library folders (`POSEBATCH_CUDA_LIBS`, the
/// data folder's `cuda/`), else wherever the system's library path finds it. Err says why
/// there is none. Must succeed before any `cudarc::nvrtc` call, which panics without it.
pub fn load() -> Result<(), String> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            if let Some(dir) = install_paths::cuda_library_dirs().into_iter().find(|d| d.join(NVRTC_LIBRARY).exists()) {
                // The builtins first: NVRTC opens them by name, and some releases carry no
                // RPATH to find them beside it. Both are kept loaded for the process, and
                // the dynamic loader then matches later opens by name (cudarc's) to them.
                let builtins = std::fs::read_dir(&dir)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("libnvrtc-builtins.so.")));
                for path in builtins.chain([dir.join(NVRTC_LIBRARY)]) {
                    // SAFETY: NVRTC's initialisers are safe to run on any thread.
                    let library = unsafe { libloading::Library::new(&path) }
                        .map_err(|e| format!("could not load {}: {e}", path.display()))?;
                    std::mem::forget(library);
                }
            }
            // SAFETY: only probes for the library.
            if !unsafe { sys::is_culib_present() } {
                return Err(format!(
                    "NVRTC ({NVRTC_LIBRARY}) not found: set POSEBATCH_CUDA_LIBS to the folder holding it, or run `make setup`"
                ));
            }
            // cudarc opens the first of several names (`libnvrtc.so` first): when ours was
            // not found, that may be another CUDA's, whose CUBINs a CUDA 13 driver refuses.
            match loaded_version()? {
                (13, _) => Ok(()),
                (major, minor) => Err(format!(
                    "NVRTC {major}.{minor} was loaded, CUDA 13's is needed ({NVRTC_LIBRARY}): set POSEBATCH_CUDA_LIBS \
                     to the folder holding it, or run `make setup`"
                )),
            }
        })
        .clone()
}

/// The loaded NVRTC's version, (major, minor).
fn loaded_version() -> Result<(i32, i32), String> {
    let (mut major, mut minor) = (0, 0);
    // SAFETY: NVRTC is loaded (checked by the caller); two out-pointers.
    unsafe { sys::nvrtcVersion(&mut major, &mut minor) }
        .result()
        .map_err(|e| format!("nvrtcVersion: {e}"))?;
    Ok((major, minor))
}

/// NVRTC's version, (major, minor); Err when there is no CUDA 13 NVRTC.
#[cfg(test)]
pub fn version() -> Result<(i32, i32), String> {
    load()?;
    loaded_version()
}

/// Compiles `source` for compute capability `major.minor`; returns the CUBIN image.
/// `--fmad=false` keeps each multiply and add rounded as the CPU path rounds them.
pub fn compile_cubin(source: &str, name: &str, (major, minor): (i32, i32)) -> Result<Vec<u8>, String> {
    load()?;
    let source = CString::new(source).map_err(|_| "kernel source holds a NUL byte".to_string())?;
    let name = CString::new(name).map_err(|_| "kernel name holds a NUL byte".to_string())?;
    let program = result::create_program(&source, Some(&name)).map_err(|e| format!("nvrtcCreateProgram: {e}"))?;
    let options = [format!("--gpu-architecture=sm_{major}{minor}"), "--fmad=false".to_string()];
    // SAFETY: `program` is live until destroyed below; each call gets valid buffers.
    unsafe {
        let outcome = match result::compile_program(program, &options) {
            Ok(()) => cubin(program),
            Err(e) => Err(format!("NVRTC could not compile {}: {e}\n{}", name.to_string_lossy(), log(program))),
        };
        let _ = result::destroy_program(program);
        outcome
    }
}

/// # Safety
/// `program` must be a live, compiled program.
unsafe fn cubin(program: sys::nvrtcProgram) -> Result<Vec<u8>, String> {
    let mut size = 0usize;
    unsafe { sys::nvrtcGetCUBINSize(program, &mut size) }.result().map_err(|e| format!("nvrtcGetCUBINSize: {e}"))?;
    let mut image = vec![0u8; size];
    unsafe { sys::nvrtcGetCUBIN(program, image.as_mut_ptr().cast()) }
        .result()
        .map_err(|e| format!("nvrtcGetCUBIN: {e}"))?;
    Ok(image)
}

/// # Safety
/// `program` must be a live program.
unsafe fn log(program: sys::nvrtcProgram) -> String {
    match unsafe { result::get_program_log(program) } {
        Ok(bytes) if !bytes.is_empty() => unsafe { CStr::from_ptr(bytes.as_ptr()) }.to_string_lossy().into_owned(),
        _ => String::new(),
    }
}
