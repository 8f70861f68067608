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
            if std::env::var_os("POSEBATCH_REQUIRE_GPU").is_some() {
                panic!("POSEBATCH_REQUIRE_GPU is set but the element fell back to the CPU: {warnings:?}");
            }
            assert_eq!(fallbacks.len(), 1, "{warnings:?}");
            assert!(fallbacks[0].contains("running on CPU"), "the warning says what happens: {}", fallbacks[0]);
        }
        other => panic!("unexpected provider {other}"),
    }
}
