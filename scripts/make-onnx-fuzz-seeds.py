#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/fuzz_onnx: small ONNX models, built with Debian's python3-onnx,
that hold tensors in every way the reader meets them — initializers with raw_data, Constant
nodes with packed float_data inside If branches and a Loop body, an int64 constant, a tensor
whose data is external, and graph inputs and outputs around them.

    /usr/bin/python3 scripts/make-onnx-fuzz-seeds.py [OUT_DIR]   (default fuzz/corpus/fuzz_onnx)
"""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save


def tensor(name, values, raw):
    array = np.asarray(values, dtype=np.float32)
    if raw:
        return numpy_helper.from_array(array, name)
    return helper.make_tensor(name, TensorProto.FLOAT, array.shape, array.ravel().tolist())


def constant(output, values, raw=False):
    return helper.make_node("Constant", [], [output], value=tensor("", values, raw))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "fuzz", "corpus",
                                                             "fuzz_onnx")
    os.makedirs(out, exist_ok=True)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    cond = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])

    # initializer with raw_data
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y],
                              [tensor("w", np.arange(6).reshape(2, 3) * 0.25, raw=True)])
    save(helper.make_model(graph), os.path.join(out, "initializer.onnx"))

    # If with Constants in both branches (float_data), as Silero VAD keeps its weights
    then_branch = helper.make_graph([constant("then_w", [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])], "then", [],
                                    [helper.make_tensor_value_info("then_w", TensorProto.FLOAT, [2, 3])])
    else_branch = helper.make_graph([constant("else_w", [[-1.0, -2.0, -3.0], [-4.0, -5.0, -6.0]], raw=True)],
                                    "else", [], [helper.make_tensor_value_info("else_w", TensorProto.FLOAT, [2, 3])])
    node = helper.make_node("If", ["cond"], ["y"], then_branch=then_branch, else_branch=else_branch)
    int_constant = helper.make_node("Constant", [], ["k"], value=helper.make_tensor("", TensorProto.INT64, [2], [7, 8]))
    graph = helper.make_graph([int_constant, node], "g", [cond], [y])
    save(helper.make_model(graph), os.path.join(out, "if_constants.onnx"))

    # Loop body with a nested Constant
    body = helper.make_graph(
        [constant("inc", [1.5]), helper.make_node("Add", ["v_in", "inc"], ["v_out"]),
         helper.make_node("Identity", ["c_in"], ["c_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [1])])
    loop = helper.make_node("Loop", ["n", "cond", "v0"], ["v"], body=body)
    graph = helper.make_graph([loop], "g", [helper.make_tensor_value_info("n", TensorProto.INT64, []), cond,
                                            helper.make_tensor_value_info("v0", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("v", TensorProto.FLOAT, [1])])
    save(helper.make_model(graph), os.path.join(out, "loop_body.onnx"))

    # a tensor whose numbers live in another file
    external = tensor("e", np.ones((2, 3)), raw=True)
    external.ClearField("raw_data")
    external.data_location = TensorProto.EXTERNAL
    entry = external.external_data.add()
    entry.key, entry.value = "location", "weights.bin"
    graph = helper.make_graph([helper.make_node("Add", ["x", "e"], ["y"])], "g", [x], [y], [external])
    save(helper.make_model(graph), os.path.join(out, "external.onnx"))


if __name__ == "__main__":
    main()
