#!/usr/bin/env python3
"""The four-stream job done the usual Python way, for `make compare`: OpenCV decodes each
video, each frame is letterboxed with OpenCV, four frames (one per stream) go to ONNX
Runtime as one batch, and numpy decodes and suppresses. Prints and writes throughput and
per-frame latency (frame read to poses decoded).

    python scripts/python_way.py --model yolo11n-pose.onnx --json out/python.json cam01.mp4 ...
"""
import argparse
import json
import time

import cv2
import numpy as np
import onnxruntime as ort

SIZE, SCORE, IOU, MAX_POSES = 640, 0.25, 0.45, 32


def letterbox(img, size=SIZE):
    h, w = img.shape[:2]
    gain = min(size / h, size / w)
    nw, nh = int(round(w * gain)), int(round(h * gain))
    img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    dw, dh = (size - nw) / 2, (size - nh) / 2
    top, left = int(round(dh - 0.1)), int(round(dw - 0.1))
    img = cv2.copyMakeBorder(img, top, size - nh - top, left, size - nw - left, cv2.BORDER_CONSTANT,
                             value=(114, 114, 114))
    return img, gain, left, top


def nms(boxes, scores):
    order, keep = scores.argsort()[::-1], []
    while order.size and len(keep) < MAX_POSES:
        i, rest = order[0], order[1:]
        keep.append(i)
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
        order = rest[inter / (area(boxes[i]) + area(boxes[rest]) - inter) <= IOU]
    return keep


def decode(out, gain, left, top, w, h):
    out = out.T[out[4] > SCORE]
    boxes = np.stack([out[:, 0] - out[:, 2] / 2, out[:, 1] - out[:, 3] / 2,
                      out[:, 0] + out[:, 2] / 2, out[:, 1] + out[:, 3] / 2], axis=1)
    people = []
    for i in nms(boxes, out[:, 4]):
        kp = out[i, 5:].reshape(-1, 3).copy()
        kp[:, 0] = np.clip((kp[:, 0] - left) / gain, 0, w)
        kp[:, 1] = np.clip((kp[:, 1] - top) / gain, 0, h)
        people.append((boxes[i], out[i, 4], kp))
    return people


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--json")
    p.add_argument("videos", nargs="+")
    a = p.parse_args()
    session = ort.InferenceSession(a.model, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    caps = [cv2.VideoCapture(v) for v in a.videos]
    latencies, frames, people = [], 0, 0
    start = time.perf_counter()
    while True:
        batch, metas = [], []
        for cap in caps:
            ok, bgr = cap.read()
            if not ok:
                continue
            t0 = time.perf_counter()
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            lb, gain, left, top = letterbox(rgb)
            batch.append(lb)
            metas.append((t0, gain, left, top, rgb.shape[1], rgb.shape[0]))
        if not batch:
            break
        x = (np.stack(batch).astype(np.float32) / 255.0).transpose(0, 3, 1, 2)
        out = session.run(None, {name: x})[0]
        for o, (t0, gain, left, top, w, h) in zip(out, metas):
            people += len(decode(o, gain, left, top, w, h))
            latencies.append(time.perf_counter() - t0)
            frames += 1
    seconds = time.perf_counter() - start
    lat = np.array(latencies) * 1e3
    result = {"frames": frames, "seconds": seconds, "fps": frames / seconds, "people": people,
              "latency_mean_ms": float(lat.mean()), "latency_p99_ms": float(np.percentile(lat, 99)),
              "streams": len(a.videos), "batch": len(a.videos), "onnxruntime": ort.__version__}
    print(f"python way: {frames} frames in {seconds:.1f} s = {result['fps']:.2f} fps, "
          f"latency mean {result['latency_mean_ms']:.1f} ms p99 {result['latency_p99_ms']:.1f} ms, {people} people")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
