//! The one way a batch runs through ONNX Runtime, on CPU and GPU alike: the input tensor
//! comes from an allocator of the session (host memory on CPU, the CUDA arena on a GPU),
//! is filled in place (CPU letterbox, or the GPU kernel through its address) and bound
//! with IoBinding; the output is bound to host memory (pinned on a GPU) before each run.

use ort::memory::{Allocator, MemoryInfo};
use ort::session::{IoBinding, Session, SessionOutputs};
use ort::value::Tensor;

use super::preprocess::Canvas;

fn ort(what: &str) -> impl FnOnce(ort::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// A session's input bound to memory from one allocator and its output to host memory.
pub struct BoundSession {
    binding: IoBinding,
    input_allocator: Allocator,
    input_name: String,
    output_name: String,
    output_memory: MemoryInfo<'static>,
}

impl BoundSession {
    /// `input_memory`: where input tensors are allocated; `output_memory`: where ONNX Runtime
    /// puts the output (host-accessible: it is decoded on the CPU).
    pub fn new(session: &Session, input_memory: MemoryInfo, output_memory: MemoryInfo<'static>) -> Result<BoundSession, String> {
        let input_allocator = Allocator::new(session, input_memory).map_err(ort("ONNX Runtime allocator"))?;
        let binding = session.create_binding().map_err(ort("IoBinding"))?;
        Ok(BoundSession {
            binding,
            input_allocator,
            input_name: session.inputs()[0].name().to_string(),
            output_name: session.outputs()[0].name().to_string(),
            output_memory,
        })
    }

    /// Allocates a `[n, 3, height, width]` float input of `canvas`'s size, lets `fill`
    /// write it, binds it and the output, and runs the session.
    pub fn run<'s, T>(
        &'s mut self,
        session: &'s mut Session,
        n: usize,
        canvas: Canvas,
        fill: impl FnOnce(&mut Tensor<f32>) -> Result<T, String>,
    ) -> Result<(SessionOutputs<'s>, T), String> {
        // From the allocator's arena: after the first batches of each size no new memory
        // is asked for, and the tensor is owned, so binding it copies nothing.
        let mut input =
            Tensor::<f32>::new(&self.input_allocator, [n, 3, canvas.height, canvas.width]).map_err(ort("input tensor"))?;
        let filled = fill(&mut input)?;
        self.binding.bind_input(self.input_name.as_str(), &input).map_err(ort("binding the input"))?;
        // ONNX Runtime keeps each run's output value in the binding and would write the
        // next run's output into it, whatever its batch size: bind afresh every time.
        self.binding.clear_outputs();
        self.binding
            .bind_output_to_device(self.output_name.as_str(), &self.output_memory)
            .map_err(ort("binding the output"))?;
        let outputs = session.run_binding(&self.binding).map_err(ort("inference failed"))?;
        Ok((outputs, filled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::preprocess::{Canvas, letterbox_into};
    use crate::engine::session::cpu_session;
    use crate::engine::test_frames::camera_frames;
    use ort::value::TensorRef;

    /// Batches of changing sizes through one binding (the element's warm-up primes it with
    /// one frame, then batch sizes vary): each run's output equals a plain `Session::run`
    /// of the same input.
    #[test]
    fn runs_of_changing_batch_sizes_give_what_a_plain_run_gives() {
        let frames = camera_frames(2, &[0, 30, 60, 90]);
        let (size, canvas) = (640, Canvas { width: 384, height: 640 });
        let per_image = 3 * canvas.area();
        let inputs: Vec<Vec<f32>> = frames
            .iter()
            .map(|f| {
                let mut slot = vec![0.0; per_image];
                letterbox_into(&f.view(), size, canvas, &mut slot).unwrap();
                slot
            })
            .collect();
        let mut session = cpu_session(&crate::install_paths::default_model(crate::install_paths::Weights::Fp32), 0).unwrap();
        let mut bound = BoundSession::new(&session, MemoryInfo::default(), MemoryInfo::default()).unwrap();
        for n in [1usize, 2, 4, 3, 1] {
            let batch: Vec<f32> = inputs[..n].concat();
            let plain: Vec<f32> = {
                let tensor = TensorRef::from_array_view(([n, 3, canvas.height, canvas.width], batch.as_slice())).unwrap();
                let outputs = session.run(ort::inputs![tensor]).unwrap();
                outputs[0].try_extract_tensor::<f32>().unwrap().1.to_vec()
            };
            let (outputs, ()) = bound
                .run(&mut session, n, canvas, |input| {
                    input.try_extract_tensor_mut::<f32>().unwrap().1.copy_from_slice(&batch);
                    Ok(())
                })
                .unwrap_or_else(|e| panic!("batch of {n}: {e}"));
            let (shape, values) = outputs[0].try_extract_tensor::<f32>().unwrap();
            assert_eq!(shape[0], n as i64, "batch of {n}: output shape {shape:?}");
            let diff = values.iter().zip(&plain).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert_eq!(values.len(), plain.len());
            assert!(diff < 1e-4, "batch of {n}: differs from a plain run by {diff}");
        }
    }
}
