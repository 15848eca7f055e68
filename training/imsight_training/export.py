"""Exports a trained model to ONNX (opset 18, one file, symbolic batch), with its metadata
properties, `model-card.json`, and golden vectors: windows of the test split and the probe
input of `imsight model verify`, with the embeddings ONNX Runtime gives them (a Rust test runs
them through `ort`). Checks before writing anything final: ONNX Runtime matches torch, the
batch axis is symbolic, and batch 1 gives the rows of batch 64.

    python -m imsight_training.export --run runs/tiny --data data/tiny --out models/tiny --name tiny
"""

import argparse
import datetime
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime
import torch

from .model import build
from .stats import feature_stats, training_rows
from .train import Windows

WINDOW = 60
FEATURES = 130


def probe_input(windows):
    """The input `imsight model verify` embeds: x[b,t,f] = ((7b + 13t + 31f) mod 97) / 9.7."""
    b, t, f = np.meshgrid(np.arange(windows), np.arange(WINDOW), np.arange(FEATURES), indexing="ij")
    return (((7 * b + 13 * t + 31 * f) % 97) / 9.7).astype(np.float32)


def created():
    """Now, or SOURCE_DATE_EPOCH when set (reproducible builds: two exports of one training
    are then byte-identical)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch
              else datetime.datetime.now(datetime.timezone.utc))
    return moment.isoformat(timespec="seconds")


def git_commit():
    try:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        return subprocess.run(["git", "-C", root, "describe", "--always", "--dirty", "--abbrev=40"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def export(run, data_folder, out, name, version):
    # Before anything is written: the outputs may live in the checkout.
    commit = git_commit()
    checkpoint = torch.load(os.path.join(run, "model.pt"), weights_only=False)
    cfg = checkpoint["config"]
    model = build(cfg, FEATURES)
    model.load_state_dict(checkpoint["state"])
    model.eval()
    manifest = checkpoint["manifest"]
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"{name}.onnx")
    example = torch.from_numpy(probe_input(2))
    torch.onnx.export(model, (example,), path, dynamo=True, opset_version=18,
                      input_names=["features"], output_names=["embedding"], external_data=False,
                      dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
    with open(os.path.join(run, "training.json")) as f:
        training = json.load(f)
    card = {
        "model_name": name,
        "model_version": version,
        "feature_schema": manifest["feature_schema"],
        "feature_schema_hash": manifest["feature_schema_hash"],
        "window_minutes": WINDOW,
        "feature_count": FEATURES,
        "embedding_dim": cfg["dim"],
        # The classes it was trained on: those with training windows, less any held out.
        "classes": [c for c in manifest["windows"].get("train", {}) if c not in cfg.get("held_out", [])],
        "held_out_kinds": cfg.get("held_out", []),
        "dataset_content_hash": manifest["content_hash"],
        "dataset_binary": manifest["binary"],
        "git_commit": commit,
        "hyper_parameters": cfg,
        "metrics": {"best_val_knn_macro_recall": training["best_val_knn_macro_recall"]},
        "training_seconds": training["seconds"],
        "created": created(),
    }
    proto = onnx.load(path)
    for key in ("model_name", "model_version", "feature_schema", "feature_schema_hash",
                "window_minutes", "feature_count", "embedding_dim", "dataset_content_hash",
                "git_commit", "created"):
        entry = proto.metadata_props.add()
        entry.key, entry.value = f"imsight.{key}", str(card[key])
    onnx.checker.check_model(proto)
    onnx.save(proto, path)

    # The checks: a symbolic batch axis, torch = ONNX Runtime, batch 1 = batch 64.
    batch_dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    if not batch_dim.dim_param or batch_dim.dim_value:
        sys.exit(f"the batch axis of {path} is not symbolic: {batch_dim}")
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    data = Windows(data_folder)
    test = data.select("test")
    rng = np.random.default_rng(0)
    picks = rng.choice(test, size=min(64, len(test)), replace=False) if len(test) else np.array([], int)
    windows = np.concatenate([probe_input(2), data.batch(picks).numpy()]) if len(picks) else probe_input(64)
    windows = windows[:64]
    ort_all = session.run(["embedding"], {"features": windows})[0]
    with torch.no_grad():
        torch_all = model(torch.from_numpy(windows)).numpy()
    parity = float(np.abs(ort_all - torch_all).max())
    if parity > 1e-4:
        sys.exit(f"ONNX Runtime differs from torch by {parity}")
    one_by_one = np.concatenate([session.run(["embedding"], {"features": w[None]})[0] for w in windows])
    batch_gap = float(np.abs(one_by_one - ort_all).max())
    if batch_gap > 1e-5:
        sys.exit(f"batch 1 and batch {len(windows)} differ by {batch_gap}")
    golden = {
        "model": f"{name}.onnx",
        "tolerance": 1e-4,
        "inputs": [w.tolist() for w in windows[:4]],
        "embeddings": ort_all[:4].tolist(),
        "note": "inputs: [window][minute][feature] raw values; the first two are the probe input "
                "of imsight model verify, the others windows of the test split",
    }
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(golden, f)
    card["checks"] = {"onnxruntime_vs_torch_max_abs": parity, "batch1_vs_batch64_max_abs": batch_gap,
                      "batch_axis": batch_dim.dim_param}
    # Last: the monitor's reference, too long to read above the checks.
    card["feature_stats"] = feature_stats(training_rows(data), manifest["feature_names"])
    with open(os.path.join(out, "model-card.json"), "w") as f:
        json.dump(card, f, indent=1)
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return card, digest


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--version", default="0.1.0")
    args = parser.parse_args()
    card, digest = export(args.run, args.data, args.out, args.name, args.version)
    print(f"wrote {args.out}/{args.name}.onnx (sha256 {digest[:16]}); ONNX Runtime vs torch "
          f"{card['checks']['onnxruntime_vs_torch_max_abs']:.2e}, batch 1 vs 64 "
          f"{card['checks']['batch1_vs_batch64_max_abs']:.2e}", file=sys.stderr)


if __name__ == "__main__":
    main()
