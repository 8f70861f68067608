#!/usr/bin/env bash
# N synthetic streams from fakesrc through one posebatch into fakesink: fixed-size NV12
# buffers (zeros) with caps, a fresh buffer for every frame, live or not, with timestamps
# or without. It measures what posebatch costs when every frame is new memory, as a
# decoder's output is (imagefreeze, the benchmark's default source, repeats one buffer that
# stays in the CPU's cache), and it exercises streams without timestamps.
#
# Run (after `make install`, or `cargo build --release`):
#   bash pipelines/fakesrc.sh
# Environment:
#   STREAMS=n           how many streams (default 4)
#   NUM_BUFFERS=n       frames per stream, then EOS (default 300)
#   WIDTH, HEIGHT, FPS  frame size and rate (default 1920x1080 at 30)
#   LIVE=true|false     a live source paced by the clock (default true; needs TIMESTAMPS)
#   TIMESTAMPS=true|false  buffers timestamped at FPS (default true)
#   POSEBATCH_PROPS=".." extra posebatch properties, e.g. "max-batch-size=4 input-size=320"
# Add -m through GST_LAUNCH_FLAGS="-m" to see the posebatch-stats bus messages.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD="${CARGO_TARGET_DIR:-$REPO/target}/release"
if [ -f "$BUILD/libgstposebatch.so" ]; then
    export GST_PLUGIN_PATH="$BUILD${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
fi
STREAMS="${STREAMS:-4}"
NUM_BUFFERS="${NUM_BUFFERS:-300}"
WIDTH="${WIDTH:-1920}"
HEIGHT="${HEIGHT:-1080}"
FPS="${FPS:-30}"
LIVE="${LIVE:-true}"
TIMESTAMPS="${TIMESTAMPS:-true}"
POSEBATCH_PROPS="${POSEBATCH_PROPS:-}"

# One NV12 frame: a full-size luma plane and two quarter-size chroma planes.
FRAME_BYTES=$((WIDTH * HEIGHT + 2 * ((WIDTH + 1) / 2) * ((HEIGHT + 1) / 2)))
src="fakesrc num-buffers=$NUM_BUFFERS sizetype=fixed sizemax=$FRAME_BYTES filltype=zero format=time"
if [ "$TIMESTAMPS" = true ]; then
    # fakesrc timestamps by bytes per second: one frame's bytes FPS times a second.
    src+=" datarate=$((FRAME_BYTES * FPS))"
    [ "$LIVE" = true ] && src+=" is-live=true sync=true"
elif [ "$LIVE" = true ]; then
    echo "LIVE=true needs TIMESTAMPS=true (a live source is paced by its timestamps)" >&2
    exit 2
fi
# Without timestamps or live pacing, the posebatch queue back-pressures fakesrc (overflow=block).
overflow=$([ "$LIVE" = true ] && echo drop-oldest || echo block)

streams=""
for i in $(seq 0 $((STREAMS - 1))); do
    streams+=" $src ! video/x-raw,format=NV12,width=$WIDTH,height=$HEIGHT,framerate=$FPS/1 ! p.sink_$i
               p.src_$i ! fakesink sync=false"
done
# shellcheck disable=SC2086  # the pipeline description is split into words on purpose
exec gst-launch-1.0 -e ${GST_LAUNCH_FLAGS:-} posebatch name=p overflow="$overflow" $POSEBATCH_PROPS $streams
