//! PoseMeta: a `GstCustomMeta` named `PoseMeta` whose structure `pose-meta` carries the
//! poses of one frame (its fields are documented in the README, "PoseMeta"). Readable from
//! C and Python with plain GStreamer; this module writes it and gives Rust applications a
//! typed view.

use gst::glib;

/// Name the custom meta is registered under.
pub const META_NAME: &str = "PoseMeta";
/// Name of the meta's structure.
pub const STRUCTURE_NAME: &str = "pose-meta";

/// COCO-17 keypoint names, in model order.
pub const KEYPOINT_NAMES: [&str; 17] = [
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
];

/// COCO skeleton: pairs of keypoint indices joined by a limb.
pub const SKELETON: [(usize, usize); 19] = [
    (15, 13),
    (13, 11),
    (16, 14),
    (14, 12),
    (11, 12),
    (5, 11),
    (6, 12),
    (5, 6),
    (5, 7),
    (6, 8),
    (7, 9),
    (8, 10),
    (1, 2),
    (0, 1),
    (0, 2),
    (1, 3),
    (2, 4),
    (3, 5),
    (4, 6),
];

/// Registers the meta; safe to call many times. Needs `gst::init()` first.
pub fn register() {
    if !gst::meta::CustomMeta::is_registered(META_NAME) {
        gst::meta::CustomMeta::register(META_NAME, &[]);
    }
}

/// One person: box, score and keypoints in frame pixels, and who they are.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Person {
    /// x1, y1, x2, y2.
    pub bbox: [f32; 4],
    pub score: f32,
    /// x, y, confidence per keypoint (`KEYPOINT_NAMES` order).
    pub keypoints: Vec<[f32; 3]>,
    /// The person's track ID, stable from frame to frame within the stream; 0 = not tracked
    /// (tracking off, or a low-score detection that continued no track).
    pub track_id: u64,
}

/// The typed content of one frame's PoseMeta.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PoseMeta {
    pub stream_index: u32,
    pub batch_id: u64,
    pub batch_size: u32,
    pub width: i32,
    pub height: i32,
    pub num_keypoints: u32,
    pub people: Vec<Person>,
    pub inference_ns: u64,
    pub queue_ns: u64,
    /// With `smoothing` on, `people` carry smoothed keypoints and boxes, and this holds each
    /// person's keypoints as the model gave them (same order); None when not smoothed.
    pub raw_keypoints: Option<Vec<Vec<[f32; 3]>>>,
}

fn f32_bytes(values: impl Iterator<Item = f32>) -> glib::Bytes {
    let bytes: Vec<u8> = values.flat_map(f32::to_le_bytes).collect();
    glib::Bytes::from_owned(bytes)
}

/// Each person's `k` keypoints (x, y, confidence; zeros for missing ones) as f32 LE.
fn keypoint_bytes<'a>(people: impl Iterator<Item = &'a Vec<[f32; 3]>>, k: usize) -> glib::Bytes {
    f32_bytes(people.flat_map(|kps| (0..k).flat_map(move |i| kps.get(i).copied().unwrap_or([0.0; 3]))))
}

fn u64_bytes(values: impl Iterator<Item = u64>) -> glib::Bytes {
    let bytes: Vec<u8> = values.flat_map(u64::to_le_bytes).collect();
    glib::Bytes::from_owned(bytes)
}

fn f32s(bytes: &glib::Bytes) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

impl PoseMeta {
    /// The `pose-meta` structure, exactly as the README's "PoseMeta" table lays it out.
    pub fn to_structure(&self) -> gst::Structure {
        let k = self.num_keypoints as usize;
        let mut b = gst::Structure::builder(STRUCTURE_NAME)
            .field("stream-index", self.stream_index)
            .field("batch-id", self.batch_id)
            .field("batch-size", self.batch_size)
            .field("width", self.width)
            .field("height", self.height)
            .field("num-poses", self.people.len() as u32)
            .field("num-keypoints", self.num_keypoints)
            .field("boxes", f32_bytes(self.people.iter().flat_map(|p| p.bbox)))
            .field("scores", f32_bytes(self.people.iter().map(|p| p.score)))
            .field("keypoints", keypoint_bytes(self.people.iter().map(|p| &p.keypoints), k))
            .field("track-ids", u64_bytes(self.people.iter().map(|p| p.track_id)))
            .field("inference-ns", self.inference_ns)
            .field("queue-ns", self.queue_ns)
            .field("smoothed", self.raw_keypoints.is_some());
        if let Some(raw) = &self.raw_keypoints {
            b = b.field("raw-keypoints", keypoint_bytes(raw.iter(), k));
        }
        b.build()
    }

    /// Reads a `pose-meta` structure; None when it is not one or its arrays are short.
    pub fn from_structure(s: &gst::StructureRef) -> Option<PoseMeta> {
        if s.name() != STRUCTURE_NAME {
            return None;
        }
        let n = s.get::<u32>("num-poses").ok()? as usize;
        let k = s.get::<u32>("num-keypoints").ok()?;
        let boxes = f32s(&s.get::<glib::Bytes>("boxes").ok()?);
        let scores = f32s(&s.get::<glib::Bytes>("scores").ok()?);
        let kps = f32s(&s.get::<glib::Bytes>("keypoints").ok()?);
        // Absent from metas written before tracking existed: nobody tracked.
        let ids: Vec<u64> = s
            .get::<glib::Bytes>("track-ids")
            .map(|b| b.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect())
            .unwrap_or_default();
        let per_person = k as usize * 3;
        if boxes.len() < n * 4 || scores.len() < n || kps.len() < n * per_person {
            return None;
        }
        let person_keypoints = |values: &[f32], i: usize| -> Vec<[f32; 3]> {
            values[i * per_person..(i + 1) * per_person].chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect()
        };
        let people = (0..n)
            .map(|i| Person {
                bbox: [boxes[4 * i], boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3]],
                score: scores[i],
                keypoints: person_keypoints(&kps, i),
                track_id: ids.get(i).copied().unwrap_or(0),
            })
            .collect();
        // Only in smoothed metas (and absent from metas written before smoothing existed).
        let raw_keypoints = match s.get::<glib::Bytes>("raw-keypoints") {
            Ok(bytes) if s.get::<bool>("smoothed").unwrap_or(false) => {
                let raw = f32s(&bytes);
                (raw.len() >= n * per_person).then(|| (0..n).map(|i| person_keypoints(&raw, i)).collect())
            }
            _ => None,
        };
        Some(PoseMeta {
            stream_index: s.get("stream-index").ok()?,
            batch_id: s.get("batch-id").ok()?,
            batch_size: s.get("batch-size").ok()?,
            width: s.get("width").ok()?,
            height: s.get("height").ok()?,
            num_keypoints: k,
            people,
            inference_ns: s.get("inference-ns").ok()?,
            queue_ns: s.get("queue-ns").ok()?,
            raw_keypoints,
        })
    }

    /// The PoseMeta of a buffer, if it has one.
    pub fn from_buffer(buffer: &gst::BufferRef) -> Option<PoseMeta> {
        let meta = gst::meta::CustomMeta::from_buffer(buffer, META_NAME).ok()?;
        PoseMeta::from_structure(meta.structure())
    }

    /// Adds this as the buffer's PoseMeta (replacing none: call once per buffer).
    pub fn attach(&self, buffer: &mut gst::BufferRef) -> Result<(), glib::BoolError> {
        let mut meta = gst::meta::CustomMeta::add(buffer, META_NAME)?;
        let s = meta.mut_structure();
        // GStreamer names a custom meta's structure after the meta; the contract names it pose-meta.
        s.set_name(STRUCTURE_NAME);
        for (name, value) in self.to_structure().iter() {
            s.set_value(name, value.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_a_buffer() {
        gst::init().unwrap();
        register();
        let meta = PoseMeta {
            stream_index: 2,
            batch_id: 7,
            batch_size: 4,
            width: 1088,
            height: 1920,
            num_keypoints: 17,
            people: vec![Person {
                bbox: [1.0, 2.0, 3.0, 4.0],
                score: 0.9,
                keypoints: (0..17).map(|i| [i as f32, 2.0 * i as f32, 0.5]).collect(),
                track_id: 7,
            }],
            inference_ns: 123,
            queue_ns: 456,
            raw_keypoints: None,
        };
        let mut buffer = gst::Buffer::new();
        meta.attach(buffer.get_mut().unwrap()).unwrap();
        assert_eq!(PoseMeta::from_buffer(&buffer), Some(meta.clone()));
        let raw = gst::meta::CustomMeta::from_buffer(&buffer, META_NAME).unwrap();
        assert!(!raw.structure().get::<bool>("smoothed").unwrap() && !raw.structure().has_field("raw-keypoints"));
        // Smoothed: the raw keypoints travel beside the smoothed ones.
        let smoothed = PoseMeta { raw_keypoints: Some(vec![(0..17).map(|i| [i as f32 + 0.5, 0.0, 0.5]).collect()]), ..meta.clone() };
        let mut buffer = gst::Buffer::new();
        smoothed.attach(buffer.get_mut().unwrap()).unwrap();
        assert_eq!(PoseMeta::from_buffer(&buffer), Some(smoothed));
        let mut buffer = gst::Buffer::new();
        meta.attach(buffer.get_mut().unwrap()).unwrap();
        let raw = gst::meta::CustomMeta::from_buffer(&buffer, META_NAME).unwrap();
        let boxes = raw.structure().get::<glib::Bytes>("boxes").unwrap();
        assert_eq!(&boxes[..4], &1.0f32.to_le_bytes(), "little-endian f32");
        let ids = raw.structure().get::<glib::Bytes>("track-ids").unwrap();
        assert_eq!(&ids[..], &7u64.to_le_bytes(), "little-endian u64");
    }
}
