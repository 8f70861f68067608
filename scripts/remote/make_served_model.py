#!/usr/bin/env python3
"""Builds the model posebatch serves remotely from yolo11n-pose.onnx, cutting what crosses
the network both ways:

- in: the normalisation moves inside, so clients send letterboxed frames as UINT8 (1.2 MB a
  640x640 frame) instead of FP32 (4.9 MB). The new input `images` is UINT8 [batch, 3, height,
  width], cast to float and divided by 255 (exactly what posebatch's own letterbox does) in
  front of the original graph;
- out: only the TOP anchors with the highest person scores are returned, [batch, 56, TOP]
  instead of [batch, 56, 8400] (67 KB instead of 1.9 MB a frame at TOP=300). posebatch
  decodes any number of anchors; NMS keeps at most max-poses people from them, so the result
  is the same unless a frame holds more people than TOP anchors can cover (0 = all anchors).

    make_served_model.py yolo11n-pose.onnx yolo11n-pose-u8.onnx [TOP]

Needs the `onnx` package (the remote test venv has it).
"""
import sys

import onnx
from onnx import TensorProto, helper

source, target = sys.argv[1], sys.argv[2]
top = int(sys.argv[3]) if len(sys.argv) > 3 else 300
model = onnx.load(source)
graph = model.graph
original = graph.input[0]
dims = [d.dim_param or d.dim_value for d in original.type.tensor_type.shape.dim]

# In: the original input becomes an inner value fed by Cast and Div.
inner = original.name + "_normalised"
for node in graph.node:
    node.input[:] = [inner if name == original.name else name for name in node.input]
graph.initializer.append(helper.make_tensor("posebatch_255", TensorProto.FLOAT, [], [255.0]))
graph.node.insert(0, helper.make_node("Div", [original.name + "_float", "posebatch_255"], [inner]))
graph.node.insert(0, helper.make_node("Cast", [original.name], [original.name + "_float"], to=TensorProto.FLOAT))
graph.input.remove(original)
graph.input.insert(0, helper.make_tensor_value_info(original.name, TensorProto.UINT8, dims))

# Out: the TOP anchors by person score (channel 4), all 56 channels of each.
if top > 0:
    output = graph.output[0]
    full = output.name + "_all"  # [N, 56, A]
    for node in graph.node:
        node.output[:] = [full if name == output.name else name for name in node.output]

    def constant(name, values, dims=None):
        graph.initializer.append(helper.make_tensor(name, TensorProto.INT64, [len(values)] if dims is None else dims, values))
        return name

    def node(op, inputs, out, **attributes):
        graph.node.append(helper.make_node(op, inputs, [out], **attributes))
        return out

    scores = node("Gather", [full, constant("posebatch_score_channel", [4], dims=[])], "posebatch_scores", axis=1)  # [N, A]
    shape = node("Shape", [full], "posebatch_shape")
    n_c = node("Slice", [shape, constant("posebatch_0", [0]), constant("posebatch_2", [2])], "posebatch_n_c")
    anchors = node("Slice", [shape, "posebatch_2", constant("posebatch_3", [3])], "posebatch_anchors")
    k = node("Min", [anchors, constant("posebatch_top", [top])], "posebatch_k")  # fewer anchors: all
    graph.node.append(helper.make_node("TopK", [scores, k], ["posebatch_top_scores", "posebatch_indices"], axis=1))
    indices = node("Unsqueeze", ["posebatch_indices", constant("posebatch_1", [1])], "posebatch_indices_3d")  # [N, 1, K]
    gather_shape = node("Concat", [n_c, k], "posebatch_gather_shape", axis=0)  # [N, 56, K]
    everywhere = node("Expand", [indices, gather_shape], "posebatch_gather_indices")
    node("GatherElements", [full, everywhere], output.name, axis=2)
    output.type.tensor_type.shape.dim[2].Clear()
    output.type.tensor_type.shape.dim[2].dim_param = "anchors"

onnx.checker.check_model(model)
onnx.save(model, target)
print(f"{target}: input {original.name} UINT8 {dims}, output the top {top or 'all'} anchors")
