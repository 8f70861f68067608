//! Accuracy on real frames: posebatch's keypoints against an independent reference
//! (scripts/reference_poses.py: ONNX Runtime in Python, OpenCV letterbox, numpy NMS) with
//! square and fitted inputs, batch of 4 against batch of 1, fit against square, and the
//! GPU path against the CPU path.

mod common;

use gstposebatch::geometry::iou;
use gstposebatch::meta::{Person, PoseMeta};
use serde_json::Value;

fn run_posebatch(frames: &[Vec<gst::Sample>], max_batch_size: u32, input_shape: &str) -> Vec<Vec<PoseMeta>> {
    common::run_posebatch_with(frames, max_batch_size, &[("execution-provider", "cpu"), ("input-shape", input_shape)]).0
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

/// The reference's people in a frame: `key` "poses" (square input) or "poses_fit".
fn reference_people(frame: &Value, key: &str) -> Vec<Person> {
    frame[key]
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

/// Checks each frame's people against the reference's `key` list; returns (people
/// matched, worst per-frame mean keypoint error).
fn check_against_reference(reference: &Value, metas: &[Vec<PoseMeta>], key: &str) -> (usize, f32) {
    let ref_frames = reference["frames"].as_array().unwrap();
    let mut total_people = 0;
    let mut worst_mean = 0.0f32;
    for (cam, metas) in metas.iter().enumerate() {
        let name = format!("cam0{}.mp4", cam + 1);
        let expected: Vec<&Value> = ref_frames.iter().filter(|f| f["camera"] == name.as_str()).collect();
        assert_eq!(metas.len(), expected.len());
        for (meta, exp) in metas.iter().zip(&expected) {
            assert_eq!(meta.width as u64, exp["width"].as_u64().unwrap());
            assert_eq!(meta.stream_index as usize, cam);
            assert_eq!(meta.num_keypoints, 17);
            let want = reference_people(exp, key);
            assert!(!want.is_empty(), "the reference sees people in every frame");
            assert_eq!(meta.people.len(), want.len(), "{key}: {name} frame {}: people count", exp["frame"]);
            let (matched, mean, max) = common::compare_people(&want, &meta.people);
            assert_eq!(matched, want.len(), "{key}: {name} frame {}: every person matched", exp["frame"]);
            assert!(mean < 2.0, "{key}: {name} frame {}: mean keypoint error {mean:.3} px (max {max:.3})", exp["frame"]);
            worst_mean = worst_mean.max(mean);
            total_people += matched;
        }
    }
    (total_people, worst_mean)
}

#[test]
fn keypoints_match_the_python_reference_and_batch_size_does_not_matter() {
    let reference = reference();
    let frames = reference_frames(&reference);
    let batched = run_posebatch(&frames, 4, "square");
    let single = run_posebatch(&frames, 1, "square");
    let (people, worst) = check_against_reference(&reference, &batched, "poses");
    println!("square: {people} people matched, worst per-frame mean keypoint error {worst:.3} px");

    let batch_sizes: Vec<u32> = batched.iter().flatten().map(|m| m.batch_size).collect();
    assert!(batch_sizes.iter().any(|&b| b > 1), "batching happened: {batch_sizes:?}");
    assert!(single.iter().flatten().all(|m| m.batch_size == 1));
    for (b4, b1) in batched.iter().flatten().zip(single.iter().flatten()) {
        let (matched, mean, max) = common::compare_people(&b1.people, &b4.people);
        assert_eq!(matched, b1.people.len());
        assert_eq!(b4.people.len(), b1.people.len());
        assert!(max < 0.1, "batch 4 vs batch 1: max keypoint difference {max} px (mean {mean})");
    }
}

/// The fitted input (these portrait cameras run as 384x640 instead of 640x640) matches the
/// reference's own fitted run, and finds the people the square input finds, with their
/// keypoints close: the padding the square adds is only padding.
#[test]
fn fitted_input_matches_the_reference_and_finds_what_the_square_finds() {
    let reference = reference();
    let frames = reference_frames(&reference);
    let fitted = run_posebatch(&frames, 4, "fit");
    let (people, worst) = check_against_reference(&reference, &fitted, "poses_fit");
    println!("fit: {people} people matched, worst per-frame mean keypoint error {worst:.3} px");
    let square = run_posebatch(&frames, 4, "square");
    let (mut confident, mut found, mut sum, mut count) = (0, 0, 0.0f32, 0);
    for (f, s) in fitted.iter().flatten().zip(square.iter().flatten()) {
        let sure: Vec<Person> = s.people.iter().filter(|p| p.score >= 0.5).cloned().collect();
        let (matched, mean, _) = common::compare_people(&sure, &f.people);
        confident += sure.len();
        found += matched;
        sum += mean * matched as f32;
        count += matched;
    }
    let mean = sum / count.max(1) as f32;
    println!("fit vs square: {found}/{confident} confident people found, mean keypoint distance {mean:.2} px");
    assert_eq!(found, confident, "fit finds every confident person square finds");
    assert!(mean < 5.0, "fit vs square: mean keypoint distance {mean:.2} px");
}

#[test]
fn keypoints_on_gpu_are_within_2_px_of_cpu() {
    common::init();
    // NV12, as decoders hand it over: the GPU path's colour conversion is exercised too.
    let frames: Vec<Vec<gst::Sample>> =
        (1..=4).map(|cam| common::decode_frames(&common::camera(cam), "NV12", &[0, 30, 60, 90])).collect();
    let (cpu, _) = common::run_posebatch_on(&frames, 4, "cpu");
    assert!(cpu.iter().flatten().all(|m| !m.people.is_empty()), "people in every frame on the CPU");
    if !gstposebatch::bench::driver_present() {
        common::skip_without_gpu("no CUDA driver");
        return;
    }
    let (gpu, stats) = common::run_posebatch_on(&frames, 4, "cuda");
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
        let (matched, mean, max) = common::compare_people(&confident, &g.people);
        assert_eq!(matched, confident.len(), "every confident CPU person is found on the GPU");
        assert!(mean < 2.0, "GPU vs CPU: mean keypoint distance {mean:.3} px (max {max:.3})");
        people += matched;
        worst_mean = worst_mean.max(mean);
        worst_max = worst_max.max(max);
    }
    assert!(people > 0);
    println!("{people} people: GPU vs CPU worst per-frame mean {worst_mean:.3} px, max {worst_max:.3} px");
}

/// The int8 model against fp32 on the four cameras' even frames (the int8 model is
/// calibrated on their odd frames only): at least 98 % of fp32's confident people found,
/// their confident keypoints on average within 8 px in frame pixels.
#[test]
fn int8_keeps_the_people_and_keypoints_of_fp32() {
    common::init();
    let int8 = gstposebatch::install_paths::default_model(gstposebatch::install_paths::Weights::Int8);
    assert!(int8.is_file(), "int8 model missing at {}: run `make setup`", int8.display());
    let even: Vec<usize> = (0..100).step_by(10).collect();
    let frames: Vec<Vec<gst::Sample>> = (1..=4).map(|cam| common::decode_frames(&common::camera(cam), "RGB", &even)).collect();
    // The installed default model (no `model` property): precision picks the twin.
    let run = |precision: &str| {
        let properties = [("model", ""), ("execution-provider", "cpu"), ("precision", precision)];
        common::run_posebatch_with(&frames, 4, &properties).0
    };
    let (fp32, int8) = (run("fp32"), run("int8"));
    let (mut confident, mut found, mut distance, mut keypoints) = (0usize, 0usize, 0.0f64, 0usize);
    for (f, q) in fp32.iter().flatten().zip(int8.iter().flatten()) {
        for person in f.people.iter().filter(|p| p.score >= 0.5) {
            confident += 1;
            let best = q.people.iter().max_by(|a, b| iou(&a.bbox, &person.bbox).total_cmp(&iou(&b.bbox, &person.bbox)));
            let Some(twin) = best.filter(|b| iou(&b.bbox, &person.bbox) >= 0.5) else { continue };
            found += 1;
            for (a, b) in person.keypoints.iter().zip(&twin.keypoints).filter(|(a, _)| a[2] >= 0.5) {
                distance += ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt() as f64;
                keypoints += 1;
            }
        }
    }
    let recall = found as f64 / confident as f64;
    let mean = distance / keypoints.max(1) as f64;
    println!("int8 vs fp32: {found}/{confident} confident people found (recall {recall:.3}), mean distance {mean:.2} px over {keypoints} keypoints");
    assert!(confident > 80, "the cameras show people: {confident}");
    assert!(mean > 0.0, "the int8 run ran another model than fp32");
    assert!(recall >= 0.98, "int8 recall {recall:.3} against fp32");
    assert!(mean <= 8.0, "int8 keypoints {mean:.2} px from fp32 on average");
}
