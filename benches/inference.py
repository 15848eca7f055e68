"""Inference and replay throughput, side by side in one run (docs/performance.md).

1. Windows embedded per second with one thread, batch 1 and 64: `imsight bench inference`
   (ONNX Runtime through `ort`, plus matching against the shipped reference pack) against
   PyTorch eager on the same architecture and size (the weights of a training checkpoint when
   --checkpoint is given; speed does not depend on the weights), alternating, several rounds.
2. The share of one core needed to judge 10,000 nodes every minute (from 1).
3. Replay throughput in node-minutes per second on the verdicts scenario (three nodes, nine
   hours): `imsight features` alone, `imsight replay` without explanations, with them.

    cargo build --release
    training/.venv/bin/python benches/inference.py [--rounds 3] [--checkpoint runs/small/model.pt]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "training"))
from imsight_training.model import build  # noqa: E402

BIN = os.path.join(ROOT, "target", "release", "imsight")
MODEL = os.path.join(ROOT, "models", "siamese-lstm-small", "siamese-lstm-small.onnx")


def rust(batches, seconds):
    args = [BIN, "bench", "inference", "--model", MODEL, "--seconds", str(seconds), "--json"]
    for b in batches:
        args += ["--batch", str(b)]
    out = subprocess.run(args, check=True, capture_output=True, text=True,
                         env={**os.environ, "IMSIGHT__INFERENCE__INTRA_THREADS": "1"}).stdout
    return {r["batch"]: r for r in json.loads(out)["results"]}


def torch_eager(model, batch, seconds):
    x = torch.rand(batch, 60, 130) * 10
    with torch.no_grad():
        for _ in range(3):
            model(x)
        n, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            model(x)
            n += batch
    return n / (time.perf_counter() - started)


def timed(args):
    started = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{args[1]} failed: {result.stderr}")
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--checkpoint")
    args = parser.parse_args()
    card = json.load(open(os.path.join(os.path.dirname(MODEL), "model-card.json")))
    cfg = card["hyper_parameters"]
    torch.set_num_threads(1)
    model = build(cfg).eval()
    if args.checkpoint:
        model.load_state_dict(torch.load(args.checkpoint, weights_only=False)["state"])
    batches = [1, 64]
    ort_rates = {b: [] for b in batches}
    torch_rates = {b: [] for b in batches}
    judge_rates = {b: [] for b in batches}
    share = {b: [] for b in batches}
    for _ in range(args.rounds):
        r = rust(batches, args.seconds)
        for b in batches:
            ort_rates[b].append(r[b]["embed_windows_per_s"])
            judge_rates[b].append(r[b]["judge_windows_per_s"])
            share[b].append(r[b]["core_share_for_nodes"])
            torch_rates[b].append(torch_eager(model, b, args.seconds))
    print(f"model {os.path.relpath(MODEL, ROOT)}: width {cfg['width']}, embedding {cfg['dim']}; one thread; "
          f"medians of {args.rounds} alternating rounds of {args.seconds} s")
    print("| batch | ONNX Runtime (imsight) windows/s | PyTorch eager windows/s | ratio | embed + match windows/s | one core's share for 10,000 nodes/min |")
    print("|---|---|---|---|---|---|")
    for b in batches:
        o, t = np.median(ort_rates[b]), np.median(torch_rates[b])
        print(f"| {b} | {o:,.0f} | {t:,.0f} | {o / t:.2f} x | {np.median(judge_rates[b]):,.0f} | "
              f"{100 * np.median(share[b]):.1f} % |")

    with tempfile.TemporaryDirectory() as work:
        w = lambda name: os.path.join(work, name)  # noqa: E731
        scenario = os.path.join(ROOT, "profiles", "scenarios", "verdicts.toml")
        subprocess.run([BIN, "simulate", "--scenario", scenario, "--xdr", w("v.csv"), "--nodes", w("nodes.toml")],
                       check=True, capture_output=True)
        node_minutes = 3 * 540
        runs = {"features": [], "replay --no-explain": [], "replay": []}
        for _ in range(args.rounds):
            runs["features"].append(timed([BIN, "features", w("v.csv"), "--config", w("nodes.toml"), "--out", w("f.csv")]))
            base = [BIN, "replay", w("v.csv"), "--config", w("nodes.toml"), "--out", w("v.jsonl"),
                    "--state-dir", w("state")]
            runs["replay --no-explain"].append(timed(base + ["--no-explain"]))
            runs["replay"].append(timed(base))
        size = os.path.getsize(w("v.csv")) / 1e6
        print()
        print(f"replay of the verdicts scenario ({node_minutes} node-minutes, {size:.0f} MB of probe records), "
              f"medians of {args.rounds}:")
        print("| command | seconds | node-minutes/s |")
        print("|---|---|---|")
        for name, times in runs.items():
            s = np.median(times)
            print(f"| imsight {name} | {s:.2f} | {node_minutes / s:,.0f} |")


if __name__ == "__main__":
    main()
