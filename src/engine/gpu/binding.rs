//! One batch on the GPU through ONNX Runtime: the input tensor is allocated from the
//! session's CUDA arena, filled by the letterbox kernel, and bound with IoBinding, so
//! frames never pass through host memory after their upload. Outputs come back to host
//! memory for decoding.

use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::{IoBinding, Session, SessionOutputs};
use ort::value::{DynValue, Tensor};

use super::{GpuPreprocessor, GpuTimes};
use crate::engine::preprocess::{FrameView, Letterbox};

fn ort(what: &str) -> impl FnOnce(ort::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// A session's input bound to memory from one allocator (the CUDA arena on a GPU) and its
/// output bound to host memory.
pub struct BoundSession {
    binding: IoBinding,
    allocator: Allocator,
    input_name: String,
}

impl BoundSession {
    pub fn new(session: &Session, input_memory: MemoryInfo) -> Result<BoundSession, String> {
        let allocator = Allocator::new(session, input_memory).map_err(ort("ONNX Runtime allocator"))?;
        let mut binding = session.create_binding().map_err(ort("IoBinding"))?;
        let output_name = session.outputs()[0].name().to_string();
        binding
            .bind_output_to_device(output_name, &MemoryInfo::default())
            .map_err(ort("binding the output"))?;
        Ok(BoundSession {
            binding,
            allocator,
            input_name: session.inputs()[0].name().to_string(),
        })
    }

    /// Allocates a `[n, 3, size, size]` float input, lets `fill` write it (it gets the
    /// tensor's address), binds it and runs the session.
    pub fn run<'b, T>(
        &'b mut self,
        session: &'b mut Session,
        (n, size): (usize, usize),
        fill: impl FnOnce(u64) -> Result<T, String>,
    ) -> Result<(SessionOutputs<'b>, T), String> {
        // From the allocator's arena: after the first batches of each size no new memory
        // is asked for, and the tensor is owned, so binding it copies nothing.
        let mut input = Tensor::<f32>::new(&self.allocator, [n, 3, size, size]).map_err(ort("input tensor"))?;
        let filled = fill(input.data_ptr_mut() as u64)?;
        self.binding.bind_input(self.input_name.as_str(), &input).map_err(ort("binding the input"))?;
        let outputs = session.run_binding(&self.binding).map_err(ort("inference failed"))?;
        Ok((outputs, filled))
    }
}

/// Fields drop in order: the binding (which keeps the session alive) before the
/// preprocessor, whose stream the session runs on.
pub struct GpuBatchRunner {
    bound: BoundSession,
    pub preprocessor: GpuPreprocessor,
}

impl GpuBatchRunner {
    pub fn new(session: &Session, preprocessor: GpuPreprocessor, device_id: u32) -> Result<GpuBatchRunner, String> {
        let on_gpu = MemoryInfo::new(AllocationDevice::CUDA, device_id as i32, AllocatorType::Device, MemoryType::Default)
            .map_err(ort("CUDA memory info"))?;
        Ok(GpuBatchRunner {
            bound: BoundSession::new(session, on_gpu)?,
            preprocessor,
        })
    }

    /// Letterboxes `frames` on the GPU into the input tensor, runs the session and hands
    /// the first output, with the letterboxes, to `decode`.
    pub fn run<R>(
        &mut self,
        session: &mut Session,
        frames: &[FrameView],
        size: usize,
        decode: impl FnOnce(&DynValue, &[Letterbox]) -> R,
    ) -> Result<(R, GpuTimes), String> {
        let preprocessor = &mut self.preprocessor;
        let (outputs, letterboxes) = self
            .bound
            .run(session, (frames.len(), size), |input| preprocessor.letterbox_batch(frames, size, input))?;
        // Before decoding: the end-of-inference event must not count CPU work.
        let times = self.preprocessor.finish_batch()?;
        Ok((decode(&outputs[0], &letterboxes), times))
    }
}
