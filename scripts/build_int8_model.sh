#!/usr/bin/env bash
# Builds yolo11n-pose-int8.onnx, the static int8 (Q/DQ) twin for the CPU, from the fp32
# model and the project's four cameras (calibrated on their odd frames only; the tests
# compare on even ones): scripts/quantize_int8.py, in a virtualenv of its own with the
# pinned packages below (from PyPI, about 100 MB, kept in the data folder for next time).
# About a minute and a half on two cores. Usage: build_int8_model.sh FP32_MODEL MEDIA_DIR OUT_MODEL
set -euo pipefail
fp32=$(readlink -f "$1")
media=$(readlink -f "$2")
out=$(readlink -m "$3")
SCRIPTS=$(cd "$(dirname "$0")" && pwd)
VENV="${XDG_DATA_HOME:-$HOME/.local/share}/posebatch/quantize-venv"
PACKAGES="onnxruntime==1.31.1 onnx==1.23.2 numpy==2.4.6 opencv-python-headless==5.0.0.93"
STAMP="$VENV/.installed-$(echo "$PACKAGES" | md5sum | cut -c1-8)"
if [ ! -e "$STAMP" ]; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check $PACKAGES
    touch "$STAMP"
fi
tmp="$out.partial"
PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" "$SCRIPTS/quantize_int8.py" "$fp32" "$media" "$tmp"
mv "$tmp" "$out"
