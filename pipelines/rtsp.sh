#!/usr/bin/env bash
# Network cameras (RTSP, or any URI uridecodebin opens: http, file://) through ONE posebatch,
# each with its skeletons drawn by poseoverlay into its own window.
#
# Run (needs the cameras on the network and a display; after `make install` or
# `cargo build --release`):
#   bash pipelines/rtsp.sh rtsp://camera-1/stream [rtsp://camera-2/stream ...]
# Environment:
#   POSEBATCH_PROPS=".." extra posebatch properties, e.g. "execution-provider=cuda"
# Live sources: posebatch drops the oldest queued frame when inference falls behind.
# Ctrl-C stops it.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD="${CARGO_TARGET_DIR:-$REPO/target}/release"
if [ -f "$BUILD/libgstposebatch.so" ]; then
    export GST_PLUGIN_PATH="$BUILD${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
fi
[ $# -ge 1 ] || { echo "usage: $0 URL [URL ...]   (e.g. rtsp://192.168.1.10:554/stream1)" >&2; exit 2; }
POSEBATCH_PROPS="${POSEBATCH_PROPS:-}"

streams=""
i=0
for url in "$@"; do
    streams+=" uridecodebin uri=$url ! videoconvert ! video/x-raw,format=BGRx ! p.sink_$i
               p.src_$i ! poseoverlay ! videoconvert ! autovideosink sync=false"
    i=$((i + 1))
done

# shellcheck disable=SC2086  # the pipeline description is split into words on purpose
exec gst-launch-1.0 -e posebatch name=p overflow=drop-oldest $POSEBATCH_PROPS $streams
