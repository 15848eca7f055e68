"""Input-drift scores as the appliance computes them (src/monitor/: per node, decaying
histograms over the model card's bins, PSI per feature, the median over the features), on
nodes the model never saw: the validation and test scenarios and the unseen profile of a
dataset, and shifted networks given as `imsight features` CSV files. It prints, per group,
for several aggregates of the per-feature PSI (the appliance uses one), the highest value each
node-day reaches once judged: the largest over the group's node-days and their median. The
aggregate and threshold are chosen on the validation nodes and shifted networks given, and
read on the others.

    python -m imsight_training.drift --data data/medium --shifted growth=day-40k.csv vendor=day-vendor.csv
"""

import argparse
import csv
import json

import numpy as np

from .stats import feature_stats, training_rows

HORIZON = 1440
MIN_MINUTES = 720
FLOOR = 1e-4


AGGREGATES = {
    "median": lambda p: float(np.median(p)),
    "p75": lambda p: float(np.quantile(p, 0.75)),
    "p90": lambda p: float(np.quantile(p, 0.9)),
    "mean": lambda p: float(np.mean(p)),
    "share_over_1": lambda p: float(np.mean(np.asarray(p) > 1.0)),
}


def peak_scores(rows, stats, horizon=HORIZON, min_minutes=MIN_MINUTES):
    """The highest value of each aggregate of the per-feature PSI over a node's minutes (rows
    in time order, minutes without traffic already left out), from its `min_minutes`-th
    minute on; None when it has fewer minutes."""
    if len(rows) < min_minutes:
        return None
    decay = 1.0 - 1.0 / horizon
    features = stats["features"]
    bins = [np.searchsorted(np.asarray(f["edges"]), rows[:, i], side="left") for i, f in enumerate(features)]
    expected = [np.maximum(np.asarray(f["expected"]), FLOOR) for f in features]
    counts = [np.zeros(len(e)) for e in expected]
    mass, best = 0.0, {name: -np.inf for name in AGGREGATES}
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
            for name, f in AGGREGATES.items():
                best[name] = max(best[name], f(psis))
    return best


def peak_score(rows, stats, horizon=HORIZON, min_minutes=MIN_MINUTES):
    """The appliance's score (the median) at its peak."""
    scores = peak_scores(rows, stats, horizon, min_minutes)
    return None if scores is None else scores["median"]


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


def summary(all_scores):
    """Per aggregate: the largest peak over the node-days, and the median peak."""
    all_scores = [s for s in all_scores if s is not None]
    if not all_scores:
        return {"node_days": 0}
    out = {"node_days": len(all_scores)}
    for name in AGGREGATES:
        peaks = [s[name] for s in all_scores]
        out[name] = {"max": round(float(np.max(peaks)), 3), "median": round(float(np.median(peaks)), 3)}
    return out


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
        report[split] = summary([peak_scores(r, stats) for r in node_days(data, split).values()])
    for item in args.shifted:
        name, path = item.split("=", 1)
        report[name] = summary([peak_scores(read_features_csv(path, names), stats)])
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
