//! Geometry shared by the decoder (NMS), the tracker, the overlay's colour tracker and
//! applications that match people across frames: box overlap (IoU) and keypoint similarity
//! (OKS). Boxes are x1, y1, x2, y2 in pixels; keypoints x, y, confidence.

/// Intersection over union of two boxes (0 for empty or non-finite ones).
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let area = |b: &[f32; 4]| (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0);
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let union = area(a) + area(b) - inter;
    if union > 0.0 && inter.is_finite() { inter / union } else { 0.0 }
}

/// COCO's per-keypoint spread of human annotations (nose ... right ankle), the scale OKS
/// measures keypoint distances against.
pub const COCO_KEYPOINT_SIGMAS: [f32; 17] =
    [0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089];

/// Object keypoint similarity (COCO's OKS) of two poses of the same keypoint set, over the
/// keypoints both see with confidence at least `min_confidence`; `area` is the object's
/// area in pixels (a box's). None when fewer than `min_shared` keypoints are seen by both.
pub fn oks(a: &[[f32; 3]], b: &[[f32; 3]], area: f32, min_confidence: f32, min_shared: usize) -> Option<f32> {
    let mut sum = 0.0;
    let mut shared = 0;
    for (i, (p, q)) in a.iter().zip(b).enumerate() {
        if p[2] < min_confidence || q[2] < min_confidence {
            continue;
        }
        let k = 2.0 * COCO_KEYPOINT_SIGMAS.get(i).copied().unwrap_or(0.08);
        let d2 = (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2);
        sum += (-d2 / (2.0 * area.max(1.0) * k * k)).exp();
        shared += 1;
    }
    (shared >= min_shared.max(1)).then(|| sum / shared as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_boxes() {
        assert_eq!(iou(&[0.0, 0.0, 2.0, 2.0], &[0.0, 0.0, 2.0, 2.0]), 1.0);
        assert_eq!(iou(&[0.0, 0.0, 2.0, 2.0], &[2.0, 0.0, 4.0, 2.0]), 0.0);
        assert!((iou(&[0.0, 0.0, 2.0, 2.0], &[1.0, 0.0, 3.0, 2.0]) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(iou(&[0.0; 4], &[0.0; 4]), 0.0);
        assert_eq!(iou(&[f32::NAN, 0.0, 1.0, 1.0], &[0.0, 0.0, 1.0, 1.0]), 0.0);
    }

    #[test]
    fn oks_of_keypoints() {
        let pose: Vec<[f32; 3]> = (0..17).map(|i| [100.0 + 5.0 * i as f32, 200.0 + 10.0 * i as f32, 0.9]).collect();
        assert_eq!(oks(&pose, &pose, 20_000.0, 0.5, 4), Some(1.0));
        let moved: Vec<[f32; 3]> = pose.iter().map(|k| [k[0] + 30.0, k[1], k[2]]).collect();
        let near = oks(&pose, &moved, 20_000.0, 0.5, 4).unwrap();
        let far = oks(&pose, &moved, 2_000.0, 0.5, 4).unwrap();
        assert!(near > far && far < 0.5 && near < 1.0, "near {near}, far {far}: the same move counts more on a small person");
        let unseen: Vec<[f32; 3]> = pose.iter().map(|k| [k[0], k[1], 0.1]).collect();
        assert_eq!(oks(&pose, &unseen, 20_000.0, 0.5, 4), None, "no confident keypoints in common");
    }
}
