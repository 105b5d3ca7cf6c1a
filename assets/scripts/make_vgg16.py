"""Write the VGG-16 CIFAR benchmark model (not bundled: 60 MB).

Thirteen 3x3 convolutions (pads 1; 64, 64, M, 128, 128, M, 256 x3, M, 512 x3, M, 512 x3, M, M a
2x2 max-pool), each followed by ReLU, then Gemm 512x512 + ReLU + Gemm 512x10: 14,982,474
parameters, random He-normal weights (numpy seed 0), input [1, 3, 32, 32], and one input row.
Usage: python assets/scripts/make_vgg16.py [OUT_DIR] (default /tmp), then
`target/release/zkml bench OUT_DIR/vgg16.onnx --input OUT_DIR/vgg16_input.json`.
"""

import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FEATURES = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp"
    rng = np.random.default_rng(0)
    nodes, inits = [], []

    def param(name, array):
        inits.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    x, c_in = "x", 3
    for i, f in enumerate(FEATURES):
        if f == "M":
            nodes.append(helper.make_node("MaxPool", [x], [f"pool{i}"], kernel_shape=[2, 2],
                                          strides=[2, 2], name=f"pool{i}"))
            x = f"pool{i}"
            continue
        w = param(f"conv{i}_w", rng.standard_normal((f, c_in, 3, 3)) * np.sqrt(2 / (9 * c_in)))
        b = param(f"conv{i}_b", rng.standard_normal(f) * 0.01)
        nodes.append(helper.make_node("Conv", [x, w, b], [f"conv{i}"], kernel_shape=[3, 3],
                                      pads=[1, 1, 1, 1], name=f"conv{i}"))
        nodes.append(helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"], name=f"relu{i}"))
        x, c_in = f"relu{i}", f
    nodes.append(helper.make_node("Flatten", [x], ["flat"], axis=1, name="flatten"))
    x = "flat"
    for i, (n_in, n_out) in enumerate([(512, 512), (512, 10)]):
        w = param(f"fc{i}_w", rng.standard_normal((n_out, n_in)) * np.sqrt(2 / n_in))
        b = param(f"fc{i}_b", rng.standard_normal(n_out) * 0.01)
        nodes.append(helper.make_node("Gemm", [x, w, b], [f"fc{i}"], transB=1, name=f"fc{i}"))
        x = f"fc{i}"
        if i == 0:
            nodes.append(helper.make_node("Relu", [x], ["fc_relu"], name="fc_relu"))
            x = "fc_relu"
    graph = helper.make_graph(
        nodes, "vgg16",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 10])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
              os.path.join(out, "vgg16.onnx"))
    with open(os.path.join(out, "vgg16_input.json"), "w") as f:
        json.dump({"input_data": [rng.uniform(-1, 1, 3 * 32 * 32).tolist()]}, f)


if __name__ == "__main__":
    main()
