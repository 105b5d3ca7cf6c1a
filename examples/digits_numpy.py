# %% [markdown]
# # Prove a digits classifier trained with numpy
#
# Train a small MLP on the 8x8 digits data set with numpy, write it as ONNX with
# `onnx.helper`, then set up keys, prove its inference on test images and verify the proof.
# Runs as a script (`python examples/digits_numpy.py`) or cell by cell (`# %%`) in an editor.
# Needs `pip install .` (the zkml package) and `onnx`; scikit-learn, when installed, provides
# the full data set (1,797 images), else the bundled 300 images are used.

# %%
import json
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import zkml

ROOT = Path(__file__).resolve().parents[1]
rng = np.random.default_rng(0)

# %% [markdown]
# ## Data: pixels scaled to [0, 1], 70% to train

# %%
try:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = digits.data / 16.0, digits.target
except ImportError:  # the bundled images (the test file has labels)
    models = ROOT / "assets" / "models"
    test = json.loads((models / "digits_mlp_5x100_test.json").read_text())
    images, labels = np.asarray(test["input_data"]), np.asarray(test["labels"])
order = rng.permutation(len(images))
split = int(0.7 * len(images))
x_train, y_train = images[order[:split]], labels[order[:split]]
x_test, y_test = images[order[split:]], labels[order[split:]]
print(f"{len(x_train)} training and {len(x_test)} test images")

# %% [markdown]
# ## A 64-32-10 ReLU network, full-batch gradient descent on the cross-entropy

# %%
sizes = [64, 32, 10]
weights = [rng.normal(0, np.sqrt(2 / i), (o, i)) for i, o in zip(sizes, sizes[1:])]
biases = [np.zeros(o) for o in sizes[1:]]


def forward(x):
    h = np.maximum(x @ weights[0].T + biases[0], 0)
    return h, h @ weights[1].T + biases[1]


onehot = np.eye(10)[y_train]
for step in range(600):
    h, logits = forward(x_train)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g_logits = (p - onehot) / len(x_train)
    g_h = (g_logits @ weights[1]) * (h > 0)
    for w, b, g, a in ((weights[1], biases[1], g_logits, h), (weights[0], biases[0], g_h, x_train)):
        w -= 0.5 * g.T @ a
        b -= 0.5 * g.sum(0)
float_accuracy = (forward(x_test)[1].argmax(1) == y_test).mean()
print(f"float accuracy on the test images: {float_accuracy:.3f}")

# %% [markdown]
# ## ONNX: Gemm, Relu, Gemm with a dynamic batch

# %%
def gemm(name, x, w, b, y):
    inits = [numpy_helper.from_array(w.astype(np.float32), f"{name}.weight"),
             numpy_helper.from_array(b.astype(np.float32), f"{name}.bias")]
    node = helper.make_node("Gemm", [x, f"{name}.weight", f"{name}.bias"], [y], transB=1)
    return node, inits


fc1, init1 = gemm("fc1", "input", weights[0], biases[0], "h")
fc2, init2 = gemm("fc2", "a", weights[1], biases[1], "logits")
graph = helper.make_graph(
    [fc1, helper.make_node("Relu", ["h"], ["a"]), fc2],
    "digits_mlp",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 64])],
    [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
    initializer=init1 + init2,
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
onnx.checker.check_model(model)
print(zkml.inspect(model)["text"])

# %% [markdown]
# ## Keys: quantize to 8 bits with training images as calibration, commit to the weights

# %%
start = time.perf_counter()
pk = zkml.setup(model, calibration=x_train[:200], bits=8)
print(f"setup: {time.perf_counter() - start:.2f} s, vk digest {pk.vk.digest[:16]}...")
print(f"security: {pk.vk.security}")

# %% [markdown]
# ## Quantized inference, a proof of it for 64 test images, and its verification

# %%
x = x_test[:64]
quantized = pk.run(x)
print(f"quantized accuracy: {(pk.run(x_test).argmax(1) == y_test).mean():.3f}")

start = time.perf_counter()
proof = pk.prove(x)
print(f"prove {len(x)} images: {time.perf_counter() - start:.2f} s, "
      f"{len(proof.to_bytes()) / 1024:.0f} KiB")

start = time.perf_counter()
proven = zkml.verify(pk.vk, proof, inputs=x)
print(f"verify: {(time.perf_counter() - start) * 1e3:.1f} ms")
assert np.array_equal(proven, quantized)
print(f"proven labels: {proven.argmax(1)[:16]} ...")

# %% [markdown]
# ## A tampered input is refused

# %%
try:
    zkml.verify(pk.vk, proof, inputs=x[::-1])
except zkml.VerificationError as e:
    print(f"refused, as it should be: {e}")
else:
    raise AssertionError("a proof verified against the wrong inputs")
