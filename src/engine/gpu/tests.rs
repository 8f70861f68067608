//! The kernel through NVRTC (anywhere NVRTC is installed, which `make setup` does) and on
//! a real GPU (skipped, saying so, where there is no CUDA driver or device).

use super::{LEVELS_APART_AT_MOST, max_abs_difference};
use crate::engine::test_frames::random_frames;
use super::*;
use crate::engine::preprocess::{InputShape, letterbox_into};

#[test]
fn nvrtc_compiles_the_kernel_for_hopper_and_ampere() {
    let version = nvrtc::version().expect("NVRTC is installed by `make setup`");
    assert_eq!(version.0, 13, "CUDA 13 NVRTC");
    for capability in [(9, 0), (8, 6)] {
        let cubin = nvrtc::compile_cubin(kernel::SOURCE, "letterbox.cu", capability).unwrap();
        assert_eq!(&cubin[..4], b"\x7fELF", "a CUBIN is an ELF image");
        // The kernel's name is in the image's symbol table.
        assert!(cubin.windows(kernel::FUNCTION.len()).any(|w| w == kernel::FUNCTION.as_bytes()));
    }
}

/// NVRTC (the compiler that builds the kernel for the GPU) sees the parameter struct with
/// the size and alignment Rust gives it; a wrong figure fails to compile.
#[test]
fn nvrtc_agrees_with_rust_on_the_parameter_layout() {
    use kernel::LetterboxParams;
    let assertions = |size: usize| {
        format!(
            "{}\nstatic_assert(sizeof(LetterboxParams) == {size}, \"size\");\n\
             static_assert(alignof(LetterboxParams) == {}, \"alignment\");\n",
            kernel::SOURCE,
            std::mem::align_of::<LetterboxParams>(),
        )
    };
    let size = std::mem::size_of::<LetterboxParams>();
    nvrtc::compile_cubin(&assertions(size), "layout.cu", (9, 0)).expect("the same layout on both sides");
    let err = nvrtc::compile_cubin(&assertions(size + 8), "layout.cu", (9, 0)).unwrap_err();
    assert!(err.contains("static assertion failed"), "a wrong size is caught: {err}");
}

#[test]
fn nvrtc_reports_a_broken_kernel_with_its_log() {
    let err = nvrtc::compile_cubin("extern \"C\" __global__ void k() { undefined_thing(); }", "broken.cu", (9, 0))
        .unwrap_err();
    assert!(err.contains("broken.cu") && err.contains("undefined_thing"), "{err}");
}

/// The GPU, or None after saying why the test is skipped (a failure instead where
/// POSEBATCH_REQUIRE_GPU is set: the GPU check on a GPU host).
fn gpu() -> Option<GpuPreprocessor> {
    match GpuPreprocessor::new(0) {
        Ok(gpu) => Some(gpu),
        Err(why) if std::env::var_os("POSEBATCH_REQUIRE_GPU").is_some() => {
            panic!("POSEBATCH_REQUIRE_GPU is set but there is no usable CUDA GPU: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED (no usable CUDA GPU: {why})");
            None
        }
    }
}

#[test]
fn gpu_kernel_matches_cpu_preprocessing_on_every_format() {
    let Some(mut gpu) = gpu() else { return };
    let size = 640;
    let frames = random_frames();
    let views: Vec<FrameView> = frames.iter().map(|f| f.view()).collect();
    for shape in [InputShape::Square, InputShape::Fit] {
        for view in &views {
            let canvas = shape.canvas(view.width, view.height, size);
            // Two copies in one batch: also checks each lands in its own slot.
            let (values, letterboxes) = gpu.letterbox_to_host(&[*view, *view], size, canvas).unwrap();
            let per_image = 3 * canvas.area();
            for (slot, lb) in values.chunks_exact(per_image).zip(&letterboxes) {
                let mut cpu = vec![0.0f32; per_image];
                assert_eq!(letterbox_into(view, size, canvas, &mut cpu).unwrap(), *lb);
                let diff = max_abs_difference(slot, &cpu);
                assert!(diff <= LEVELS_APART_AT_MOST, "{:?} {}x{} into {canvas:?}: max difference {diff}", view.format, view.width, view.height);
            }
        }
    }
    let times = gpu.finish_batch().unwrap();
    println!("{} frames on {}: preprocessing {:?}", views.len(), gpu.device_name, times.preprocess);
}

#[test]
fn uuids_are_written_as_nvml_writes_them() {
    let bytes = [0x5a, 0x1b, 0x02, 0xc3, 0x44, 0xd5, 0x06, 0xe7, 0x88, 0xf9, 0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f];
    assert_eq!(uuid_text(bytes), "5a1b02c3-44d5-06e7-88f9-0a1b2c3d4e5f");
}
