#!/usr/bin/env bash
# `make doctor`: what posebatch needs, one line each, "ok" or "missing" with where it looked
# and what to do. Builds nothing and changes nothing; run it when the element falls back to
# the CPU or fails to start. Looks where the element looks: the same environment variables
# (ORT_DYLIB_PATH, POSEBATCH_MODEL, POSEBATCH_CUDA_LIBS, XDG_DATA_HOME, CARGO_TARGET_DIR).
# Exit status 1 when something the CPU path needs is missing; GPU lines only inform.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DATA="${XDG_DATA_HOME:-$HOME/.local/share}/posebatch"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
required_missing=0
gpu_missing=0

ok() { printf '  %-8s %s\n' ok "$*"; }
missing() { printf '  %-8s %s\n' missing "$*"; required_missing=$((required_missing + 1)); }
gpu_missing() { printf '  %-8s %s\n' missing "$*"; gpu_missing=$((gpu_missing + 1)); }
section() { printf '\n%s\n' "$*"; }

# Can this process load the shared library at $1 (a path or a soname)?
loadable() { "$PY" -c 'import ctypes, sys; ctypes.CDLL(sys.argv[1])' "$1" 2>/dev/null; }

echo "posebatch doctor ($(date -u +%Y-%m-%dT%H:%MZ), data folder $DATA)"

section "Debian packages (scripts/debian-packages.txt; make setup installs them)"
for p in $(sed -e 's/#.*//' "$REPO/scripts/debian-packages.txt"); do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        ok "$p"
    else
        missing "$p: not installed (make setup)"
    fi
done

section "The posebatch plugin"
BUILD="${CARGO_TARGET_DIR:-$REPO/target}/release/libgstposebatch.so"
INSTALLED="${XDG_DATA_HOME:-$HOME/.local/share}/gstreamer-1.0/plugins/libgstposebatch.so"
[ -f "$BUILD" ] && ok "built: $BUILD" || echo "  -        not built here ($BUILD; make build)"
[ -f "$INSTALLED" ] && ok "installed: $INSTALLED" || echo "  -        not installed ($INSTALLED; make install)"
found=$(gst-inspect-1.0 posebatch 2>/dev/null | awk '$1 == "Filename" { print $2 }')
if [ -n "$found" ]; then
    ok "gst-launch-1.0 finds posebatch: $found"
else
    missing "gst-launch-1.0 does not find posebatch (make install, or GST_PLUGIN_PATH=$(dirname "$BUILD"))"
fi

section "ONNX Runtime"
ORT="${ORT_DYLIB_PATH:-$DATA/onnxruntime/libonnxruntime.so}"
if [ -e "$ORT" ] && loadable "$ORT"; then
    ORT_DIR=$(dirname "$(readlink -f "$ORT")")
    if [ -e "$ORT_DIR/libonnxruntime_providers_cuda.so" ]; then
        ok "$ORT (GPU build: CUDA provider $ORT_DIR/libonnxruntime_providers_cuda.so)"
    else
        ok "$ORT (CPU build; scripts/setup.sh --gpu installs the GPU one)"
    fi
else
    ORT_DIR=""
    missing "$ORT: not found or not loadable (make setup, or set ORT_DYLIB_PATH)"
fi

section "Model"
if [ -n "${POSEBATCH_MODEL:-}" ] && [ -f "$POSEBATCH_MODEL" ]; then
    MODELS=("$POSEBATCH_MODEL" "${POSEBATCH_MODEL%.onnx}-fp16.onnx" "${POSEBATCH_MODEL%.onnx}-int8.onnx")
else
    dir="${POSEBATCH_MODEL:-$DATA/models}"
    MODELS=("$dir/yolo11n-pose.onnx" "$dir/yolo11n-pose-fp16.onnx" "$dir/yolo11n-pose-int8.onnx")
fi
[ -s "${MODELS[0]}" ] && ok "${MODELS[0]}" || missing "${MODELS[0]}: not found (make setup, or set POSEBATCH_MODEL)"
if [ -s "${MODELS[1]}" ]; then
    ok "${MODELS[1]} (fp16, for precision=auto on CUDA)"
else
    gpu_missing "${MODELS[1]}: not found (fp16 on CUDA needs it; make setup)"
fi
if [ -s "${MODELS[2]}" ]; then
    ok "${MODELS[2]} (int8, for precision=int8 on the CPU)"
else
    missing "${MODELS[2]}: not found (precision=int8 needs it; make setup builds it)"
fi

section "GPU (only for execution-provider=auto/cuda/tensorrt on an NVIDIA GPU)"
# Where the element looks for CUDA libraries: POSEBATCH_CUDA_LIBS, then the data folder's cuda/.
CUDA_DIRS=()
IFS=: read -ra given <<< "${POSEBATCH_CUDA_LIBS:-}"
for d in "${given[@]}"; do [ -n "$d" ] && CUDA_DIRS+=("$d"); done
[ -d "$DATA/cuda" ] && CUDA_DIRS+=("$DATA/cuda")
find_lib() { # soname -> path in the CUDA folders, else the system's, else nothing
    for d in "${CUDA_DIRS[@]}"; do [ -e "$d/$1" ] && { echo "$d/$1"; return; }; done
    ldconfig -p 2>/dev/null | awk -v lib="$1" '$1 == lib { print $NF; exit }'
}
for lib in libnvrtc.so.13 libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcufft.so.12 \
           libcudnn.so.9 libcudnn_graph.so.9 libcudnn_ops.so.9 libcudnn_heuristic.so.9 libcudnn_adv.so.9 \
           libcudnn_cnn.so.9 libcudnn_engines_precompiled.so.9 libcudnn_engines_runtime_compiled.so.9; do
    path=$(find_lib "$lib")
    if [ -n "$path" ]; then
        ok "$lib: $path"
    else
        gpu_missing "$lib: not in ${CUDA_DIRS[*]:-(no CUDA folder)} nor the system's library path (scripts/setup.sh --gpu)"
    fi
done
nvrtc=$(find_lib libnvrtc.so.13)
if [ -n "$nvrtc" ]; then
    version=$(cd "$(dirname "$nvrtc")" && "$PY" -c '
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
major, minor = ctypes.c_int(), ctypes.c_int()
lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
print(f"{major.value}.{minor.value}")' "$nvrtc" 2>/dev/null)
    case "$version" in
        13.*) ok "NVRTC reports CUDA $version (the preprocessing kernel compiles)" ;;
        *) gpu_missing "NVRTC at $nvrtc reports ${version:-nothing}; CUDA 13's is needed (make setup)" ;;
    esac
fi
if [ -n "$ORT_DIR" ] && [ -e "$ORT_DIR/libonnxruntime_providers_cuda.so" ]; then
    search=$(IFS=:; echo "${CUDA_DIRS[*]}"):$ORT_DIR
    unresolved=$(LD_LIBRARY_PATH="$search" ldd "$ORT_DIR/libonnxruntime_providers_cuda.so" 2>/dev/null \
        | awk '/not found/ { print $1 }' | grep -v '^libcuda\.so\.1$' | tr '\n' ' ')
    if [ -z "$unresolved" ]; then
        ok "every library the CUDA provider links resolves (ldd with $search), the driver's aside"
    else
        gpu_missing "the CUDA provider links libraries not found: $unresolved(scripts/setup.sh --gpu)"
    fi
fi
driver_missing=""
for lib in libcuda.so.1 libnvidia-ml.so.1; do loadable "$lib" || driver_missing="$driver_missing $lib"; done
if [ -z "$driver_missing" ]; then
    ok "NVIDIA driver: libcuda.so.1 and libnvidia-ml.so.1 (NVML, for the GPU memory guard) load"
else
    gpu_missing "NVIDIA driver:$driver_missing not found (install the NVIDIA driver, 580 or newer for CUDA 13)"
fi

echo
if [ "$required_missing" -gt 0 ]; then
    echo "$required_missing missing for the CPU path, $gpu_missing for the GPU path."
    exit 1
fi
echo "The CPU path has everything; $gpu_missing missing for the GPU path."
