#!/usr/bin/env python3
"""Two MLPs for the table-cost benchmark of element-wise functions (docs/BENCHMARKS.md): ten
Gemm 64 -> 64 layers each followed by ACT (Sigmoid in one, Relu in the other), then a Gemm
64 -> 10, on [N, 64], the same random weights (seed 5); plus an input file of 16 rows in
[-1, 1] (seed 6).

Usage: python3 assets/scripts/make_activation_bench.py OUT_DIR   (numpy, onnx)
Writes OUT_DIR/mlp10_sigmoid.onnx, OUT_DIR/mlp10_relu.onnx, OUT_DIR/mlp10_input.json.
"""

import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def model(act):
    rng = np.random.default_rng(5)
    nodes, inits, x = [], [], "x"
    for i in range(11):
        n_out = 10 if i == 10 else 64
        w = (rng.standard_normal((n_out, 64)) * np.sqrt(2 / 64)).astype(np.float32)
        b = (rng.standard_normal(n_out) * 0.1).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        y = "y" if i == 10 else f"h{i}"
        nodes.append(helper.make_node("Gemm", [x, f"w{i}", f"b{i}"], [y], name=f"fc{i}", transB=1))
        if i < 10:
            nodes.append(helper.make_node(act, [y], [f"a{i}"], name=f"{act.lower()}{i}"))
            x = f"a{i}"
    graph = helper.make_graph(
        nodes,
        f"mlp10_{act.lower()}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
        inits,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for act in ["Sigmoid", "Relu"]:
        onnx.save(model(act), os.path.join(out, f"mlp10_{act.lower()}.onnx"))
    x = np.random.default_rng(6).uniform(-1, 1, (16, 64)).astype(np.float32)
    data = {"input_data": x.tolist()}
    with open(os.path.join(out, "mlp10_input.json"), "w") as f:
        json.dump(data, f)


if __name__ == "__main__":
    main()
