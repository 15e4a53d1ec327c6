#!/usr/bin/env python3
"""Writes the ONNX models that scripts/bench-vs-ort.sh runs through ONNX
Runtime beside panattn, one per workload, into the folder given (default
build/ort-models): the opset-23 `Attention` operator on Q, K, V inputs, and
for W4 a multi-head layer (MatMul + Add, Split, Attention, MatMul + Add) whose
weights are constants of the model (so ONNX Runtime may prepack them, as it
would in a deployed model), written also as raw little-endian float32 files
in PyTorch's layout for panattn to load the same weights.

Debian's python3-onnx predates opset 23, so the graphs are built with the
helper functions (which write the operator by name) and not run through the
checker.
"""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, save

OPSET = 23

# name: (B, H, Hkv, Lq, Lk, D, causal), as `scripts/panattn bench` defines them.
ATTENTION = {
    "W1": (1, 12, 12, 512, 512, 64, False),
    "W1-2048": (1, 12, 12, 2048, 2048, 64, False),
    "W1-2048-causal": (1, 12, 12, 2048, 2048, 64, True),
    "W2": (1, 32, 32, 1, 4096, 128, False),
    "W3": (1, 1, 1, 16, 16, 64, False),
}
W4 = (1, 128, 768, 12)  # B, L, E, H


def model(nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "panattn-bench", inputs, outputs, list(initializers))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = 10
    return m


def tensor(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def attention(b, h, hkv, lq, lk, d, causal):
    node = helper.make_node("Attention", ["Q", "K", "V"], ["Y"], is_causal=int(causal))
    return model([node], [tensor("Q", (b, h, lq, d)), tensor("K", (b, hkv, lk, d)), tensor("V", (b, hkv, lk, d))],
                 [tensor("Y", (b, h, lq, d))])


def layer(folder):
    b, l, e, h = W4
    rng = np.random.default_rng(4)
    bound = np.sqrt(6.0 / (e + 3 * e))
    w_in = rng.uniform(-bound, bound, (3 * e, e)).astype(np.float32)   # PyTorch's in_proj_weight
    b_in = rng.uniform(-0.1, 0.1, 3 * e).astype(np.float32)
    w_out = rng.uniform(-1 / np.sqrt(e), 1 / np.sqrt(e), (e, e)).astype(np.float32)
    b_out = rng.uniform(-0.1, 0.1, e).astype(np.float32)
    for name, a in (("in_proj_weight", w_in), ("in_proj_bias", b_in), ("out_proj_weight", w_out),
                    ("out_proj_bias", b_out)):
        a.astype("<f4").tofile(os.path.join(folder, "W4." + name + ".f32"))
    init = [helper.make_tensor("w_in", TensorProto.FLOAT, (e, 3 * e), w_in.T.copy().ravel()),
            helper.make_tensor("b_in", TensorProto.FLOAT, (3 * e,), b_in),
            helper.make_tensor("w_out", TensorProto.FLOAT, (e, e), w_out.T.copy().ravel()),
            helper.make_tensor("b_out", TensorProto.FLOAT, (e,), b_out),
            helper.make_tensor("split", TensorProto.INT64, (3,), [e, e, e])]
    nodes = [helper.make_node("MatMul", ["X", "w_in"], ["xw"]),
             helper.make_node("Add", ["xw", "b_in"], ["qkv"]),
             helper.make_node("Split", ["qkv", "split"], ["q", "k", "v"], axis=2),
             helper.make_node("Attention", ["q", "k", "v"], ["y"], q_num_heads=h, kv_num_heads=h),
             helper.make_node("MatMul", ["y", "w_out"], ["yw"]),
             helper.make_node("Add", ["yw", "b_out"], ["Y"])]
    return model(nodes, [tensor("X", (b, l, e))], [tensor("Y", (b, l, e))], init)


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "build/ort-models"
    os.makedirs(folder, exist_ok=True)
    for name, shape in ATTENTION.items():
        save(attention(*shape), os.path.join(folder, name + ".onnx"))
    save(layer(folder), os.path.join(folder, "W4.onnx"))
    print("wrote %d models to %s" % (len(ATTENTION) + 1, folder))


if __name__ == "__main__":
    main()
