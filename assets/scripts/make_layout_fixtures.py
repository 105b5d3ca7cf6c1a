#!/usr/bin/env python3
"""ONNX fixtures for the layout tests of the CLI (crates/cli/tests/fixtures/).

- reshape_conv_conv.onnx:  Conv -> Relu -> Reshape[1,1,6,3] -> Conv
- reshape_conv_pool.onnx:  Conv -> Reshape -> MaxPool
- reshape_vars.onnx:       Conv -> Reshape [1,3,3,3] -> [1,1,3,9] -> Conv
  (a Reshape between window ops: the proof lays activations out padded per dimension, so each
  is proven as a permutation, a relayout layer)
- maxpool_only.onnx:       a lone MaxPool (no weights at all)
- nhwc_cnn.onnx:           tf2onnx's layout on a 3-channel NHWC input: Transpose to NCHW, a
  padded Conv, Relu, Transpose back, Flatten, Gemm (the input's permutation and a Transpose
  folded into the dense layer)
- dense_plus_conv.onnx:    a residual sum of a dense layer's output reshaped to [2, 3, 3] and a
  conv's output (the two are written in different layouts: one is relaid out for the sum)

Usage: python3 assets/scripts/make_layout_fixtures.py [--out crates/cli/tests/fixtures]
"""

import argparse
import json
import os

import numpy as np
from onnx import TensorProto, checker, helper, numpy_helper


def model(nodes, in_shape, out_shape, inits, name):
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        inits,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    checker.check_model(m)
    return m


def conv(name, x, y, c_out, c_in, k, rng):
    w = numpy_helper.from_array(
        rng.uniform(-0.5, 0.5, (c_out, c_in, k, k)).astype(np.float32), name + "_w"
    )
    b = numpy_helper.from_array(rng.uniform(-0.1, 0.1, c_out).astype(np.float32), name + "_b")
    node = helper.make_node("Conv", [x, w.name, b.name], [y], name=name, kernel_shape=[k, k])
    return node, [w, b]


def shape(name, dims):
    return numpy_helper.from_array(np.array(dims, dtype=np.int64), name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="crates/cli/tests/fixtures")
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(8)

    # [1,1,5,5] -conv3-> [1,2,3,3] -relu-> reshape [1,1,6,3] -conv2-> [1,2,5,2]
    c1, i1 = conv("conv1", "x", "c1", 2, 1, 3, rng)
    c2, i2 = conv("conv2", "r", "y", 2, 1, 2, rng)
    nodes = [c1, helper.make_node("Relu", ["c1"], ["a"], name="relu1"),
             helper.make_node("Reshape", ["a", "s"], ["r"], name="reshape"), c2]
    fixtures = {"reshape_conv_conv": (model(nodes, [1, 1, 5, 5], [1, 2, 5, 2], i1 + i2 + [shape("s", [1, 1, 6, 3])],
                                            "reshape_conv_conv"), 25)}

    # [1,1,5,5] -conv3-> [1,2,3,3] -> reshape [1,1,6,3] -maxpool2-> [1,1,5,2]
    c1, i1 = conv("conv1", "x", "c1", 2, 1, 3, rng)
    nodes = [c1, helper.make_node("Reshape", ["c1", "s"], ["r"], name="reshape"),
             helper.make_node("MaxPool", ["r"], ["y"], name="pool", kernel_shape=[2, 2])]
    fixtures["reshape_conv_pool"] = (model(nodes, [1, 1, 5, 5], [1, 1, 5, 2], i1 + [shape("s", [1, 1, 6, 3])],
                                           "reshape_conv_pool"), 25)

    # [1,1,5,5] -conv3-> [1,3,3,3] -> reshape [1,1,3,9] -conv2-> [1,2,2,8]
    c1, i1 = conv("conv1", "x", "c1", 3, 1, 3, rng)
    c2, i2 = conv("conv2", "r", "y", 2, 1, 2, rng)
    nodes = [c1, helper.make_node("Reshape", ["c1", "s"], ["r"], name="reshape"), c2]
    fixtures["reshape_vars"] = (model(nodes, [1, 1, 5, 5], [1, 2, 2, 8], i1 + i2 + [shape("s", [1, 1, 3, 9])],
                                      "reshape_vars"), 25)

    nodes = [helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2, 2],
                              strides=[2, 2])]
    fixtures["maxpool_only"] = (model(nodes, [1, 2, 6, 6], [1, 2, 3, 3], [], "maxpool_only"), 72)

    for stem, (m, n) in fixtures.items():
        with open(os.path.join(out, stem + ".onnx"), "wb") as f:
            f.write(m.SerializeToString())
        x = [np.round(rng.uniform(-1, 1, n), 4).tolist() for _ in range(2)]
        with open(os.path.join(out, stem + "_input.json"), "w") as f:
            json.dump({"input_data": x}, f)
    nhwc_cnn(out)
    dense_plus_conv(out)
    print(f"wrote {len(fixtures) + 2} fixtures to {out}")


def nhwc_cnn(out):
    rng = np.random.default_rng(5)
    w = (rng.standard_normal((4, 3, 3, 3)) * 0.4).astype(np.float32)
    b = (rng.standard_normal(4) * 0.1).astype(np.float32)
    fc = (rng.standard_normal((6 * 5 * 4, 3)) * 0.2).astype(np.float32)
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], name="to_nchw", perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["t", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Transpose", ["r"], ["u"], name="to_nhwc", perm=[0, 2, 3, 1]),
        helper.make_node("Flatten", ["u"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "fc"], ["y"], name="fc"),
    ]
    inits = [numpy_helper.from_array(a, n) for a, n in ((w, "w"), (b, "b"), (fc, "fc"))]
    m = model(nodes, ["N", 6, 5, 3], ["N", 3], inits, "nhwc")
    with open(os.path.join(out, "nhwc_cnn.onnx"), "wb") as f:
        f.write(m.SerializeToString())
    x = [np.round(rng.uniform(-1, 1, 90), 4).tolist() for _ in range(3)]
    with open(os.path.join(out, "nhwc_cnn_input.json"), "w") as f:
        json.dump({"input_data": x}, f)


def dense_plus_conv(out):
    rng = np.random.default_rng(9)

    def init(name, dims):
        return numpy_helper.from_array(rng.uniform(-0.5, 0.5, dims).astype(np.float32), name)

    nodes = [
        helper.make_node("Flatten", ["x"], ["f"], name="flat", axis=1),
        helper.make_node("Gemm", ["f", "w1", "b1"], ["g"], name="fc1", transB=1),
        helper.make_node("Relu", ["g"], ["gr"], name="relu1"),
        helper.make_node("Reshape", ["gr", "s"], ["u"], name="unflatten"),
        helper.make_node("Conv", ["x", "cw"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["u", "c"], ["a"], name="add"),
        helper.make_node("Relu", ["a"], ["ar"], name="relu2"),
        helper.make_node("Flatten", ["ar"], ["f2"], name="flat2", axis=1),
        helper.make_node("Gemm", ["f2", "w2"], ["y"], name="fc2", transB=1),
    ]
    inits = [init("w1", (18, 18)), init("b1", (18,)), shape("s", [1, 2, 3, 3]),
             init("cw", (2, 2, 3, 3)), init("w2", (4, 18))]
    m = model(nodes, [1, 2, 3, 3], [1, 4], inits, "dense_plus_conv")
    with open(os.path.join(out, "dense_plus_conv.onnx"), "wb") as f:
        f.write(m.SerializeToString())
    x = [np.round(rng.uniform(-1, 1, 18), 4).tolist() for _ in range(3)]
    with open(os.path.join(out, "dense_plus_conv_input.json"), "w") as f:
        json.dump({"input_data": x}, f)


if __name__ == "__main__":
    main()
