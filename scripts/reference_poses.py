#!/usr/bin/env python3
"""Independent reference for the accuracy test: the same ONNX model run by ONNX Runtime in
Python, with its own letterbox (OpenCV, as Ultralytics does it) and its own NMS (numpy).

Frames come from the same GStreamer decode chain the Rust test uses, so both see identical
pixels. Output: tests/data/reference_poses.json (committed; the test compares against it).

    make reference      # creates .venv with onnxruntime, numpy, opencv-python-headless
"""
import json
import os
import sys

import cv2
import gi
import numpy as np
import onnxruntime as ort

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

CAMERAS = ["cam01.mp4", "cam02.mp4", "cam03.mp4", "cam04.mp4"]
FRAME_INDICES = [0, 30, 60, 90]
INPUT_SIZE = 640
SCORE_THRESHOLD = 0.25
IOU_THRESHOLD = 0.45
MAX_POSES = 32


def decode_frames(path, wanted):
    """RGB frames at the wanted indices, decoded as posebatch's tests decode them."""
    pipeline = Gst.parse_launch(
        f'filesrc location="{path}" ! qtdemux ! h264parse ! avdec_h264 ! videoconvert '
        "! video/x-raw,format=RGB ! appsink name=sink sync=false"
    )
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    frames, index = {}, 0
    while True:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        if index in wanted:
            s = sample.get_caps().get_structure(0)
            w, h = s.get_value("width"), s.get_value("height")
            buf = sample.get_buffer()
            ok, info = buf.map(Gst.MapFlags.READ)
            stride = (w * 3 + 3) // 4 * 4
            rows = np.frombuffer(info.data, np.uint8)[: stride * h].reshape(h, stride)
            frames[index] = (buf.pts, rows[:, : w * 3].reshape(h, w, 3).copy())
            buf.unmap(info)
        index += 1
    pipeline.set_state(Gst.State.NULL)
    return frames


def letterbox(img, size, fit):
    """Ultralytics LetterBox: scale to fit size x size, cv2 INTER_LINEAR, grey 114 border;
    auto=False (square) pads to size x size, auto=True (fit) only to the next multiple of 32."""
    h, w = img.shape[:2]
    gain = min(size / h, size / w)
    new_w, new_h = int(round(w * gain)), int(round(h * gain))
    dw, dh = size - new_w, size - new_h
    if fit:
        dw, dh = dw % 32, dh % 32
    dw, dh = dw / 2, dh / 2
    if (w, h) != (new_w, new_h):
        img = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    return img, gain, left, top


def nms(boxes, scores, iou_threshold):
    order = scores.argsort()[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        xx1 = np.maximum(boxes[i, 0], boxes[order[1:], 0])
        yy1 = np.maximum(boxes[i, 1], boxes[order[1:], 1])
        xx2 = np.minimum(boxes[i, 2], boxes[order[1:], 2])
        yy2 = np.minimum(boxes[i, 3], boxes[order[1:], 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
        iou = inter / (area(boxes[i]) + area(boxes[order[1:]]) - inter)
        order = order[1:][iou <= iou_threshold]
    return keep


def poses(session, img, fit):
    h, w = img.shape[:2]
    lb, gain, left, top = letterbox(img, INPUT_SIZE, fit)
    x = (lb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
    out = session.run(None, {session.get_inputs()[0].name: x})[0][0].T  # [anchors, 56]
    out = out[out[:, 4] > SCORE_THRESHOLD]
    boxes = np.stack([out[:, 0] - out[:, 2] / 2, out[:, 1] - out[:, 3] / 2,
                      out[:, 0] + out[:, 2] / 2, out[:, 1] + out[:, 3] / 2], axis=1)
    keep = nms(boxes, out[:, 4], IOU_THRESHOLD)[:MAX_POSES]
    result = []
    for i in keep:
        b = boxes[i].copy()
        b[[0, 2]] = np.clip((b[[0, 2]] - left) / gain, 0, w)
        b[[1, 3]] = np.clip((b[[1, 3]] - top) / gain, 0, h)
        kp = out[i, 5:].reshape(-1, 3).copy()
        kp[:, 0] = np.clip((kp[:, 0] - left) / gain, 0, w)
        kp[:, 1] = np.clip((kp[:, 1] - top) / gain, 0, h)
        result.append({"box": b.round(3).tolist(), "score": round(float(out[i, 4]), 4),
                       "keypoints": kp.round(3).tolist()})
    return result


def main():
    media, model, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
    Gst.init(None)
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    frames = []
    for camera in CAMERAS:
        for index, (pts, img) in sorted(decode_frames(os.path.join(media, camera), set(FRAME_INDICES)).items()):
            people, fitted = poses(session, img, fit=False), poses(session, img, fit=True)
            print(f"{camera} frame {index}: {len(people)} people (square), {len(fitted)} (fit)")
            frames.append({"camera": camera, "frame": index, "pts": pts, "width": img.shape[1],
                           "height": img.shape[0], "mean_pixel": round(float(img.mean()), 3),
                           "poses": people, "poses_fit": fitted})
    with open(out_path, "w") as f:
        json.dump({"model": os.path.basename(model), "input_size": INPUT_SIZE,
                   "score_threshold": SCORE_THRESHOLD, "iou_threshold": IOU_THRESHOLD,
                   "onnxruntime": ort.__version__, "frames": frames}, f, indent=1)


if __name__ == "__main__":
    main()
