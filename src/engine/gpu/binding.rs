//! One batch on the GPU through ONNX Runtime: the input tensor is allocated from the
//! session's CUDA arena, filled by the letterbox kernel, and bound with IoBinding, so
//! frames never pass through host memory after their upload. Outputs come back to pinned
//! memory for decoding.

use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::{IoBinding, Session};
use ort::value::{DynValue, Tensor};

use super::{GpuPreprocessor, GpuTimes};
use crate::engine::preprocess::{FrameView, Letterbox};

/// Fields drop in order: the binding and allocator (which keep the session alive) before
/// the preprocessor, whose stream the session runs on.
pub struct GpuBatchRunner {
    binding: IoBinding,
    allocator: Allocator,
    input_name: String,
    pub preprocessor: GpuPreprocessor,
}

fn ort(what: &str) -> impl FnOnce(ort::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

impl GpuBatchRunner {
    /// Binds `session`'s output to host memory and readies a CUDA allocator on
    /// `device_id` for its input.
    pub fn new(session: &Session, preprocessor: GpuPreprocessor, device_id: u32) -> Result<GpuBatchRunner, String> {
        let on_gpu = MemoryInfo::new(AllocationDevice::CUDA, device_id as i32, AllocatorType::Device, MemoryType::Default)
            .map_err(ort("CUDA memory info"))?;
        let allocator = Allocator::new(session, on_gpu).map_err(ort("ONNX Runtime CUDA allocator"))?;
        let mut binding = session.create_binding().map_err(ort("IoBinding"))?;
        let output_name = session.outputs()[0].name().to_string();
        binding
            .bind_output_to_device(output_name, &MemoryInfo::default())
            .map_err(ort("binding the output"))?;
        Ok(GpuBatchRunner {
            binding,
            allocator,
            input_name: session.inputs()[0].name().to_string(),
            preprocessor,
        })
    }

    /// Letterboxes `frames` on the GPU into a fresh `[n, 3, size, size]` input tensor, runs
    /// the session on it and hands the first output, with the letterboxes, to `decode`.
    pub fn run<R>(
        &mut self,
        session: &mut Session,
        frames: &[FrameView],
        size: usize,
        decode: impl FnOnce(&DynValue, &[Letterbox]) -> R,
    ) -> Result<(R, GpuTimes), String> {
        // From ONNX Runtime's arena: after the first batches of each size no new GPU
        // memory is asked for, and the tensor is owned, so binding it copies nothing.
        let mut input = Tensor::<f32>::new(&self.allocator, [frames.len(), 3, size, size])
            .map_err(ort("GPU input tensor"))?;
        let letterboxes = self.preprocessor.letterbox_batch(frames, size, input.data_ptr_mut() as u64)?;
        self.binding.bind_input(self.input_name.as_str(), &input).map_err(ort("binding the input"))?;
        let outputs = session.run_binding(&self.binding).map_err(ort("inference failed"))?;
        let times = self.preprocessor.finish_batch()?;
        Ok((decode(&outputs[0], &letterboxes), times))
    }
}
