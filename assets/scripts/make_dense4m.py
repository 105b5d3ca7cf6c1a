"""Write the 4.2M-parameter dense benchmark model (not bundled: 16 MB).

Gemm 2048x2048 + ReLU + Gemm 2048x10, random weights (numpy seed 0), input [1, 2048], and one
input row. Usage: python assets/scripts/make_dense4m.py [OUT_DIR] (default /tmp), then
`target/release/zkml bench OUT_DIR/dense4m.onnx --input OUT_DIR/dense4m_input.json`.
"""

import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp"
    rng = np.random.default_rng(0)
    nodes, inits = [], []

    def gemm(n_in, n_out, name, inp, outp):
        w = (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(np.float32)
        b = (rng.standard_normal(n_out) * 0.1).astype(np.float32)
        inits.extend([numpy_helper.from_array(w, name + "_w"), numpy_helper.from_array(b, name + "_b")])
        nodes.append(helper.make_node("Gemm", [inp, name + "_w", name + "_b"], [outp], transB=1, name=name))

    gemm(2048, 2048, "fc0", "x", "h")
    nodes.append(helper.make_node("Relu", ["h"], ["hr"], name="relu0"))
    gemm(2048, 10, "fc1", "hr", "y")
    graph = helper.make_graph(
        nodes, "dense4m",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2048])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
              os.path.join(out, "dense4m.onnx"))
    with open(os.path.join(out, "dense4m_input.json"), "w") as f:
        json.dump({"input_data": [rng.uniform(-1, 1, 2048).tolist()]}, f)


if __name__ == "__main__":
    main()
