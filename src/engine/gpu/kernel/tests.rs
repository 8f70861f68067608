//! The kernel's arithmetic, checked without a GPU: letterbox.cu compiled by the host C++
//! compiler (a few macros stand in for CUDA's thread indices), run over the whole grid,
//! must give what the CPU preprocessing gives, on every format, odd sizes, square and
//! fitted canvases.

use super::*;
use crate::engine::gpu::{LEVELS_APART_AT_MOST, max_abs_difference};
use crate::engine::test_frames::random_frames;
use crate::engine::preprocess::{InputShape, letterbox_into, plane_extents};

const SHIM: &str = r#"
#include <math.h>
#define __global__
#define __device__ static
struct Dim { unsigned x, y, z; };
static Dim blockIdx, threadIdx, blockDim;
"#;

const HARNESS: &str = r#"
extern "C" unsigned long params_size() { return sizeof(LetterboxParams); }
extern "C" void run_grid(const LetterboxParams* p, unsigned grid_x, unsigned grid_y, unsigned block) {
    blockDim = Dim{block, block, 1};
    for (unsigned by = 0; by < grid_y; by++)
        for (unsigned bx = 0; bx < grid_x; bx++)
            for (unsigned ty = 0; ty < block; ty++)
                for (unsigned tx = 0; tx < block; tx++) {
                    blockIdx = Dim{bx, by, 0};
                    threadIdx = Dim{tx, ty, 0};
                    letterbox(*p);
                }
}
"#;

struct HostKernel {
    library: libloading::Library,
    _dir: std::path::PathBuf,
}

impl HostKernel {
    /// Compiles the kernel source with `c++`, without fused multiply-add (as NVRTC is told).
    fn build() -> HostKernel {
        let dir = std::env::temp_dir().join(format!("posebatch-kernel-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = dir.join("letterbox_host.cpp");
        std::fs::write(&source, format!("{SHIM}\n{SOURCE}\n{HARNESS}")).unwrap();
        let library = dir.join("letterbox_host.so");
        let out = std::process::Command::new("c++")
            .args(["-O2", "-shared", "-fPIC", "-ffp-contract=off", "-o"])
            .arg(&library)
            .arg(&source)
            .output()
            .expect("a host C++ compiler (c++; `make setup` installs g++)");
        assert!(out.status.success(), "letterbox.cu does not compile as C++:\n{}", String::from_utf8_lossy(&out.stderr));
        // SAFETY: our own freshly built library with no initialisers.
        let library = unsafe { libloading::Library::new(&library) }.unwrap();
        HostKernel { library, _dir: dir }
    }

    fn params_size(&self) -> usize {
        // SAFETY: the signature is the harness's.
        unsafe {
            let f = self.library.get::<unsafe extern "C" fn() -> std::ffi::c_ulong>(b"params_size").unwrap();
            f() as usize
        }
    }

    fn run(&self, p: &LetterboxParams) {
        let (gx, gy) = p.grid();
        // SAFETY: the signature is the harness's; p points at live host memory.
        unsafe {
            let f = self.library.get::<unsafe extern "C" fn(*const LetterboxParams, u32, u32, u32)>(b"run_grid").unwrap();
            f(p, gx, gy, BLOCK);
        }
    }
}

#[test]
fn params_layout_matches_the_kernel() {
    let kernel = HostKernel::build();
    assert_eq!(kernel.params_size(), std::mem::size_of::<LetterboxParams>());
    assert_eq!(std::mem::size_of::<LetterboxParams>(), 144);
}

#[test]
fn kernel_arithmetic_equals_cpu_preprocessing() {
    let kernel = HostKernel::build();
    let size = 320;
    let (mut values, mut total_levels) = (0usize, 0.0f64);
    for shape in [InputShape::Square, InputShape::Fit] {
        for frame in random_frames() {
            let view = frame.view();
            let canvas = shape.canvas(view.width, view.height, size);
            let extents = plane_extents(&view).unwrap();
            let mut staging = vec![0u8; extents.iter().sum()];
            let offsets = pack_planes(&view, extents, &mut staging);
            let mut gpu_out = vec![f32::NAN; 3 * canvas.area()];
            let (params, lb) =
                LetterboxParams::new(&view, staging.as_ptr() as u64, offsets, gpu_out.as_mut_ptr() as u64, size, canvas);
            kernel.run(&params);
            let mut cpu_out = vec![0.0f32; 3 * canvas.area()];
            let cpu_lb = letterbox_into(&view, size, canvas, &mut cpu_out).unwrap();
            assert_eq!(lb, cpu_lb);
            assert!(gpu_out.iter().all(|v| v.is_finite()), "every value written");
            let diff = max_abs_difference(&gpu_out, &cpu_out);
            assert!(
                diff <= LEVELS_APART_AT_MOST,
                "{:?} {}x{} into {canvas:?}: max difference {diff}",
                view.format,
                view.width,
                view.height
            );
            values += gpu_out.len();
            total_levels += gpu_out.iter().zip(&cpu_out).map(|(g, c)| ((g - c).abs() * 255.0) as f64).sum::<f64>();
        }
    }
    // Fixed point and floats round differently only near a level's edge: most values agree.
    let mean = total_levels / values as f64;
    println!("kernel vs CPU path: {mean:.3} levels apart on average");
    assert!(mean < 0.25, "{mean:.3} levels apart on average");
}
