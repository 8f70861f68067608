//! GPU preprocessing with cudarc: a batch's frames are copied into pinned staging memory,
//! uploaded with async copies on one CUDA stream, and each is letterboxed by an
//! NVRTC-compiled kernel straight into its slot of the model's input tensor on the GPU.
//! ONNX Runtime runs on the same stream, so no synchronisation is needed in between, and
//! CUDA events on it time preprocessing and inference.

pub mod kernel;
pub mod nvrtc;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use cudarc::driver::sys::CUevent_flags;
use cudarc::driver::{
    CudaContext, CudaEvent, CudaFunction, CudaSlice, CudaStream, DevicePtr, LaunchConfig, PinnedHostSlice, PushKernelArg,
};

use super::preprocess::{Canvas, FrameView, Letterbox, plane_extents};
use kernel::LetterboxParams;

/// True when the CUDA driver library can be loaded. cudarc panics on first use without
/// it, so nothing else here runs unless this holds.
pub fn driver_present() -> bool {
    // SAFETY: only probes for the library.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// The UUID of CUDA device `device_id` as NVML writes it, without its "GPU-"/"MIG-"
/// prefix: CUDA's ordinals follow CUDA_VISIBLE_DEVICES and MIG, NVML's indices do not, so
/// the UUID is how the two agree on a device.
pub fn device_uuid(device_id: u32) -> Result<String, String> {
    if !driver_present() {
        return Err("no CUDA driver (libcuda.so.1) found".into());
    }
    use cudarc::driver::result;
    result::init().map_err(cuda("cuInit"))?;
    let device = result::device::get(device_id as i32).map_err(cuda("CUDA device"))?;
    let uuid = result::device::get_uuid(device).map_err(cuda("CUDA device UUID"))?;
    Ok(uuid_text(uuid.bytes.map(|b| b as u8)))
}

/// 16 bytes as 8-4-4-4-12 lowercase hex digits.
fn uuid_text(b: [u8; 16]) -> String {
    let hex = |range: std::ops::Range<usize>| b[range].iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!("{}-{}-{}-{}-{}", hex(0..4), hex(4..6), hex(6..8), hex(8..10), hex(10..16))
}

/// How far apart the GPU kernel's and the CPU path's values may be: four 8-bit levels. The
/// kernel interpolates in floats, the CPU path's SIMD resize in fixed point, so an
/// interpolated Y, U or V may round to the next level on one side only; colour conversion
/// multiplies a chroma level by up to 2.1 (limited-range BT.709 blue), a luma level by 1.16.
/// Packed RGB stays within one level.
pub const LEVELS_APART_AT_MOST: f32 = 4.0 / 255.0 + 1e-6;

/// Largest absolute difference between two tensors of the same length.
pub fn max_abs_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// GPU time of one batch, from CUDA events on the stream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GpuTimes {
    /// Packing into staging memory, upload and letterbox of every frame.
    pub preprocess: Duration,
    /// ONNX Runtime's work, output copy to the host included.
    pub inference: Duration,
}

/// Staging memory for uploads: pinned on the host, and its device twin.
struct Staging {
    host: PinnedHostSlice<u8>,
    device: CudaSlice<u8>,
}

pub struct GpuPreprocessor {
    stream: Arc<CudaStream>,
    function: CudaFunction,
    staging: Option<Staging>,
    start: CudaEvent,
    preprocessed: CudaEvent,
    inferred: CudaEvent,
    /// e.g. "NVIDIA H100 80GB HBM3 (sm_90)".
    pub device_name: String,
}

fn cuda(what: &str) -> impl FnOnce(cudarc::driver::DriverError) -> String + '_ {
    move |e| format!("{what}: {e}")
}

impl GpuPreprocessor {
    /// Opens GPU `device_id` (its primary context, which ONNX Runtime shares), compiles
    /// the kernel for it and creates the stream. Err says why the GPU cannot be used.
    pub fn new(device_id: u32) -> Result<GpuPreprocessor, String> {
        if !driver_present() {
            return Err("no CUDA driver (libcuda.so.1) found".into());
        }
        let ctx = CudaContext::new(device_id as usize).map_err(cuda("cannot open CUDA device"))?;
        let capability = ctx.compute_capability().map_err(cuda("compute capability"))?;
        let cubin = nvrtc::compile_cubin(kernel::SOURCE, "letterbox.cu", capability)?;
        let module = ctx
            .load_module(cudarc::nvrtc::Ptx::from_binary(cubin))
            .map_err(cuda("cannot load the letterbox kernel"))?;
        let function = module.load_function(kernel::FUNCTION).map_err(cuda("letterbox kernel"))?;
        let stream = ctx.new_stream().map_err(cuda("cannot create a CUDA stream"))?;
        let timing_event = || ctx.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT)).map_err(cuda("CUDA event"));
        let name = ctx.name().unwrap_or_else(|_| "CUDA device".into());
        Ok(GpuPreprocessor {
            start: timing_event()?,
            preprocessed: timing_event()?,
            inferred: timing_event()?,
            device_name: format!("{name} (sm_{}{})", capability.0, capability.1),
            stream,
            function,
            staging: None,
        })
    }

    /// The stream the kernel runs on, for ONNX Runtime to run on too (its
    /// `user_compute_stream`); whoever gives it to a session keeps this handle as long.
    pub fn stream(&self) -> Arc<CudaStream> {
        Arc::clone(&self.stream)
    }

    /// Grows the staging memory to hold `bytes` (with headroom, so a batch of slightly
    /// larger frames does not reallocate again).
    fn reserve(&mut self, bytes: usize) -> Result<(), String> {
        if self.staging.as_ref().is_none_or(|s| s.host.len() < bytes) {
            self.staging = None;
            let capacity = bytes + bytes / 4;
            let ctx = self.stream.context();
            // SAFETY: staging bytes are written before they are read.
            let host = unsafe { ctx.alloc_pinned::<u8>(capacity) }.map_err(cuda("pinned host memory"))?;
            let device = unsafe { self.stream.alloc::<u8>(capacity) }.map_err(cuda("GPU memory for frames"))?;
            self.staging = Some(Staging { host, device });
        }
        Ok(())
    }

    /// Uploads `frames` and letterboxes frame i (scaled to fit `size` x `size`) into slot i
    /// of the `[n, 3, canvas height, canvas width]` float tensor at device address `input`.
    /// Returns as soon as the work is queued on the stream.
    pub fn letterbox_batch(&mut self, frames: &[FrameView], size: usize, canvas: Canvas, input: u64) -> Result<Vec<Letterbox>, String> {
        let extents = frames.iter().map(plane_extents).collect::<Result<Vec<_>, _>>().map_err(|e| e.0)?;
        let total = extents.iter().map(|e| e.iter().sum::<usize>()).sum();
        // The previous batch's copies must be done before its staging bytes are reused.
        self.stream.synchronize().map_err(cuda("CUDA stream"))?;
        self.reserve(total)?;
        // From here the GPU clock runs: packing on the CPU, upload and letterbox.
        self.start.record(&self.stream).map_err(cuda("CUDA event"))?;
        let stream = Arc::clone(&self.stream);
        let function = self.function.clone();
        let slot_bytes = (3 * canvas.area() * std::mem::size_of::<f32>()) as u64;
        let Some(staging) = self.staging.as_mut() else {
            return Err("no staging memory".into());
        };
        let letterboxes = Self::queue_frames(&stream, &function, staging, frames, &extents, (size, canvas), input, slot_bytes)?;
        self.preprocessed.record(&self.stream).map_err(cuda("CUDA event"))?;
        Ok(letterboxes)
    }

    /// Packs the frames into staging memory, then queues each one's upload and letterbox
    /// on `stream`.
    #[allow(clippy::too_many_arguments)]
    fn queue_frames(
        stream: &Arc<CudaStream>,
        function: &CudaFunction,
        staging: &mut Staging,
        frames: &[FrameView],
        extents: &[[usize; 3]],
        (size, canvas): (usize, Canvas),
        input: u64,
        slot_bytes: u64,
    ) -> Result<Vec<Letterbox>, String> {
        let (device_base, _sync) = staging.device.device_ptr(stream);
        let host = staging.host.as_mut_slice().map_err(cuda("pinned host memory"))?;
        // Each frame's place in the staging memory, then all packed at once over the CPU
        // cores: one core alone copies too slowly to feed many 1080p streams.
        let mut places: Vec<&mut [u8]> = Vec::with_capacity(frames.len());
        let mut rest = host;
        for e in extents {
            let (place, tail) = std::mem::take(&mut rest).split_at_mut(e.iter().sum());
            places.push(place);
            rest = tail;
        }
        let frames_extents: Vec<(&FrameView, [usize; 3])> = frames.iter().zip(extents.iter().copied()).collect();
        let offsets = super::parallel::spread_over_cores(&frames_extents, &mut places, |(frame, extents), place| {
            Ok(kernel::pack_planes(frame, *extents, place))
        })?;
        let mut letterboxes = Vec::with_capacity(frames.len());
        let mut at = 0usize;
        for (i, ((frame, place), offsets)) in frames.iter().zip(&places).zip(offsets).enumerate() {
            let src = device_base + at as u64;
            // SAFETY: `place` is pinned and stays untouched until the stream is
            // synchronised (next batch); the device range lies inside the staging buffer.
            unsafe { cudarc::driver::result::memcpy_htod_async(src, place, stream.cu_stream()) }
                .map_err(cuda("frame upload"))?;
            let (params, lb) = LetterboxParams::new(frame, src, offsets, input + i as u64 * slot_bytes, size, canvas);
            let (grid_x, grid_y) = params.grid();
            let config = LaunchConfig {
                grid_dim: (grid_x, grid_y, 1),
                block_dim: (kernel::BLOCK, kernel::BLOCK, 1),
                shared_mem_bytes: 0,
            };
            let mut launch = stream.launch_builder(function);
            launch.arg(&params);
            // SAFETY: the kernel reads the uploaded frame and writes one slot of the
            // caller's tensor, both in bounds by construction of `params`.
            unsafe { launch.launch(config) }.map_err(cuda("letterbox kernel launch"))?;
            letterboxes.push(lb);
            at += place.len();
        }
        Ok(letterboxes)
    }

    /// Marks the end of inference on the stream and returns the batch's GPU times
    /// (waits for the stream to reach the mark).
    pub fn finish_batch(&self) -> Result<GpuTimes, String> {
        self.inferred.record(&self.stream).map_err(cuda("CUDA event"))?;
        let ms = |a: &CudaEvent, b: &CudaEvent| a.elapsed_ms(b).map_err(cuda("CUDA event timing"));
        let to_duration = |ms: f32| Duration::from_nanos((ms.max(0.0) as f64 * 1e6) as u64);
        Ok(GpuTimes {
            preprocess: to_duration(ms(&self.start, &self.preprocessed)?),
            inference: to_duration(ms(&self.preprocessed, &self.inferred)?),
        })
    }

    /// Letterboxes two small test frames (RGB and NV12, odd sizes) on the GPU into the
    /// square and the fitted canvas and compares them with the CPU path: run once at start,
    /// so a GPU that computes differently is caught before it feeds the model.
    pub fn check_against_cpu(&mut self, size: usize) -> Result<(), String> {
        let (w, h) = (101, 57);
        let pattern = |x: usize, y: usize, c: usize| ((x * 7 + y * 13 + c * 50) % 256) as u8;
        let rgb: Vec<u8> = (0..h).flat_map(|y| (0..w).flat_map(move |x| (0..3).map(move |c| pattern(x, y, c)))).collect();
        let luma: Vec<u8> = (0..h).flat_map(|y| (0..w).map(move |x| pattern(x, y, 0))).collect();
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let chroma: Vec<u8> = (0..ch).flat_map(|y| (0..2 * cw).map(move |x| pattern(x, y, 1))).collect();
        let packed = super::PixelFormat::Packed(super::PackedLayout::RGB);
        let frames = [
            FrameView { format: packed, width: w, height: h, planes: [&rgb, &[], &[]], strides: [3 * w, 0, 0] },
            FrameView {
                format: super::PixelFormat::Nv12(super::YuvMatrix::BT709),
                width: w,
                height: h,
                planes: [&luma, &chroma, &[]],
                strides: [w, 2 * cw, 0],
            },
        ];
        for shape in [super::InputShape::Square, super::InputShape::Fit] {
            let canvas = shape.canvas(w, h, size);
            let (gpu, _) = self.letterbox_to_host(&frames, size, canvas)?;
            for (frame, slot) in frames.iter().zip(gpu.chunks_exact(3 * canvas.area())) {
                let mut cpu = vec![0.0f32; 3 * canvas.area()];
                super::preprocess::letterbox_into(frame, size, canvas, &mut cpu).map_err(|e| e.0)?;
                let diff = max_abs_difference(slot, &cpu);
                if diff > LEVELS_APART_AT_MOST {
                    return Err(format!("the letterbox kernel differs from the CPU path by {diff} on {:?}", frame.format));
                }
            }
        }
        Ok(())
    }

    /// Letterboxes `frames` on the GPU and copies the tensor back: for checking the kernel.
    pub fn letterbox_to_host(&mut self, frames: &[FrameView], size: usize, canvas: Canvas) -> Result<(Vec<f32>, Vec<Letterbox>), String> {
        let stream = Arc::clone(&self.stream);
        let tensor = stream
            .alloc_zeros::<f32>(frames.len() * 3 * canvas.area())
            .map_err(cuda("GPU memory"))?;
        let letterboxes = {
            let (input, _sync) = tensor.device_ptr(&stream);
            self.letterbox_batch(frames, size, canvas, input)?
        };
        let values = stream.clone_dtoh(&tensor).map_err(cuda("copy to host"))?;
        Ok((values, letterboxes))
    }
}
