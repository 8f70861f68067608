#!/usr/bin/env python3
"""Sends a tensor saved with numpy to a model on an inference server with NVIDIA's own
client (tritonclient[grpc]), the way Triton's users do, and prints the output's shape and a
checksum: to check that posebatch's requests are what Triton expects.

    triton_infer.py PORT MODEL INPUT_NAME TENSOR.npy
"""
import hashlib
import sys

import numpy as np
import tritonclient.grpc as grpcclient

port, model, input_name, path = sys.argv[1:5]
tensor = np.load(path)
client = grpcclient.InferenceServerClient(url=f"127.0.0.1:{port}")
metadata = client.get_model_metadata(model)
inputs = [grpcclient.InferInput(input_name, list(tensor.shape), metadata.inputs[0].datatype)]
inputs[0].set_data_from_numpy(tensor)  # raw_input_contents
outputs = [grpcclient.InferRequestedOutput(metadata.outputs[0].name)]
result = client.infer(model, inputs, outputs=outputs).as_numpy(metadata.outputs[0].name)
print(f"{list(result.shape)} {hashlib.sha256(result.tobytes()).hexdigest()}")
