#!/usr/bin/env python3
"""Small ONNX exports from the real exporters, for the import tests.

Writes, into crates/cli/tests/fixtures/exporters/ (or the directory given as the first
argument), one NAME.onnx per model and NAME.json with a few inputs ("input_data", flat rows)
and onnxruntime's float outputs ("output_data"). The Rust tests check that each imports, that
the float reference agrees with onnxruntime, and that the CLI sets up, proves and verifies the
ones whose ops are all supported (or refuses the others with exit code 3).

What each model exercises:
- torch_view_opset{11,13,17}: the legacy exporter (dynamo=False) with a dynamic batch axis and
  `x.view(x.size(0), -1)` (Shape -> Gather -> Unsqueeze -> Concat -> Reshape).
- torch_view_dynamo: the same module through the dynamo exporter (skipped if it fails).
- torch_ceil_pool: MaxPool2d(ceil_mode=True), with and without padding, on odd sizes.
- torch_ceil_last_window: a ceil-mode window that would start in the end padding (dropped);
  its stored outputs are PyTorch's (onnxruntime rejects this graph, see the class).
- torch_float64: a float64 model (`model.double()`): float64 input and initializers.
- torch_cast_input: a float64 input cast to float32 inside the model (a Cast on the chain).
- torch_residual: an MLP whose Add joins two branches (a residual: the graph is a DAG).
- torch_avgpool{,_dynamo}: AvgPool2d (plain, and padded with count_include_pad), a ReLU after
  a pool, AdaptiveAvgPool2d(1) (GlobalAveragePool, or ReduceMean from the dynamo exporter).
- torch_mean: the same network with `x.mean((2, 3))` (ReduceMean with keepdims=0).
- torch_normalised: `(x - mean) / std` per channel inside forward, and `x * 0.5 + 0.1`
  before the classifier (Sub, Div, Mul, Add by constants).
- torch_mobile: a MobileNet-style block: depthwise and pointwise convs with BatchNorm, a
  grouped dilated conv, global average pooling.
- torch_resnet{,_dynamo}: a ResNet-style CNN: a conv-BN-ReLU stem, a basic block with an
  identity shortcut, one with a stride-2 1x1-conv downsample shortcut, global average pooling,
  a classifier (legacy and dynamo exporters; the same weights).
- torch_cnn1d{,_dynamo}: a 1-D CNN (Conv1d, MaxPool1d, a strided padded Conv1d, AvgPool1d,
  Flatten, Linear) on [N, C, L].
- torch_pad{,_dynamo}: zero Pads: nn.ZeroPad2d before a Conv2d, F.pad before an AvgPool2d, and
  F.pad of a ReLU's output before a MaxPool2d.
- torch_unflatten{,_dynamo}: a conv after a dense layer through nn.Unflatten (the dense
  layer's output is relaid out for the conv, a proven permutation).
- torch_permuted: `x.transpose(2, 3)` between two convs (a Transpose that moves data).
- torch_concat{,_dynamo}: three branches (1x1 conv, 3x3 conv, max-pool) joined by torch.cat
  along the channels, a ReLU after.
- torch_pixel_shuffle{,_dynamo}: nn.PixelShuffle (DepthToSpace) between two convs.
- torch_upsample{,_dynamo}: a U-Net step: nn.Upsample(scale_factor=2) (a nearest Resize) of a
  strided conv's output, summed with the skip connection.
- torch_slice{,_dynamo}: slices of activations (a crop, every second channel) and x[:, 0] (a
  Gather), joined by a sum and a concatenation.
- torch_conv_transpose{,_dynamo}: a U-Net decoder: two ConvTranspose2d (stride 2; one with
  padding and output_padding).
- skl_mlp_regressor: scikit-learn's MLPRegressor through skl2onnx (a Cast of the input, a
  final Reshape to [-1, 1]).
- skl_mlp_classifier: MLPClassifier (two graph outputs: label, in output_data, and
  probabilities, in probabilities_data).
- keras_mlp: a Keras 3 model through `model.export(format="onnx")` (tf2onnx)
- keras_cnn: a Keras 3 CNN (NHWC, so Transposes around the conv and before Flatten). The keras_
  models are written only when tensorflow and tf2onnx import; run this script with a Python
  that has them, e.g. a second venv, to add them.

Needs torch, onnx, onnxruntime (and onnxscript for the dynamo exporter; scikit-learn and
skl2onnx for the skl_ models). Weights are random with a fixed seed; the files are a few KB
each.
"""

import json
import os
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "..", "crates", "cli", "tests", "fixtures", "exporters"
)
SAMPLES = 4


def write_json(name, x, y, extra=None):
    doc = {
        "input_data": [[float(v) for v in row.reshape(-1)] for row in x],
        "output_data": [[float(v) for v in row.reshape(-1)] for row in y],
    }
    doc.update(extra or {})
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(doc, f)


def ort_outputs(path, x, output=0):
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    # one sample at a time: also checks the dynamic batch axis with N = 1
    rows = [sess.run(None, {name: x[i : i + 1]})[output] for i in range(len(x))]
    both = sess.run(None, {name: x})[output]
    assert np.allclose(np.concatenate(rows), both, atol=1e-5), path
    return both


def torch_models():
    import torch
    import torch.nn as nn

    torch.manual_seed(7)

    class ViewNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)
            self.pool = nn.MaxPool2d(2)
            self.fc1 = nn.Linear(4 * 3 * 3, 16)
            self.fc2 = nn.Linear(16, 5)

        def forward(self, x):
            x = self.pool(torch.relu(self.conv(x)))
            x = x.view(x.size(0), -1)
            return self.fc2(torch.relu(self.fc1(x)))

    class CeilPool(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 3, 3, padding=1)
            self.pool1 = nn.MaxPool2d(2, ceil_mode=True)
            self.conv2 = nn.Conv2d(3, 4, 3, padding=2)
            self.pool2 = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
            self.fc = nn.Linear(4 * 4 * 4, 5)

        def forward(self, x):
            x = self.pool1(torch.relu(self.conv(x)))  # 7x7 -> 4x4 (floor would give 3x3)
            x = self.pool2(torch.relu(self.conv2(x)))  # 6x6 -> 4x4 (floor: 3x3), pads 1
            return self.fc(torch.flatten(x, 1))

    class LastWindow(nn.Module):
        """5x5, kernel 2, stride 2, pads 1, ceil_mode: the ceil formula gives 4, but the 4th
        window would start in the end padding and is dropped (ONNX spec, PyTorch, tract): 3x3.
        onnx's shape inference keeps it, so onnxruntime rejects the graph: the outputs stored
        are PyTorch's."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.pool = nn.MaxPool2d(2, stride=2, padding=1, ceil_mode=True)
            self.fc = nn.Linear(2 * 3 * 3, 4)

        def forward(self, x):
            x = self.pool(torch.relu(self.conv(x)))
            return self.fc(torch.flatten(x, 1))

    class Mlp(nn.Module):
        def __init__(self, cast=False):
            super().__init__()
            self.cast = cast
            self.fc1 = nn.Linear(12, 16)
            self.fc2 = nn.Linear(16, 4)

        def forward(self, x):
            if self.cast:
                x = x.float()
            return self.fc2(torch.relu(self.fc1(x)))

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(12, 12)
            self.fc2 = nn.Linear(12, 12)
            self.fc3 = nn.Linear(12, 4)

        def forward(self, x):
            h = torch.relu(self.fc1(x))
            h = h + self.fc2(h)
            return self.fc3(h)

    class AvgNet(nn.Module):
        """Average pools as CIFAR-style networks write them: AvgPool2d(2), a padded
        AvgPool2d(3, stride=1, padding=1) (count_include_pad=True, PyTorch's default), a ReLU
        after a pool, and a global average (AdaptiveAvgPool2d(1), or x.mean((2, 3)) when
        `mean`) before the classifier."""

        def __init__(self, mean=False):
            super().__init__()
            self.mean = mean
            self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
            self.pool1 = nn.AvgPool2d(2)
            self.conv2 = nn.Conv2d(4, 6, 3)
            self.pool2 = nn.AvgPool2d(3, stride=1, padding=1)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(6, 5)

        def forward(self, x):
            x = self.pool1(torch.relu(self.conv1(x)))  # 8x8 -> 4x4
            x = torch.relu(self.pool2(self.conv2(x)))  # 2x2 -> 2x2
            x = x.mean((2, 3)) if self.mean else torch.flatten(self.gap(x), 1)
            return self.fc(x)

    class Normalised(nn.Module):
        """Normalisation inside forward: `(x - mean) / std` per channel before a padded
        conv (a diagonal op: the shift cannot fold into padding), `x * 0.5 + 0.1` before the
        classifier (folded into it)."""

        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.tensor([0.2, -0.1, 0.3]).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor([0.5, 0.8, 1.2]).view(1, 3, 1, 1))
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.fc = nn.Linear(4 * 3 * 3, 5)

        def forward(self, x):
            x = (x - self.mean) / self.std
            x = self.pool(torch.relu(self.conv(x)))
            return self.fc(torch.flatten(x, 1) * 0.5 + 0.1)

    class MobileBlock(nn.Module):
        """MobileNet-style: a strided conv, then depthwise 3x3 (groups = channels) + BN + ReLU
        and pointwise 1x1 + BN + ReLU, a dilated conv, global average pooling, a classifier.
        BN statistics are randomised so that folding them matters."""

        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
            self.bn0 = nn.BatchNorm2d(8)
            self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.pw = nn.Conv2d(8, 12, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(12)
            self.dilated = nn.Conv2d(12, 12, 3, padding=2, dilation=2, groups=4)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(12, 5)
            for bn in (self.bn0, self.bn1, self.bn2):
                bn.running_mean.uniform_(-0.2, 0.2)
                bn.running_var.uniform_(0.5, 1.5)
                bn.weight.data.uniform_(0.5, 1.5)
                bn.bias.data.uniform_(-0.2, 0.2)

        def forward(self, x):
            x = torch.relu(self.bn0(self.stem(x)))
            x = torch.relu(self.bn1(self.dw(x)))
            x = torch.relu(self.bn2(self.pw(x)))
            x = torch.relu(self.dilated(x))
            return self.fc(torch.flatten(self.gap(x), 1))

    class BasicBlock(nn.Module):
        """ResNet basic block: conv-BN-ReLU, conv-BN, plus the shortcut (the input, or a strided
        1x1 conv + BN when the shape changes), then ReLU."""

        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.down = None
            if stride != 1 or c_in != c_out:
                self.down = nn.Sequential(
                    nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
                )

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            shortcut = x if self.down is None else self.down(x)
            return torch.relu(out + shortcut)

    class ResNet(nn.Module):
        """A small ResNet: stem, an identity block, a downsampling block, global average
        pooling, a classifier. BN statistics are randomised as in MobileBlock."""

        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.bn0 = nn.BatchNorm2d(8)
            self.block1 = BasicBlock(8, 8, 1)
            self.block2 = BasicBlock(8, 16, 2)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(16, 5)
            for bn in (m for m in self.modules() if isinstance(m, nn.BatchNorm2d)):
                bn.running_mean.uniform_(-0.2, 0.2)
                bn.running_var.uniform_(0.5, 1.5)
                bn.weight.data.uniform_(0.5, 1.5)
                bn.bias.data.uniform_(-0.2, 0.2)

        def forward(self, x):
            x = torch.relu(self.bn0(self.stem(x)))
            x = self.block2(self.block1(x))
            return self.fc(torch.flatten(self.gap(x), 1))

    class Cnn1d(nn.Module):
        """A 1-D CNN on [N, 2, 32]: Conv1d + ReLU + MaxPool1d, a strided padded Conv1d + ReLU +
        AvgPool1d, Flatten, Linear."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv1d(2, 6, 5, padding=2)
            self.pool1 = nn.MaxPool1d(2)
            self.conv2 = nn.Conv1d(6, 8, 3, stride=2, padding=1)
            self.pool2 = nn.AvgPool1d(2)
            self.fc = nn.Linear(8 * 4, 5)

        def forward(self, x):
            x = self.pool1(torch.relu(self.conv1(x)))  # L 32 -> 32 -> 16
            x = self.pool2(torch.relu(self.conv2(x)))  # 16 -> 8 -> 4
            return self.fc(torch.flatten(x, 1))

    class PadNet(nn.Module):
        """Zero Pads: nn.ZeroPad2d before a Conv2d, F.pad before an AvgPool2d, and F.pad of a
        ReLU's output before a MaxPool2d (each folded into the padding of the op after it)."""

        def __init__(self):
            super().__init__()
            self.pad = nn.ZeroPad2d((1, 2, 0, 1))
            self.conv1 = nn.Conv2d(1, 4, 3)
            self.avg = nn.AvgPool2d(2)
            self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
            self.max = nn.MaxPool2d(2)
            self.fc = nn.Linear(6 * 2 * 3, 5)

        def forward(self, x):
            x = torch.relu(self.conv1(self.pad(x)))  # 8x8 -> 9x11 -> 7x9
            x = self.avg(nn.functional.pad(x, (1, 0, 1, 0)))  # 8x10 -> 4x5
            x = torch.relu(self.conv2(x))  # 4x5
            x = self.max(nn.functional.pad(x, (0, 1, 0, 1)))  # 5x6 -> 2x3
            return self.fc(torch.flatten(x, 1))

    def export(name, module, shape, dtype=torch.float32, opset=13, dynamo=False, ort=True):
        module = module.eval()
        x = torch.randn(SAMPLES, *shape, dtype=dtype) * 0.8
        path = os.path.join(OUT, name + ".onnx")
        kwargs = dict(input_names=["x"], output_names=["y"], opset_version=opset)
        if dynamo:
            batch = torch.export.Dim("batch", min=1, max=64)
            torch.onnx.export(
                module, (x,), path, dynamo=True, dynamic_shapes={"x": {0: batch}}, **kwargs
            )
            import onnx

            # one self-contained file (the dynamo exporter writes weights apart)
            onnx.save(onnx.load(path), path, save_as_external_data=False)
            if os.path.exists(path + ".data"):
                os.remove(path + ".data")
        else:
            kwargs["dynamic_axes"] = {"x": {0: "N"}, "y": {0: "N"}}
            torch.onnx.export(module, (x,), path, dynamo=False, **kwargs)
        xn = x.numpy()
        with torch.no_grad():
            ref = module(x).double().numpy()
        y = ort_outputs(path, xn) if ort else ref.astype(np.float32)
        assert np.allclose(y, ref, atol=1e-4), name
        write_json(name, xn, y)
        print(f"{name}: {os.path.getsize(path)} bytes")

    view = ViewNet()
    for opset in (11, 13, 17):
        export(f"torch_view_opset{opset}", view, (1, 8, 8), opset=opset)
    try:
        export("torch_view_dynamo", view, (1, 8, 8), opset=18, dynamo=True)
    except Exception as e:  # the dynamo exporter needs onnxscript; it is optional here
        print(f"torch_view_dynamo skipped: {type(e).__name__}: {e}")
    export("torch_ceil_pool", CeilPool(), (1, 7, 7))
    export("torch_ceil_last_window", LastWindow(), (1, 5, 5), ort=False)
    export("torch_float64", Mlp().double(), (12,), dtype=torch.float64)
    export("torch_cast_input", Mlp(cast=True), (12,), dtype=torch.float64)
    export("torch_residual", Residual(), (12,))
    avg = AvgNet()
    export("torch_avgpool", avg, (1, 8, 8))
    export("torch_mean", AvgNet(mean=True), (1, 8, 8), opset=17)
    try:
        export("torch_avgpool_dynamo", avg, (1, 8, 8), opset=18, dynamo=True)
    except Exception as e:
        print(f"torch_avgpool_dynamo skipped: {type(e).__name__}: {e}")
    export("torch_normalised", Normalised(), (3, 6, 6))
    export("torch_mobile", MobileBlock(), (3, 16, 16))
    # new models go last: the ones above keep their random weights
    resnet = ResNet()
    export("torch_resnet", resnet, (3, 16, 16))
    try:
        export("torch_resnet_dynamo", resnet, (3, 16, 16), opset=18, dynamo=True)
    except Exception as e:
        print(f"torch_resnet_dynamo skipped: {type(e).__name__}: {e}")
    cnn1d, pad = Cnn1d(), PadNet()
    export("torch_cnn1d", cnn1d, (2, 32))
    export("torch_pad", pad, (1, 8, 8))
    for name, module, shape in (("torch_cnn1d", cnn1d, (2, 32)), ("torch_pad", pad, (1, 8, 8))):
        try:
            export(f"{name}_dynamo", module, shape, opset=18, dynamo=True)
        except Exception as e:
            print(f"{name}_dynamo skipped: {type(e).__name__}: {e}")
    layout_models(export)


def layout_models(export):
    """Layouts the proof permutes (relayout layers): a conv after a dense layer through
    nn.Unflatten, a Transpose of H and W between two convs, a torch.cat of three branches, a
    PixelShuffle, a nearest Upsample, slices and a Gather, transposed convolutions.
    Seeded apart, so that models added above keep these weights."""
    import torch
    import torch.nn as nn

    torch.manual_seed(11)

    class Unflatten(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(16, 4 * 3 * 3)
            self.unflatten = nn.Unflatten(1, (4, 3, 3))
            self.conv = nn.Conv2d(4, 6, 3, padding=1)
            self.fc2 = nn.Linear(6 * 3 * 3, 5)

        def forward(self, x):
            x = self.unflatten(torch.relu(self.fc1(x)))
            return self.fc2(torch.flatten(torch.relu(self.conv(x)), 1))

    class Permuted(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
            self.conv2 = nn.Conv2d(4, 4, (3, 1))
            self.fc = nn.Linear(4 * 2 * 6, 5)

        def forward(self, x):
            x = torch.relu(self.conv1(x)).transpose(2, 3)  # [4, 6, 4] -> [4, 4, 6]
            return self.fc(torch.flatten(torch.relu(self.conv2(x)), 1))

    class Inception(nn.Module):
        """Three branches of the input concatenated along the channels (torch.cat)."""

        def __init__(self):
            super().__init__()
            self.b1 = nn.Conv2d(2, 3, 1)
            self.b3 = nn.Conv2d(2, 4, 3, padding=1)
            self.pool = nn.MaxPool2d(3, stride=1, padding=1)
            self.fc = nn.Linear((3 + 4 + 2) * 6 * 6, 5)

        def forward(self, x):
            y = torch.cat([torch.relu(self.b1(x)), self.b3(x), self.pool(x)], 1)
            return self.fc(torch.flatten(torch.relu(y), 1))

    class Shuffle(nn.Module):
        """A sub-pixel convolution: nn.PixelShuffle (DepthToSpace, mode CRD), then a conv."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
            self.shuffle = nn.PixelShuffle(2)
            self.conv2 = nn.Conv2d(2, 2, 3, stride=2)
            self.fc = nn.Linear(2 * 5 * 5, 4)

        def forward(self, x):
            x = self.conv2(self.shuffle(torch.relu(self.conv1(x))))
            return self.fc(torch.flatten(torch.relu(x), 1))

    class UNet(nn.Module):
        """A U-Net step: a strided conv down, nn.Upsample(scale_factor=2) (a nearest Resize)
        back up, summed with the skip connection."""

        def __init__(self):
            super().__init__()
            self.enc = nn.Conv2d(1, 4, 3, padding=1)
            self.down = nn.Conv2d(4, 4, 2, stride=2)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.dec = nn.Conv2d(4, 2, 3)
            self.fc = nn.Linear(2 * 6 * 6, 4)

        def forward(self, x):
            skip = torch.relu(self.enc(x))
            x = self.up(torch.relu(self.down(skip))) + skip
            return self.fc(torch.flatten(torch.relu(self.dec(x)), 1))

    class Sliced(nn.Module):
        """Slices and indexing of activations: a U-Net style crop of the skip connection, every
        second channel, one channel picked (x[:, 0], a Gather), summed back."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(2, 6, 3, padding=1)
            self.conv2 = nn.Conv2d(3, 3, 3)
            self.fc = nn.Linear(3 * 4 * 4 + 16, 4)

        def forward(self, x):
            a = torch.relu(self.conv1(x))  # [6, 6, 6]
            b = torch.relu(self.conv2(a[:, ::2]))  # [3, 4, 4]
            crop = a[:, 1:4, 1:5, 1:5]  # [3, 4, 4]
            picked = a[:, 0, 1:5, 1:5]  # [4, 4]
            y = torch.cat([torch.flatten(b + crop, 1), torch.flatten(picked, 1)], 1)
            return self.fc(y)

    class Decoder(nn.Module):
        """A U-Net decoder: ConvTranspose2d (kernel 2, stride 2; kernel 3, stride 2, padding 1,
        output_padding 1) after a strided conv."""

        def __init__(self):
            super().__init__()
            self.down = nn.Conv2d(1, 4, 3, stride=2, padding=1)
            self.up1 = nn.ConvTranspose2d(4, 3, 2, stride=2)
            self.up2 = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1)
            self.fc = nn.Linear(2 * 16 * 16, 4)

        def forward(self, x):
            x = torch.relu(self.up1(torch.relu(self.down(x))))
            return self.fc(torch.flatten(torch.relu(self.up2(x)), 1))

    def both(name, module, shape):
        """The legacy export, and the dynamo one where that exporter works."""
        export(name, module, shape)
        try:
            export(f"{name}_dynamo", module, shape, opset=18, dynamo=True)
        except Exception as e:
            print(f"{name}_dynamo skipped: {type(e).__name__}: {e}")

    both("torch_unflatten", Unflatten(), (16,))
    export("torch_permuted", Permuted(), (2, 6, 4))
    both("torch_concat", Inception(), (2, 6, 6))
    both("torch_pixel_shuffle", Shuffle(), (1, 6, 6))
    both("torch_upsample", UNet(), (1, 8, 8))
    both("torch_slice", Sliced(), (2, 6, 6))
    both("torch_conv_transpose", Decoder(), (1, 8, 8))


def keras_models():
    try:
        import tensorflow as tf
        import tf2onnx
    except ImportError as e:
        print(f"keras_mlp skipped: {e}")
        return
    tf.random.set_seed(7)
    dense = dict(bias_initializer="random_normal")
    model = tf.keras.Sequential(
        [
            tf.keras.Input(shape=(12,), name="x"),
            tf.keras.layers.Dense(16, activation="relu", **dense),
            tf.keras.layers.Dense(4, **dense),
        ]
    )
    path = os.path.join(OUT, "keras_mlp.onnx")
    model(np.zeros((1, 12), dtype=np.float32))  # Keras exports only a model that was called
    # Keras 3's own ONNX export (through tf2onnx), as a Keras user would write it
    model.export(path, format="onnx")
    x = (np.random.default_rng(7).standard_normal((SAMPLES, 12)) * 0.8).astype(np.float32)
    y = ort_outputs(path, x)
    assert np.allclose(y, model(x).numpy(), atol=1e-4)
    write_json("keras_mlp", x, y)
    print(f"keras_mlp: {os.path.getsize(path)} bytes")

    # a Keras CNN is NHWC: the export transposes to NCHW around the Conv (not supported yet:
    # the test expects exit code 3 naming the Transpose)
    cnn = tf.keras.Sequential(
        [
            tf.keras.Input(shape=(8, 8, 1), name="x"),
            tf.keras.layers.Conv2D(2, 3, activation="relu", **dense),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(4, **dense),
        ]
    )
    path = os.path.join(OUT, "keras_cnn.onnx")
    cnn(np.zeros((1, 8, 8, 1), dtype=np.float32))
    cnn.export(path, format="onnx")
    x = (np.random.default_rng(8).standard_normal((SAMPLES, 8, 8, 1)) * 0.8).astype(np.float32)
    y = ort_outputs(path, x)
    write_json("keras_cnn", x, y)
    print(f"keras_cnn: {os.path.getsize(path)} bytes")


def sklearn_models():
    try:
        from sklearn.neural_network import MLPClassifier, MLPRegressor
        from skl2onnx import to_onnx
    except ImportError as e:
        print(f"skl2onnx models skipped: {e}")
        return
    rng = np.random.default_rng(9)
    x_train = rng.standard_normal((128, 12)).astype(np.float32)
    target = x_train[:, :3] @ rng.standard_normal(3)
    x = x_train[:SAMPLES]
    # a regressor: Cast (float to float), MatMul+Add, Relu, MatMul+Add, Reshape [-1, 1]
    reg = MLPRegressor(hidden_layer_sizes=(16,), max_iter=200, random_state=0)
    reg.fit(x_train, target)
    path = os.path.join(OUT, "skl_mlp_regressor.onnx")
    with open(path, "wb") as f:
        f.write(to_onnx(reg, x_train[:1], target_opset=13).SerializeToString())
    y = ort_outputs(path, x)
    assert np.allclose(y.reshape(-1), reg.predict(x), atol=1e-4)
    write_json("skl_mlp_regressor", x, y)
    print(f"skl_mlp_regressor: {os.path.getsize(path)} bytes")
    # a classifier has two outputs (label, probabilities): output_data holds the first
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=200, random_state=0)
    clf.fit(x_train, (target > 0).astype(int))
    path = os.path.join(OUT, "skl_mlp_classifier.onnx")
    options = {id(clf): {"zipmap": False}}
    with open(path, "wb") as f:
        onnx_model = to_onnx(clf, x_train[:1], target_opset=13, options=options)
        f.write(onnx_model.SerializeToString())
    labels = ort_outputs(path, x, output=0).reshape(-1, 1)
    probabilities = ort_outputs(path, x, output=1)
    extra = {"probabilities_data": [[float(v) for v in row] for row in probabilities]}
    write_json("skl_mlp_classifier", x, labels, extra)
    print(f"skl_mlp_classifier: {os.path.getsize(path)} bytes")


def main():
    os.makedirs(OUT, exist_ok=True)
    try:
        import torch  # noqa: F401
    except ImportError as e:
        print(f"torch models skipped: {e}")
    else:
        torch_models()
    sklearn_models()
    keras_models()


if __name__ == "__main__":
    main()
