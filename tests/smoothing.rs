//! Steady keypoints on the real cameras: with `smoothing`, keypoint jitter (the second
//! difference |p2 - 2 p1 + p0| of each confident keypoint along a track) is at most half of
//! the raw keypoints', which PoseMeta keeps beside the smoothed ones, while the smoothed
//! keypoints stay close to the raw; a pause longer than the restart time starts the filters
//! again; with smoothing off, output is what it always was.

mod common;

use std::collections::HashMap;

use gst::prelude::*;
use gstposebatch::meta::{Person, PoseMeta};

/// Every frame of the four cameras through one posebatch (block), with `properties`.
fn four_cameras(properties: &[(&str, &str)]) -> Vec<Vec<PoseMeta>> {
    common::init();
    let frames: Vec<Vec<gst::Sample>> =
        (1..=4).map(|cam| common::decode_frames(&common::camera(cam), "NV12", &(0..100).collect::<Vec<_>>())).collect();
    common::run_posebatch_with(&frames, 4, properties).0
}

/// Mean second difference of confident keypoints along each track (px), over frames where
/// the same track ID is seen three times in a row; `keypoints` picks which keypoints.
fn jitter(metas: &[PoseMeta], keypoints: impl Fn(&PoseMeta, usize) -> Vec<[f32; 3]>) -> f64 {
    let mut tracks: HashMap<u64, Vec<Option<Vec<[f32; 3]>>>> = HashMap::new();
    for (t, meta) in metas.iter().enumerate() {
        for (i, person) in meta.people.iter().enumerate().filter(|(_, p)| p.track_id > 0) {
            let seen = tracks.entry(person.track_id).or_default();
            seen.resize(t + 1, None);
            seen[t] = Some(keypoints(meta, i));
        }
    }
    let (mut sum, mut count) = (0.0f64, 0usize);
    for seen in tracks.values() {
        for w in seen.windows(3) {
            let [Some(a), Some(b), Some(c)] = w else { continue };
            for k in 0..a.len() {
                // Confidence from the raw keypoints: the same keypoints whichever is measured.
                if [a[k][2], b[k][2], c[k][2]].iter().all(|&conf| conf >= 0.5) {
                    let d = [c[k][0] - 2.0 * b[k][0] + a[k][0], c[k][1] - 2.0 * b[k][1] + a[k][1]];
                    sum += (d[0].hypot(d[1])) as f64;
                    count += 1;
                }
            }
        }
    }
    sum / count.max(1) as f64
}

fn raw(meta: &PoseMeta, i: usize) -> Vec<[f32; 3]> {
    meta.raw_keypoints.as_ref().expect("a smoothed meta keeps the raw keypoints")[i].clone()
}

fn smoothed(meta: &PoseMeta, i: usize) -> Vec<[f32; 3]> {
    meta.people[i].keypoints.clone()
}

#[test]
fn smoothing_halves_the_jitter_and_stays_close_to_the_raw_keypoints() {
    let cameras = four_cameras(&[("smoothing", "true")]);
    let (mut offset, mut keypoints) = (0.0f64, 0usize);
    for (cam, metas) in cameras.iter().enumerate() {
        assert!(metas.iter().all(|m| m.raw_keypoints.is_some()), "every frame says it is smoothed");
        let (before, after) = (jitter(metas, raw), jitter(metas, smoothed));
        println!("camera {}: jitter {before:.2} px raw, {after:.2} px smoothed ({:.0} % less)", cam + 1, 100.0 * (1.0 - after / before));
        assert!(before > 0.5, "camera {}: the raw keypoints shake ({before:.2} px)", cam + 1);
        assert!(after <= 0.5 * before, "camera {}: jitter {after:.2} px smoothed against {before:.2} px raw", cam + 1);
        for meta in metas {
            for (person, raw) in meta.people.iter().zip(meta.raw_keypoints.as_ref().unwrap()) {
                for (s, r) in person.keypoints.iter().zip(raw).filter(|(_, r)| r[2] >= 0.5) {
                    offset += (s[0] - r[0]).hypot(s[1] - r[1]) as f64;
                    keypoints += 1;
                }
            }
        }
    }
    let offset = offset / keypoints as f64;
    println!("smoothed keypoints {offset:.2} px from the raw ones on average");
    assert!(offset <= 8.0, "smoothed keypoints {offset:.2} px from the raw ones on average");
}

#[test]
fn with_smoothing_off_the_output_is_the_raw_keypoints() {
    let off = four_cameras(&[]);
    let on = four_cameras(&[("smoothing", "true")]);
    for (a, b) in off.iter().flatten().zip(on.iter().flatten()) {
        assert!(a.raw_keypoints.is_none(), "not smoothed, and says so");
        let raw: Vec<Vec<[f32; 3]>> = a.people.iter().map(|p| p.keypoints.clone()).collect();
        let kept = b.raw_keypoints.as_ref().unwrap();
        assert_eq!(raw.len(), kept.len());
        for (x, y) in raw.iter().flatten().zip(kept.iter().flatten()) {
            assert!((x[0] - y[0]).abs() < 0.01 && (x[1] - y[1]).abs() < 0.01, "smoothing off gives the raw keypoints: {x:?} {y:?}");
        }
    }
}

/// Camera 1 at 30 fps by appsrc, stream 0 paused for 700 ms after frame 29 (longer than the
/// filters' restart time, shorter than the track timeout): the person keeps their ID and
/// their first keypoints after the pause are the raw ones, not pulled towards where they
/// were before.
#[test]
fn a_pause_longer_than_the_restart_time_starts_the_filters_again() {
    common::init();
    let samples = common::decode_frames(&common::camera(1), "NV12", &(0..60).collect::<Vec<_>>());
    let pb = common::posebatch();
    pb.set_property("smoothing", true);
    pb.set_property("track-timeout", 5_000_000_000u64);
    pb.set_property_from_str("overflow", "block");
    let (pipeline, src, sink) = common::one_stream_through(&pb, &samples[0].caps().unwrap().to_owned());
    pipeline.set_state(gst::State::Playing).unwrap();
    let frame_time = 33_333_333u64;
    let run = |frames: std::ops::Range<usize>, pts_offset: u64| -> Vec<PoseMeta> {
        for i in frames.clone() {
            let mut buffer = samples[i].buffer_owned().unwrap();
            buffer.make_mut().set_pts(gst::ClockTime::from_nseconds(frame_time * i as u64 + pts_offset));
            src.push_buffer(buffer).unwrap();
        }
        frames
            .map(|_| PoseMeta::from_buffer(sink.try_pull_sample(gst::ClockTime::from_seconds(60)).unwrap().buffer().unwrap()).unwrap())
            .collect()
    };
    let before = run(0..30, 0);
    // 700 ms without frames, then the rest (their timestamps 700 ms later).
    let after = run(30..40, 700_000_000);
    pipeline.set_state(gst::State::Null).unwrap();
    let first = &after[0];
    let raw = first.raw_keypoints.as_ref().unwrap();
    assert!(!first.people.is_empty());
    let ids_before: Vec<u64> = before.last().unwrap().people.iter().map(|p| p.track_id).collect();
    for (person, raw) in first.people.iter().zip(raw) {
        assert!(ids_before.contains(&person.track_id), "the same person, the same ID: {}", person.track_id);
        assert_eq!(&person.keypoints, raw, "after the pause the filters start from the raw pose");
    }
    // And the frame after that is smoothed again.
    let second: &Person = &after[1].people[0];
    let second_raw = &after[1].raw_keypoints.as_ref().unwrap()[0];
    assert_ne!(&second.keypoints, second_raw, "filtering resumes");
}
