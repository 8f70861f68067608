#!/usr/bin/env python3
"""How far the int8 model's poses are from the fp32 model's, on frames that calibration
never saw (even frame indices of the project's cameras).

    int8_accuracy.py FP32_MODEL INT8_MODEL MEDIA_DIR [--step N]

Frames 0, N, 2N, ... (N even, default 10: 0..90, 40 frames over cam01..cam04) are decoded
with OpenCV and "fit" letterboxed as quantize_int8.py does (384x640 for these cameras). Both
models' outputs are decoded the same way: score > 0.25, greedy NMS at IoU 0.45.

- recall: fp32 people with score >= 0.5 that have an int8 person at box IoU >= 0.5, pairs
  taken greedily by descending IoU, each person used once.
- keypoint distance: over matched pairs, keypoints whose fp32 confidence is >= 0.5, the
  distance between the fp32 and int8 positions in frame pixels (mapped back through the
  letterbox); mean, median and 95th percentile.
- extra: int8 people with score >= 0.5 that overlap no fp32 person (score > 0.25) at IoU 0.5.
"""
import argparse
import os

import numpy as np
import onnxruntime as ort

from quantize_int8 import CAMERAS, fit_letterbox, read_frames, to_tensor

SCORE, IOU, REFERENCE_SCORE, MATCH_IOU, KEYPOINT_CONFIDENCE = 0.25, 0.45, 0.5, 0.5, 0.5


def iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h)


def decode(out, gain, left, top):
    """[56, anchors] -> [(box xyxy, score, keypoints [17, 3])] in frame pixels, after NMS."""
    out = out.T[out[4] > SCORE]
    boxes = np.stack([out[:, 0] - out[:, 2] / 2, out[:, 1] - out[:, 3] / 2,
                      out[:, 0] + out[:, 2] / 2, out[:, 1] + out[:, 3] / 2], axis=1)
    order, people = out[:, 4].argsort()[::-1], []
    while order.size:
        i, order = order[0], order[1:]
        order = order[[iou(boxes[i], boxes[j]) <= IOU for j in order]]
        box = (boxes[i] - [left, top, left, top]) / gain
        keypoints = out[i, 5:].reshape(-1, 3).copy()
        keypoints[:, :2] = (keypoints[:, :2] - [left, top]) / gain
        people.append((box, float(out[i, 4]), keypoints))
    return people


def compare(reference, test):
    """Matched reference count, keypoint distances and extra people for one frame."""
    refs = [p for p in reference if p[1] >= REFERENCE_SCORE]
    pairs = sorted(((iou(r[0], t[0]), i, j) for i, r in enumerate(refs) for j, t in enumerate(test)), reverse=True)
    used_r, used_t, distances = set(), set(), []
    for overlap, i, j in pairs:
        if overlap < MATCH_IOU:
            break
        if i in used_r or j in used_t:
            continue
        used_r.add(i)
        used_t.add(j)
        visible = refs[i][2][:, 2] >= KEYPOINT_CONFIDENCE
        distances += np.hypot(*(refs[i][2][visible, :2] - test[j][2][visible, :2]).T).tolist()
    extra = sum(1 for t in test if t[1] >= REFERENCE_SCORE and all(iou(t[0], r[0]) < MATCH_IOU for r in reference))
    return len(refs), len(used_r), distances, extra


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("fp32_model")
    parser.add_argument("int8_model")
    parser.add_argument("media_dir")
    parser.add_argument("--step", type=int, default=10, help="every STEP-th frame from 0 (even; default 10)")
    args = parser.parse_args()
    if args.step % 2:
        parser.error("--step must be even: odd frames are the calibration frames")
    sessions = [ort.InferenceSession(m, providers=["CPUExecutionProvider"]) for m in (args.fp32_model, args.int8_model)]
    indices = range(0, 100, args.step)
    refs = matched = extra = frames = 0
    distances = []
    for camera in CAMERAS:
        letterboxed = [fit_letterbox(rgb) for rgb in read_frames(os.path.join(args.media_dir, camera), indices)]
        x = to_tensor([lb[0] for lb in letterboxed])
        fp32, int8 = (s.run(None, {"images": x})[0] for s in sessions)
        for (_, gain, left, top), a, b in zip(letterboxed, fp32, int8):
            r, m, d, e = compare(decode(a, gain, left, top), decode(b, gain, left, top))
            refs, matched, extra, frames = refs + r, matched + m, extra + e, frames + 1
            distances += d
    d = np.array(distances)
    print(f"{frames} frames (indices {indices.start}, {indices.start + indices.step}, ..., {indices[-1]} of "
          f"{len(CAMERAS)} cameras), input HxW {x.shape[2]}x{x.shape[3]}")
    print(f"recall {matched / refs:.3f} ({matched} of {refs} fp32 people with score >= {REFERENCE_SCORE}), "
          f"extra int8 people {extra}")
    print(f"keypoint distance over {len(d)} keypoints (fp32 confidence >= {KEYPOINT_CONFIDENCE}), frame pixels: "
          f"mean {d.mean():.2f}, median {np.median(d):.2f}, p95 {np.percentile(d, 95):.2f}")


if __name__ == "__main__":
    main()
