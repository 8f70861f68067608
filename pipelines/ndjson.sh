#!/usr/bin/env bash
# One camera's poses to newline-delimited JSON: the video through posebatch and posejson into
# a file, one line per frame ({"stream":0,"pts":...,"width":...,"height":...,"poses":[...]}).
#
# Run (after `make setup` and `make install`, or `cargo build --release`):
#   bash pipelines/ndjson.sh [VIDEO] [OUTPUT]
#   VIDEO   an MP4 (H.264) file; default the installed cam01.mp4
#   OUTPUT  the .ndjson file; default out/cam01.ndjson
# Environment:
#   FRAMES=n            stop after about n frames (default 0 = all)
#   POSEBATCH_PROPS=".." extra posebatch properties, e.g. "score-threshold=0.5"
# Any other container or codec: replace "qtdemux ! h264parse ! avdec_h264" with "decodebin".
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD="${CARGO_TARGET_DIR:-$REPO/target}/release"
if [ -f "$BUILD/libgstposebatch.so" ]; then
    export GST_PLUGIN_PATH="$BUILD${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
fi
VIDEO="${1:-${XDG_DATA_HOME:-$HOME/.local/share}/posebatch/media/pose2sim-multiperson/cam01.mp4}"
OUTPUT="${2:-out/$(basename "${VIDEO%.*}").ndjson}"
FRAMES="${FRAMES:-0}"
POSEBATCH_PROPS="${POSEBATCH_PROPS:-}"
[ -f "$VIDEO" ] || { echo "missing $VIDEO (make setup installs the demo videos)" >&2; exit 1; }
mkdir -p "$(dirname "$OUTPUT")"
LIMIT=""
[ "$FRAMES" -gt 0 ] && LIMIT="identity eos-after=$FRAMES !"

# shellcheck disable=SC2086  # LIMIT and POSEBATCH_PROPS are split into words on purpose
gst-launch-1.0 -q filesrc location="$VIDEO" ! qtdemux ! h264parse ! avdec_h264 ! $LIMIT videoconvert \
    ! posebatch $POSEBATCH_PROPS ! posejson ! filesink location="$OUTPUT"
echo "wrote $OUTPUT ($(wc -l < "$OUTPUT") frames)"
