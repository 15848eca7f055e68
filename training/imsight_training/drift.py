"""Input-drift scores as the appliance computes them (src/monitor/: per node, decaying
histograms over the model card's bins, PSI per feature, the median over the features), on
nodes the model never saw: the validation and test scenarios and the unseen profile of a
dataset, and shifted networks given as `imsight features` CSV files. It prints, per group,
the highest score each node-day reaches once judged, and the share above each threshold: the
threshold is chosen on the validation nodes and read on the others.

    python -m imsight_training.drift --data data/medium --shifted growth=day-40k.csv vendor=day-vendor.csv
"""

import argparse
import csv
import json

import numpy as np

from .stats import feature_stats, training_rows

HORIZON = 1440
MIN_MINUTES = 720
THRESHOLDS = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0]
FLOOR = 1e-4


def peak_score(rows, stats, horizon=HORIZON, min_minutes=MIN_MINUTES):
    """The highest drift score of a node over its minutes (rows in time order, minutes
    without traffic already left out), from its `min_minutes`-th minute on; None when it
    has fewer minutes."""
    if len(rows) < min_minutes:
        return None
    decay = 1.0 - 1.0 / horizon
    features = stats["features"]
    bins = [np.searchsorted(np.asarray(f["edges"]), rows[:, i], side="left") for i, f in enumerate(features)]
    expected = [np.maximum(np.asarray(f["expected"]), FLOOR) for f in features]
    counts = [np.zeros(len(e)) for e in expected]
    mass, best = 0.0, -np.inf
    for t in range(len(rows)):
        mass = mass * decay + 1.0
        psis = []
        for i in range(len(features)):
            counts[i] *= decay
            counts[i][bins[i][t]] += 1.0
            if t + 1 >= min_minutes:
                a = np.maximum(counts[i] / mass, FLOOR)
                psis.append(float(((a - expected[i]) * np.log(a / expected[i])).sum()))
        if psis:
            best = max(best, float(np.median(psis)))
    return best


def node_days(data, split):
    """(scenario, node) → minute rows in time order, for the scenarios of a split; minutes in
    which the node had no traffic are left out (as the appliance leaves them out)."""
    scenarios = np.unique(data.scenario[data.split == split])
    meta = data.meta
    out = {}
    for s in scenarios:
        in_s = meta["scenario"] == s
        for n in np.unique(meta["node"][in_s]):
            rows = np.flatnonzero(in_s & (meta["node"] == n) & ~data.empty)
            rows = rows[np.argsort(meta["minute"][rows], kind="stable")]
            out[(int(s), int(n))] = data.minutes[rows]
    return out


def read_features_csv(path, names):
    """Rows of an `imsight features` CSV (one node), minutes without traffic left out."""
    with open(path) as f:
        reader = csv.DictReader(f)
        rows = [[float(r[n]) for n in names] for r in reader if r["source_silent"] in ("0", "false")]
    rows = np.asarray(rows, dtype=np.float32)
    seen = [i for i, n in enumerate(names) if n.startswith(("req_", "resp_"))]
    return rows[rows[:, seen].sum(1) > 0]


def summary(scores):
    scores = [s for s in scores if s is not None]
    if not scores:
        return {"node_days": 0}
    q = np.quantile(scores, [0.5, 0.9, 1.0])
    return {"node_days": len(scores), "median": round(float(q[0]), 3), "p90": round(float(q[1]), 3),
            "max": round(float(q[2]), 3),
            "above": {str(t): round(float(np.mean(np.asarray(scores) > t)), 3) for t in THRESHOLDS}}


def main():
    from .train import Windows

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--shifted", nargs="*", default=[], metavar="NAME=CSV")
    args = parser.parse_args()
    data = Windows(args.data)
    names = data.manifest["feature_names"]
    stats = feature_stats(training_rows(data), names)
    report = {}
    for split in ("val", "test", "unseen"):
        report[split] = summary([peak_score(r, stats) for r in node_days(data, split).values()])
    for item in args.shifted:
        name, path = item.split("=", 1)
        report[name] = summary([peak_score(read_features_csv(path, names), stats)])
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
