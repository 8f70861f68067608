//! Decoding of YOLO-pose output `[batch, 4 + 1 + 3k, anchors]`: score threshold, greedy
//! NMS, `max-poses`, and mapping from model input pixels back to frame pixels.

use super::preprocess::Letterbox;
#[cfg(test)]
use super::preprocess::Canvas;
use crate::geometry::iou;
use crate::meta::Person;

/// Defaults of the element's `score-threshold`, `iou-threshold` and `max-poses`.
pub const DEFAULT_SCORE_THRESHOLD: f32 = 0.25;
pub const DEFAULT_IOU_THRESHOLD: f32 = 0.45;
pub const DEFAULT_MAX_POSES: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecodeParams {
    pub score_threshold: f32,
    pub iou_threshold: f32,
    pub max_poses: usize,
}

impl Default for DecodeParams {
    fn default() -> Self {
        DecodeParams {
            score_threshold: DEFAULT_SCORE_THRESHOLD,
            iou_threshold: DEFAULT_IOU_THRESHOLD,
            max_poses: DEFAULT_MAX_POSES,
        }
    }
}

/// Decodes one image's slice of the output (`channels x anchors`, channel-major).
pub fn decode_image(
    output: &[f32],
    anchors: usize,
    num_keypoints: usize,
    letterbox: &Letterbox,
    params: &DecodeParams,
) -> Vec<Person> {
    let at = |channel: usize, anchor: usize| output[channel * anchors + anchor];
    // Candidates above the threshold, in model pixels, best first.
    let mut candidates: Vec<(usize, f32, [f32; 4])> = (0..anchors)
        .filter_map(|i| {
            let score = at(4, i);
            (score > params.score_threshold).then(|| {
                let (cx, cy, w, h) = (at(0, i), at(1, i), at(2, i), at(3, i));
                (i, score, [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0])
            })
        })
        .collect();
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1));

    let mut kept: Vec<(usize, f32, [f32; 4])> = Vec::new();
    for candidate in candidates {
        if kept.len() >= params.max_poses {
            break;
        }
        if kept.iter().all(|k| iou(&k.2, &candidate.2) <= params.iou_threshold) {
            kept.push(candidate);
        }
    }

    kept.into_iter()
        .map(|(i, score, b)| {
            let (x1, y1) = letterbox.to_frame(b[0], b[1]);
            let (x2, y2) = letterbox.to_frame(b[2], b[3]);
            let keypoints = (0..num_keypoints)
                .map(|k| {
                    let base = 5 + 3 * k;
                    let (x, y) = letterbox.to_frame(at(base, i), at(base + 1, i));
                    [x, y, at(base + 2, i)]
                })
                .collect();
            Person {
                bbox: [x1, y1, x2, y2],
                score,
                keypoints,
                track_id: 0,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a channel-major output for a few anchors.
    fn output(anchors: &[([f32; 4], f32)]) -> Vec<f32> {
        let n = anchors.len();
        let mut out = vec![0.0; 56 * n];
        for (i, (b, s)) in anchors.iter().enumerate() {
            for (c, v) in b.iter().enumerate() {
                out[c * n + i] = *v;
            }
            out[4 * n + i] = *s;
            for k in 0..17 {
                out[(5 + 3 * k) * n + i] = b[0];
                out[(6 + 3 * k) * n + i] = b[1];
                out[(7 + 3 * k) * n + i] = 0.9;
            }
        }
        out
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes_and_respects_limits() {
        let lb = Letterbox::new(640, 640, 640, Canvas::square(640));
        let out = output(&[
            ([100.0, 100.0, 50.0, 100.0], 0.8),
            ([102.0, 101.0, 50.0, 100.0], 0.9),
            ([300.0, 300.0, 50.0, 100.0], 0.7),
            ([500.0, 300.0, 50.0, 100.0], 0.1),
        ]);
        let poses = decode_image(&out, 4, 17, &lb, &DecodeParams::default());
        let scores: Vec<f32> = poses.iter().map(|p| p.score).collect();
        assert_eq!(scores, vec![0.9, 0.7]);
        assert_eq!(poses[0].bbox, [77.0, 51.0, 127.0, 151.0]);
        assert_eq!(poses[0].keypoints.len(), 17);
        let one = DecodeParams { max_poses: 1, ..Default::default() };
        assert_eq!(decode_image(&out, 4, 17, &lb, &one).len(), 1);
    }

    #[test]
    fn coordinates_map_back_through_the_letterbox() {
        // A 1280x720 frame in 640: gain 0.5, 140 rows of padding on top.
        let lb = Letterbox::new(1280, 720, 640, Canvas::square(640));
        let out = output(&[([320.0, 320.0, 100.0, 100.0], 0.9)]);
        let poses = decode_image(&out, 1, 17, &lb, &DecodeParams::default());
        assert_eq!(poses[0].bbox, [540.0, 260.0, 740.0, 460.0]);
        assert_eq!(poses[0].keypoints[0][..2], [640.0, 360.0]);
        // Fitted into 640x384 instead: 12 rows of padding on top.
        let lb = Letterbox::new(1280, 720, 640, Canvas { width: 640, height: 384 });
        let out = output(&[([320.0, 192.0, 100.0, 100.0], 0.9)]);
        let poses = decode_image(&out, 1, 17, &lb, &DecodeParams::default());
        assert_eq!(poses[0].bbox, [540.0, 260.0, 740.0, 460.0]);
    }
}
