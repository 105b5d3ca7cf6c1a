#!/usr/bin/env python3
"""Residual and MobileNet-style CNNs trained on scikit-learn's digits, for assets/models/.

Writes digits_resnet and digits_mobilenet: `<stem>.onnx` (PyTorch's legacy exporter, opset 13,
dynamic batch), `<stem>_test.json` (the first 50 held-out digits with their labels and
onnxruntime's float outputs) and `<stem>_calibration.json` (the first 200 training rows).

Data: the 8x8 digits scaled to [0, 1] (pixel / 16) and upscaled to 16x16 (each pixel a 2x2
block), split 80/20 as in make_models.py (`train_test_split(test_size=0.2, random_state=0,
stratify=y)`).

- digits_resnet (ResNet-8 style): stem conv 3x3 (8) + BN + ReLU, a basic block with an identity
  shortcut, a basic block to 16 channels at stride 2 with a 1x1-conv + BN shortcut, global
  average pooling, a linear classifier.
- digits_mobilenet: conv 3x3 stride 2 (8) + BN + ReLU, then depthwise 3x3 + BN + ReLU and
  pointwise 1x1 + BN + ReLU twice (8 -> 16, then stride 2, 16 -> 32), global average pooling,
  a linear classifier.

Needs torch, onnx, onnxruntime and scikit-learn. Deterministic on one thread (fixed seeds); a
minute or two on 2 cores.
"""

import json
import os
import sys

import numpy as np

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "models"
)
TEST, CALIB = 50, 200


def data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)
    x = np.kron(x, np.ones((1, 2, 2), dtype=np.float32))[:, None]  # [n, 1, 16, 16]
    return train_test_split(x, d.target, test_size=0.2, random_state=0, stratify=d.target)


def models():
    import torch.nn as nn

    def conv_bn(c_in, c_out, k, stride=1, groups=1):
        return [
            nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(c_out),
        ]

    class Block(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.body = nn.Sequential(
                *conv_bn(c_in, c_out, 3, stride), nn.ReLU(), *conv_bn(c_out, c_out, 3)
            )
            self.short = (
                nn.Identity()
                if stride == 1 and c_in == c_out
                else nn.Sequential(*conv_bn(c_in, c_out, 1, stride))
            )

        def forward(self, x):
            return (self.body(x) + self.short(x)).relu()

    resnet = nn.Sequential(
        *conv_bn(1, 8, 3), nn.ReLU(), Block(8, 8, 1), Block(8, 16, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
    )

    def separable(c_in, c_out, stride):
        return [
            *conv_bn(c_in, c_in, 3, stride, groups=c_in), nn.ReLU(),
            *conv_bn(c_in, c_out, 1), nn.ReLU(),
        ]

    mobilenet = nn.Sequential(
        *conv_bn(1, 8, 3, 2), nn.ReLU(), *separable(8, 16, 1), *separable(16, 32, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    )
    return {"digits_resnet": resnet, "digits_mobilenet": mobilenet}


def train(model, x, y, epochs=60, batch=32, lr=3e-3, seed=0):
    import torch

    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(xt), generator=g)
        for i in range(0, len(xt), batch):
            idx = order[i : i + batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    return model.eval()


def rows(a):
    return [[float(v) for v in r.reshape(-1)] for r in a]


def main():
    import onnxruntime as ort
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    x_tr, x_te, y_tr, y_te = data()
    for stem, model in models().items():
        train(model, x_tr, y_tr)
        path = os.path.join(OUT, stem + ".onnx")
        torch.onnx.export(
            model, (torch.from_numpy(x_te[:1]),), path, dynamo=False, opset_version=13,
            input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}},
        )
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        y_all = sess.run(None, {"x": x_te})[0]
        acc = float((y_all.argmax(1) == y_te).mean())
        with open(os.path.join(OUT, stem + "_test.json"), "w") as f:
            json.dump({
                "input_data": rows(x_te[:TEST]),
                "output_data": rows(y_all[:TEST]),
                "labels": [int(v) for v in y_te[:TEST]],
            }, f)
        with open(os.path.join(OUT, stem + "_calibration.json"), "w") as f:
            json.dump({"input_data": rows(x_tr[:CALIB])}, f)
        params = sum(p.numel() for p in model.parameters())
        print(f"{stem}: {params} parameters, float accuracy {acc:.4f} on {len(y_te)} held out")


if __name__ == "__main__":
    main()
