#!/usr/bin/python3
"""Embedding posebatch in a Python application with nothing but GStreamer's own bindings
(python3-gst-1.0): a video through posebatch into an appsink, each frame's PoseMeta read
with buffer.get_custom_meta("PoseMeta") and its GBytes arrays decoded with struct; stream 0
paused and resumed with the pause-stream / resume-stream action signals on the way.

    GST_PLUGIN_PATH=target/release /usr/bin/python3 examples/embed.py [VIDEO] [FRAMES]

(The system Python, which has python3-gst-1.0. GST_PLUGIN_PATH is not needed once
`make install` has run; when this checkout has a release build, the script adds it by
itself.) VIDEO defaults to the installed cam01.mp4, FRAMES to 30. Exits 1 when it saw no people, 2 on an error.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(HERE, "..", "target"), "release")
if os.path.isfile(os.path.join(BUILD, "libgstposebatch.so")):
    os.environ["GST_PLUGIN_PATH"] = os.pathsep.join(filter(None, [BUILD, os.environ.get("GST_PLUGIN_PATH")]))

import gi  # noqa: E402

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

KEYPOINT_NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
                  "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
                  "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"]


def read_poses(buffer):
    """The frame's people as dicts (track id, box, score, keypoints as (x, y, conf)), or None."""
    meta = buffer.get_custom_meta("PoseMeta")
    if meta is None:
        return None
    s = meta.get_structure()
    n, k = s.get_value("num-poses"), s.get_value("num-keypoints")

    def floats(name, count):  # GBytes of little-endian f32
        return struct.unpack(f"<{count}f", s.get_value(name).get_data())

    boxes, scores, kps = floats("boxes", 4 * n), floats("scores", n), floats("keypoints", 3 * k * n)
    ids = struct.unpack(f"<{n}Q", s.get_value("track-ids").get_data())  # GBytes of little-endian u64
    return [{"id": ids[i], "box": boxes[4 * i:4 * i + 4], "score": scores[i],
             "keypoints": [kps[3 * (k * i + j):3 * (k * i + j) + 3] for j in range(k)]}
            for i in range(n)]


def main():
    video = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else os.path.join(
        os.environ.get("XDG_DATA_HOME", os.path.expanduser("~/.local/share")),
        "posebatch/media/pose2sim-multiperson/cam01.mp4")
    max_frames = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    if not os.path.isfile(video):
        print(f"embed.py: {video} missing (make setup installs the demo videos)", file=sys.stderr)
        return 2
    Gst.init(None)
    pipeline = Gst.parse_launch(
        f'filesrc location="{video}" ! decodebin ! videoconvert '
        f'! posebatch name=p ! appsink name=sink sync=false')
    posebatch, sink = pipeline.get_by_name("p"), pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)

    frames = people = 0
    while frames < max_frames:
        sample = sink.emit("try-pull-sample", 30 * Gst.SECOND)
        if sample is None:
            break
        found = read_poses(sample.get_buffer())
        frames += 1
        if found is None:
            continue
        people += len(found)
        print(f"frame {frames - 1}: {len(found)} people")
        if frames <= 2:
            for i, p in enumerate(found):
                x, y, c = p["keypoints"][0]
                print(f"  person {i} (track {p['id']}): score {p['score']:.2f}, box {[round(v) for v in p['box']]}, "
                      f"{KEYPOINT_NAMES[0]} at ({x:.0f}, {y:.0f}) conf {c:.2f}")
        if frames == 10:
            paused = posebatch.emit("pause-stream", 0)
            while sink.emit("try-pull-sample", 300 * Gst.MSECOND) is not None:
                frames += 1  # frames that had already left posebatch
            resumed = posebatch.emit("resume-stream", 0)
            print(f"pause-stream(0) -> {paused}, resume-stream(0) -> {resumed}")
            if not (paused and resumed):
                pipeline.set_state(Gst.State.NULL)
                return 2

    error = pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if error is not None:
        print(f"embed.py: {error.parse_error()[0].message}", file=sys.stderr)
        return 2
    print(f"python read {frames} frames, {people} people in all")
    return 0 if people > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
