#!/usr/bin/env bash
# The four-camera mosaic: cam01..cam04 through ONE posebatch (one batched inference for all
# four), each stream's skeletons drawn by poseoverlay, scaled to half size and tiled 2x2 with
# compositor, then
#   out/demo.mp4   H.264 (x264enc) in MP4, the whole clip
#   out/demo.png   one mosaic frame (the one at 0.5 s, frame 30 of 60 fps; an earlier one
#                  when FRAMES cuts the clip shorter)
#
# Run (after `make setup` and `make install`, or `cargo build --release`):
#   bash pipelines/mosaic.sh
# Environment:
#   MEDIA=dir           where cam01.mp4 .. cam04.mp4 are
#                       (default ${XDG_DATA_HOME:-~/.local/share}/posebatch/media/pose2sim-multiperson)
#   OUT_DIR=dir         where demo.mp4 and demo.png go (default out)
#   FRAMES=n            stop each camera after about n frames (default 0 = all)
#   POSEBATCH_PROPS=".." extra posebatch properties, e.g. "input-size=320"
#   FPS=n/d             the cameras' frame rate, kept by the mosaic (default 60/1)
# The plugin is taken from the release build (${CARGO_TARGET_DIR:-target}/release) when it
# exists, else from the installed copy (~/.local/share/gstreamer-1.0/plugins, `make install`).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD="${CARGO_TARGET_DIR:-$REPO/target}/release"
if [ -f "$BUILD/libgstposebatch.so" ]; then
    export GST_PLUGIN_PATH="$BUILD${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
fi
MEDIA="${MEDIA:-${XDG_DATA_HOME:-$HOME/.local/share}/posebatch/media/pose2sim-multiperson}"
OUT_DIR="${OUT_DIR:-out}"
FRAMES="${FRAMES:-0}"
POSEBATCH_PROPS="${POSEBATCH_PROPS:-}"
for i in 1 2 3 4; do
    [ -f "$MEDIA/cam0$i.mp4" ] || { echo "missing $MEDIA/cam0$i.mp4: run make setup" >&2; exit 1; }
done
mkdir -p "$OUT_DIR"
rm -f "$OUT_DIR"/.mosaic-*.png

# Each tile is half the camera's 1088x1920 (portrait), so the mosaic is 1088x1920 again.
TILE_W=544
TILE_H=960
FPS="${FPS:-60/1}"   # the cameras' frame rate
LIMIT=""
[ "$FRAMES" -gt 0 ] && LIMIT="identity eos-after=$FRAMES !"

cams=""
tiles=""
pads=""
for i in 0 1 2 3; do
    x=$(( (i % 2) * TILE_W ))
    y=$(( (i / 2) * TILE_H ))
    # Decode, convert to RGBx (one of the formats both posebatch and poseoverlay take).
    cams+=" filesrc location=$MEDIA/cam0$((i + 1)).mp4 ! qtdemux ! h264parse ! avdec_h264 ! $LIMIT
            videoconvert ! video/x-raw,format=RGBx ! p.sink_$i"
    # Draw at full size (thicker lines so they survive the halving), then scale to a tile.
    tiles+=" p.src_$i ! poseoverlay line-width=6 point-radius=7 ! videoscale
             ! video/x-raw,width=$TILE_W,height=$TILE_H ! queue ! mix.sink_$i"
    pads+=" sink_$i::xpos=$x sink_$i::ypos=$y"
done

# The compositor's rate is pinned to the cameras' (else the PNG branch's 2/1 would be
# negotiated for both branches through the tee).
# The tee's two branches must not wait on each other: x264enc with tune=zerolatency gives a
# frame out for each frame in (no look-ahead), so both sinks preroll on the first frame.
# shellcheck disable=SC2086  # the pipeline description is split into words on purpose
gst-launch-1.0 -q posebatch name=p $POSEBATCH_PROPS \
    $cams \
    $tiles \
    compositor name=mix background=black $pads ! video/x-raw,framerate=$FPS ! tee name=t \
    t. ! queue ! videoconvert ! x264enc speed-preset=veryfast tune=zerolatency ! video/x-h264,profile=high \
       ! mp4mux ! filesink location="$OUT_DIR/demo.mp4" \
    t. ! queue ! videorate drop-only=true ! video/x-raw,framerate=2/1 ! videoconvert \
       ! pngenc ! multifilesink location="$OUT_DIR/.mosaic-%d.png"

# The frame at 0.5 s if there is one, else the last one written.
png="$OUT_DIR/.mosaic-1.png"
[ -f "$png" ] || png=$(ls "$OUT_DIR"/.mosaic-*.png | sort -V | tail -n 1)
mv "$png" "$OUT_DIR/demo.png"
rm -f "$OUT_DIR"/.mosaic-*.png
echo "wrote $OUT_DIR/demo.mp4 and $OUT_DIR/demo.png"
