//! The GPU provider as far as it can be checked anywhere: asking for CUDA runs on CUDA
//! where the loaded ONNX Runtime has it and a GPU is there; elsewhere it falls back to CPU
//! and says why on the bus, once.

mod common;

use gst::prelude::*;

#[test]
fn cuda_runs_on_cuda_or_falls_back_to_cpu_with_one_warning() {
    let pipeline = common::pipeline(
        "videotestsrc num-buffers=3 ! video/x-raw,format=NV12,width=320,height=240 \
         ! posebatch name=p model={model} execution-provider=cuda input-size=320 vram-limit=0 ! fakesink",
    );
    let warnings = common::play_collecting_warnings(&pipeline);
    let stats = pipeline.by_name("p").unwrap().property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(stats.get::<u64>("frames-out").unwrap(), 3);
    let fallbacks: Vec<&String> = warnings.iter().filter(|w| w.contains("GPU execution provider unavailable")).collect();
    match stats.get::<String>("provider").unwrap().as_str() {
        "cuda" => assert!(fallbacks.is_empty(), "{warnings:?}"),
        "cpu" => {
            assert_eq!(fallbacks.len(), 1, "{warnings:?}");
            assert!(fallbacks[0].contains("running on CPU"), "the warning says what happens: {}", fallbacks[0]);
        }
        other => panic!("unexpected provider {other}"),
    }
}

/// The IoBinding path the GPU uses (input tensor from a session allocator, filled through
/// its address, output bound to host memory), run on the CPU with the real model and real
/// frames: the same poses as a plain `Session::run`.
#[test]
fn io_binding_run_gives_the_same_poses_as_a_plain_run() {
    use gstposebatch::engine::gpu::binding::BoundSession;
    use gstposebatch::engine::{DecodeParams, Engine, EngineConfig, Provider, decode_output, preprocess, session};

    common::init();
    let samples = common::decode_frames(&common::camera(2), "NV12", &[0, 90]);
    let infos: Vec<gst_video::VideoInfo> =
        samples.iter().map(|s| gst_video::VideoInfo::from_caps(s.caps().unwrap()).unwrap()).collect();
    let mapped: Vec<_> = samples
        .iter()
        .zip(&infos)
        .map(|(s, info)| gst_video::VideoFrameRef::from_buffer_ref_readable(s.buffer().unwrap(), info).unwrap())
        .collect();
    let views: Vec<_> = mapped.iter().map(|f| gstposebatch::posebatch::frames::view(f).unwrap()).collect();
    let params = DecodeParams::default();
    let size = 640;

    let config = EngineConfig { model: Some(common::model()), provider: Provider::Cpu, ..Default::default() };
    let plain = Engine::load(&config).unwrap().infer(&views, &params).unwrap().poses;

    let mut session = session::create(&common::model(), Provider::Cpu, 0, 0, None).unwrap().session;
    let mut bound = BoundSession::new(&session, ort::memory::MemoryInfo::default()).unwrap();
    let (outputs, letterboxes) = bound
        .run(&mut session, (views.len(), size), |address| {
            let per_image = 3 * size * size;
            // SAFETY: the tensor the session allocated holds n images of `per_image` floats.
            let input = unsafe { std::slice::from_raw_parts_mut(address as *mut f32, views.len() * per_image) };
            views
                .iter()
                .zip(input.chunks_exact_mut(per_image))
                .map(|(v, out)| preprocess::letterbox_into(v, size, out).map_err(|e| e.0))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap();
    let bound_poses = decode_output(&outputs[0], &letterboxes, 17, &params).unwrap();
    assert!(plain.iter().all(|p| !p.is_empty()), "people in both frames");
    assert_eq!(bound_poses, plain);
}
