#!/usr/bin/env python3
"""Classifier heads on the trained MLP of torch_softmax_l17 (weights read from that fixture),
exported by PyTorch's legacy exporter (opset 17) and its dynamo exporter into
crates/cli/tests/fixtures/activations/:
- torch_argmax_l17, torch_argmax_d: `argmax(-1)` as the head (`ArgMax`, keepdims 0), the
  label as the output; NAME_test.json holds onnxruntime's labels as `output_data` (one per
  row);
- torch_two_outputs_l17, torch_two_outputs_d: `(softmax(-1), argmax(-1))`, two graph outputs;
  `output_data` holds the first (the probabilities), `label_data` the second.
Each NAME_test.json also holds the same 50 held-out digits and the true `labels`.

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
    def __init__(self, weights, two=False):
        super().__init__()
        self.two = two
        self.body = torch.nn.Sequential(
            torch.nn.Linear(64, 48), torch.nn.ReLU(), torch.nn.Linear(48, 10)
        )
        with torch.no_grad():
            for name, p in self.body.named_parameters():
                p.copy_(torch.from_numpy(weights["body." + name]))

    def forward(self, x):
        logits = self.body(x)
        if self.two:
            return logits.softmax(-1), logits.argmax(-1)
        return logits.argmax(-1)


def main():
    source = onnx.load(os.path.join(DIR, "torch_softmax_l17.onnx"))
    weights = {t.name: numpy_helper.to_array(t) for t in source.graph.initializer}
    with open(os.path.join(DIR, "torch_softmax_l17_test.json")) as f:
        test = json.load(f)
    x = np.array(test["input_data"], dtype=np.float32)
    example = torch.from_numpy(x[:1])
    for base, two in [("torch_argmax", False), ("torch_two_outputs", True)]:
        model = Classifier(weights, two).eval()
        names = ["probabilities", "label"] if two else ["label"]
        for stem, dynamo in [(base + "_l17", False), (base + "_d", True)]:
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
                    input_names=["x"], output_names=names,
                    dynamic_axes={"x": {0: "N"}, **{n: {0: "N"} for n in names}},
                )
            sess = ort.InferenceSession(path)
            results = sess.run(None, {sess.get_inputs()[0].name: x})
            labels = results[-1].reshape(-1)
            out = {"input_data": test["input_data"]}
            if two:
                out["output_data"] = [[float(v) for v in row] for row in results[0]]
                out["label_data"] = [int(v) for v in labels]
            else:
                out["output_data"] = [[int(v)] for v in labels]
            out["labels"] = test["labels"]
            with open(os.path.join(DIR, stem + "_test.json"), "w") as f:
                json.dump(out, f, separators=(",", ":"))
            ops = " ".join(n.op_type for n in onnx.load(path).graph.node)
            agree = sum(int(a == b) for a, b in zip(labels, test["labels"]))
            print(f"{stem}: {ops}; accuracy {agree}/{len(labels)}")


if __name__ == "__main__":
    main()
