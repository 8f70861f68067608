#!/usr/bin/env bash
# The benchmark's shape: four live videotestsrc streams, 1920x1080 at 30 fps in NV12, through
# one posebatch (drop-oldest, so latency stays bounded when inference is slower than 4 x 30
# fps) into fakesink. Nothing is drawn or written: it exercises batching and inference.
#
# Run (after `make install`, or `cargo build --release`):
#   bash pipelines/synthetic.sh
# Environment:
#   NUM_BUFFERS=n       frames per stream, then EOS (default 300 = 10 s; -1 = run until Ctrl-C)
#   STREAMS=n           how many streams (default 4)
#   INPUT_SIZE=n        posebatch input-size (default 640, a multiple of 32)
#   POSEBATCH_PROPS=".." extra posebatch properties, e.g. "execution-provider=cuda max-batch-size=4"
# Add -m through GST_LAUNCH_FLAGS="-m" to see the posebatch-stats bus messages (once a second).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD="${CARGO_TARGET_DIR:-$REPO/target}/release"
if [ -f "$BUILD/libgstposebatch.so" ]; then
    export GST_PLUGIN_PATH="$BUILD${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
fi
NUM_BUFFERS="${NUM_BUFFERS:-300}"
STREAMS="${STREAMS:-4}"
INPUT_SIZE="${INPUT_SIZE:-640}"
POSEBATCH_PROPS="${POSEBATCH_PROPS:-}"

PATTERNS=(ball smpte pinwheel snow)
streams=""
for i in $(seq 0 $((STREAMS - 1))); do
    # A different moving test pattern per stream, live like a camera.
    streams+=" videotestsrc is-live=true num-buffers=$NUM_BUFFERS pattern=${PATTERNS[$((i % 4))]}
               ! video/x-raw,format=NV12,width=1920,height=1080,framerate=30/1 ! p.sink_$i
               p.src_$i ! fakesink sync=false"
done

# -e: Ctrl-C sends EOS, so the run ends cleanly.
# shellcheck disable=SC2086  # the pipeline description is split into words on purpose
exec gst-launch-1.0 -e ${GST_LAUNCH_FLAGS:-} posebatch name=p overflow=drop-oldest input-size="$INPUT_SIZE" $POSEBATCH_PROPS $streams
