#!/usr/bin/env python3
"""Builds the static int8 (Q/DQ) twin of yolo11n-pose for ONNX Runtime on the CPU.

    quantize_int8.py FP32_MODEL MEDIA_DIR OUT_MODEL

FP32_MODEL is yolo11n-pose.onnx (../shared/models/PROVENANCE.md), MEDIA_DIR holds the
project's cameras cam01.mp4..cam04.mp4. Needs onnxruntime==1.31.1, onnx, numpy and
opencv-python-headless; takes a few minutes on two cores and writes the same file for the
same inputs on the same machine.

The recipe, each step measured against the fp32 model on the even frames of the four
cameras (see int8_accuracy.py):

1. Calibration frames: odd frame indices only (even ones are kept for accuracy tests),
   every other one (1, 5, 9, ..., 97 of each camera: 100 frames; 50 or 200 did no
   better), "fit" letterboxed as the element does it (long side 640, sides padded to
   multiples of 32, grey 114): 384x640 for these 1088x1920 cameras.
2. The DFL softmax is rewritten without its transpose (same maths in float): ONNX
   Runtime's Softmax over axis 1 was the slowest node left in the int8 graph.
3. Activation ranges: per tensor, the uint8 range with the least squared error over a
   histogram of the calibration activations (better than MinMax, Entropy and Percentile
   here). The input is pinned to [0, 1] (scale 1/255 holds every 8-bit pixel exactly; a
   calibrated range would clip bright pixels). Tensors joined by a Concat share one range,
   so ONNX Runtime's QLinearConcat only copies instead of requantizing.
4. quantize_static, Q/DQ format, uint8 asymmetric activations and per-channel symmetric
   int8 weights; every Conv, SiLU (Sigmoid and Mul), Concat, Add, Split, MaxPool, Resize and
   the attention MatMul/Softmax are quantized (a float SiLU between DQ and Q made the model
   little faster than fp32). Kept in float: the decode (anchor grid, strides, DFL, box and
   keypoint maths), the last convolution of every head branch (cv2/cv3/cv4.N.2), and the
   keypoint branch's middle convolution (cv4.N.1) so the keypoint regression reads
   float features: it halves the median keypoint error for ~10% of the speed-up.
5. Bias correction: each quantized convolution's int32 bias absorbs the mean output shift
   that its own weight and input quantization cause (Wq.E[q(x)] - W.E[x], with E[x] from
   the float model on the calibration frames).
"""
import hashlib
import logging
import math
import os
import re
import sys
import tempfile
import time

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper
from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.calibrate import TensorData, TensorsData, save_tensors_data

CAMERAS = ["cam01.mp4", "cam02.mp4", "cam03.mp4", "cam04.mp4"]
CALIBRATION_FRAMES = range(1, 100, 4)
LONG_SIDE, STRIDE, GREY = 640, 32, 114
BATCH = 4
HISTOGRAM_BINS = 2048
# /model.23 nodes that are quantized: the first two blocks of the box (cv2) and class (cv3)
# branches and the first block of the keypoint branch (cv4); the rest of the head is float.
QUANTIZED_HEAD = re.compile(r"^/model\.23/(cv[23]\.\d/cv[23]\.\d\.[01]|cv4\.\d/cv4\.\d\.0)/")


def fit_letterbox(rgb):
    """The element's "fit" input: long side scaled to 640 (cv2 INTER_LINEAR), each side
    padded to a multiple of 32 with grey 114, the padding split as Ultralytics does.
    Returns the image, the gain and the left and top padding."""
    h, w = rgb.shape[:2]
    gain = min(LONG_SIDE / h, LONG_SIDE / w)
    new_w, new_h = int(round(w * gain)), int(round(h * gain))
    pad_w, pad_h = math.ceil(new_w / STRIDE) * STRIDE - new_w, math.ceil(new_h / STRIDE) * STRIDE - new_h
    left, top = int(round(pad_w / 2 - 0.1)), int(round(pad_h / 2 - 0.1))
    if (new_w, new_h) != (w, h):
        rgb = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    img = cv2.copyMakeBorder(rgb, top, pad_h - top, left, pad_w - left, cv2.BORDER_CONSTANT,
                             value=(GREY, GREY, GREY))
    return img, gain, left, top


def read_frames(path, indices):
    """RGB frames of a video at the wanted frame indices (decoded in order)."""
    wanted, frames = set(indices), {}
    capture = cv2.VideoCapture(path)
    index = 0
    while len(frames) < len(wanted):
        ok, bgr = capture.read()
        if not ok:
            raise SystemExit(f"{path}: only {index} frames, wanted {sorted(wanted - set(frames))}")
        if index in wanted:
            frames[index] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        index += 1
    capture.release()
    return [frames[i] for i in indices]


def to_tensor(images):
    """uint8 HWC RGB images -> float32 NCHW in 0..1, the model's input."""
    return np.ascontiguousarray(np.stack(images).astype(np.float32).transpose(0, 3, 1, 2) / 255.0)


def rewrite_dfl(model):
    """Reshape[b,4,16,A] -> Transpose -> Softmax(axis=1) -> Conv(weights 0..15) becomes
    sum(exp(x - max) * bins) / sum(exp(x - max)) over axis 2: no transpose, same maths."""
    g = model.graph
    nodes = {n.name: n for n in g.node}
    transpose, softmax = nodes["/model.23/dfl/Transpose"], nodes["/model.23/dfl/Softmax"]
    conv, reshape = nodes["/model.23/dfl/conv/Conv"], nodes["/model.23/dfl/Reshape_1"]
    assert transpose.output[0] == softmax.input[0] and softmax.output[0] == conv.input[0]
    assert conv.output[0] == reshape.input[0]
    bins = numpy_helper.to_array(next(i for i in g.initializer if i.name == conv.input[1]))
    assert bins.shape == (1, 16, 1, 1)
    x, p = transpose.input[0], "/model.23/dfl/fast/"
    g.initializer.extend([numpy_helper.from_array(bins.reshape(1, 1, 16, 1), p + "bins"),
                          numpy_helper.from_array(np.array([2], np.int64), p + "axis")])
    new = [helper.make_node("ReduceMax", [x], [p + "max"], name=p + "ReduceMax", axes=[2], keepdims=1),
           helper.make_node("Sub", [x, p + "max"], [p + "shifted"], name=p + "Sub"),
           helper.make_node("Exp", [p + "shifted"], [p + "exp"], name=p + "Exp"),
           helper.make_node("ReduceSum", [p + "exp", p + "axis"], [p + "den"], name=p + "SumExp", keepdims=0),
           helper.make_node("Mul", [p + "exp", p + "bins"], [p + "weighted"], name=p + "MulBins"),
           helper.make_node("ReduceSum", [p + "weighted", p + "axis"], [p + "num"], name=p + "SumWeighted",
                            keepdims=0),
           helper.make_node("Div", [p + "num", p + "den"], [reshape.output[0]], name=p + "Div")]
    old = {transpose.name, softmax.name, conv.name, reshape.name}
    kept = [n for n in g.node if n.name not in old]
    at = next(i for i, n in enumerate(kept) if x in n.output) + 1
    del g.node[:]
    g.node.extend(kept[:at] + new + kept[at:])
    g.initializer.remove(next(i for i in g.initializer if i.name == conv.input[1]))
    assert model.opset_import[0].version < 18  # ReduceMax takes axes as an attribute
    onnx.checker.check_model(model)
    return model


def float_nodes(model):
    """Names of the nodes that stay in float (everything in the head but QUANTIZED_HEAD)."""
    return sorted(n.name for n in model.graph.node
                  if n.name.startswith("/model.23/") and not QUANTIZED_HEAD.match(n.name))


def activations(model, names, batches):
    """Yields, per batch, a dict of the float model's tensors named in names."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    outputs = [n for n in names if n != "images"]
    for name in outputs:
        probe.graph.output.append(helper.make_empty_tensor_value_info(name))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every tensor
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    for x in batches:
        values = dict(zip(outputs, session.run(outputs, {"images": x})))
        values["images"] = x
        yield values


def tensors_to_calibrate(model, excluded):
    """Float activations read or written by the nodes that get quantized."""
    inferred = onnx.shape_inference.infer_shapes(model)
    info = list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)
    is_float = {v.name for v in info if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
    weights = {i.name for i in model.graph.initializer}
    return sorted({t for n in model.graph.node if n.name not in excluded
                   for t in list(n.input) + list(n.output) if t in is_float and t not in weights})


def least_squares_range(counts, edges):
    """The uint8 range (lo <= 0 <= hi) with the least squared quantization error over a
    histogram; candidates are the tails cut at 0 and at 1e-7..1e-2 of the samples."""
    centres = (edges[:-1] + edges[1:]) / 2
    cdf = np.cumsum(counts) / counts.sum()
    tails = np.concatenate([[0.0], np.geomspace(1e-7, 1e-2, 60)])
    his = np.unique(centres[np.clip(np.searchsorted(cdf, 1 - tails), 0, len(centres) - 1)].tolist() + [edges[-1]])
    los = np.unique(centres[np.clip(np.searchsorted(cdf, tails), 0, len(centres) - 1)].tolist() + [edges[0]])
    his, los = his[his > 0], los[los < 0]
    his = his if len(his) else np.array([max(edges[-1], 1e-8)])
    los = los if len(los) else np.array([0.0])
    used = counts > 0
    c, n = centres[used], counts[used]
    best = (np.inf, 0.0, 0.0)
    for hi in his:
        scale = (hi - los) / 255.0  # one candidate per lo
        zero = np.round(-los / scale)
        q = np.clip(np.round(c[None, :] / scale[:, None]) + zero[:, None], 0, 255)
        err = ((((q - zero[:, None]) * scale[:, None]) - c[None, :]) ** 2 * n[None, :]).sum(axis=1)
        i = int(np.argmin(err))
        if err[i] < best[0]:
            best = (err[i], float(los[i]), float(hi))
    return best[1], best[2]


def calibrate(model, names, batches):
    """Least-squares ranges from two passes: min/max, then a histogram over [min, max]."""
    lo = {n: np.inf for n in names}
    hi = {n: -np.inf for n in names}
    for values in activations(model, names, batches):
        for n in names:
            lo[n] = min(lo[n], float(values[n].min()))
            hi[n] = max(hi[n], float(values[n].max()))
    counts = {n: np.zeros(HISTOGRAM_BINS, np.int64) for n in names}
    for values in activations(model, names, batches):
        for n in names:
            width = max(hi[n] - lo[n], 1e-12)
            index = ((values[n].ravel() - lo[n]) * (HISTOGRAM_BINS / width)).astype(np.int64)
            counts[n] += np.bincount(np.clip(index, 0, HISTOGRAM_BINS - 1), minlength=HISTOGRAM_BINS)
    ranges = {}
    for n in names:
        edges = np.linspace(lo[n], hi[n], HISTOGRAM_BINS + 1)
        ranges[n] = least_squares_range(counts[n].astype(np.float64), edges)
    return ranges


def share_concat_ranges(model, excluded, ranges):
    """One range (the union) for every group of tensors joined by a quantized Concat, Split,
    MaxPool or Resize: QLinearConcat then copies bytes instead of requantizing each input."""
    parent = {}

    def root(t):
        while parent.get(t, t) != t:
            t = parent[t]
        return t

    for n in model.graph.node:
        if n.name not in excluded and n.op_type in ("Concat", "Split", "MaxPool", "Resize"):
            joined = [t for t in list(n.input) + list(n.output) if t in ranges]
            for t in joined[1:]:
                parent[root(t)] = root(joined[0])
    groups = {}
    for t in ranges:
        groups.setdefault(root(t), []).append(t)
    for members in groups.values():
        lo, hi = min(ranges[t][0] for t in members), max(ranges[t][1] for t in members)
        for t in members:
            ranges[t] = (lo, hi)
    return sum(1 for m in groups.values() if len(m) > 1)


def correct_biases(float_model, qdq_model, batches):
    """Folds each quantized Conv's mean output error, Wq.E[q(x)] - W.E[x], into its int32
    bias (x: the Conv's input in the float model, q: the Q/DQ model's quantization of it)."""
    weights = {i.name: numpy_helper.to_array(i) for i in float_model.graph.initializer}
    float_convs = {n.name: n for n in float_model.graph.node if n.op_type == "Conv"}
    inits = {i.name: i for i in qdq_model.graph.initializer}
    array = lambda name: numpy_helper.to_array(inits[name])  # noqa: E731
    producer = {o: n for n in qdq_model.graph.node for o in n.output}
    convs = [(n, producer[n.input[0]], producer[n.input[1]], producer[n.input[2]]) for n in qdq_model.graph.node
             if n.op_type == "Conv" and len(n.input) == 3 and producer.get(n.input[1]) is not None
             and producer[n.input[1]].op_type == "DequantizeLinear"]
    quant = {float_convs[n.name].input[0]: (float(array(x_dq.input[1])), int(array(x_dq.input[2])))
             for n, x_dq, _, _ in convs}
    mean, mean_q, count = {}, {}, 0
    for values in activations(float_model, sorted(quant), batches):
        for name, (scale, zero) in quant.items():
            x = values[name]
            xq = (np.clip(np.round(x / scale) + zero, 0, 255) - zero) * scale
            mean[name] = mean.get(name, 0) + x.astype(np.float64).mean(axis=(2, 3)).sum(axis=0)
            mean_q[name] = mean_q.get(name, 0) + xq.astype(np.float64).mean(axis=(2, 3)).sum(axis=0)
        count += len(next(iter(values.values())))
    for n, _, w_dq, b_dq in convs:
        f = float_convs[n.name]
        w = weights[f.input[1]].astype(np.float64).sum(axis=(2, 3))  # [out, in/group]
        wq = (array(w_dq.input[0]).astype(np.float64) * array(w_dq.input[1]).reshape(-1, 1, 1, 1)).sum(axis=(2, 3))
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        per_in, per_out = w.shape[1], w.shape[0] // group
        ex, exq = mean[f.input[0]] / count, mean_q[f.input[0]] / count
        shift = np.array([wq[o] @ exq[o // per_out * per_in:(o // per_out + 1) * per_in]
                          - w[o] @ ex[o // per_out * per_in:(o // per_out + 1) * per_in] for o in range(w.shape[0])])
        bias = array(b_dq.input[0]).astype(np.int64) - np.round(shift / array(b_dq.input[1])).astype(np.int64)
        inits[b_dq.input[0]].CopyFrom(numpy_helper.from_array(bias.astype(np.int32), b_dq.input[0]))
    return len(convs)


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__.split("\n\n")[1])
    fp32_path, media, out_path = sys.argv[1:]
    start = time.perf_counter()
    # quantize_static suggests onnxruntime.quantization.preprocess; for this model it changes
    # nothing that matters (the export is already simplified and shape-inferred), so quiet it.
    logging.getLogger().setLevel(logging.ERROR)

    images = []
    for camera in CAMERAS:
        images += [fit_letterbox(rgb)[0] for rgb in read_frames(os.path.join(media, camera), CALIBRATION_FRAMES)]
    shapes = sorted({im.shape[:2] for im in images})
    batches = [to_tensor(images[i:i + BATCH]) for i in range(0, len(images), BATCH)]
    print(f"calibration: {len(images)} frames (odd indices {CALIBRATION_FRAMES.start}, {CALIBRATION_FRAMES.start + CALIBRATION_FRAMES.step}, "
          f"..., {CALIBRATION_FRAMES[-1]} of {len(CAMERAS)} cameras), input HxW {shapes}")

    model = rewrite_dfl(onnx.load(fp32_path))
    excluded = float_nodes(model)
    names = tensors_to_calibrate(model, excluded)
    t = time.perf_counter()
    ranges = calibrate(model, [n for n in names if n != "images"], batches)
    ranges["images"] = (0.0, 1.0)
    groups = share_concat_ranges(model, excluded, ranges)
    print(f"ranges: {len(ranges)} tensors, least-squares uint8 ranges, {groups} shared Concat groups "
          f"({time.perf_counter() - t:.0f} s)")

    with tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, "ranges.json")
        data = {n: TensorData(lowest=np.array(lo, np.float32), highest=np.array(hi, np.float32))
                for n, (lo, hi) in ranges.items()}
        save_tensors_data(TensorsData(CalibrationMethod.MinMax, data), cache)
        float_path, qdq_path = os.path.join(tmp, "float.onnx"), os.path.join(tmp, "qdq.onnx")
        onnx.save(model, float_path)
        quantize_static(float_path, qdq_path, None, calibration_cache_path=cache,
                        calibrate_method=CalibrationMethod.MinMax, quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        per_channel=True, reduce_range=False, nodes_to_exclude=excluded)
        qdq = onnx.load(qdq_path)

    t = time.perf_counter()
    corrected = correct_biases(model, qdq, batches)
    print(f"bias correction: {corrected} convolutions ({time.perf_counter() - t:.0f} s)")
    float_convs = [n for n in excluded if n.endswith("Conv") and "/dfl/" not in n]
    print(f"kept in float: the decode and {len(float_convs)} head convolutions: {', '.join(float_convs)}")

    onnx.save(qdq, out_path)
    digest = hashlib.sha256(open(out_path, "rb").read()).hexdigest()
    print(f"wrote {out_path}: {os.path.getsize(out_path)} bytes, sha256 {digest} "
          f"({time.perf_counter() - start:.0f} s in all)")


if __name__ == "__main__":
    main()
