"""The training statistics of a model's inputs, for input-drift monitoring in the appliance
(`feature_stats` in `model-card.json`, docs/model-contract.md).

Per feature: the bin edges (the deciles of the training minutes, ties merged, so a feature that
is zero most of the time gets one bin for its zeros) and the share of training minutes in each
bin. A value x falls in bin i when edges[i-1] < x <= edges[i] (bin 0 below or at the first edge,
the last bin above the last edge): `np.searchsorted(edges, x, side="left")`, which the Rust
monitor reproduces. The appliance compares a node's recent minutes with these shares by the
population stability index.

    python -m imsight_training.stats --data data/medium      # prints a summary
"""

import argparse
import json
import os

import numpy as np

QUANTILES = np.linspace(0.1, 0.9, 9)


def training_rows(data):
    """The minute rows of the scenarios in the `train` split of a `Windows` dataset."""
    train_scenarios = np.unique(data.scenario[data.split == "train"])
    rows = np.isin(data.meta["scenario"], train_scenarios) & ~data.empty
    return data.minutes[rows]


def feature_stats(minutes, names):
    """The `feature_stats` object of a model card for training `minutes` ([rows, 130] raw)."""
    features = []
    for i, name in enumerate(names):
        column = minutes[:, i].astype(np.float64)
        edges = np.unique(np.quantile(column, QUANTILES))
        bins = np.searchsorted(edges, column, side="left")
        counts = np.bincount(bins, minlength=len(edges) + 1)
        features.append({
            "name": name,
            "edges": [float(e) for e in edges],
            "expected": [round(float(c) / len(column), 6) for c in counts],
        })
    return {"binning": "edges[i-1] < x <= edges[i]", "minutes": int(len(minutes)), "features": features}


def psi(expected, actual, floor=1e-4):
    """Population stability index of `actual` bin shares against `expected` ones."""
    e = np.maximum(np.asarray(expected, float), floor)
    a = np.maximum(np.asarray(actual, float), floor)
    return float(((a - e) * np.log(a / e)).sum())


def main():
    from .train import Windows

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    args = parser.parse_args()
    data = Windows(args.data)
    stats = feature_stats(training_rows(data), data.manifest["feature_names"])
    single = sum(1 for f in stats["features"] if len(f["edges"]) <= 1)
    print(json.dumps({"minutes": stats["minutes"], "features": len(stats["features"]),
                      "features_with_one_edge": single, "dataset": os.path.abspath(args.data)}))


if __name__ == "__main__":
    main()
