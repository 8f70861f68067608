#!/usr/bin/env bash
# The soak run: four live camera streams through one posebatch (latency budget, tracking,
# metrics endpoint) for SOAK_MINUTES (default 60), pausing and resuming streams, adding and
# releasing a fifth stream every two minutes; a CSV and a PNG of RSS, latency, frame rate
# and IDs against time in SOAK_OUT (default out/soak); exit 1 if RSS grows by more than
# 20 MB after the first minutes, p99 latency at the end is over 1.25x that of the start,
# or an error reaches the bus.
#
# Run: make soak            (or SOAK_MINUTES=15 make soak)
# Environment:
#   SOAK_MINUTES=n   minutes (default 60)
#   SOAK_OUT=dir     where soak.csv and soak.png go (default out/soak)
#   SOAK_REMOTE=1    run the model on a local inference server (MLServer, from `make setup`)
#                    and kill it and start it again at half time
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
DATA=${XDG_DATA_HOME:-$HOME/.local/share}/posebatch
SOAK=$TARGET/release/examples/soak
[ -x "$SOAK" ] || { echo "soak: $SOAK missing: run make build" >&2; exit 2; }

if [ "${SOAK_REMOTE:-0}" = 1 ]; then
    venv=$DATA/remote-venv/bin
    [ -x "$venv/mlserver" ] || { echo "soak: $venv/mlserver missing: run make setup" >&2; exit 2; }
    work=$(mktemp -d)
    trap '[ -f "$work/pid" ] && kill -9 "$(cat "$work/pid")" 2>/dev/null; rm -rf "$work"' EXIT
    port=$("$venv/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    http=$("$venv/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$venv/python" "$REPO/scripts/remote/make_served_model.py" "$DATA/models/yolo11n-pose.onnx" "$work/served.onnx"
    "$venv/python" "$REPO/scripts/remote/make_repository.py" "$work/repository" "yolo11n-pose=$work/served.onnx"
    start="MLSERVER_GRPC_PORT=$port MLSERVER_HTTP_PORT=$http nohup $venv/mlserver start $work/repository >>$work/server.log 2>&1 & echo \$! > $work/pid; $venv/python $REPO/scripts/remote/wait_ready.py $port yolo11n-pose 120"
    sh -c "$start"
    export SOAK_INFERENCE_SERVER=127.0.0.1:$port
    export SOAK_SERVER_KILL="kill -9 \$(cat $work/pid)"
    export SOAK_SERVER_START="$start"
fi
"$SOAK"
