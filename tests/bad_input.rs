//! Bad input gives a clear element error or refused caps: nothing crashes, nothing hangs.

mod common;

use std::path::Path;

use gst::prelude::*;
use gst_check::Harness;

/// Sets a posebatch with `model` to READY; returns the error message posted, if any.
fn ready_error(model: &Path) -> Option<String> {
    common::init();
    let pipeline = gst::Pipeline::new();
    let pb = gst::ElementFactory::make("posebatch").property("model", model.to_str().unwrap()).build().unwrap();
    pipeline.add(&pb).unwrap();
    let result = pipeline.set_state(gst::State::Ready);
    let message = pipeline.bus().unwrap().iter().find_map(|m| match m.view() {
        gst::MessageView::Error(e) => Some(e.error().to_string()),
        _ => None,
    });
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(result.is_err(), message.is_some(), "a failed state change comes with an error message");
    message
}

#[test]
fn missing_model_file_is_a_clear_error() {
    let msg = ready_error(Path::new("/nonexistent/model.onnx")).expect("READY fails");
    assert!(msg.contains("not found") && msg.contains("/nonexistent/model.onnx"), "{msg}");
}

#[test]
fn non_pose_model_is_a_clear_error() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/identity.onnx");
    let msg = ready_error(&model).expect("READY fails");
    assert!(msg.contains("not a YOLO pose model"), "{msg}");
}

#[test]
fn truncated_model_is_a_clear_error() {
    let bytes = std::fs::read(common::model()).unwrap();
    let path = std::env::temp_dir().join(format!("posebatch-truncated-{}.onnx", std::process::id()));
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let msg = ready_error(&path).expect("READY fails");
    std::fs::remove_file(&path).unwrap();
    assert!(msg.contains("could not load model"), "{msg}");
}

#[test]
fn the_real_model_loads() {
    assert_eq!(ready_error(&common::model()), None);
}

#[test]
fn buffer_smaller_than_its_caps_is_an_error() {
    common::init();
    let pb = common::posebatch();
    let mut h = Harness::with_element(&pb, Some("sink_0"), Some("src_0"));
    h.set_src_caps_str("video/x-raw,format=RGB,width=64,height=64,framerate=30/1");
    h.play();
    let result = h.push(gst::Buffer::with_size(100).unwrap());
    assert_eq!(result, Err(gst::FlowError::Error));
}

#[test]
fn unsupported_format_is_refused_at_negotiation() {
    common::init();
    let model = common::model();
    let launch = |format: &str| {
        gst::parse::launch(&format!(
            "videotestsrc num-buffers=1 ! video/x-raw,format={format},width=64,height=64 ! posebatch model=\"{}\" ! fakesink",
            model.display()
        ))
    };
    let err = launch("GRAY8").expect_err("GRAY8 is not in posebatch's caps");
    assert!(err.to_string().contains("can't handle caps"), "{err}");
    assert!(launch("NV12").is_ok(), "a supported format links");
}
