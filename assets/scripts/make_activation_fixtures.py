#!/usr/bin/env python3
"""Models with non-ReLU activations (and Softmax / LogSoftmax heads) trained on scikit-learn's
digits, exported to ONNX by PyTorch, Keras (tf2onnx) and skl2onnx, for "Non-linear functions
by lookup".

Writes, into crates/cli/tests/fixtures/activations/ (or the directory given as OUT):
- NAME.onnx;
- NAME_test.json: the first 50 held-out digits ("input_data", flat rows of 64 pixels in [0, 1]),
  onnxruntime's float outputs ("output_data"), the labels ("labels") and onnxruntime's argmax
  ("ort_argmax"), as in fixtures/keras/; for the skl_ classifiers "output_data" is their first
  graph output, the label (one value per row), and "probabilities_data" the second;
- digits_calibration.json: the first 200 training inputs, flat rows of the [0, 1] pixels
  (the same file as fixtures/keras/digits_calibration.json), for every model here: all take
  pixel / 16, none scales inside (torch_cnn_tanh_l17 takes them as [N, 1, 8, 8], the same flat
  order).
In NAME_test.json, numbers are written as the shortest decimal that reads back to the same
float32 (an integer when whole, no spaces), to keep the files small; the values are exactly
onnxruntime's float32 outputs and the float32 inputs.

Data: the 8x8 digits scaled to [0, 1] (pixel / 16), split 80/20 as in make_keras_fixtures.py
(`train_test_split(test_size=0.2, random_state=0, stratify=target)`); every model is seeded
on its own, so adding one leaves the others' weights unchanged.

Sections (each needs its own packages; run the script once per venv, see below):
- torch: MLPs Linear(64, 48) + ACT + Linear(48, 10) for ACT in Sigmoid, Tanh, GELU (erf),
  GELU(approximate="tanh"), ReLU6, LeakyReLU(0.1), ELU, SiLU, Softplus, Hardswish, Hardsigmoid,
  SELU, Mish; torch_tanh2: 64 -> 48 -> Tanh -> 32 -> Tanh -> 10; torch_cnn_tanh: Conv2d(1, 8,
  3, padding=1) + Tanh + MaxPool2d(2) + Flatten + Linear(128, 10); torch_softmax /
  torch_logsoftmax: 64 -> 48 -> ReLU -> 10 trained on logits, exported with Softmax(dim=-1) /
  LogSoftmax(dim=-1) after the last Linear; torch_prelu: 64 -> 48 -> PReLU(48) -> 10 (a slope
  per feature); torch_cnn_prelu: torch_cnn_tanh with PReLU(8) (a slope per channel) for Tanh;
  torch_row_softmax / torch_row_logsoftmax: 64 -> 48, Unflatten to [6, 8], Softmax(dim=-1) /
  LogSoftmax(dim=-1) of each row, Flatten, -> 10.
  Adam, 30 epochs, batch 32.
  Exporters: _l17: legacy (`dynamo=False`, opset 17), every model; _l20: legacy, opset 20
  (GELU becomes one `Gelu` node), the two GELUs; _d: dynamo (`dynamo=True`, opset 18 as in
  make_exporter_fixtures.py, weights saved into the one file, nodes' metadata_props
  dropped), sigmoid, tanh, gelu, silu, relu6, leaky_relu, softmax, logsoftmax, prelu,
  cnn_prelu, row_softmax, row_logsoftmax. Dynamic batch axis on all.
- keras: Keras 3 models Dense(32, ACT) + Dense(10) for ACT in sigmoid, tanh, gelu, gelu_tanh
  (gelu with approximate=True), swish, relu6, leaky_relu, elu, softplus, selu, hard_sigmoid,
  and keras_softmax: Dense(32, relu) + Dense(10, softmax). Adam(3e-3), 15 epochs, batch 32, as make_keras_fixtures.py.
  Exporters: _fk13: `tf2onnx.convert.from_keras` at opset 13 of the same architecture in
  tf_keras (Keras 2) with the Keras 3 weights copied (from_keras does not take Keras 3
  models); _k3: Keras 3's `model.export(format="onnx")`, for sigmoid, gelu, gelu_tanh,
  softmax. The exact gelu fails with both (TensorFlow computes it with Erfc, which tf2onnx 1.17
  does not convert: it writes an Erfc node that onnxruntime rejects); such a failure is
  printed and its file removed.
  Keras 3 and tf_keras differ on some activations; the tf_keras model is given Keras 3's
  function so the two agree (checked): relu6 is tf.nn.relu6 and leaky_relu tf.nn.leaky_relu
  (slope 0.2, Keras 3's default; tf_keras has neither name), hard_sigmoid is Keras 3's
  relu6(x + 3) / 6 (tf_keras' is clip(0.2 x + 0.5)). "gelu" is the erf form (approximate=False)
  in both.
- skl: scikit-learn MLPClassifier(hidden_layer_sizes=(32,), activation=A, random_state=0) for
  A in tanh, logistic, relu, through skl2onnx (`to_onnx`, target_opset 13) with
  `options={id(clf): {"zipmap": False}}` (outputs: label int64 [N], probabilities [N, 10]);
  skl_tanh_zipmap keeps the default ZipMap (probabilities as a sequence of maps; stored as
  rows of the 10 probabilities).

Usage (from the repository root; each run writes only its section and the calibration file):
    /work/venv-export/bin/python assets/scripts/make_activation_fixtures.py --only torch
    /work/venv-tf/bin/python assets/scripts/make_activation_fixtures.py --only keras
    /work/venv-skl/bin/python assets/scripts/make_activation_fixtures.py --only skl
Without --only, every section whose packages import is run (the others are skipped).
Tested with numpy 2.4.6, onnx 1.23.2, onnxruntime 1.32.0, scikit-learn 1.9.1 in all three, and
- torch: torch 2.15.0 (CPU), onnxscript 0.7.2;
- keras: tensorflow-cpu 2.21.0, keras 3.15.1, tf_keras 2.21.0, tf2onnx 1.17.0;
- skl: skl2onnx 1.20.0 (a venv made with `python3 -m venv /work/venv-skl && /work/venv-skl/
  bin/pip install numpy==2.4.6 scikit-learn==1.9.1 onnx==1.23.2 onnxruntime==1.32.0
  skl2onnx==1.20.0`).
About a minute per section on 2 cores.
"""

import argparse
import json
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402

DEFAULT_OUT = os.path.join(
    os.path.dirname(__file__), "..", "..", "crates", "cli", "tests", "fixtures", "activations"
)
TEST, CALIB = 50, 200
OUT = DEFAULT_OUT


def data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32).reshape(len(d.images), 64)
    return train_test_split(x, d.target, test_size=0.2, random_state=0, stratify=d.target)


def f32(v):
    """The shortest decimal that reads back to the same float32; an integer when whole."""
    v = float(str(np.float32(v)))
    return int(v) if v.is_integer() else v


def rows(a, convert=f32):
    a = np.asarray(a)
    return [[convert(v) for v in r.reshape(-1)] for r in a.reshape(len(a), -1)]


def write_calibration(x_tr):
    # byte for byte fixtures/keras/digits_calibration.json (its float(v), its spacing)
    with open(os.path.join(OUT, "digits_calibration.json"), "w") as f:
        json.dump({"input_data": rows(x_tr[:CALIB], float)}, f)


def write_test(name, x, y, labels, extra=None):
    doc = {
        "input_data": rows(x[:TEST]),
        "output_data": rows(y[:TEST]),
        "labels": [int(v) for v in labels[:TEST]],
        "ort_argmax": [int(v) for v in np.asarray(y[:TEST]).argmax(1)],
    }
    doc.update(extra or {})
    with open(os.path.join(OUT, name + "_test.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))


def ort_run(path, x):
    """All of onnxruntime's outputs on the batch; each also checked against one row at a time
    (the dynamic batch axis with N = 1)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    outs = sess.run(None, {name: x})
    one = sess.run(None, {name: x[:1]})
    for a, b in zip(outs, one):
        if isinstance(a, np.ndarray):
            assert np.allclose(a[:1], b, atol=1e-5), path
    return outs


def report(name, path, y, y_te, float_acc):
    acc50 = float((np.asarray(y[:TEST]).argmax(1) == y_te[:TEST]).mean())
    print(f"{name}: {os.path.getsize(path)} bytes, float accuracy {float_acc:.4f} on "
          f"{len(y_te)} held out, onnxruntime {acc50:.2f} on the first {TEST}")


# ----------------------------------------------------------------------------------- torch


def torch_section(x_tr, x_te, y_tr, y_te):
    import onnx
    import torch
    import torch.nn as nn

    torch.set_num_threads(2)

    class Net(nn.Module):
        """A named `x` argument (for dynamo's dynamic_shapes), `head` after the logits."""

        def __init__(self, body, shape=(64,)):
            super().__init__()
            self.body, self.shape, self.head = body, shape, nn.Identity()

        def forward(self, x):
            return self.head(self.body(x))

    def mlp(act, two=False):
        if two:
            return nn.Sequential(nn.Linear(64, 48), act(), nn.Linear(48, 32), act(),
                                 nn.Linear(32, 10))
        return nn.Sequential(nn.Linear(64, 48), act(), nn.Linear(48, 10))

    def cnn(act=nn.Tanh):
        return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), act(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(8 * 4 * 4, 10))

    def train(build, shape=(64,)):
        torch.manual_seed(0)  # each model on its own seed: order-independent weights
        net = Net(build(), shape)
        xt = torch.from_numpy(x_tr).reshape(-1, *shape)
        yt = torch.from_numpy(y_tr).long()
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(0)
        for _ in range(30):
            perm = torch.randperm(len(xt), generator=gen)
            for i in range(0, len(xt), 32):
                idx = perm[i : i + 32]
                opt.zero_grad()
                nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
                opt.step()
        net.eval()
        with torch.no_grad():
            acc = float((net(torch.from_numpy(x_te).reshape(-1, *shape)).argmax(1).numpy()
                         == y_te).mean())
        return net, acc

    def export(name, net, acc, opset, dynamo):
        path = os.path.join(OUT, name + ".onnx")
        xe = x_te.reshape(-1, *net.shape)
        x = torch.from_numpy(xe[:4])
        kwargs = dict(input_names=["x"], output_names=["y"], opset_version=opset)
        try:
            if dynamo:
                batch = torch.export.Dim("batch", min=1, max=1024)
                torch.onnx.export(net, (x,), path, dynamo=True, verbose=False,
                                  dynamic_shapes={"x": {0: batch}}, **kwargs)
                # one self-contained file (the dynamo exporter may write weights apart),
                # without the per-node metadata (stack traces with local paths and line
                # numbers: the bytes would change with the script)
                model = onnx.load(path)
                for node in model.graph.node:
                    del node.metadata_props[:]
                onnx.save(model, path, save_as_external_data=False)
                if os.path.exists(path + ".data"):
                    os.remove(path + ".data")
            else:
                kwargs["dynamic_axes"] = {"x": {0: "N"}, "y": {0: "N"}}
                torch.onnx.export(net, (x,), path, dynamo=False, **kwargs)
        except Exception as e:  # report and go on
            print(f"{name}: export failed: {type(e).__name__}: {str(e)[:500]}")
            return
        y = ort_run(path, xe)[0]
        with torch.no_grad():
            ref = net(torch.from_numpy(xe)).numpy()
        assert np.allclose(y, ref, atol=1e-4), (name, np.abs(y - ref).max())
        write_test(name, xe, y, y_te)
        report(name, path, y, y_te, acc)

    acts = [
        ("sigmoid", nn.Sigmoid),
        ("tanh", nn.Tanh),
        ("gelu", nn.GELU),
        ("gelu_tanh", lambda: nn.GELU(approximate="tanh")),
        ("relu6", nn.ReLU6),
        ("leaky_relu", lambda: nn.LeakyReLU(0.1)),
        ("elu", nn.ELU),
        ("silu", nn.SiLU),
        ("softplus", nn.Softplus),
        ("hardswish", nn.Hardswish),
        ("hardsigmoid", nn.Hardsigmoid),
        ("selu", nn.SELU),
        ("mish", nn.Mish),
    ]
    l20 = {"gelu", "gelu_tanh"}
    dyn = {"sigmoid", "tanh", "gelu", "silu", "relu6", "leaky_relu"}
    for act_name, act in acts:
        net, acc = train(lambda: mlp(act))
        export(f"torch_{act_name}_l17", net, acc, 17, False)
        if act_name in l20:
            export(f"torch_{act_name}_l20", net, acc, 20, False)
        if act_name in dyn:
            export(f"torch_{act_name}_d", net, acc, 18, True)
    net, acc = train(lambda: mlp(nn.Tanh, two=True))
    export("torch_tanh2_l17", net, acc, 17, False)
    net, acc = train(cnn, (1, 8, 8))
    export("torch_cnn_tanh_l17", net, acc, 17, False)
    # PReLU with a slope per feature, and per channel
    net, acc = train(lambda: mlp(lambda: nn.PReLU(48)))
    export("torch_prelu_l17", net, acc, 17, False)
    export("torch_prelu_d", net, acc, 18, True)
    net, acc = train(lambda: cnn(lambda: nn.PReLU(8)), (1, 8, 8))
    export("torch_cnn_prelu_l17", net, acc, 17, False)
    export("torch_cnn_prelu_d", net, acc, 18, True)
    # softmax / log-softmax of each row of a hidden tensor [6, 8] (not only of the head)
    for row_name, row_act in (("row_softmax", nn.Softmax), ("row_logsoftmax", nn.LogSoftmax)):
        net, acc = train(lambda: nn.Sequential(
            nn.Linear(64, 48), nn.Unflatten(1, (6, 8)), row_act(dim=-1), nn.Flatten(),
            nn.Linear(48, 10)))
        export(f"torch_{row_name}_l17", net, acc, 17, False)
        export(f"torch_{row_name}_d", net, acc, 18, True)
    net, acc = train(lambda: mlp(nn.ReLU))
    for head_name, head in (("softmax", nn.Softmax(dim=-1)), ("logsoftmax", nn.LogSoftmax(dim=-1))):
        net.head = head
        export(f"torch_{head_name}_l17", net, acc, 17, False)
        export(f"torch_{head_name}_d", net, acc, 18, True)


# ----------------------------------------------------------------------------------- keras


def keras_section(x_tr, x_te, y_tr, y_te):
    import keras
    import tensorflow as tf
    import tf2onnx
    import tf_keras

    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(2)

    # name -> (Keras 3 activation, the tf_keras activation that computes the same function)
    acts = {
        "sigmoid": ("sigmoid", "sigmoid"),
        "tanh": ("tanh", "tanh"),
        "gelu": ("gelu", "gelu"),  # the erf form in both (approximate=False)
        "gelu_tanh": (lambda x: keras.activations.gelu(x, approximate=True),
                      lambda x: tf_keras.activations.gelu(x, approximate=True)),
        "swish": ("swish", "swish"),
        "relu6": ("relu6", tf.nn.relu6),
        "leaky_relu": ("leaky_relu", tf.nn.leaky_relu),  # alpha 0.2 in both
        "elu": ("elu", "elu"),
        "softplus": ("softplus", "softplus"),
        "selu": ("selu", "selu"),
        "hard_sigmoid": ("hard_sigmoid", lambda x: tf.nn.relu6(x + 3.0) / 6.0),
        "softmax": None,
    }
    k3 = {"sigmoid", "gelu", "gelu_tanh", "softmax"}

    def build(K, act):
        L = K.layers
        if act is None:  # softmax head
            return K.Sequential([K.Input((64,), name="x"), L.Dense(32, activation="relu"),
                                 L.Dense(10, activation="softmax")])
        return K.Sequential([K.Input((64,), name="x"), L.Dense(32, activation=act),
                             L.Dense(10)])

    spec = (tf.TensorSpec((None, 64), tf.float32, name="x"),)
    for model_name, pair in acts.items():
        keras.utils.set_random_seed(0)
        model = build(keras, pair and pair[0])
        model.compile(
            optimizer=keras.optimizers.Adam(3e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=pair is not None),
            metrics=["accuracy"],
        )
        model.fit(x_tr, y_tr, epochs=15, batch_size=32, verbose=0)
        acc = float((model.predict(x_te, verbose=0).argmax(1) == y_te).mean())
        model2 = build(tf_keras, pair and pair[1])
        model2.set_weights(model.get_weights())
        diff = np.abs(model(x_te).numpy() - model2(x_te).numpy()).max()
        assert diff < 1e-4, (model_name, diff)
        for exp in ["fk13"] + (["k3"] if model_name in k3 else []):
            name = f"keras_{model_name}_{exp}"
            path = os.path.join(OUT, name + ".onnx")
            try:
                if exp == "k3":
                    model.export(path, format="onnx", verbose=False)
                else:
                    tf2onnx.convert.from_keras(model2, input_signature=spec, opset=13,
                                               output_path=path)
                y = ort_run(path, x_te)[0]  # tf2onnx writes ops it cannot convert as they are
            except Exception as e:  # report and go on
                print(f"{name}: export failed: {type(e).__name__}: {str(e)[:500]}")
                if os.path.exists(path):
                    os.remove(path)
                continue
            ref = model(x_te).numpy()
            assert np.allclose(y, ref, atol=1e-4), (name, np.abs(y - ref).max())
            write_test(name, x_te, y, y_te)
            report(name, path, y, y_te, acc)


# ------------------------------------------------------------------------------------- skl


def skl_section(x_tr, x_te, y_tr, y_te):
    from skl2onnx import to_onnx
    from sklearn.neural_network import MLPClassifier

    runs = [("tanh", "tanh", False), ("logistic", "logistic", False), ("relu", "relu", False),
            ("tanh_zipmap", "tanh", True)]
    for model_name, act, zipmap in runs:
        clf = MLPClassifier(hidden_layer_sizes=(32,), activation=act, max_iter=300,
                            random_state=0)
        clf.fit(x_tr, y_tr)
        acc = float((clf.predict(x_te) == y_te).mean())
        name = f"skl_{model_name}"
        path = os.path.join(OUT, name + ".onnx")
        options = None if zipmap else {id(clf): {"zipmap": False}}
        onnx_model = to_onnx(clf, x_tr[:1], target_opset=13, options=options)
        with open(path, "wb") as f:
            f.write(onnx_model.SerializeToString())
        label, prob = ort_run(path, x_te)[:2]
        if zipmap:  # a sequence of {class: probability}
            prob = np.array([[p[k] for k in range(10)] for p in prob], np.float32)
        assert np.allclose(prob, clf.predict_proba(x_te), atol=1e-4), name
        assert np.array_equal(label, clf.predict(x_te)), name
        # output_data is the first graph output (the label); the probabilities beside it
        extra = {
            "output_data": [[int(v)] for v in label[:TEST]],
            "probabilities_data": rows(prob[:TEST]),
        }
        write_test(name, x_te, prob, y_te, extra)
        report(name, path, prob, y_te, acc)


def main():
    global OUT
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", default=DEFAULT_OUT)
    parser.add_argument("--only", choices=["torch", "keras", "skl"], action="append")
    args = parser.parse_args()
    OUT = args.out
    os.makedirs(OUT, exist_ok=True)
    x_tr, x_te, y_tr, y_te = data()
    sections = {
        "torch": (("torch", "onnx", "onnxscript"), torch_section),
        "keras": (("keras", "tensorflow", "tf_keras", "tf2onnx"), keras_section),
        "skl": (("skl2onnx",), skl_section),
    }
    for key, (modules, run) in sections.items():
        if args.only and key not in args.only:
            continue
        try:
            for m in modules:
                __import__(m)
        except ImportError as e:
            if args.only:
                raise
            print(f"{key} section skipped: {e}")
            continue
        write_calibration(x_tr)
        run(x_tr, x_te, y_tr, y_te)


if __name__ == "__main__":
    main()
