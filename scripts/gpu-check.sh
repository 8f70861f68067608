#!/usr/bin/env bash
# The GPU check, prepared here and run on a GPU host that has the NVIDIA driver, CUDA 13 and
# cuDNN 9 as PyPI nvidia-* packages in its python3, but no GStreamer, no Rust and no network,
# and that takes at most 64 MiB per call (the device tool of a development session).
#
#   scripts/gpu-check.sh pack            here: builds and packs what the host needs into parts under
#                                        60 MB (out/gpu-check/part-NN) and prints the exact calls
#   scripts/gpu-check.sh receive PART    on the host, once per part: keeps PART outside the
#                                        repository copy (in $GPU_CHECK_WORK, /tmp/posebatch-gpu-check)
#   scripts/gpu-check.sh run SHA256      on the host after the last part: assembles and unpacks the
#                                        parts, then the GPU tests (kernel vs CPU, keypoints GPU vs CPU,
#                                        the CUDA provider), 4 x 1080p30 at batch 4 with the bare-model
#                                        baseline, and a stream sweep; everything into $OUT as text,
#                                        JSON and the sweep's PNG, with summary.txt on top
#   scripts/gpu-check.sh rehearse        here: pack, receive each part and run, on the CPU and short,
#                                        in a scratch folder with the bundle's own GStreamer: so no
#                                        device minute goes to a script bug
#
# Environment for `run`: PROVIDER (cuda), DURATION (20 s), SWEEP (1,4,16,32,48,64), SWEEP_DURATION
# (10 s), SWEEP_BATCH (16), CUDA_LIBS (colon-separated CUDA/cuDNN folders; default: the python3
# nvidia packages' cu13/lib and cudnn/lib).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
PACK="$REPO/out/gpu-check"
ORT_VERSION=1.31.1
PART_BYTES=59000000
say() { printf '\033[1m[gpu-check]\033[0m %s\n' "$*" >&2; }

# ---- pack (here) ----------------------------------------------------------------------------
pack() {
    cd "$REPO"
    local data="${XDG_DATA_HOME:-$HOME/.local/share}/posebatch"
    local build="${CARGO_TARGET_DIR:-$REPO/target}/release"
    local stage="$PACK/stage"
    rm -rf "$stage" "$PACK"/part-* "$PACK/bundle.tar.xz"
    mkdir -p "$stage"/{lib,bin,tests,onnxruntime,models,frames} "$PACK/cache"

    say "building the plugin, the benchmark and the GPU tests"
    cargo build --release --lib --examples
    bash scripts/gpu-test-binaries.sh "$stage/tests"
    install -m 755 "$build/libgstposebatch.so" "$stage/lib/"
    install -m 755 "$build/examples/benchmark" "$stage/bin/"
    strip --strip-unneeded "$stage"/lib/* "$stage"/bin/* "$stage"/tests/*

    say "ONNX Runtime $ORT_VERSION, GPU build (the CUDA provider; not TensorRT, which the host lacks)"
    if ! ls "$PACK"/cache/onnxruntime_gpu-"$ORT_VERSION"-*.whl >/dev/null 2>&1; then
        python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
            --platform manylinux_2_28_x86_64 --dest "$PACK/cache" "onnxruntime-gpu==$ORT_VERSION"
    fi
    unzip -q -j -o "$PACK"/cache/onnxruntime_gpu-"$ORT_VERSION"-*.whl \
        "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" 'onnxruntime/capi/libonnxruntime_providers_shared.so' \
        'onnxruntime/capi/libonnxruntime_providers_cuda.so' -d "$stage/onnxruntime"
    ln -sf "libonnxruntime.so.$ORT_VERSION" "$stage/onnxruntime/libonnxruntime.so"

    install -m 644 "$data"/models/yolo11n-pose.onnx "$data"/models/yolo11n-pose-fp16.onnx "$stage/models/"

    say "raw NV12 frames 0, 30, 60, 90 of the four cameras (the host cannot decode H.264)"
    local tmp
    tmp=$(mktemp -d)
    for cam in 1 2 3 4; do
        local video="$data/media/pose2sim-multiperson/cam0$cam.mp4"
        local decode="filesrc location=$video ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format=NV12"
        # The caps the tests' own decoding gives (colorimetry decides the YUV matrix).
        gst-launch-1.0 -v $decode ! fakesink num-buffers=1 2>/dev/null \
            | sed -n 's/.*GstCapsFilter.*src: caps = //p' | head -n 1 \
            | python3 -c 'import re, sys
caps = sys.stdin.read().strip()
keep = [f for f in ("format", "width", "height", "framerate", "colorimetry", "chroma-site", "pixel-aspect-ratio")
        if re.search(rf"\b{f}=", caps)]
fields = {m.group(1): m.group(2) for m in re.finditer(r"([a-z-]+)=\(\w+\)([^,]+)", caps)}
print("video/x-raw," + ",".join(f"{k}={fields[k]}" for k in keep if k in fields))' > "$stage/frames/cam0$cam.caps"
        gst-launch-1.0 -q $decode ! identity eos-after=91 ! multifilesink location="$tmp/cam0$cam-%d.raw"
        for i in 0 30 60 90; do mv "$tmp/cam0$cam-$i.raw" "$stage/frames/"; done
        rm -f "$tmp"/*.raw
    done
    rmdir "$tmp"

    say "GStreamer runtime: core, videotestsrc, imagefreeze, app"
    bash "$REPO/scripts/gst-runtime.sh" "$stage/gst" "coreelements videotestsrc imagefreeze app" \
        "$stage"/bin/* "$stage"/lib/*.so "$stage"/tests/*

    say "compressing ($(du -sh "$stage" | cut -f1)) and splitting into parts of $PART_BYTES bytes"
    tar cf - -C "$stage" . | xz -T2 -6 > "$PACK/bundle.tar.xz"
    split -b "$PART_BYTES" -d -a 2 "$PACK/bundle.tar.xz" "$PACK/part-"
    local sha
    sha=$(sha256sum "$PACK/bundle.tar.xz" | cut -d' ' -f1)
    rm "$PACK/bundle.tar.xz"
    local parts=("$PACK"/part-*)
    say "${#parts[@]} parts: $(du -ch "${parts[@]}" | tail -n1 | cut -f1)"
    echo
    echo "The calls, back to back (a warm host goes back after 30 s idle):"
    local last=$((${#parts[@]} - 1)) i=0
    for p in "${parts[@]}"; do
        local rel=${p#"$REPO"/}
        if [ "$i" -lt "$last" ]; then
            echo "  run(command=\"bash scripts/gpu-check.sh receive $rel\", carry=[\"$rel\"], timeout_s=120)"
        else
            echo "  run(command=\"bash scripts/gpu-check.sh receive $rel && bash scripts/gpu-check.sh run $sha\", carry=[\"$rel\"], timeout_s=540)"
        fi
        i=$((i + 1))
    done
}

# ---- receive (host) ---------------------------------------------------------------------------
WORK="${GPU_CHECK_WORK:-/tmp/posebatch-gpu-check}"

receive() {
    mkdir -p "$WORK/parts"
    cp "$1" "$WORK/parts/"
    echo "received $(basename "$1") ($(stat -c %s "$1") bytes); $(ls "$WORK/parts" | wc -l) part(s) in $WORK/parts"
}

# ---- run (host) -------------------------------------------------------------------------------
run_check() {
    local want_sha=$1
    local out="${OUT:-$WORK/out}"
    local bundle="$WORK/bundle"
    mkdir -p "$out"
    local started
    started=$(date +%s)
    cat "$WORK"/parts/part-* > "$WORK/bundle.tar.xz"
    local sha
    sha=$(sha256sum "$WORK/bundle.tar.xz" | cut -d' ' -f1)
    [ "$sha" = "$want_sha" ] || { echo "bundle checksum $sha, expected $want_sha: a part is missing or damaged" | tee "$out/summary.txt"; exit 1; }
    rm -rf "$bundle" && mkdir -p "$bundle"
    if command -v xz >/dev/null; then
        xz -dc "$WORK/bundle.tar.xz" | tar xf - -C "$bundle"
    else
        python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "$WORK/bundle.tar.xz" "$bundle"
    fi
    rm "$WORK/bundle.tar.xz"

    # The host's CUDA 13 and cuDNN 9 (PyPI nvidia-* packages), unless given.
    local cuda_libs="${CUDA_LIBS:-}"
    if [ -z "$cuda_libs" ]; then
        local site
        site=$(python3 -c 'import nvidia, os; print(os.path.dirname(nvidia.__path__[0]))' 2>/dev/null || true)
        [ -n "$site" ] && cuda_libs="$site/nvidia/cu13/lib:$site/nvidia/cudnn/lib"
    fi
    export POSEBATCH_CUDA_LIBS="$cuda_libs"
    export LD_LIBRARY_PATH="$bundle/gst/lib:$bundle/onnxruntime${cuda_libs:+:$cuda_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export GST_PLUGIN_SYSTEM_PATH_1_0="$bundle/gst/plugins"
    export GST_PLUGIN_SCANNER="$bundle/gst/gst-plugin-scanner"
    export GST_PLUGIN_PATH="$bundle/lib"
    export GST_REGISTRY_1_0="$WORK/registry.bin"
    export ORT_DYLIB_PATH="$bundle/onnxruntime/libonnxruntime.so"
    export POSEBATCH_MODEL="$bundle/models"
    export POSEBATCH_TEST_FRAMES="$bundle/frames"
    export XDG_DATA_HOME="$WORK/data"
    mkdir -p "$XDG_DATA_HOME"

    local provider="${PROVIDER:-cuda}" duration="${DURATION:-20}" sweep="${SWEEP:-1,4,16,32,48,64}"
    local sweep_duration="${SWEEP_DURATION:-10}" sweep_batch="${SWEEP_BATCH:-16}"
    local summary="$out/summary.txt"
    : > "$summary"
    # On the GPU host a GPU test that cannot run is a failure, not a skip.
    [ "$provider" = cpu ] || export POSEBATCH_REQUIRE_GPU=1
    step() { # name, command...: runs it into $out/name.txt, notes pass/fail and time in the summary
        local name=$1 t0 status
        shift
        t0=$(date +%s)
        set +e
        "$@" > "$out/$name.txt" 2>&1
        status=$?
        set -e
        printf '%-28s %s (%d s)\n' "$name" "$([ $status = 0 ] && echo ok || echo "FAILED ($status)")" "$(( $(date +%s) - t0 ))" | tee -a "$summary"
    }
    { command -v nvidia-smi >/dev/null && nvidia-smi; } > "$out/nvidia-smi.txt" 2>&1 || true
    echo "posebatch GPU check: provider $provider, CUDA libraries ${cuda_libs:-none}" | tee -a "$summary"
    step tests-kernel "$bundle"/tests/gstposebatch-* engine::gpu::tests:: --nocapture --test-threads=1
    step tests-provider "$bundle"/tests/gpu-* --nocapture --test-threads=1
    step tests-keypoints "$bundle"/tests/accuracy-* keypoints_on_gpu --nocapture
    step bench-4x1080p30-b4 "$bundle/bin/benchmark" --synthetic --num-streams 4 --batch-size 4 --provider "$provider" \
        --duration "$duration" --baseline --json "$out/bench-4x1080p30-b4.json"
    step sweep "$bundle/bin/benchmark" --synthetic --num-streams 1 --duration 2 --batch-size "$sweep_batch" \
        --provider "$provider" --sweep "$sweep" --sweep-duration "$sweep_duration" \
        --json "$out/sweep.json" --plot "$out/sweep.png"
    grep -hE "SKIPPED|people: GPU vs CPU|frames on" "$out"/tests-*.txt | tee -a "$summary" || true
    python3 - "$out" <<'PY' | tee -a "$summary"
import json, os, sys
out = sys.argv[1]
def load(name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
b = load("bench-4x1080p30-b4.json")
if b:
    m = b["measurement"]
    gb = lambda mb: (mb or 0) / 1e3
    print(f"4 x 1080p30, batch 4: {m['fps']:.1f} fps out, e2e p99 {m['e2e_p99_ms']:.1f} ms, inference p99 "
          f"{m['inference_p99_ms']:.2f} ms per batch ({m['inference_clock']} clock), preprocessing p99 "
          f"{m.get('preprocess_p99_ms') or 0:.2f} ms on {m['preprocessing']}, GPU memory peak "
          f"{gb(m.get('gpu_memory_peak_mb')):.2f} GB (this process {gb(m.get('gpu_process_memory_peak_mb')):.2f} GB), "
          f"dropped {m['drop_percent']:.1f} %, provider {m['provider']}, "
          f"{b.get('ratio_to_baseline') or 0:.2f} x the bare model")
    print("machine: " + json.dumps(b.get("machine")))
s = load("sweep.json")
if s:
    for p in s.get("sweep", []):
        print(f"sweep {p['num_streams']:>3} streams: {p['fps']:7.1f} fps, e2e p99 {p['e2e_p99_ms']:7.1f} ms, "
              f"inference p99 {p['inference_p99_ms']:6.2f} ms, dropped {p['drop_percent']:5.1f} %, "
              f"GPU memory peak {(p.get('gpu_memory_peak_mb') or 0) / 1e3:.2f} GB")
PY
    echo "total $(( $(date +%s) - started )) s" | tee -a "$summary"
}

# ---- rehearse (here) --------------------------------------------------------------------------
rehearse() {
    pack
    local work
    work=$(mktemp -d)
    export GPU_CHECK_WORK="$work" OUT="$work/out"
    WORK="$work"
    for p in "$PACK"/part-*; do receive "$p"; done
    local sha
    sha=$(cat "$PACK"/part-* | sha256sum | cut -d' ' -f1)
    # As on the host: nothing from this machine's GStreamer, its data folder or its home;
    # NVRTC from the local set-up stands in for the host's Python nvidia packages.
    local cuda="${CUDA_LIBS:-${XDG_DATA_HOME:-$HOME/.local/share}/posebatch/cuda}"
    HOME=/nonexistent PROVIDER=cpu DURATION=4 SWEEP=1,2 SWEEP_DURATION=3 SWEEP_BATCH=2 \
        CUDA_LIBS="$cuda" run_check "$sha"
    say "rehearsal output in $OUT"
}

case "${1:-}" in
    pack) pack ;;
    receive) receive "$2" ;;
    run) run_check "$2" ;;
    rehearse) rehearse ;;
    *) sed -n '2,25p' "$0"; exit 2 ;;
esac
