"""Quick validation scores of trained runs, for choosing between them (never the test split):
window macro-F1, episodes alarmed with the right class within 5 minutes, false alarms per
node-day of normal traffic, and the share of novel-fault windows called unknown.

    python -m imsight_training.validate --data data/broad --novel data/novel runs/a runs/b

The matching and decisions are evaluate.py's (docs/matching.md, raise after 2, clear after 3),
with references drawn from the dataset's training split the same way, so runs trained on
another dataset are scored on this one's validation scenarios as they would be on a new
network. Much faster than `evaluate.py --split val`: no baselines, no adaptation, no report.
"""

import argparse
import json

import numpy as np
import torch

from .evaluate import (RAISE_UNKNOWN, alarm_stats, all_windows, embed, embed_ends, references,
                       episode_summary, load_model, scores)
from .matching import UNKNOWN, calibrate_scale, match, thresholds
from .scenarios import TRAINED
from .train import Windows


def validate(run, data, novel=None, split="val", seed=0, unknown_raise=(RAISE_UNKNOWN,)):
    rng = np.random.default_rng(seed)
    model, _ = load_model(run)
    classes = data.classes
    known = ["normal"] + TRAINED
    _, ref_x, ref_c = references(model, data, data.select("train"), rng)
    windows = data.select(split)
    window_x = embed(model, data, windows).numpy()
    window_c = [classes[c] for c in data.label[windows]]
    scale = calibrate_scale(ref_x, ref_c, window_x, window_c)
    tau = thresholds(ref_x, ref_c, scale=scale)
    _, macro_f1 = scores(window_c, [v[0] for v in match(window_x, ref_x, ref_c, tau)], known)
    ends = all_windows(data, split)
    minute_verdicts = [v[0] for v in match(embed_ends(model, data, ends), ref_x, ref_c, tau)]
    alarms = alarm_stats(data, ends, minute_verdicts)
    episodes = alarms["episodes"]

    def right_in_5(of):
        return float(np.mean([e["alarm"] == e["class"] and bool(e["delay"]) and e["delay"] <= 5 for e in of])) \
            if of else None

    out = {"run": run, "split": split, "scale": round(scale, 3), "window_macro_f1": round(macro_f1, 3),
           "episodes": len(episodes),
           "right_class_within_5_min": round(right_in_5(episodes), 3),
           "per_class_right_class_within_5_min": {
               c: round(right_in_5([e for e in episodes if e["class"] == c]) or 0.0, 2) for c in TRAINED},
           "detected_within_5_min": round(episode_summary(episodes)["within_5_min"], 3),
           "false_alarms_per_node_day": round(alarms["false_alarms"]["per_node_day"], 2),
           "with_benign_events_per_node_day": round(alarms["false_alarms"]["all_per_node_day"], 2)}
    if novel is not None:
        judged = novel.select("novel")
        faulty = judged[np.array(novel.classes)[novel.label[judged]] != "normal"]
        verdicts = [v[0] for v in match(embed(model, novel, faulty).numpy(), ref_x, ref_c, tau)]
        out["novel_windows_unknown"] = round(float(np.mean([v == UNKNOWN for v in verdicts])), 3)
    # How many minutes an unknown anomaly needs before it raises: false alarms against
    # known faults alarmed right and novel faults alarmed at all (any class), within 5 minutes.
    novel_ends = all_windows(novel, "novel") if novel is not None else None
    novel_verdicts = [v[0] for v in match(embed_ends(model, novel, novel_ends), ref_x, ref_c, tau)] \
        if novel is not None else None
    out["unknown_raise"] = {}
    for n in unknown_raise:
        a = alarm_stats(data, ends, minute_verdicts, raise_unknown=n)
        row = {"right_class_within_5_min": round(right_in_5(a["episodes"]), 3),
               "false_alarms_per_node_day": round(a["false_alarms"]["per_node_day"], 2),
               "false_alarm_classes": a["false_alarms"]["classes"]}
        if novel is not None:
            found = alarm_stats(novel, novel_ends, novel_verdicts, raise_unknown=n)["episodes"]
            row["novel_episodes_within_5_min"] = round(
                float(np.mean([bool(e["delay"]) and e["delay"] <= 5 for e in found])), 3) if found else None
            row["novel_episodes_within_15_min"] = round(
                float(np.mean([bool(e["delay"]) and e["delay"] <= 15 for e in found])), 3) if found else None
        out["unknown_raise"][n] = row
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--data", required=True)
    parser.add_argument("--novel")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--unknown-raise", type=int, nargs="+", default=[RAISE_UNKNOWN],
                        help="minutes of unknown anomaly before an alarm, each scored")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = Windows(args.data)
    novel = Windows(args.novel) if args.novel else None
    for run in args.runs:
        print(json.dumps(validate(run, data, novel, unknown_raise=args.unknown_raise)))


if __name__ == "__main__":
    main()
