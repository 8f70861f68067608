//! poseoverlay: real frames through posebatch ! poseoverlay are drawn on where the people
//! are and nowhere else; frames without PoseMeta pass untouched; every RGB-family format
//! gets its colours in the right bytes; colours stay with people; the properties work.

mod common;

use gst::prelude::*;
use gst_check::Harness;
use gstposebatch::meta::{Person, PoseMeta};
use gstposebatch::poseoverlay::PALETTE;

/// Pixel (x, y) of a packed 4-byte frame as R, G, B.
fn rgbx_at(data: &[u8], stride: usize, x: usize, y: usize) -> [u8; 3] {
    let i = y * stride + x * 4;
    [data[i], data[i + 1], data[i + 2]]
}

/// Frames of camera 1 as RGBx through `posebatch ! poseoverlay`; returns (before, after).
fn overlay_real_frames(indices: &[usize], overlay_props: &str) -> Vec<(gst::Sample, gst::Sample)> {
    common::init();
    let frames = common::decode_frames(&common::camera(1), "RGBx", indices);
    let caps = frames[0].caps().unwrap().to_string();
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time caps=\"{caps}\" ! posebatch model=\"{}\" execution-provider=cpu \
         ! poseoverlay name=o {overlay_props} ! appsink name=sink sync=false",
        common::model().display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    for f in &frames {
        // The same buffer as `frames` keeps: the overlay must not draw into the shared memory.
        src.push_buffer(f.buffer_owned().unwrap()).unwrap();
    }
    src.end_of_stream().unwrap();
    let mut out = Vec::new();
    for f in frames {
        let drawn = sink.pull_sample().expect("a frame out");
        out.push((f, drawn));
    }
    pipeline.set_state(gst::State::Null).unwrap();
    out
}

#[test]
fn real_frames_are_drawn_on_at_keypoints_and_untouched_far_from_people() {
    let pairs = overlay_real_frames(&[0, 30, 60], "");
    for (n, (before, after)) in pairs.iter().enumerate() {
        let info = gst_video::VideoInfo::from_caps(before.caps().unwrap()).unwrap();
        let (w, h, stride) = (info.width() as usize, info.height() as usize, info.stride()[0] as usize);
        let meta = PoseMeta::from_buffer(after.buffer().unwrap()).expect("PoseMeta kept on the frame");
        assert!(!meta.people.is_empty(), "frame {n}: people in camera 1");
        let a = before.buffer().unwrap().map_readable().unwrap();
        let b = after.buffer().unwrap().map_readable().unwrap();
        assert_eq!(a.len(), b.len());

        // Every sure keypoint has a drawn disc on it.
        let mut checked = 0;
        for p in &meta.people {
            for k in p.keypoints.iter().filter(|k| k[2] >= 0.5) {
                let (x, y) = (k[0] as usize, k[1] as usize);
                if x >= w || y >= h {
                    continue;
                }
                let (pa, pb) = (rgbx_at(&a, stride, x, y), rgbx_at(&b, stride, x, y));
                let diff: i32 = pa.iter().zip(&pb).map(|(u, v)| (*u as i32 - *v as i32).abs()).sum();
                assert!(diff > 30, "frame {n}: keypoint at {x},{y} not drawn ({pa:?} -> {pb:?})");
                checked += 1;
            }
        }
        assert!(checked >= 10, "frame {n}: only {checked} sure keypoints");

        // Far from every person (box and keypoints, plus the line width and disc radius),
        // every byte is as it was.
        let margin = 3.0 / 2.0 + 4.0 + 1.0 + 2.0;
        let regions: Vec<[f32; 4]> = meta
            .people
            .iter()
            .map(|p| {
                let mut r = p.bbox;
                for k in p.keypoints.iter().filter(|k| k[2] >= 0.5) {
                    r = [r[0].min(k[0]), r[1].min(k[1]), r[2].max(k[0]), r[3].max(k[1])];
                }
                [r[0] - margin, r[1] - margin, r[2] + margin, r[3] + margin]
            })
            .collect();
        let mut far = 0usize;
        let mut changed = 0usize;
        for y in 0..h {
            for x in 0..w {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                let near = regions.iter().any(|r| px >= r[0] && px <= r[2] && py >= r[1] && py <= r[3]);
                let i = y * stride + x * 4;
                if a[i..i + 4] != b[i..i + 4] {
                    changed += 1;
                    assert!(near, "frame {n}: pixel {x},{y} changed far from every person");
                } else if !near {
                    far += 1;
                }
            }
        }
        assert!(far > w * h / 4, "frame {n}: most of the frame is away from people ({far} px)");
        assert!(changed > 2000, "frame {n}: {changed} pixels drawn");
    }
}

#[test]
fn boxes_are_drawn_and_draw_boxes_false_leaves_them_out() {
    for (props, boxes) in [("", true), ("draw-boxes=false", false)] {
        let pairs = overlay_real_frames(&[0], props);
        let (before, after) = &pairs[0];
        let info = gst_video::VideoInfo::from_caps(before.caps().unwrap()).unwrap();
        let stride = info.stride()[0] as usize;
        let meta = PoseMeta::from_buffer(after.buffer().unwrap()).unwrap();
        let a = before.buffer().unwrap().map_readable().unwrap();
        let b = after.buffer().unwrap().map_readable().unwrap();
        let mut checked = 0;
        for p in &meta.people {
            // A point on the box's left edge, a little below its top, away from any keypoint.
            let (x, y) = (p.bbox[0] as usize, p.bbox[1] as usize + 8);
            if p.keypoints.iter().any(|k| k[2] >= 0.5 && (k[0] - x as f32).abs() < 12.0 && (k[1] - y as f32).abs() < 12.0) {
                continue;
            }
            assert_eq!(rgbx_at(&a, stride, x, y) != rgbx_at(&b, stride, x, y), boxes, "box edge at {x},{y} with '{props}'");
            checked += 1;
        }
        assert!(checked > 0, "no box edge to check");
    }
}

#[test]
fn a_frame_without_posemeta_passes_as_the_same_memory() {
    common::init();
    let frame = common::decode_frames(&common::camera(2), "RGBx", &[5]).remove(0);
    let mut h = Harness::new("poseoverlay");
    h.set_src_caps(frame.caps().unwrap().to_owned());
    let input = frame.buffer_owned().unwrap();
    let in_ptr = input.map_readable().unwrap().as_ptr();
    let out = h.push_and_pull(input).unwrap();
    let original = frame.buffer().unwrap().map_readable().unwrap();
    let out_map = out.map_readable().unwrap();
    assert_eq!(out_map.as_ptr(), in_ptr, "passthrough: no copy");
    assert!(out_map.as_slice() == original.as_slice(), "byte-identical");
}

/// A grey frame in `format` with one person in `meta` attached.
fn frame_with_person(format: gst_video::VideoFormat, w: u32, h: u32, meta: &PoseMeta) -> (gst::Caps, gst::Buffer) {
    let info = gst_video::VideoInfo::builder(format, w, h).fps(gst::Fraction::new(30, 1)).build().unwrap();
    let mut buffer = gst::Buffer::from_mut_slice(vec![100u8; info.size()]);
    gst_video::VideoMeta::add_full(
        buffer.get_mut().unwrap(),
        gst_video::VideoFrameFlags::empty(),
        format,
        w,
        h,
        info.offset(),
        info.stride(),
    )
    .unwrap();
    meta.attach(buffer.get_mut().unwrap()).unwrap();
    (info.to_caps().unwrap(), buffer)
}

fn one_person(dx: f32, scale: f32) -> Person {
    // A standing figure around x = 40 + dx in a 128x128 frame: shoulders at y 40, hips 70.
    let mut kp = vec![[0.0f32, 0.0, 0.0]; 17];
    for (i, x, y) in [(5, 30.0, 40.0), (6, 50.0, 40.0), (11, 32.0, 70.0), (12, 48.0, 70.0), (0, 40.0, 25.0)] {
        kp[i] = [(x + dx) * scale, y * scale, 0.9];
    }
    Person { bbox: [(20.0 + dx) * scale, 15.0 * scale, (60.0 + dx) * scale, 110.0 * scale], score: 0.9, keypoints: kp, track_id: 0 }
}

fn meta_of(people: Vec<Person>, w: i32, h: i32) -> PoseMeta {
    PoseMeta { width: w, height: h, num_keypoints: 17, people, ..Default::default() }
}

#[test]
fn every_rgb_family_format_gets_the_colour_in_its_own_bytes() {
    common::init();
    use gst_video::VideoFormat as F;
    for format in [F::Rgb, F::Bgr, F::Rgba, F::Bgra, F::Rgbx, F::Bgrx, F::Argb, F::Abgr, F::Xrgb, F::Xbgr] {
        let meta = meta_of(vec![one_person(0.0, 1.0)], 130, 128);
        let (caps, buffer) = frame_with_person(format, 130, 128, &meta);
        let mut h = Harness::new("poseoverlay");
        h.set_src_caps(caps.clone());
        let out = h.push_and_pull(buffer).unwrap();
        let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(out.as_ref(), &info).unwrap();
        let finfo = info.format_info();
        let data = frame.plane_data(0).unwrap();
        let px = |x: usize, y: usize| -> [u8; 3] {
            let at = y * info.stride()[0] as usize + x * finfo.pixel_stride()[0] as usize;
            [0, 1, 2].map(|c| data[at + finfo.poffset()[c] as usize])
        };
        // The nose keypoint (40, 25) is a disc in the first palette colour.
        assert_eq!(px(39, 24), PALETTE[0], "{format:?}");
        // The shoulder line's midpoint (40, 40).
        assert_eq!(px(40, 39), PALETTE[0], "{format:?}");
        assert_eq!(px(100, 100), [100, 100, 100], "{format:?}: background untouched");
        if finfo.pixel_stride()[0] == 4 {
            let fourth = (0..4u32).find(|i| !finfo.poffset()[0..3].contains(i)).unwrap() as usize;
            assert_eq!(data[39 * info.stride()[0] as usize + 40 * 4 + fourth], 100, "{format:?}: fourth byte untouched");
        }
    }
}

/// Each frame of `frames` (people on a 128x128 RGBx frame) through one poseoverlay: the
/// colour drawn at each person's nose.
fn nose_colours(frames: Vec<Vec<Person>>) -> Vec<Vec<[u8; 3]>> {
    common::init();
    let mut h = Harness::new("poseoverlay");
    let mut colours = Vec::new();
    for (step, people) in frames.into_iter().enumerate() {
        let meta = meta_of(people, 128, 128);
        let (caps, buffer) = frame_with_person(gst_video::VideoFormat::Rgbx, 128, 128, &meta);
        if step == 0 {
            h.set_src_caps(caps);
        }
        let out = h.push_and_pull(buffer).unwrap();
        let map = out.map_readable().unwrap();
        let meta = PoseMeta::from_buffer(&out).unwrap();
        colours.push(meta.people.iter().map(|p| rgbx_at(&map, 128 * 4, p.keypoints[0][0] as usize, p.keypoints[0][1] as usize)).collect());
    }
    colours
}

#[test]
fn a_person_keeps_their_colour_as_they_move_and_a_newcomer_gets_another() {
    let colours = nose_colours(vec![
        vec![one_person(0.0, 1.0)],
        vec![one_person(60.0, 1.0), one_person(4.0, 1.0)], // newcomer listed first
        vec![one_person(8.0, 1.0), one_person(62.0, 1.0)],
    ]);
    assert_eq!(colours[0], vec![PALETTE[0]]);
    assert_eq!(colours[1], vec![PALETTE[1], PALETTE[0]], "the first person keeps colour 0");
    assert_eq!(colours[2], vec![PALETTE[0], PALETTE[1]], "both keep theirs");
}

#[test]
fn people_with_track_ids_are_drawn_in_their_track_colour() {
    let tracked = |dx: f32, id: u64| Person { track_id: id, ..one_person(dx, 1.0) };
    // Track 5 then track 9 alone in the first spot: their own colours, whatever was there.
    let colours = nose_colours(vec![vec![tracked(0.0, 5)], vec![tracked(0.0, 9), tracked(60.0, 5)]]);
    assert_eq!(colours[0], vec![PALETTE[4]], "track 5 has the fifth colour");
    assert_eq!(colours[1], vec![PALETTE[8], PALETTE[4]], "track 9 its own, though in track 5's place; 5 keeps its colour");
}

#[test]
fn coordinates_are_scaled_when_the_frame_is_not_the_meta_size() {
    common::init();
    // Meta made for 256x256, frame 128x128 (a scaler in between).
    let meta = meta_of(vec![one_person(0.0, 2.0)], 256, 256);
    let (caps, buffer) = frame_with_person(gst_video::VideoFormat::Rgbx, 128, 128, &meta);
    let mut h = Harness::new("poseoverlay");
    h.set_src_caps(caps);
    let out = h.push_and_pull(buffer).unwrap();
    let map = out.map_readable().unwrap();
    assert_eq!(rgbx_at(&map, 128 * 4, 39, 24), PALETTE[0], "nose at (40, 25) in frame pixels");
}

#[test]
fn properties_have_their_defaults_and_ranges() {
    common::init();
    let o = gst::ElementFactory::make("poseoverlay").build().unwrap();
    assert_eq!(o.property::<u32>("line-width"), 3);
    assert_eq!(o.property::<u32>("point-radius"), 4);
    assert_eq!(o.property::<f32>("keypoint-threshold"), 0.5);
    assert!(o.property::<bool>("draw-boxes"));
    o.set_property("line-width", 7u32);
    o.set_property("keypoint-threshold", 0.25f32);
    assert_eq!(o.property::<u32>("line-width"), 7);
    assert_eq!(o.property::<f32>("keypoint-threshold"), 0.25);
    let caps = o.static_pad("sink").unwrap().pad_template_caps();
    for f in ["RGB", "BGR", "RGBA", "BGRA", "RGBx", "BGRx"] {
        assert!(caps.can_intersect(&gst::Caps::builder("video/x-raw").field("format", f).build()), "{f}");
    }
    assert!(!caps.can_intersect(&gst::Caps::builder("video/x-raw").field("format", "NV12").build()), "NV12 is refused");
}
