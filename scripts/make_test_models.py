#!/usr/bin/env python3
"""Writes tests/data/identity.onnx: a valid ONNX model that is not a pose model (an image
classifier's input shape, passed through), for the bad-input tests. Needs the `onnx` package."""
import sys

import onnx
from onnx import TensorProto, helper

x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 224, 224])
y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 224, 224])
graph = helper.make_graph([helper.make_node("Identity", ["images"], ["output"])], "identity", [x], [y])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, sys.argv[1] if len(sys.argv) > 1 else "tests/data/identity.onnx")
