//! Accuracy on real frames: posebatch's keypoints against an independent reference
//! (scripts/reference_poses.py: ONNX Runtime in Python, OpenCV letterbox, numpy NMS),
//! batch of 4 against batch of 1, and the GPU path against the CPU path.

mod common;

use gst::prelude::*;
use gstposebatch::geometry::iou;
use gstposebatch::meta::{Person, PoseMeta};
use serde_json::Value;

/// Runs the frames of each camera through one posebatch (stream i = camera i) on
/// `provider`; returns each output frame's PoseMeta, per stream, in order, and the
/// element's final stats.
fn run_posebatch_on(frames: &[Vec<gst::Sample>], max_batch_size: u32, provider: &str) -> (Vec<Vec<PoseMeta>>, gst::Structure) {
    common::init();
    let pipeline = gst::Pipeline::new();
    let pb = common::posebatch();
    pb.set_property("max-batch-size", max_batch_size);
    pb.set_property_from_str("execution-provider", provider);
    pb.set_property_from_str("overflow", "block");
    pipeline.add(&pb).unwrap();
    let mut srcs = Vec::new();
    let mut sinks = Vec::new();
    for (i, samples) in frames.iter().enumerate() {
        let src = gst_app::AppSrc::builder()
            .caps(&samples[0].caps().unwrap().to_owned())
            .format(gst::Format::Time)
            .build();
        let sink = gst_app::AppSink::builder().sync(false).build();
        pipeline.add_many([src.upcast_ref::<gst::Element>(), sink.upcast_ref()]).unwrap();
        src.link_pads(None, &pb, Some(&format!("sink_{i}"))).unwrap();
        pb.link_pads(Some(&format!("src_{i}")), &sink, None).unwrap();
        srcs.push(src);
        sinks.push(sink);
    }
    pipeline.set_state(gst::State::Playing).unwrap();
    let pushers: Vec<_> = srcs
        .into_iter()
        .zip(frames.iter().cloned())
        .map(|(src, samples)| {
            std::thread::spawn(move || {
                for s in samples {
                    src.push_buffer(s.buffer_owned().unwrap()).unwrap();
                }
                src.end_of_stream().unwrap();
            })
        })
        .collect();
    let metas = sinks
        .iter()
        .zip(frames)
        .map(|(sink, samples)| {
            (0..samples.len())
                .map(|_| {
                    let sample = sink.try_pull_sample(gst::ClockTime::from_seconds(60)).expect("an output frame");
                    PoseMeta::from_buffer(sample.buffer().unwrap()).expect("every frame has PoseMeta")
                })
                .collect()
        })
        .collect();
    for p in pushers {
        p.join().unwrap();
    }
    let stats = pb.property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();
    (metas, stats)
}

fn run_posebatch(frames: &[Vec<gst::Sample>], max_batch_size: u32) -> Vec<Vec<PoseMeta>> {
    run_posebatch_on(frames, max_batch_size, "cpu").0
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn reference_people(frame: &Value) -> Vec<Person> {
    frame["poses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let b = f32s(&p["box"]);
            Person {
                bbox: [b[0], b[1], b[2], b[3]],
                score: p["score"].as_f64().unwrap() as f32,
                keypoints: p["keypoints"].as_array().unwrap().iter().map(|k| {
                    let k = f32s(k);
                    [k[0], k[1], k[2]]
                }).collect(),
                track_id: 0,
            }
        })
        .collect()
}

/// Matches people by box IoU; returns (matched, mean keypoint distance in px, max distance).
fn compare(expected: &[Person], got: &[Person]) -> (usize, f32, f32) {
    let mut matched = 0;
    let (mut sum, mut count, mut max) = (0.0f32, 0usize, 0.0f32);
    for e in expected {
        let Some(g) = got.iter().max_by(|a, b| iou(&a.bbox, &e.bbox).total_cmp(&iou(&b.bbox, &e.bbox))) else {
            continue;
        };
        if iou(&g.bbox, &e.bbox) < 0.5 {
            continue;
        }
        matched += 1;
        for (ke, kg) in e.keypoints.iter().zip(&g.keypoints) {
            let d = ((ke[0] - kg[0]).powi(2) + (ke[1] - kg[1]).powi(2)).sqrt();
            sum += d;
            max = max.max(d);
            count += 1;
        }
    }
    (matched, if count == 0 { 0.0 } else { sum / count as f32 }, max)
}

fn reference() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/reference_poses.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The reference's frames, decoded here, grouped per camera in reference order.
fn reference_frames(reference: &Value) -> Vec<Vec<gst::Sample>> {
    common::init();
    (1..=4)
        .map(|cam| {
            let name = format!("cam0{cam}.mp4");
            let indices: Vec<usize> = reference["frames"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["camera"] == name.as_str())
                .map(|f| f["frame"].as_u64().unwrap() as usize)
                .collect();
            common::decode_frames(&common::camera(cam), "RGB", &indices)
        })
        .collect()
}

#[test]
fn keypoints_match_the_python_reference_and_batch_size_does_not_matter() {
    let reference = reference();
    let frames = reference_frames(&reference);
    let batched = run_posebatch(&frames, 4);
    let single = run_posebatch(&frames, 1);

    let ref_frames = reference["frames"].as_array().unwrap();
    let mut total_people = 0;
    let mut worst_mean = 0.0f32;
    for (cam, metas) in batched.iter().enumerate() {
        let name = format!("cam0{}.mp4", cam + 1);
        let expected: Vec<&Value> = ref_frames.iter().filter(|f| f["camera"] == name.as_str()).collect();
        assert_eq!(metas.len(), expected.len());
        for (meta, exp) in metas.iter().zip(&expected) {
            assert_eq!(meta.width as u64, exp["width"].as_u64().unwrap());
            assert_eq!(meta.stream_index as usize, cam);
            assert_eq!(meta.num_keypoints, 17);
            let want = reference_people(exp);
            assert!(!want.is_empty(), "the reference sees people in every frame");
            assert_eq!(meta.people.len(), want.len(), "{name} frame {}: people count", exp["frame"]);
            let (matched, mean, max) = compare(&want, &meta.people);
            assert_eq!(matched, want.len(), "{name} frame {}: every person matched", exp["frame"]);
            assert!(mean < 2.0, "{name} frame {}: mean keypoint error {mean:.3} px (max {max:.3})", exp["frame"]);
            worst_mean = worst_mean.max(mean);
            total_people += matched;
        }
    }
    println!("{total_people} people matched, worst per-frame mean keypoint error {worst_mean:.3} px");

    let batch_sizes: Vec<u32> = batched.iter().flatten().map(|m| m.batch_size).collect();
    assert!(batch_sizes.iter().any(|&b| b > 1), "batching happened: {batch_sizes:?}");
    assert!(single.iter().flatten().all(|m| m.batch_size == 1));
    for (b4, b1) in batched.iter().flatten().zip(single.iter().flatten()) {
        let (matched, mean, max) = compare(&b1.people, &b4.people);
        assert_eq!(matched, b1.people.len());
        assert_eq!(b4.people.len(), b1.people.len());
        assert!(max < 0.1, "batch 4 vs batch 1: max keypoint difference {max} px (mean {mean})");
    }
}

#[test]
fn keypoints_on_gpu_are_within_2_px_of_cpu() {
    common::init();
    // NV12, as decoders hand it over: the GPU path's colour conversion is exercised too.
    let frames: Vec<Vec<gst::Sample>> =
        (1..=4).map(|cam| common::decode_frames(&common::camera(cam), "NV12", &[0, 30, 60, 90])).collect();
    let (cpu, _) = run_posebatch_on(&frames, 4, "cpu");
    assert!(cpu.iter().flatten().all(|m| !m.people.is_empty()), "people in every frame on the CPU");
    if !gstposebatch::bench::driver_present() {
        common::skip_without_gpu("no CUDA driver");
        return;
    }
    let (gpu, stats) = run_posebatch_on(&frames, 4, "cuda");
    let (provider, preprocessing) = (stats.get::<String>("provider").unwrap(), stats.get::<String>("preprocessing").unwrap());
    if provider != "cuda" {
        common::skip_without_gpu("a CUDA driver but no CUDA provider (the CPU ONNX Runtime?)");
        return;
    }
    assert_eq!(preprocessing, "gpu", "frames are letterboxed on the GPU");
    assert_eq!(stats.get::<String>("inference-clock").unwrap(), "gpu");
    let (mut people, mut worst_mean, mut worst_max) = (0, 0.0f32, 0.0f32);
    for (g, c) in gpu.iter().flatten().zip(cpu.iter().flatten()) {
        let confident: Vec<Person> = c.people.iter().filter(|p| p.score >= 0.5).cloned().collect();
        let (matched, mean, max) = compare(&confident, &g.people);
        assert_eq!(matched, confident.len(), "every confident CPU person is found on the GPU");
        assert!(mean < 2.0, "GPU vs CPU: mean keypoint distance {mean:.3} px (max {max:.3})");
        people += matched;
        worst_mean = worst_mean.max(mean);
        worst_max = worst_max.max(max);
    }
    assert!(people > 0);
    println!("{people} people: GPU vs CPU worst per-frame mean {worst_mean:.3} px, max {worst_max:.3} px");
}
