#!/usr/bin/env python3
"""Classifiers whose output is the label: the trained MLP of torch_softmax_l17 (weights read
from that fixture) with `argmax(-1)` as its head, exported by PyTorch's legacy exporter
(opset 17, `ArgMax` with keepdims 0) and its dynamo exporter, into
crates/cli/tests/fixtures/activations/ as torch_argmax_l17 and torch_argmax_d, with
NAME_test.json holding the same 50 held-out digits, onnxruntime's labels as `output_data`
(one per row) and the true `labels`.

Usage (torch, onnx, onnxruntime, onnxscript; the venv of make_activation_fixtures.py):
    python3 assets/scripts/make_argmax_fixtures.py
"""

import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper

DIR = os.path.join(
    os.path.dirname(__file__), "..", "..", "crates", "cli", "tests", "fixtures", "activations"
)


class Classifier(torch.nn.Module):
    def __init__(self, weights):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(64, 48), torch.nn.ReLU(), torch.nn.Linear(48, 10)
        )
        with torch.no_grad():
            for name, p in self.body.named_parameters():
                p.copy_(torch.from_numpy(weights["body." + name]))

    def forward(self, x):
        return self.body(x).argmax(-1)


def main():
    source = onnx.load(os.path.join(DIR, "torch_softmax_l17.onnx"))
    weights = {t.name: numpy_helper.to_array(t) for t in source.graph.initializer}
    model = Classifier(weights).eval()
    with open(os.path.join(DIR, "torch_softmax_l17_test.json")) as f:
        test = json.load(f)
    x = np.array(test["input_data"], dtype=np.float32)
    example = torch.from_numpy(x[:1])
    for stem, dynamo in [("torch_argmax_l17", False), ("torch_argmax_d", True)]:
        path = os.path.join(DIR, stem + ".onnx")
        if dynamo:
            program = torch.onnx.export(
                model, (example,), dynamo=True, dynamic_shapes={"x": {0: "N"}}
            )
            program.save(path)
            m = onnx.load(path)
            for node in m.graph.node:
                del node.metadata_props[:]
            onnx.save(m, path)
        else:
            torch.onnx.export(
                model, (example,), path, dynamo=False, opset_version=17,
                input_names=["x"], output_names=["label"],
                dynamic_axes={"x": {0: "N"}, "label": {0: "N"}},
            )
        sess = ort.InferenceSession(path)
        labels = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        out = {
            "input_data": test["input_data"],
            "output_data": [[int(v)] for v in labels.reshape(-1)],
            "labels": test["labels"],
        }
        with open(os.path.join(DIR, stem + "_test.json"), "w") as f:
            json.dump(out, f, separators=(",", ":"))
        ops = " ".join(n.op_type for n in onnx.load(path).graph.node)
        agree = sum(int(a == b) for a, b in zip(labels.reshape(-1), test["labels"]))
        print(f"{stem}: {ops}; accuracy {agree}/{len(labels)}")


if __name__ == "__main__":
    main()
