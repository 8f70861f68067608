#!/usr/bin/env python3
"""Waits until the inference server at 127.0.0.1:PORT says MODEL is ready (Open Inference
Protocol, gRPC, through NVIDIA's own client tritonclient): exits 0 then, 1 after SECONDS.

    wait_ready.py PORT MODEL [SECONDS]
"""
import sys
import time

import tritonclient.grpc as grpcclient

port, model = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + float(sys.argv[3] if len(sys.argv) > 3 else 60)
while time.monotonic() < deadline:
    try:
        client = grpcclient.InferenceServerClient(url=f"127.0.0.1:{port}")
        if client.is_server_ready() and client.is_model_ready(model):
            sys.exit(0)
    except Exception:  # not listening yet
        pass
    time.sleep(0.2)
sys.exit(1)
