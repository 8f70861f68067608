#!/usr/bin/env bash
# A webcam, live, with its skeletons drawn: v4l2src through posebatch (drop-oldest for a live
# source: when inference is slower than the camera, old frames are dropped, latency stays
# low) and poseoverlay to a window.
#
# Run (needs a V4L2 camera and a display; after `make install` or `cargo build --release`):
#   bash pipelines/camera.sh
# Environment:
#   DEVICE=/dev/videoN  the camera (default /dev/video0)
#   POSEBATCH_PROPS=".." extra posebatch properties, e.g. "input-size=320" on a slow CPU
# Ctrl-C stops it.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD="${CARGO_TARGET_DIR:-$REPO/target}/release"
if [ -f "$BUILD/libgstposebatch.so" ]; then
    export GST_PLUGIN_PATH="$BUILD${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
fi
DEVICE="${DEVICE:-/dev/video0}"
POSEBATCH_PROPS="${POSEBATCH_PROPS:-}"
[ -e "$DEVICE" ] || { echo "no camera at $DEVICE (set DEVICE=/dev/videoN)" >&2; exit 1; }

# BGRx: a format posebatch, poseoverlay and most video sinks share.
# shellcheck disable=SC2086  # POSEBATCH_PROPS is split into words on purpose
exec gst-launch-1.0 -e v4l2src device="$DEVICE" ! videoconvert ! video/x-raw,format=BGRx \
    ! posebatch overflow=drop-oldest $POSEBATCH_PROPS ! poseoverlay ! videoconvert ! autovideosink sync=false
