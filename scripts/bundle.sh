#!/usr/bin/env bash
# `make bundle`: a relocatable folder and tarball for an offline (air-gapped) GPU host:
# the plugin, the benchmark and demo, ONNX Runtime, the models, the videos and run.sh.
#
#   BUNDLE_ORT=gpu (default) | cpu    onnxruntime-gpu (CUDA 13) or the CPU build
#   BUNDLE_GSTREAMER=1                 also a GStreamer runtime for hosts without it: enough for
#                                      the synthetic benchmark (~10 MB)
#   BUNDLE_GSTREAMER=full              the same plus MP4/H.264 decoding for the videos, the demo
#                                      and the tests (~230 MB)
#                                      The host needs glibc >= 2.34 (2.36 with full: libexpat).
#   BUNDLE_TESTS=1                     also the GPU tests (`run.sh tests` runs them on the host)
#   BUNDLE_CUDA_LIBS=dir1:dir2         copy CUDA 13 / cuDNN 9 libraries from these folders
#                                      (NVRTC, for the preprocessing kernel, is always copied)
#
# On the host: tar xzf posebatch-bundle.tar.gz && posebatch-bundle/run.sh --synthetic
set -euo pipefail
cd "$(dirname "$0")/.."
ORT_VERSION=1.31.1
DATA="${XDG_DATA_HOME:-$HOME/.local/share}/posebatch"
OUT="out/posebatch-bundle"
FLAVOUR="${BUNDLE_ORT:-gpu}"
say() { printf '\033[1m[bundle]\033[0m %s\n' "$*"; }

rm -rf "$OUT" && mkdir -p "$OUT"/{lib,bin,onnxruntime,models,media,cuda}
BUILD="${CARGO_TARGET_DIR:-target}/release"
install -m 755 "$BUILD/libgstposebatch.so" "$OUT/lib/"
install -m 755 "$BUILD/examples/benchmark" "$BUILD/examples/demo" "$OUT/bin/"
install -m 644 "$DATA"/models/yolo11n-pose.onnx "$DATA"/models/yolo11n-pose-fp16.onnx "$OUT/models/"
install -m 644 "$DATA"/media/pose2sim-multiperson/cam0[1-4].mp4 "$OUT/media/"

pkg=onnxruntime; [ "$FLAVOUR" = gpu ] && pkg=onnxruntime-gpu
say "ONNX Runtime: $pkg $ORT_VERSION"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --dest "$tmp" "$pkg==$ORT_VERSION"
unzip -q -j -o "$tmp"/*.whl 'onnxruntime/capi/*.so*' -d "$OUT/onnxruntime"
rm -f "$OUT"/onnxruntime/onnxruntime_pybind11_state*.so
ln -sf "$(basename "$(ls "$OUT"/onnxruntime/libonnxruntime.so.* | head -n1)")" "$OUT/onnxruntime/libonnxruntime.so"

# NVRTC (installed by `make setup`) compiles the GPU preprocessing kernel on the host.
cp -a "$DATA"/cuda/libnvrtc*.so* "$OUT/cuda/"

if [ -n "${BUNDLE_CUDA_LIBS:-}" ]; then
    IFS=: read -ra dirs <<< "$BUNDLE_CUDA_LIBS"
    for d in "${dirs[@]}"; do cp -a "$d"/*.so* "$OUT/cuda/" 2>/dev/null || true; done
fi

if [ "${BUNDLE_TESTS:-0}" = 1 ]; then
    say "GPU test binaries"
    bash scripts/gpu-test-binaries.sh "$OUT/tests"
fi

if [ "${BUNDLE_GSTREAMER:-0}" != 0 ]; then
    # The plugins the benchmark and tests use; with `full`, MP4/H.264 decoding too.
    plugins="coreelements videotestsrc imagefreeze videoconvertscale app"
    [ "$BUNDLE_GSTREAMER" = full ] && plugins="$plugins isomp4 videoparsersbad libav"
    say "GStreamer runtime ($plugins) and the libraries it needs"
    bash scripts/gst-runtime.sh "$OUT/gst" "$plugins" "$OUT"/bin/* "$OUT"/lib/*.so $(ls "$OUT"/tests/* 2>/dev/null)
fi

cat > "$OUT/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs the benchmark (default) or the demo from this folder, wherever it was unpacked:
#   ./run.sh --synthetic --num-streams 16 --provider cuda
#   ./run.sh demo
#   ./run.sh tests        the GPU tests, when the bundle was made with BUNDLE_TESTS=1
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export GST_PLUGIN_PATH="$here/lib${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
export ORT_DYLIB_PATH="$here/onnxruntime/libonnxruntime.so"
export POSEBATCH_MODEL="$here/models"
export LD_LIBRARY_PATH="$here/onnxruntime:$here/cuda${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The bundle's CUDA folder (NVRTC, and whatever BUNDLE_CUDA_LIBS copied) after the user's.
export POSEBATCH_CUDA_LIBS="${POSEBATCH_CUDA_LIBS:+$POSEBATCH_CUDA_LIBS:}$here/cuda"
if [ -d "$here/gst" ]; then
    export LD_LIBRARY_PATH="$here/gst/lib:$LD_LIBRARY_PATH"
    export GST_PLUGIN_SYSTEM_PATH_1_0="$here/gst/plugins"
    export GST_PLUGIN_SCANNER="$here/gst/gst-plugin-scanner"
    export GST_REGISTRY_1_0="${TMPDIR:-/tmp}/posebatch-bundle-registry-$(id -u).bin"
fi
case "${1:-}" in
    demo) shift; exec "$here/bin/demo" --media "$here/media" "$@" ;;
    tests)
        # The tests find videos and models in the data folder: lay one out over the bundle.
        data=$(mktemp -d)
        mkdir -p "$data/posebatch/media"
        ln -s "$here/media" "$data/posebatch/media/pose2sim-multiperson"
        ln -s "$here/models" "$data/posebatch/models"
        export XDG_DATA_HOME="$data"
        status=0
        for t in "$here"/tests/gstposebatch-*; do "$t" engine::gpu::tests:: --nocapture || status=1; done
        for t in "$here"/tests/gpu-*; do "$t" --nocapture || status=1; done
        for t in "$here"/tests/accuracy-*; do "$t" keypoints_on_gpu --nocapture || status=1; done
        rm -rf "$data"
        exit $status ;;
    *) exec "$here/bin/benchmark" "$@" ;;
esac
RUN
chmod +x "$OUT/run.sh"
tar czf out/posebatch-bundle.tar.gz -C out posebatch-bundle
say "$OUT ($(du -sh "$OUT" | cut -f1)), out/posebatch-bundle.tar.gz"
