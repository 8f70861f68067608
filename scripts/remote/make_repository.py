#!/usr/bin/env python3
"""Lays out an MLServer model repository for posebatch's remote inference:

    make_repository.py OUT NAME=MODEL.onnx[,delay_ms=N] [NAME=...]

OUT/settings.json (loopback only, messages up to 256 MiB, models run in the server process)
and OUT/NAME/{model-settings.json,model.onnx} for each model, served by posebatch_runtime.
Start it with `mlserver start OUT` (MLSERVER_GRPC_PORT and MLSERVER_HTTP_PORT choose the ports).
"""
import json
import os
import shutil
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "posebatch_runtime.py"), out)
with open(os.path.join(out, "settings.json"), "w") as f:
    # parallel_workers 0: MLServer 1.7.1's worker processes fail to start with uvloop 0.23.
    json.dump({"host": "127.0.0.1", "grpc_max_message_length": 256 << 20, "parallel_workers": 0,
               "metrics_endpoint": None, "debug": False}, f, indent=2)
for spec in sys.argv[2:]:
    name, rest = spec.split("=", 1)
    path, *options = rest.split(",")
    extra = {k: float(v) for k, v in (o.split("=") for o in options)}
    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    shutil.copy(path, os.path.join(folder, "model.onnx"))
    with open(os.path.join(folder, "model-settings.json"), "w") as f:
        json.dump({"name": name, "implementation": "posebatch_runtime.OnnxModel",
                   "parameters": {"uri": "./model.onnx", "extra": extra}}, f, indent=2)
print(out)
