#!/usr/bin/env python3
"""Keras models trained on scikit-learn's digits, exported to ONNX by tf2onnx, for the importer.

Writes, into crates/cli/tests/fixtures/keras/ (or the directory given as the first argument),
for each model MODEL and each exporter EXP a fixture NAME = MODEL_EXP:
- NAME.onnx
- NAME.json: the first 4 held-out inputs ("input_data", flat C-order rows of the NHWC input)
  and onnxruntime's float outputs ("output_data"), as in fixtures/exporters/;
- NAME_test.json: the first 50 held-out inputs, onnxruntime's outputs, the labels ("labels")
  and onnxruntime's argmax ("ort_argmax"), for an agreement check after a proof;
and digits_calibration.json: the first 200 training inputs (for `zkml setup --calibration`),
flat rows of the [0, 1] pixels, for every model but mlp_rescale and cnn_s2d, which have their
own MODEL_calibration.json (raw pixels; the 4-channel layout).

The exporters (each model is trained once with Keras 3; its weights are copied into the same
architecture built with tf_keras, i.e. Keras 2, and the two are checked to agree):
- fk13, fk17: `tf2onnx.convert.from_keras` on the tf_keras model, opset 13 (all models) and 17
  (cnn_bn and resnet only). tf2onnx's from_keras does not accept Keras 3 models (tf2onnx 1.17:
  `KeyError: 'keras_tensor_N'` looking up the output names), hence tf_keras.
- k3: Keras 3's own `model.export(path, format="onnx")` (tf2onnx's from_function underneath),
  at its default opset (tf2onnx's default, 15).

Data: the 8x8 digits scaled to [0, 1] (pixel / 16; mlp_rescale takes raw pixels 0..16 and
rescales inside the model), split 80/20 as in make_residual_models.py. The models (NHWC, as
Keras makes them):
- mlp_rescale: Rescaling(1/16) + Dense(32, relu) + Dense(10) on 64 raw pixels.
- mlp_norm: Normalization (adapted: per-feature mean/variance of the training set) +
  Dense(32, relu) + Dense(10). Keras 3's export of it has two extra graph inputs (the mean and
  the variance, [1, 64]); its stored outputs are onnxruntime's with those fed.
- cnn_bn: Conv2D(8, 3, same) + BatchNormalization + ReLU + MaxPooling2D + Flatten + Dense(10).
- resnet: conv-BN-ReLU stem, an identity block and a stride-2 block with a 1x1-conv + BN
  shortcut (layers.Add joins), GlobalAveragePooling2D, Dense(10).
- avgpool_valid: Conv2D + AveragePooling2D(2, padding="valid") + Conv2D + Flatten + Dense.
- avgpool_same: Conv2D(valid) + AveragePooling2D(3, strides=2, padding="same") (asymmetric
  padding that Keras leaves out of the average) + Flatten + Dense.
- separable: Conv2D + DepthwiseConv2D + BN + ReLU + SeparableConv2D + GlobalAveragePooling2D +
  Dense.
- unflatten: Dense(64, relu) + Reshape((4, 4, 4)) + Conv2D(8, 3, same, relu) + Flatten + Dense.
- conv1d: the digits as a 64-step, 1-channel signal: Conv1D + MaxPooling1D + Conv1D + Flatten
  + Dense.
- cnn_s2d: the digits as 4x4 images of 4 channels (each 2x2 block of pixels as channels), so
  that the NHWC -> NCHW Transpose of the input is a real one (with 1 channel tf2onnx writes a
  Reshape): Conv2D(8, 3, same, relu) + Flatten + Dense.

Needs tensorflow (or tensorflow-cpu), tf_keras (same minor version), tf2onnx, onnx,
onnxruntime, scikit-learn. Tested with tensorflow-cpu 2.21.0, keras 3.15.1, tf_keras 2.21.0,
tf2onnx 1.17.0, onnx 1.23.2, onnxruntime 1.32.0, numpy 2.4.6. About a minute on 2 cores.
"""

import json
import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "..", "crates", "cli", "tests", "fixtures", "keras"
)
SAMPLES, TEST, CALIB = 4, 50, 200
OPSET17 = ("cnn_bn", "resnet")


def data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[..., None]  # [n, 8, 8, 1] NHWC
    return train_test_split(x, d.target, test_size=0.2, random_state=0, stratify=d.target)


def architectures(x_train):
    """name -> (build(K) for K in (keras, tf_keras), input transform of the [n, 8, 8, 1] data)."""
    flat = x_train.reshape(len(x_train), -1)

    def mlp_rescale(K):
        L = K.layers
        return K.Sequential([
            K.Input((64,), name="x"), L.Rescaling(1 / 16.0),
            L.Dense(32, activation="relu"), L.Dense(10),
        ])

    def mlp_norm(K):
        # Keras 3 keeps the statistics as tensors (not variables) that its ONNX export turns
        # into two extra graph inputs (.../Sub/y:0, .../Sqrt/x:0), not initializers
        L = K.layers
        norm = L.Normalization()
        norm.adapt(flat)
        return K.Sequential([
            K.Input((64,), name="x"), norm,
            L.Dense(32, activation="relu"), L.Dense(10),
        ])

    def cnn_bn(K):
        L = K.layers
        return K.Sequential([
            K.Input((8, 8, 1), name="x"), L.Conv2D(8, 3, padding="same"),
            L.BatchNormalization(), L.ReLU(), L.MaxPooling2D(2), L.Flatten(), L.Dense(10),
        ])

    def resnet(K):
        L = K.layers

        def conv_bn(h, c, k, stride=1):
            h = L.Conv2D(c, k, strides=stride, padding="same", use_bias=False)(h)
            return L.BatchNormalization()(h)

        x = K.Input((8, 8, 1), name="x")
        h = L.ReLU()(conv_bn(x, 8, 3))
        b = conv_bn(L.ReLU()(conv_bn(h, 8, 3)), 8, 3)
        h = L.ReLU()(L.Add()([b, h]))
        b = conv_bn(L.ReLU()(conv_bn(h, 16, 3, 2)), 16, 3)
        h = L.ReLU()(L.Add()([b, conv_bn(h, 16, 1, 2)]))
        return K.Model(x, L.Dense(10)(L.GlobalAveragePooling2D()(h)))

    def avgpool_valid(K):
        L = K.layers
        return K.Sequential([
            K.Input((8, 8, 1), name="x"), L.Conv2D(8, 3, padding="same", activation="relu"),
            L.AveragePooling2D(2, padding="valid"), L.Conv2D(8, 3, activation="relu"),
            L.Flatten(), L.Dense(10),
        ])

    def avgpool_same(K):
        L = K.layers
        return K.Sequential([
            K.Input((8, 8, 1), name="x"), L.Conv2D(8, 3, activation="relu"),  # 6x6
            L.AveragePooling2D(3, strides=2, padding="same"),  # 3x3, pads 0 before, 1 after
            L.Flatten(), L.Dense(10),
        ])

    def separable(K):
        L = K.layers
        return K.Sequential([
            K.Input((8, 8, 1), name="x"), L.Conv2D(8, 3, padding="same", activation="relu"),
            L.DepthwiseConv2D(3, padding="same", use_bias=False), L.BatchNormalization(),
            L.ReLU(), L.SeparableConv2D(16, 3, padding="same", activation="relu"),
            L.GlobalAveragePooling2D(), L.Dense(10),
        ])

    def unflatten(K):
        L = K.layers
        return K.Sequential([
            K.Input((64,), name="x"), L.Dense(64, activation="relu"), L.Reshape((4, 4, 4)),
            L.Conv2D(8, 3, padding="same", activation="relu"), L.Flatten(), L.Dense(10),
        ])

    def conv1d(K):
        L = K.layers
        return K.Sequential([
            K.Input((64, 1), name="x"), L.Conv1D(8, 3, activation="relu"),  # 62
            L.MaxPooling1D(2), L.Conv1D(8, 3, activation="relu"),  # 31 -> 29
            L.Flatten(), L.Dense(10),
        ])

    def cnn_s2d(K):
        L = K.layers
        return K.Sequential([
            K.Input((4, 4, 4), name="x"), L.Conv2D(8, 3, padding="same", activation="relu"),
            L.Flatten(), L.Dense(10),
        ])

    def flat64(x):
        return x.reshape(len(x), 64)

    def image(x):
        return x

    def space_to_depth(x):  # [n, 8, 8, 1] -> [n, 4, 4, 4]: each 2x2 block as 4 channels
        return x.reshape(len(x), 4, 2, 4, 2).transpose(0, 1, 3, 2, 4).reshape(len(x), 4, 4, 4)

    return {
        "mlp_rescale": (mlp_rescale, lambda x: flat64(x) * 16.0),
        "mlp_norm": (mlp_norm, flat64),
        "cnn_bn": (cnn_bn, image),
        "resnet": (resnet, image),
        "avgpool_valid": (avgpool_valid, image),
        "avgpool_same": (avgpool_same, image),
        "separable": (separable, image),
        "unflatten": (unflatten, flat64),
        "conv1d": (conv1d, lambda x: x.reshape(len(x), 64, 1)),
        # last, so that the models above keep their weights
        "cnn_s2d": (cnn_s2d, space_to_depth),
    }


def rows(a):
    return [[float(v) for v in r.reshape(-1)] for r in a]


def ort_run(path, x, extra=None):
    """onnxruntime's outputs; `extra` feeds graph inputs other than the first, by name suffix
    (Keras 3's export of Normalization, see mlp_norm)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    first, *others = sess.get_inputs()
    feeds = {}
    for i in others:
        value = [v for suffix, v in (extra or {}).items() if i.name.endswith(suffix)]
        assert len(value) == 1, f"{path}: unexpected input {i.name}"
        print(f"  {os.path.basename(path)}: extra graph input {i.name} {i.shape}")
        feeds[i.name] = np.asarray(value[0], np.float32).reshape(i.shape)
    y = sess.run(None, {first.name: x, **feeds})[0]
    one = sess.run(None, {first.name: x[:1], **feeds})[0]  # the dynamic batch axis with N = 1
    assert np.allclose(one, y[:1], atol=1e-5), path
    return y


def main():
    import keras
    import tensorflow as tf
    import tf2onnx
    import tf_keras

    keras.utils.set_random_seed(0)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(2)
    os.makedirs(OUT, exist_ok=True)
    x_tr, x_te, y_tr, y_te = data()
    for model_name, (build, prep) in architectures(x_tr).items():
        xtr, xte = prep(x_tr), prep(x_te)
        model = build(keras)
        model.compile(
            optimizer=keras.optimizers.Adam(3e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        model.fit(xtr, y_tr, epochs=15, batch_size=32, verbose=0)
        acc = float((model.predict(xte, verbose=0).argmax(1) == y_te).mean())
        # the same weights in a Keras 2 (tf_keras) model, for tf2onnx.convert.from_keras
        model2 = build(tf_keras)
        model2.set_weights(model.get_weights())
        diff = np.abs(model(xte[:16]).numpy() - model2(xte[:16]).numpy()).max()
        assert diff < 1e-4, (model_name, diff)
        # one calibration file for the models that take the [0, 1] pixels in their C order
        same = np.array_equal(xtr.reshape(-1), x_tr.reshape(-1))
        calib = os.path.join(OUT, ("digits" if same else model_name) + "_calibration.json")
        with open(calib, "w") as f:
            json.dump({"input_data": rows(xtr[:CALIB])}, f)
        spec = (tf.TensorSpec((None,) + xtr.shape[1:], tf.float32, name="x"),)
        exports = [("fk13", 13)] + ([("fk17", 17)] if model_name in OPSET17 else []) + [("k3", 0)]
        for exp, opset in exports:
            name = f"{model_name}_{exp}"
            path = os.path.join(OUT, name + ".onnx")
            try:
                if exp == "k3":
                    model.export(path, format="onnx", verbose=False)
                else:
                    tf2onnx.convert.from_keras(
                        model2, input_signature=spec, opset=opset, output_path=path
                    )
            except Exception as e:  # report and go on: this is what we want to learn
                print(f"{name}: export failed: {type(e).__name__}: {e}")
                continue
            extra = None
            if model_name == "mlp_norm":
                norm = model.layers[0]
                extra = {"Sub/y:0": norm.mean, "Sqrt/x:0": norm.variance}
            y = ort_run(path, xte, extra)
            ref = model(xte).numpy()
            assert np.allclose(y, ref, atol=1e-3), (name, np.abs(y - ref).max())
            with open(os.path.join(OUT, name + ".json"), "w") as f:
                json.dump({"input_data": rows(xte[:SAMPLES]), "output_data": rows(y[:SAMPLES])}, f)
            with open(os.path.join(OUT, name + "_test.json"), "w") as f:
                json.dump({
                    "input_data": rows(xte[:TEST]),
                    "output_data": rows(y[:TEST]),
                    "labels": [int(v) for v in y_te[:TEST]],
                    "ort_argmax": [int(v) for v in y[:TEST].argmax(1)],
                }, f)
            print(f"{name}: {os.path.getsize(path)} bytes, float accuracy {acc:.4f} "
                  f"on {len(y_te)} held out")


if __name__ == "__main__":
    main()
