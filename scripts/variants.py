#!/usr/bin/env python3
"""`make variants`: what input-shape and precision buy, measured side by side in one run.

For input sizes 640 and 320, the four variants square/fit x fp32/int8:
- speed: the benchmark (block mode, batch 4, CPU) on the four cameras and on four synthetic
  1920x1080 streams, the variants alternated round after round (this VM's speed drifts, so
  ratios come from the same rounds), median frames/s per variant;
- accuracy against square fp32 at the same input size, on every frame of the four cameras
  (through posejson): recall of square fp32's confident people (score >= 0.5, matched by box
  IoU >= 0.5) and the mean distance of their confident keypoints (>= 0.5), in frame pixels.

Prints a Markdown table (the README's) and writes out/variants.json.
    scripts/variants.py [--rounds N] [--duration S]
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "posebatch")
MEDIA = os.path.join(DATA, "media", "pose2sim-multiperson")
CAMERAS = [os.path.join(MEDIA, f"cam0{i}.mp4") for i in range(1, 5)]
RELEASE = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target"), "release")
VARIANTS = [(shape, precision) for shape in ("square", "fit") for precision in ("fp32", "int8")]


def benchmark(source, size, shape, precision, duration):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        args = [os.path.join(RELEASE, "examples", "benchmark"), *source, "--num-streams", "4", "--batch-size", "4",
                "--overflow", "block", "--provider", "cpu", "--input-size", str(size), "--input-shape", shape,
                "--precision", precision, "--duration", str(duration), "--json", out.name]
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        report = json.load(open(out.name))
    m = report["measurement"]
    return {"fps": m["fps"], "letterbox_share": m["preprocess_share"], "cpu": report["machine"]}


def poses(size, shape, precision, folder):
    """Every camera frame's poses through one posebatch, as posejson writes them."""
    launch = ["gst-launch-1.0", "-q", "posebatch", "name=p", "execution-provider=cpu", "overflow=block",
              "max-batch-size=4", f"input-size={size}", f"input-shape={shape}", f"precision={precision}"]
    for i, camera in enumerate(CAMERAS):
        launch += ["filesrc", f"location={camera}", "!", "qtdemux", "!", "h264parse", "!", "avdec_h264", "!",
                   "videoconvert", "!", f"p.sink_{i}", f"p.src_{i}", "!", "posejson", "!", "filesink",
                   f"location={folder}/cam{i}.ndjson"]
    subprocess.run(launch, check=True, env=dict(os.environ, GST_PLUGIN_PATH=RELEASE))
    return [[json.loads(line)["poses"] for line in open(f"{folder}/cam{i}.ndjson")] for i in range(4)]


def iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def agreement(reference, other):
    """Recall of the reference's confident people, mean distance of their confident keypoints."""
    people = found = 0
    distances = []
    for ref_frames, frames in zip(reference, other):
        for ref, got in zip(ref_frames, frames):
            for person in (p for p in (ref or []) if p["score"] >= 0.5):
                people += 1
                best = max(got or [], key=lambda g: iou(g["box"], person["box"]), default=None)
                if best is None or iou(best["box"], person["box"]) < 0.5:
                    continue
                found += 1
                for a, b in zip(person["keypoints"], best["keypoints"]):
                    if a[2] is not None and a[2] >= 0.5:
                        distances.append(((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5)
    return found / max(people, 1), statistics.mean(distances) if distances else 0.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=15)
    args = parser.parse_args()
    sources = {"cameras": ["--videos", *CAMERAS], "synthetic 1080p": ["--synthetic", "--live", "false"]}
    fps = {(source, size, v): [] for source in sources for size in (640, 320) for v in VARIANTS}
    shares = {}
    cpu = None
    for r in range(args.rounds):
        for size in (640, 320):
            for source, flags in sources.items():
                for v in VARIANTS:
                    result = benchmark(flags, size, *v, args.duration)
                    fps[(source, size, v)].append(result["fps"])
                    shares.setdefault((source, size, v), []).append(result["letterbox_share"])
                    cpu = result["cpu"]
                    print(f"round {r + 1}: {source} {size} {v[0]} {v[1]}: {result['fps']:.2f} frames/s", flush=True)
    accuracy = {}
    for size in (640, 320):
        with tempfile.TemporaryDirectory() as tmp:
            runs = {}
            for v in VARIANTS:
                folder = os.path.join(tmp, "-".join(v))
                os.makedirs(folder)
                runs[v] = poses(size, *v, folder)
            for v in VARIANTS:
                accuracy[(size, v)] = agreement(runs[("square", "fp32")], runs[v])
    print(f"\nCPU: {cpu}")
    print("| source | input | shape | precision | frames/s (median of "
          f"{args.rounds}) | x square fp32 | letterbox share | recall | mean keypoint distance |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|")
    rows = []
    for source in sources:
        for size in (640, 320):
            base = statistics.median(fps[(source, size, ("square", "fp32"))])
            for v in VARIANTS:
                median = statistics.median(fps[(source, size, v)])
                share = statistics.median(shares[(source, size, v)])
                recall, distance = accuracy[(size, v)]
                rows.append({"source": source, "input_size": size, "shape": v[0], "precision": v[1], "fps": median,
                             "ratio": median / base, "letterbox_share": share, "recall": recall, "distance_px": distance,
                             "all_fps": fps[(source, size, v)]})
                quality = f"{recall:.3f} | {distance:.2f} px" if source == "cameras" else "(no people) | -"
                print(f"| {source} | {size} | {v[0]} | {v[1]} | {median:.2f} | {median / base:.2f} | {share * 100:.1f} % "
                      f"| {quality} |")
    os.makedirs(os.path.join(REPO, "out"), exist_ok=True)
    json.dump({"cpu": cpu, "rounds": args.rounds, "rows": rows}, open(os.path.join(REPO, "out", "variants.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
