"""An MLServer model runtime that runs an ONNX file with ONNX Runtime: the server posebatch's
tests (and `docs/scale-out.md`'s small set-ups) use to serve its model over the Open Inference
Protocol (KServe V2, gRPC). About thirty lines of model; the rest are test aids.

model-settings.json:
    {"name": "yolo11n-pose", "implementation": "posebatch_runtime.OnnxModel",
     "parameters": {"uri": "./model.onnx", "extra": {"delay_ms": 0}}}

Test aids: `delay_ms` makes every answer late (a slow server); with POSEBATCH_CAPTURE set to
a folder, each request's tensor and its description are written there (to compare clients).
"""
import asyncio
import json
import os

import mlserver.grpc.converters as _converters
import mlserver.raw as _raw
import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.codecs.numpy import to_dtype
from mlserver.types import InferenceRequest, InferenceResponse, MetadataTensor, ResponseOutput, TensorData
from mlserver.utils import get_model_uri

# MLServer 1.7.1 turns raw tensor bytes into Python lists and back (about 40 ms a 640x640
# UINT8 frame): read and write them as numpy arrays instead.
_inject, _pack = _raw.inject_raw, _raw._pack_tensor


def _inject_raw(elements, raw_contents):
    if any(e.datatype == "BYTES" for e in elements):
        return _inject(elements, raw_contents)
    i = 0
    for e in elements:
        if not e.data:
            e.data = TensorData.model_construct(root=np.frombuffer(raw_contents[i], dtype=to_dtype(e)))
            i += 1
    return elements


def _pack_tensor(element):
    data = getattr(element.data, "root", element.data)
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data, dtype=to_dtype(element)).tobytes()
    return _pack(element)


_converters.inject_raw = _inject_raw
_raw._pack_tensor = _pack_tensor

DATATYPES = {"tensor(uint8)": "UINT8", "tensor(float)": "FP32", "tensor(float16)": "FP16", "tensor(int64)": "INT64"}


def _metadata(args):
    return [MetadataTensor(name=a.name, datatype=DATATYPES[a.type], shape=[d if isinstance(d, int) else -1 for d in a.shape])
            for a in args]


class OnnxModel(MLModel):
    async def load(self) -> bool:
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get("POSEBATCH_SERVER_THREADS", "0"))
        self._session = ort.InferenceSession(await get_model_uri(self._settings), options,
                                             providers=["CPUExecutionProvider"])
        extra = (self._settings.parameters.extra or {}) if self._settings.parameters else {}
        self._delay = float(extra.get("delay_ms", 0)) / 1000.0
        self.inputs = self.inputs or _metadata(self._session.get_inputs())
        self.outputs = self.outputs or _metadata(self._session.get_outputs())
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        raw = all(isinstance(i.data.root, np.ndarray) for i in payload.inputs)
        feeds = {i.name: NumpyCodec.decode_input(i) for i in payload.inputs}
        self._capture(payload, feeds)
        if self._delay:
            await asyncio.sleep(self._delay)
        names = [o.name for o in self._session.get_outputs()]
        results = [np.ascontiguousarray(r, np.float32) for r in self._session.run(names, feeds)]
        if raw:
            outputs = [ResponseOutput(name=n, datatype="FP32", shape=list(r.shape), data=TensorData.model_construct(root=r))
                       for n, r in zip(names, results)]
        else:
            outputs = [NumpyCodec.encode_output(n, r) for n, r in zip(names, results)]
        return InferenceResponse(model_name=self.name, id=payload.id, outputs=outputs)

    def _capture(self, payload, feeds):
        folder = os.environ.get("POSEBATCH_CAPTURE")
        if not folder:
            return
        os.makedirs(folder, exist_ok=True)
        n = len(os.listdir(folder)) // 2
        description = {
            "model": self.name,
            "inputs": [{"name": i.name, "datatype": i.datatype, "shape": list(i.shape)} for i in payload.inputs],
            "outputs": [o.name for o in payload.outputs or []],
        }
        with open(os.path.join(folder, f"{n:04d}.json"), "w") as f:
            json.dump(description, f)
        np.save(os.path.join(folder, f"{n:04d}.npy"), next(iter(feeds.values())))
