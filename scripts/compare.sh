#!/usr/bin/env bash
# `make compare`: the same four-camera job done the usual Python way and by posebatch, one
# after the other on the same videos, and the ratios of their throughput and latency.
set -euo pipefail
DATA="${XDG_DATA_HOME:-$HOME/.local/share}/posebatch"
MEDIA="$DATA/media/pose2sim-multiperson"
MODEL="$DATA/models/yolo11n-pose.onnx"
VIDEOS="$MEDIA/cam01.mp4 $MEDIA/cam02.mp4 $MEDIA/cam03.mp4 $MEDIA/cam04.mp4"
mkdir -p out
.venv/bin/python scripts/python_way.py --model "$MODEL" --json out/compare-python.json $VIDEOS
"${CARGO_TARGET_DIR:-target}/release/examples/benchmark" --videos $VIDEOS --num-streams 4 --batch-size 4 --overflow block \
    --provider cpu --duration 600 --json out/compare-posebatch.json
python3 - <<'PY'
import json
py = json.load(open("out/compare-python.json"))
pb = json.load(open("out/compare-posebatch.json"))["measurement"]
print(f"\ncompare on the same four videos ({py['frames']} frames for Python):")
print(f"  throughput   posebatch {pb['fps']:.2f} fps   python {py['fps']:.2f} fps   ratio {pb['fps'] / py['fps']:.2f} x")
print(f"  latency avg  posebatch {pb['e2e_mean_ms']:.1f} ms  python {py['latency_mean_ms']:.1f} ms")
PY
