#!/usr/bin/env python3
"""Reads PoseMeta from Python with nothing but GStreamer's own bindings (python3-gst-1.0):
one real camera through posebatch into an appsink. Exits non-zero unless it saw people.

    GST_PLUGIN_PATH=target/release python3 tests/read_meta.py VIDEO MODEL
"""
import struct
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402


def poses(buffer):
    meta = buffer.get_custom_meta("PoseMeta")
    if meta is None:
        return None
    s = meta.get_structure()
    n, k = s.get_value("num-poses"), s.get_value("num-keypoints")
    unpack = lambda name, count: struct.unpack(f"<{count}f", s.get_value(name).get_data())  # noqa: E731
    boxes, scores, kps = unpack("boxes", 4 * n), unpack("scores", n), unpack("keypoints", 3 * k * n)
    return s.get_name(), s.get_value("width"), s.get_value("height"), [
        {"box": boxes[4 * i:4 * i + 4], "score": scores[i], "keypoints": kps[3 * k * i:3 * k * (i + 1)]}
        for i in range(n)
    ]


def main():
    video, model = sys.argv[1], sys.argv[2]
    Gst.init(None)
    pipeline = Gst.parse_launch(
        f'filesrc location="{video}" ! qtdemux ! h264parse ! avdec_h264 ! videoconvert '
        f'! video/x-raw,format=RGB ! posebatch model="{model}" ! appsink name=sink sync=false'
    )
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    frames, people = 0, 0
    while frames < 5:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        name, width, height, found = poses(sample.get_buffer())
        assert name == "pose-meta", name
        for p in found:
            x1, y1, x2, y2 = p["box"]
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height, p["box"]
            assert 0.25 < p["score"] <= 1.0
            assert len(p["keypoints"]) == 17 * 3
        frames += 1
        people += len(found)
    pipeline.set_state(Gst.State.NULL)
    print(f"python read PoseMeta on {frames} frames: {people} people")
    sys.exit(0 if frames == 5 and people >= 5 else 1)


if __name__ == "__main__":
    main()
