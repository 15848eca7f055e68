"""Build the tiny ONNX model that the tests and the smoke run load.

It honours the imsight model contract (docs/model-contract.md): input `features`, float32
[batch, 60, 130] of raw feature values; output `embedding`, float32 [batch, 8]; the input
normalisation (log1p of the non-negative values) inside the graph; metadata properties under
`imsight.*`. The weights are random (seeded), so the model means nothing: it exists to prove that
loading, shapes, metadata and numerics work end to end without the training stack.

It also writes golden.json: the embeddings that Python ONNX Runtime computes for the deterministic
input below, which the Rust test compares against.

    python3 -m venv venv && venv/bin/pip install onnx==1.23.2 numpy==2.4.6 onnxruntime==1.31.1
    venv/bin/python tests/data/tiny-model/make.py
"""

import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

WINDOW, FEATURES, HIDDEN, EMBEDDING = 60, 130, 16, 8
HERE = os.path.dirname(os.path.abspath(__file__))


def golden_input(batch: int) -> np.ndarray:
    """The input the Rust side rebuilds bit for bit (see `imsight::infer::probe::probe_input`)."""
    x = np.empty((batch, WINDOW, FEATURES), dtype=np.float32)
    for b in range(batch):
        for t in range(WINDOW):
            for f in range(FEATURES):
                x[b, t, f] = np.float32(((b * 7 + t * 13 + f * 31) % 97) / 9.7)
    return x


def build() -> onnx.ModelProto:
    rng = np.random.default_rng(20261121)
    w = rng.normal(0, 0.2, (1, 4 * HIDDEN, FEATURES)).astype(np.float32)
    r = rng.normal(0, 0.2, (1, 4 * HIDDEN, HIDDEN)).astype(np.float32)
    b = rng.normal(0, 0.1, (1, 8 * HIDDEN)).astype(np.float32)
    dense_w = rng.normal(0, 0.3, (HIDDEN, EMBEDDING)).astype(np.float32)
    dense_b = rng.normal(0, 0.1, (EMBEDDING,)).astype(np.float32)
    inits = [
        numpy_helper.from_array(w, "lstm_W"),
        numpy_helper.from_array(r, "lstm_R"),
        numpy_helper.from_array(b, "lstm_B"),
        numpy_helper.from_array(dense_w, "dense_W"),
        numpy_helper.from_array(dense_b, "dense_B"),
        numpy_helper.from_array(np.array([1.0], dtype=np.float32), "one"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "axis0"),
    ]
    nodes = [
        # Normalisation lives in the graph: log1p(max(x, 0)).
        helper.make_node("Relu", ["features"], ["nonneg"]),
        helper.make_node("Add", ["nonneg", "one"], ["shifted"]),
        helper.make_node("Log", ["shifted"], ["logged"]),
        helper.make_node("Transpose", ["logged"], ["time_major"], perm=[1, 0, 2]),
        helper.make_node(
            "LSTM", ["time_major", "lstm_W", "lstm_R", "lstm_B"], ["", "last_h"],
            hidden_size=HIDDEN,
        ),
        helper.make_node("Squeeze", ["last_h", "axis0"], ["last"]),
        helper.make_node("Gemm", ["last", "dense_W", "dense_B"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_siamese_branch",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", WINDOW, FEATURES])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", EMBEDDING])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    model.producer_name = "imsight-tests"
    helper.set_model_props(model, {
        "imsight.model_name": "tiny-test-fixture",
        "imsight.model_version": "0.0.1",
        # The binary's schema (`imsight features --schema --json`): re-run when it changes.
        "imsight.feature_schema": "imsight.features/2",
        "imsight.feature_schema_hash": "f29a079ab62a05f04246ca63e14e6e50c4052916a67ca7979d15287c7fbc529f",
        "imsight.window_minutes": str(WINDOW),
        "imsight.feature_count": str(FEATURES),
        "imsight.embedding_dim": str(EMBEDDING),
    })
    onnx.checker.check_model(model)
    return model


def main() -> None:
    import onnxruntime as ort

    model = build()
    path = os.path.join(HERE, "tiny-siamese.onnx")
    onnx.save(model, path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    batch = 3
    (emb,) = session.run(["embedding"], {"features": golden_input(batch)})
    golden = {
        "input": "x[b,t,f] = float32(((7b + 13t + 31f) mod 97) / 9.7)",
        "batch": batch,
        "onnxruntime": ort.__version__,
        "embedding": emb.astype(float).tolist(),
    }
    with open(os.path.join(HERE, "golden.json"), "w") as out:
        json.dump(golden, out, indent=1)
        out.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes) and golden.json; row 0: {emb[0]}")


if __name__ == "__main__":
    main()
