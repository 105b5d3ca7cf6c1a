#!/usr/bin/env python3
"""Generate the small bundled ONNX models and input JSON files in assets/models/.

Everything is deterministic (fixed seeds). ONNX graphs are written by hand with
onnx.helper (no skl2onnx), reference outputs come from onnxruntime.

Models:
  digits_mlp_5x100.onnx   sklearn MLPClassifier on the bundled digits data, 5 Gemm layers
                          64->100->100->100->100->10 (transB=1, PyTorch style), ReLU between
  digits_mlp_7x50.onnx    same data, 7 Gemm layers 64->50x6->10
  mlp_matmul_add.onnx     Keras style MatMul+Add, odd widths 13->7->5, dynamic batch 'N'
  mlp_flatten.onnx        [1,1,8,8] -> Flatten -> Gemm(transB=0) -> Relu -> Gemm (no bias)
  mlp_batch4.onnx         fixed batch 4: [4,10] -> Gemm -> Relu -> Gemm -> [4,3]
  mlp_dropout_identity.onnx  Identity, Reshape (initializer and Constant shapes), Dropout,
                          MatMul with Constant-node weights followed by Add
  unsupported.onnx        Gemm -> Sigmoid -> Gemm(alpha=0.5) -> Softmax (two gaps)

CNNs (NCHW):
  digits_cnn.onnx         trained here with plain numpy (Adam) on the digits data, [1,1,8,8]:
                          Conv(1->8,3x3,pad 1) Relu MaxPool2 Conv(8->16,3x3,pad 1) Relu
                          MaxPool2 Flatten Gemm(64->10)
  lenet_28.onnx           LeNet-style on [1,1,28,28], random He-init weights: Conv(1->6,5) Relu
                          MaxPool2 Conv(6->16,5) Relu MaxPool2 Flatten Gemm 256-120-84-10
  cnn_pad_stride_bn.onnx  [1,3,13,11]: Conv(3->8,3x3,stride 2,pads [1,0,2,1]) BatchNormalization
                          Relu Conv(8->8,3x5,auto_pad SAME_UPPER) Relu MaxPool(3x3,stride 2,
                          pads 1) Flatten Gemm(96->5), random weights
  cifar_cnn_264k.onnx     [1,3,32,32]: Conv(3->32,5) Relu MaxPool2 Conv(32->64,5) Relu MaxPool2
                          Flatten Gemm(1600->131) Relu Gemm(131->10), random weights, 264,747
                          parameters

Inputs of the digits models are pixel values scaled to [0, 1] (x / 16).

Usage: python3 assets/scripts/make_models.py [--out assets/models]
"""

import argparse
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

OPSET = 13
IR_VERSION = 8
N_TEST_SAMPLES = 100
N_CALIBRATION = 200  # training samples in the calibration files


def make_model(nodes, inputs, outputs, initializers, name):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=initializers)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="zkml-make_models",
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def init(name, array):
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def init_i64(name, values):
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


def f32_input(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def gemm_chain(weights, biases, input_shape, name):
    """Gemm layers (transB=1, W as [out, in]) with Relu between; returns a ModelProto."""
    nodes, inits = [], []
    cur = "input"
    for i, (w, b) in enumerate(zip(weights, biases)):
        inits += [init(f"fc{i}.weight", w), init(f"fc{i}.bias", b)]
        out = f"fc{i}_out"
        nodes.append(
            helper.make_node(
                "Gemm", [cur, f"fc{i}.weight", f"fc{i}.bias"], [out], name=f"fc{i}", transB=1
            )
        )
        cur = out
        if i + 1 < len(weights):
            nodes.append(helper.make_node("Relu", [cur], [f"relu{i}_out"], name=f"relu{i}"))
            cur = f"relu{i}_out"
    nodes.append(helper.make_node("Identity", [cur], ["output"], name="output_identity"))
    n_out = weights[-1].shape[0]
    return make_model(
        nodes,
        [f32_input("input", input_shape)],
        [f32_input("output", [input_shape[0], n_out])],
        inits,
        name,
    )


def run_ort(model, x):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return sess.run(None, {name: np.asarray(x, dtype=np.float32)})[0]


def rows(a, decimals=None):
    """Flattened rows; float32 values are written in their shortest round-trip form."""
    a = np.asarray(a, dtype=np.float32)
    flat = a.reshape(a.shape[0], -1)
    if decimals is not None:
        return [[round(float(v), decimals) for v in row] for row in flat]
    return [[float(str(v)) for v in row] for row in flat]


def save(out_dir, stem, model, data):
    onnx.save(model, os.path.join(out_dir, f"{stem}.onnx"))
    write_json(out_dir, f"{stem}_input.json" if "labels" not in data else f"{stem}_test.json", data)


def write_json(out_dir, name, data):
    with open(os.path.join(out_dir, name), "w") as f:
        json.dump(data, f, separators=(",", ":"))
        f.write("\n")


def digits_models(out_dir):
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    report = {}
    for stem, hidden in [("digits_mlp_5x100", (100,) * 4), ("digits_mlp_7x50", (50,) * 6)]:
        clf = MLPClassifier(
            hidden_layer_sizes=hidden, activation="relu", max_iter=600, random_state=0, tol=1e-5
        )
        clf.fit(x_tr, y_tr)
        weights = [np.ascontiguousarray(w.T) for w in clf.coefs_]  # [out, in] for transB=1
        model = gemm_chain(weights, clf.intercepts_, [1, 64], stem)
        logits = np.concatenate([run_ort(model, x_te[i : i + 1]) for i in range(len(x_te))])
        acc_all = float((logits.argmax(1) == y_te).mean())
        sk_acc = float(clf.score(x_te, y_te))
        xs, ls, ys = x_te[:N_TEST_SAMPLES], logits[:N_TEST_SAMPLES], y_te[:N_TEST_SAMPLES]
        acc_100 = float((ls.argmax(1) == ys).mean())
        data = {
            "input_data": rows(xs),
            "output_data": rows(ls, 6),
            "labels": [int(v) for v in ys],
        }
        save(out_dir, stem, model, data)
        # one sample for the demo (`zkml` with no arguments), and calibration from training data
        write_json(out_dir, f"{stem}_input.json", {"input_data": rows(xs[:1]), "output_data": rows(ls[:1], 6)})
        write_json(out_dir, f"{stem}_calibration.json", {"input_data": rows(x_tr[:N_CALIBRATION])})
        report[stem] = (acc_all, len(y_te), acc_100, sk_acc)
        print(
            f"{stem}: float test accuracy {acc_all:.4f} on {len(y_te)} held-out samples "
            f"(sklearn {sk_acc:.4f}); {acc_100:.2f} on the {N_TEST_SAMPLES} in {stem}_test.json"
        )
    return report


def rand_w(rng, n_out, n_in):
    return rng.uniform(-1.0, 1.0, size=(n_out, n_in)) / np.sqrt(n_in)


def random_inputs(rng, n, shape):
    return np.round(rng.uniform(-1.0, 1.0, size=(n, *shape)), 4).astype(np.float32)


def with_outputs(model, x_rows, batched):
    """input_data/output_data; batched=True runs all rows as one batch (dynamic batch)."""
    if batched:
        out = run_ort(model, x_rows)
    else:
        out = np.concatenate([run_ort(model, x_rows[i : i + 1]) for i in range(len(x_rows))])
    return {"input_data": rows(x_rows), "output_data": rows(out, 6)}


def matmul_add_model(rng):
    w1, b1 = rand_w(rng, 7, 13).T, rng.uniform(-0.5, 0.5, 7)
    w2, b2 = rand_w(rng, 5, 7).T, rng.uniform(-0.5, 0.5, 5)
    inits = [init("W1", w1), init("b1", b1), init("W2", w2), init("b2", b2)]
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["h1"], name="dense_1/MatMul"),
        helper.make_node("Add", ["h1", "b1"], ["h1b"], name="dense_1/BiasAdd"),
        helper.make_node("Relu", ["h1b"], ["a1"], name="dense_1/Relu"),
        helper.make_node("MatMul", ["a1", "W2"], ["h2"], name="dense_2/MatMul"),
        helper.make_node("Add", ["h2", "b2"], ["y"], name="dense_2/BiasAdd"),
    ]
    model = make_model(
        nodes, [f32_input("x", ["N", 13])], [f32_input("y", ["N", 5])], inits, "mlp_matmul_add"
    )
    return model, with_outputs(model, random_inputs(rng, 4, (13,)), batched=True)


def flatten_model(rng):
    w1, b1 = rand_w(rng, 16, 64).T, rng.uniform(-0.5, 0.5, 16)  # transB=0: B is [in, out]
    w2 = rand_w(rng, 10, 16)  # transB=1, no bias
    inits = [init("fc1.B", w1), init("fc1.C", b1), init("fc2.B", w2)]
    nodes = [
        helper.make_node("Flatten", ["image"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc1.B", "fc1.C"], ["h"], name="fc1"),
        helper.make_node("Relu", ["h"], ["a"], name="relu1"),
        helper.make_node("Gemm", ["a", "fc2.B"], ["logits"], name="fc2", transB=1),
    ]
    model = make_model(
        nodes,
        [f32_input("image", [1, 1, 8, 8])],
        [f32_input("logits", [1, 10])],
        inits,
        "mlp_flatten",
    )
    x = np.round(rng.uniform(0.0, 1.0, size=(3, 1, 8, 8)), 3).astype(np.float32)
    return model, with_outputs(model, x, batched=False)


def batch4_model(rng):
    w1, b1 = rand_w(rng, 6, 10), rng.uniform(-0.5, 0.5, 6)
    w2, b2 = rand_w(rng, 3, 6), rng.uniform(-0.5, 0.5, 3)
    inits = [init("w1", w1), init("b1", b1), init("w2", w2), init("b2", b2)]
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="gemm1", transB=1),
        helper.make_node("Relu", ["h"], ["a"], name="relu"),
        helper.make_node("Gemm", ["a", "w2", "b2"], ["y"], name="gemm2", transB=1),
    ]
    model = make_model(
        nodes, [f32_input("x", [4, 10])], [f32_input("y", [4, 3])], inits, "mlp_batch4"
    )
    x = random_inputs(rng, 4, (10,))
    out = run_ort(model, x)
    # One row holds the whole 4-sample tensor (EZKL/DeepProve style).
    data = {"input_data": [rows(x[None])[0]], "output_data": [rows(out[None], 6)[0]]}
    return model, data


def dropout_identity_model(rng):
    w1, b1 = rand_w(rng, 8, 12), rng.uniform(-0.5, 0.5, 8)
    w2, b2 = rand_w(rng, 4, 8).T, rng.uniform(-0.5, 0.5, 4)  # MatMul: [in, out]
    inits = [init("w1", w1), init("b1", b1), init("b2", b2), init_i64("shape_3x4", [1, 3, 4])]
    w2_const = helper.make_tensor("w2_value", TensorProto.FLOAT, w2.shape, w2.flatten())
    flat_shape = helper.make_tensor("flat_value", TensorProto.INT64, [2], [1, -1])
    nodes = [
        helper.make_node("Identity", ["x"], ["x_id"], name="identity_in"),
        helper.make_node("Reshape", ["x_id", "shape_3x4"], ["x_3x4"], name="reshape_3x4"),
        helper.make_node("Constant", [], ["flat_shape"], name="flat_shape", value=flat_shape),
        helper.make_node("Reshape", ["x_3x4", "flat_shape"], ["x_flat"], name="reshape_flat"),
        helper.make_node("Gemm", ["x_flat", "w1", "b1"], ["h"], name="fc1", transB=1),
        helper.make_node("Dropout", ["h"], ["h_drop"], name="dropout"),
        helper.make_node("Relu", ["h_drop"], ["a"], name="relu"),
        helper.make_node("Identity", ["a"], ["a_id"], name="identity_mid"),
        helper.make_node("Constant", [], ["w2"], name="w2_const", value=w2_const),
        helper.make_node("MatMul", ["a_id", "w2"], ["m"], name="fc2_matmul"),
        helper.make_node("Add", ["m", "b2"], ["y"], name="fc2_bias"),
    ]
    model = make_model(
        nodes, [f32_input("x", [1, 12])], [f32_input("y", [1, 4])], inits, "mlp_dropout_identity"
    )
    return model, with_outputs(model, random_inputs(rng, 3, (12,)), batched=False)


def unsupported_model(rng):
    w1, b1 = rand_w(rng, 5, 6), rng.uniform(-0.5, 0.5, 5)
    w2, b2 = rand_w(rng, 3, 5), rng.uniform(-0.5, 0.5, 3)
    inits = [init("w1", w1), init("b1", b1), init("w2", w2), init("b2", b2)]
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
        helper.make_node("Sigmoid", ["h"], ["s"], name="sigmoid"),
        helper.make_node("Gemm", ["s", "w2", "b2"], ["z"], name="fc2_scaled", transB=1, alpha=0.5),
        helper.make_node("Softmax", ["z"], ["p"], name="softmax", axis=1),
    ]
    model = make_model(
        nodes, [f32_input("x", [1, 6])], [f32_input("p", [1, 3])], inits, "unsupported"
    )
    return model, with_outputs(model, random_inputs(rng, 2, (6,)), batched=False)


# ---------------------------------------------------------------- CNNs

def im2col(x, kh, kw, pad):
    """x [N,C,H,W] -> cols [N, OH*OW, C*kh*kw] (stride 1, symmetric pad), and (OH, OW)."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    v = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))  # N,C,OH,OW,kh,kw
    n, c, oh, ow = v.shape[:4]
    cols = v.transpose(0, 2, 3, 1, 4, 5).reshape(n, oh * ow, c * kh * kw)
    return cols, (oh, ow)


def col2im(dcols, x_shape, kh, kw, pad, out_hw):
    n, c, h, w = x_shape
    oh, ow = out_hw
    d = dcols.reshape(n, oh, ow, c, kh, kw)
    dxp = np.zeros((n, c, h + 2 * pad, w + 2 * pad))
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i : i + oh, j : j + ow] += d[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return dxp[:, :, pad : pad + h, pad : pad + w]


class DigitsCnn:
    """Conv(1->8,3,p1) Relu Pool2 Conv(8->16,3,p1) Relu Pool2 Flatten Gemm(64->10), numpy."""

    def __init__(self, rng):
        he = lambda shape, fan_in: rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
        self.p = {
            "w1": he((8, 1, 3, 3), 9),
            "b1": np.zeros(8),
            "w2": he((16, 8, 3, 3), 72),
            "b2": np.zeros(16),
            "w3": he((10, 64), 64),
            "b3": np.zeros(10),
        }

    @staticmethod
    def conv(x, w, b):
        cols, (oh, ow) = im2col(x, 3, 3, 1)
        out = cols @ w.reshape(w.shape[0], -1).T + b
        return out.transpose(0, 2, 1).reshape(x.shape[0], w.shape[0], oh, ow), cols, (oh, ow)

    @staticmethod
    def pool(x):
        n, c, h, w = x.shape
        r = x.reshape(n, c, h // 2, 2, w // 2, 2)
        out = r.max(axis=(3, 5))
        mask = r == out[:, :, :, None, :, None]
        mask = mask / mask.sum(axis=(3, 5), keepdims=True)  # split ties
        return out, mask

    @staticmethod
    def unpool(d, mask):
        n, c, h, w = d.shape
        return (mask * d[:, :, :, None, :, None]).reshape(n, c, 2 * h, 2 * w)

    def forward(self, x, keep=False):
        p = self.p
        z1, cols1, hw1 = self.conv(x, p["w1"], p["b1"])
        a1 = np.maximum(z1, 0)
        m1, mask1 = self.pool(a1)
        z2, cols2, hw2 = self.conv(m1, p["w2"], p["b2"])
        a2 = np.maximum(z2, 0)
        m2, mask2 = self.pool(a2)
        f = m2.reshape(x.shape[0], -1)
        logits = f @ p["w3"].T + p["b3"]
        if keep:
            self.cache = (x, z1, cols1, hw1, m1, mask1, z2, cols2, hw2, mask2, f)
        return logits

    def backward(self, dlogits):
        p = self.p
        x, z1, cols1, hw1, m1, mask1, z2, cols2, hw2, mask2, f = self.cache
        n = x.shape[0]
        g = {"w3": dlogits.T @ f, "b3": dlogits.sum(0)}
        dm2 = (dlogits @ p["w3"]).reshape(n, 16, 2, 2)
        dz2 = self.unpool(dm2, mask2) * (z2 > 0)
        d2 = dz2.reshape(n, 16, -1).transpose(0, 2, 1)  # N, OH*OW, 16
        g["w2"] = np.einsum("npo,npk->ok", d2, cols2).reshape(p["w2"].shape)
        g["b2"] = d2.sum((0, 1))
        dcols2 = d2 @ p["w2"].reshape(16, -1)
        dm1 = col2im(dcols2, m1.shape, 3, 3, 1, hw2)
        dz1 = self.unpool(dm1, mask1) * (z1 > 0)
        d1 = dz1.reshape(n, 8, -1).transpose(0, 2, 1)
        g["w1"] = np.einsum("npo,npk->ok", d1, cols1).reshape(p["w1"].shape)
        g["b1"] = d1.sum((0, 1))
        return g


def train_digits_cnn(x_tr, y_tr, seed=0, epochs=60, batch=32, lr=3e-3):
    rng = np.random.default_rng(seed)
    net = DigitsCnn(rng)
    m = {k: np.zeros_like(v) for k, v in net.p.items()}
    v2 = {k: np.zeros_like(v) for k, v in net.p.items()}
    t = 0
    x4 = x_tr.reshape(-1, 1, 8, 8).astype(np.float64)
    for _ in range(epochs):
        order = rng.permutation(len(x4))
        for s in range(0, len(order), batch):
            idx = order[s : s + batch]
            logits = net.forward(x4[idx], keep=True)
            e = np.exp(logits - logits.max(1, keepdims=True))
            prob = e / e.sum(1, keepdims=True)
            prob[np.arange(len(idx)), y_tr[idx]] -= 1.0
            grads = net.backward(prob / len(idx))
            t += 1
            for k, gk in grads.items():
                m[k] = 0.9 * m[k] + 0.1 * gk
                v2[k] = 0.999 * v2[k] + 0.001 * gk * gk
                mh, vh = m[k] / (1 - 0.9**t), v2[k] / (1 - 0.999**t)
                net.p[k] -= lr * mh / (np.sqrt(vh) + 1e-8)
    return net


def cnn_layers(specs, input_shape, name):
    """specs: list of (op, params) with op in conv/bn/relu/pool/flatten/gemm; returns ModelProto."""
    nodes, inits = [], []
    cur = "input"
    for i, (op, a) in enumerate(specs):
        out = f"{op}{i}_out"
        if op == "conv":
            inits += [init(f"conv{i}.weight", a["w"]), init(f"conv{i}.bias", a["b"])]
            attrs = {k: a[k] for k in ("strides", "pads", "auto_pad") if k in a}
            nodes.append(
                helper.make_node(
                    "Conv", [cur, f"conv{i}.weight", f"conv{i}.bias"], [out], name=f"conv{i}",
                    kernel_shape=list(a["w"].shape[2:]), **attrs,
                )
            )
        elif op == "bn":
            names = [f"bn{i}.{k}" for k in ("scale", "bias", "mean", "var")]
            inits += [init(n, a[k]) for n, k in zip(names, ("scale", "bias", "mean", "var"))]
            nodes.append(
                helper.make_node(
                    "BatchNormalization", [cur, *names], [out], name=f"bn{i}", epsilon=a["eps"]
                )
            )
        elif op == "relu":
            nodes.append(helper.make_node("Relu", [cur], [out], name=f"relu{i}"))
        elif op == "pool":
            nodes.append(helper.make_node("MaxPool", [cur], [out], name=f"pool{i}", **a))
        elif op == "flatten":
            nodes.append(helper.make_node("Flatten", [cur], [out], name=f"flatten{i}", axis=1))
        elif op == "gemm":
            inits += [init(f"fc{i}.weight", a["w"]), init(f"fc{i}.bias", a["b"])]
            nodes.append(
                helper.make_node(
                    "Gemm", [cur, f"fc{i}.weight", f"fc{i}.bias"], [out], name=f"fc{i}", transB=1
                )
            )
        cur = out
    nodes.append(helper.make_node("Identity", [cur], ["output"], name="output_identity"))
    n_out = [a for op, a in specs if op == "gemm"][-1]["w"].shape[0]
    return make_model(
        nodes,
        [f32_input("input", input_shape)],
        [f32_input("output", [input_shape[0], n_out])],
        inits,
        name,
    )


def digits_cnn(out_dir):
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    net = train_digits_cnn(x_tr, y_tr)
    p = net.p
    pool = {"kernel_shape": [2, 2], "strides": [2, 2]}
    specs = [
        ("conv", {"w": p["w1"], "b": p["b1"], "pads": [1, 1, 1, 1]}),
        ("relu", None),
        ("pool", pool),
        ("conv", {"w": p["w2"], "b": p["b2"], "pads": [1, 1, 1, 1]}),
        ("relu", None),
        ("pool", pool),
        ("flatten", None),
        ("gemm", {"w": p["w3"], "b": p["b3"]}),
    ]
    stem = "digits_cnn"
    model = cnn_layers(specs, [1, 1, 8, 8], stem)
    x4 = x_te.reshape(-1, 1, 8, 8)
    logits = np.concatenate([run_ort(model, x4[i : i + 1]) for i in range(len(x4))])
    acc_all = float((logits.argmax(1) == y_te).mean())
    xs, ls, ys = x_te[:N_TEST_SAMPLES], logits[:N_TEST_SAMPLES], y_te[:N_TEST_SAMPLES]
    acc_100 = float((ls.argmax(1) == ys).mean())
    data = {"input_data": rows(xs), "output_data": rows(ls, 6), "labels": [int(v) for v in ys]}
    save(out_dir, stem, model, data)
    write_json(out_dir, f"{stem}_input.json", {"input_data": rows(xs[:1]), "output_data": rows(ls[:1], 6)})
    write_json(out_dir, f"{stem}_calibration.json", {"input_data": rows(x_tr[:N_CALIBRATION])})
    n_params = sum(v.size for v in p.values())
    print(
        f"{stem}: {n_params} parameters, float test accuracy {acc_all:.4f} on {len(y_te)} "
        f"held-out samples; {acc_100:.2f} on the {N_TEST_SAMPLES} in {stem}_test.json"
    )


def he_conv(rng, c_out, c_in, kh, kw):
    fan_in = c_in * kh * kw
    return {
        "w": rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(c_out, c_in, kh, kw)),
        "b": rng.uniform(-0.1, 0.1, c_out),
    }


def he_gemm(rng, n_out, n_in):
    return {
        "w": rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_out, n_in)),
        "b": rng.uniform(-0.1, 0.1, n_out),
    }


POOL2 = {"kernel_shape": [2, 2], "strides": [2, 2]}


def lenet_28_model(rng):
    specs = [
        ("conv", he_conv(rng, 6, 1, 5, 5)),
        ("relu", None),
        ("pool", POOL2),
        ("conv", he_conv(rng, 16, 6, 5, 5)),
        ("relu", None),
        ("pool", POOL2),
        ("flatten", None),
        ("gemm", he_gemm(rng, 120, 256)),
        ("relu", None),
        ("gemm", he_gemm(rng, 84, 120)),
        ("relu", None),
        ("gemm", he_gemm(rng, 10, 84)),
    ]
    model = cnn_layers(specs, [1, 1, 28, 28], "lenet_28")
    x = np.round(rng.uniform(0.0, 1.0, size=(2, 1, 28, 28)), 3).astype(np.float32)
    return model, with_outputs(model, x, batched=False)


def cnn_pad_stride_bn_model(rng):
    c1 = he_conv(rng, 8, 3, 3, 3)
    c1.update(strides=[2, 2], pads=[1, 0, 2, 1])
    bn = {
        "scale": rng.uniform(0.5, 1.5, 8),
        "bias": rng.uniform(-0.2, 0.2, 8),
        "mean": rng.uniform(-0.3, 0.3, 8),
        "var": rng.uniform(0.5, 2.0, 8),
        "eps": 1e-3,
    }
    c2 = he_conv(rng, 8, 8, 3, 5)
    c2.update(auto_pad="SAME_UPPER")
    specs = [
        ("conv", c1),
        ("bn", bn),
        ("relu", None),
        ("conv", c2),
        ("relu", None),
        ("pool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
        ("flatten", None),
        ("gemm", he_gemm(rng, 5, 8 * 4 * 3)),
    ]
    model = cnn_layers(specs, [1, 3, 13, 11], "cnn_pad_stride_bn")
    return model, with_outputs(model, random_inputs(rng, 3, (3, 13, 11)), batched=False)


def cifar_cnn_264k_model(rng):
    specs = [
        ("conv", he_conv(rng, 32, 3, 5, 5)),
        ("relu", None),
        ("pool", POOL2),
        ("conv", he_conv(rng, 64, 32, 5, 5)),
        ("relu", None),
        ("pool", POOL2),
        ("flatten", None),
        ("gemm", he_gemm(rng, 131, 1600)),
        ("relu", None),
        ("gemm", he_gemm(rng, 10, 131)),
    ]
    model = cnn_layers(specs, [1, 3, 32, 32], "cifar_cnn_264k")
    x = np.round(rng.uniform(0.0, 1.0, size=(1, 3, 32, 32)), 3).astype(np.float32)
    return model, with_outputs(model, x, batched=False)


def cnn_models(out_dir):
    digits_cnn(out_dir)
    for seed, (stem, build) in enumerate(
        [
            ("lenet_28", lenet_28_model),
            ("cnn_pad_stride_bn", cnn_pad_stride_bn_model),
            ("cifar_cnn_264k", cifar_cnn_264k_model),
        ]
    ):
        model, data = build(np.random.default_rng(20250101 + seed))
        save(out_dir, stem, model, data)
        n_params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
        print(f"{stem}: {n_params} parameters, {len(data['input_data'])} input row(s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--out", default=os.path.join(here, "..", "models"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    digits_models(args.out)
    rng = np.random.default_rng(20240601)
    for stem, build in [
        ("mlp_matmul_add", matmul_add_model),
        ("mlp_flatten", flatten_model),
        ("mlp_batch4", batch4_model),
        ("mlp_dropout_identity", dropout_identity_model),
        ("unsupported", unsupported_model),
    ]:
        model, data = build(rng)
        save(args.out, stem, model, data)
        print(f"{stem}: {len(data['input_data'])} input row(s)")
    cnn_models(args.out)


if __name__ == "__main__":
    main()
