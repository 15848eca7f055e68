"""Evaluates a trained model on held-out scenarios and writes its reference pack, golden
verdicts and report (training/reports/<name>/report.md with PNGs).

    python -m imsight_training.evaluate --run runs/small --data data/small --novel data/novel \
        --model-dir ../models/siamese-lstm-small --report reports/siamese-lstm-small

Window level: the test split's windows (not recovery tails), matched by the rule of
docs/matching.md against references drawn from the training split. Episodes and false
alarms: every minute of the test scenarios judged in turn, with the decision defaults of
DESIGN §7 (raise after 2 abnormal minutes of one class, 4 of an unknown anomaly, clear after 3
normal). Unknown faults: scenarios of the kinds never trained on. Adaptation: the profile kept out of
training, with its own normal windows enrolled. Baselines on the same windows.
"""

import argparse
import json
import os

import numpy as np
import torch

from .matching import K, QUANTILE, UNKNOWN, calibrate_scale, match, thresholds
from .model import build
from .scenarios import TRAINED
from .train import WINDOW, Windows, embed

REFS_PER_CLASS = 300
# Normal traffic varies far more than a fault's signature: it gets more references.
NORMAL_REFS = 3000
RAISE, CLEAR = 2, 3
# An unknown anomaly raises after 4 minutes (decisions.raise_unknown_after; chosen on validation
# scenarios with validate.py --unknown-raise, training/README.md).
RAISE_UNKNOWN = 4


def load_model(run):
    checkpoint = torch.load(os.path.join(run, "model.pt"), weights_only=False)
    cfg = checkpoint["config"]
    model = build(cfg)
    model.load_state_dict(checkpoint["state"])
    return model.eval(), cfg


def all_windows(data, split):
    """Every 60-minute window (step 1) of the split's scenarios without a silent minute,
    except those ending on a minute in which the node was not seen (`no_data`)."""
    ends = []
    node, minute, silent = data.meta["node"], data.meta["minute"], data.meta["silent"]
    scenario = data.meta["scenario"]
    chosen = set(np.unique(data.scenario[data.split == split]).tolist())
    run = 0
    for i in range(len(minute)):
        same = i > 0 and scenario[i] == scenario[i - 1] and node[i] == node[i - 1] \
            and minute[i] - minute[i - 1] == 60_000_000
        run = run + 1 if same and not silent[i] else (0 if silent[i] else 1)
        if run >= WINDOW and scenario[i] in chosen and not data.empty[i]:
            ends.append(i)
    return np.array(ends, dtype=np.int64)


def embed_ends(model, data, ends, batch=512):
    out = []
    with torch.no_grad():
        for i in range(0, len(ends), batch):
            rows = ends[i:i + batch, None] + np.arange(-WINDOW + 1, 1)[None, :]
            out.append(model(torch.from_numpy(data.minutes[rows])).numpy())
    return np.concatenate(out) if out else np.zeros((0, model.project.out_features), np.float32)


def scores(truth, predicted, classes):
    """Per-class precision, recall, F1 and their macro mean over `classes`."""
    rows = {}
    for c in classes:
        tp = sum(1 for t, p in zip(truth, predicted) if t == c and p == c)
        fp = sum(1 for t, p in zip(truth, predicted) if t != c and p == c)
        fn = sum(1 for t, p in zip(truth, predicted) if t == c and p != c)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows[c] = {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}
    present = [c for c in classes if rows[c]["support"]]
    return rows, float(np.mean([rows[c]["f1"] for c in present])) if present else 0.0


def decisions(verdicts, raise_unknown=RAISE_UNKNOWN):
    """Alarm raises of one node's minute verdicts, (index, class), and the alarm in force at
    each minute (None when clear). `raise_unknown`: minutes an unknown anomaly needs."""
    raises, active, streak, calm, state = [], None, (None, 0), 0, []
    for i, v in enumerate(verdicts):
        if v == "normal":
            calm += 1
            streak = (None, 0)
            if active and calm >= CLEAR:
                active = None
        else:
            calm = 0
            streak = (v, streak[1] + 1) if streak[0] == v else (v, 1)
            if streak[1] >= (raise_unknown if v == UNKNOWN else RAISE) and active != v:
                active = v
                raises.append((i, v))
        state.append(active)
    return raises, state


def knn_eval(ref_x, ref_c, test_x, test_c, known, tau=None):
    tau = tau or thresholds(ref_x, ref_c)
    predicted = [v[0] for v in match(test_x, ref_x, ref_c, tau)]
    return scores(test_c, predicted, known), predicted, tau


def raw_summary(data, ends, mean, std, chunk=2048):
    """Baseline input: the log1p-standardised features averaged over the window and over its
    last 5 minutes (in chunks: a window is 7,800 values)."""
    out = [np.zeros((0, 2 * data.minutes.shape[1]), np.float32)]
    for start in range(0, len(ends), chunk):
        rows = ends[start:start + chunk, None] + np.arange(-WINDOW + 1, 1)[None, :]
        x = (np.log1p(np.clip(data.minutes[rows], 0, None)) - mean) / std
        out.append(np.concatenate([x.mean(1), x[:, -5:].mean(1)], axis=1).astype(np.float32))
    return np.concatenate(out)


def alarm_stats(data, ends, verdicts, raise_unknown=RAISE_UNKNOWN):
    """Episodes and false alarms of minute verdicts: `ends` are every window of the judged
    scenarios in order (all_windows), `verdicts` their classes. Decisions per node with the
    defaults of DESIGN §7."""
    classes, meta = data.classes, data.meta
    key = list(zip(meta["scenario"][ends], meta["node"][ends]))
    episodes, false_alarms, normal_minutes, benign_alarms, benign_minutes = [], 0, 0, 0, 0
    false_alarm_classes = {}
    recovery = data.recovery
    by_node = {}
    for i, k in enumerate(key):
        by_node.setdefault(k, []).append(i)
    for node_key in sorted(by_node):
        idx = by_node[node_key]
        rows = ends[idx]
        truth = [classes[c] for c in meta["label"][rows]]
        phase = meta["phase"][rows]
        event = meta["event"][rows]
        raises, state = decisions([verdicts[i] for i in idx], raise_unknown)
        for i, c in raises:
            if truth[i] == "normal" and phase[i] != recovery:
                if event[i]:
                    benign_alarms += 1
                else:
                    false_alarms += 1
                    false_alarm_classes[c] = false_alarm_classes.get(c, 0) + 1
        normal_minutes += sum(1 for t, p, e in zip(truth, phase, event) if t == "normal" and not e)
        benign_minutes += sum(1 for t, e in zip(truth, event) if t == "normal" and e)
        # An episode: the minutes of one fault class in force (its recovery tail excluded).
        # Detected when an alarm is in force during it; the delay counts to the first minute
        # one is.
        i = 0
        while i < len(truth):
            if truth[i] != "normal" and phase[i] != recovery:
                start, c = i, truth[i]
                while i < len(truth) and truth[i] == c and phase[i] != recovery:
                    i += 1
                on = [j for j in range(start, i) if state[j] is not None]
                episodes.append({"class": c, "minutes": i - start,
                                 "detected": bool(on),
                                 "delay": on[0] - start + 1 if on else None,
                                 "alarm": state[on[0]] if on else None})
            else:
                i += 1
    node_days = normal_minutes / 1440
    return {
        "episodes": episodes,
        "false_alarms": {"count": false_alarms, "node_days": node_days, "classes": false_alarm_classes,
                         "per_node_day": false_alarms / node_days if node_days else None,
                         "benign_count": benign_alarms, "benign_node_days": benign_minutes / 1440,
                         "all_per_node_day": (false_alarms + benign_alarms) / ((normal_minutes + benign_minutes) / 1440)
                         if normal_minutes + benign_minutes else None},
    }


def episode_summary(episodes):
    if not episodes:
        return {"count": 0, "detected": None, "detected_right_class": None, "within_5_min": None,
                "median_delay": None}
    delays = [e["delay"] for e in episodes if e["delay"]]
    return {
        "count": len(episodes),
        "detected": float(np.mean([e["detected"] for e in episodes])),
        "detected_right_class": float(np.mean([e["alarm"] == e["class"] for e in episodes])),
        "within_5_min": float(np.mean([bool(e["delay"]) and e["delay"] <= 5 for e in episodes])),
        "median_delay": float(np.median(delays)) if delays else None,
    }


def outcome_shares(verdicts):
    """How windows of faults the method was not trained on come out."""
    if not verdicts:
        return {"windows": 0, "unknown": None, "normal": None, "wrong_known": None}
    return {"windows": len(verdicts),
            "unknown": float(np.mean([v == UNKNOWN for v in verdicts])),
            "normal": float(np.mean([v == "normal" for v in verdicts])),
            "wrong_known": float(np.mean([v not in (UNKNOWN, "normal") for v in verdicts]))}


class GradientBoosting:
    """Supervised baseline: gradient-boosted trees on the window summaries of raw_summary.
    It cannot say `unknown_anomaly` by itself: a window whose top class probability falls
    below the 5th percentile of validation windows' top probabilities (the matching rule's
    quantile) is rejected as unknown. It cannot enrol references without retraining."""

    def __init__(self, x, classes, val_x, seed):
        from sklearn.ensemble import HistGradientBoostingClassifier

        self.model = HistGradientBoostingClassifier(max_iter=200, random_state=seed, early_stopping=False)
        self.model.fit(x, np.asarray(classes))
        top = self.model.predict_proba(val_x).max(1) if len(val_x) else np.zeros(1)
        self.reject = float(np.quantile(top, 1 - QUANTILE))

    def predict(self, x):
        if len(x) == 0:
            return []
        p = self.model.predict_proba(x)
        best = p.argmax(1)
        return [UNKNOWN if p[i, b] < self.reject else str(self.model.classes_[b]) for i, b in enumerate(best)]


def references(model, data, train, rng, normal_refs=NORMAL_REFS):
    """The reference windows drawn from the training windows `train`: up to 300 per fault
    class, more normal ones; their indices, embeddings and classes."""
    normal = data.classes.index("normal")
    idx = np.concatenate([
        rng.permutation(train[data.label[train] == c])[:normal_refs if c == normal else REFS_PER_CLASS]
        for c in np.unique(data.label[train])])
    return idx, embed(model, data, idx).numpy(), [data.classes[c] for c in data.label[idx]]


def evaluate(run, data_folder, novel_folder, model_dir, report_dir, seed=0, split="test",
             normal_refs=NORMAL_REFS):
    rng = np.random.default_rng(seed)
    model, cfg = load_model(run)
    data = Windows(data_folder)
    classes = data.classes
    held_out = cfg.get("held_out", [])
    known = [c for c in ["normal"] + TRAINED if c not in held_out]
    train = data.select("train", held_out)
    normal_class = classes.index("normal")
    ref_idx, ref_x, ref_c = references(model, data, train, rng, normal_refs)
    judged = data.select(split)
    # Windows of the held-out kinds measure unknown detection, not the known classes.
    of_held = np.isin(data.label[judged], [classes.index(c) for c in held_out])
    test, held_windows = judged[~of_held], judged[of_held]
    test_x = embed(model, data, test).numpy()
    test_c = [classes[c] for c in data.label[test]]
    # The unknown thresholds' scale, calibrated on the validation scenarios (docs/matching.md).
    val = data.select("val", held_out)
    val_c = [classes[c] for c in data.label[val]]
    scale = calibrate_scale(ref_x, ref_c, embed(model, data, val).numpy(), val_c)
    tau = thresholds(ref_x, ref_c, scale=scale)
    (per_class, macro_f1), predicted, tau = knn_eval(ref_x, ref_c, test_x, test_c, known, tau)
    labels_out = known + [UNKNOWN]
    confusion = {t: {p: sum(1 for a, b in zip(test_c, predicted) if a == t and b == p)
                     for p in labels_out} for t in known}
    # Baseline 1: nearest neighbours on raw window summaries, same rule.
    train_rows = np.unique((data.end[train][:, None] + np.arange(-WINDOW + 1, 1)[None, :]).ravel())
    logs = np.log1p(np.clip(data.minutes[train_rows], 0, None))
    mean, std = logs.mean(0), np.maximum(logs.std(0), 1e-3)
    raw_ref = raw_summary(data, data.end[ref_idx], mean, std)
    raw_test = raw_summary(data, data.end[test], mean, std)
    raw_val = raw_summary(data, data.end[val], mean, std)
    raw_scale = calibrate_scale(raw_ref, ref_c, raw_val, val_c)
    (raw_classes, raw_macro), raw_pred, raw_tau = knn_eval(raw_ref, ref_c, raw_test, test_c, known,
                                                          thresholds(raw_ref, ref_c, scale=raw_scale))
    # Baseline 2: static thresholds per feature (ONAP TCA style) on the last minute: abnormal
    # when any feature leaves its 0.1–99.9 % band of normal training minutes.
    normal_rows = train_rows[data.meta["label"][train_rows] == normal_class]
    normal_logs = np.log1p(np.clip(data.minutes[normal_rows], 0, None))
    low, high = np.quantile(normal_logs, 0.001, axis=0), np.quantile(normal_logs, 0.999, axis=0)

    def tca(windows, ends):
        x = np.log1p(np.clip(windows.minutes[ends], 0, None))
        return ((x < low) | (x > high)).any(1)

    # Baseline 3: gradient boosting on the same summaries, trained on every training window.
    boosting = GradientBoosting(raw_summary(data, data.end[train], mean, std),
                                [classes[c] for c in data.label[train]], raw_val, seed)
    gb_pred = boosting.predict(raw_test)
    gb_classes, gb_macro = scores(test_c, gb_pred, known)

    truth_fault = np.array([c != "normal" for c in test_c])

    def abnormal(verdicts):
        flagged = np.array([v != "normal" for v in verdicts], dtype=bool)
        return {"abnormal_detection": float(flagged[truth_fault].mean()) if truth_fault.any() else None,
                "false_alarm_windows": float(flagged[~truth_fault].mean()) if (~truth_fault).any() else None}

    tca_test = tca(data, data.end[test])

    # Episodes and false alarms, minute by minute over the judged scenarios, for the model
    # and the baselines that name a class.
    ends = all_windows(data, split)
    raw_all = raw_summary(data, ends, mean, std)
    verdict_all = {
        "model": [v[0] for v in match(embed_ends(model, data, ends), ref_x, ref_c, tau)],
        "raw_knn": [v[0] for v in match(raw_all, raw_ref, ref_c, raw_tau)],
        "gradient_boosting": boosting.predict(raw_all),
    }
    alarms = {name: alarm_stats(data, ends, v) for name, v in verdict_all.items()}
    for name, a in alarms.items():
        a["known"] = episode_summary([e for e in a["episodes"] if e["class"] not in held_out])
        a["held_out"] = episode_summary([e for e in a["episodes"] if e["class"] in held_out])
        del a["episodes"]
    episodes, false_alarms = alarms["model"]["known"], alarms["model"]["false_alarms"]

    # Unknown faults: the novel kinds (never trained on by any model), and in a run with
    # kinds held out, their windows in the test scenarios.
    unknown, held = {}, {}
    if novel_folder:
        novel = Windows(novel_folder)
        everything = novel.select("novel")
        normal_mask = np.array(novel.classes)[novel.label[everything]] == "normal"
        control = everything[normal_mask]
        idx = everything[~normal_mask]
        control_verdicts = [v[0] for v in match(embed(model, novel, control).numpy(), ref_x, ref_c, tau)]
        raw_nx = raw_summary(novel, novel.end[idx], mean, std)
        unknown = outcome_shares([v[0] for v in match(embed(model, novel, idx).numpy(), ref_x, ref_c, tau)])
        unknown.update({
            "kinds": novel.manifest["config"].get("kinds", []),
            "raw_knn": outcome_shares([v[0] for v in match(raw_nx, raw_ref, ref_c, raw_tau)]),
            "gradient_boosting": outcome_shares(boosting.predict(raw_nx)),
            "tca_abnormal": float(tca(novel, novel.end[idx]).mean()) if len(idx) else None,
            "control_normal_windows": len(control),
            "control_flagged": float(np.mean([v != "normal" for v in control_verdicts])) if len(control) else None,
        })
    if len(held_windows):
        raw_h = raw_summary(data, data.end[held_windows], mean, std)
        held = outcome_shares([v[0] for v in match(embed(model, data, held_windows).numpy(), ref_x, ref_c, tau)])
        held.update({
            "kinds": held_out,
            "raw_knn": outcome_shares([v[0] for v in match(raw_h, raw_ref, ref_c, raw_tau)]),
            "gradient_boosting": outcome_shares(boosting.predict(raw_h)),
            "tca_abnormal": float(tca(data, data.end[held_windows]).mean()),
        })
    # Adaptation: the unseen profile, global references, then k of its normal windows enrolled.
    adaptation = {}
    unseen = data.select("unseen")
    if len(unseen):
        # Per node: enrol k normal windows from its first (fault-free) hours, score the
        # windows that start after the last enrolled one ends, with that node's references.
        ux = embed(model, data, unseen).numpy()
        raw_u = raw_summary(data, data.end[unseen], mean, std)
        gb_u = np.array(boosting.predict(raw_u), dtype=object)
        uc = np.array([classes[c] for c in data.label[unseen]])
        minute = data.meta["minute"][data.end[unseen]]
        nodes = list(zip(data.scenario[unseen], data.meta["node"][data.end[unseen]]))
        for k in (0, 1, 5, 20):
            truth, found, raw_found, gb_found = [], [], [], []
            for node_key in sorted(set(nodes)):
                mine = np.array([i for i, n in enumerate(nodes) if n == node_key])
                first = minute[mine].min()
                early = mine[(minute[mine] < first + 180 * 60_000_000) & (uc[mine] == "normal")]
                enrolled = early[:: max(1, len(early) // max(k, 1))][:k] if k else early[:0]
                last = minute[enrolled].max() if len(enrolled) else first + 180 * 60_000_000
                scored = mine[minute[mine] > last + WINDOW * 60_000_000]
                rx = np.concatenate([ref_x, ux[enrolled]])
                rc = ref_c + ["normal"] * len(enrolled)
                found += [v[0] for v in match(ux[scored], rx, rc, thresholds(rx, rc, scale=scale))]
                rrx = np.concatenate([raw_ref, raw_u[enrolled]])
                raw_found += [v[0] for v in match(raw_u[scored], rrx, rc, thresholds(rrx, rc, scale=raw_scale))]
                gb_found += list(gb_u[scored])
                truth += list(uc[scored])
            adaptation[str(k)] = {"macro_f1": scores(truth, found, known)[1],
                                  "raw_knn_macro_f1": scores(truth, raw_found, known)[1],
                                  "gradient_boosting_macro_f1": scores(truth, gb_found, known)[1],
                                  "windows": len(truth)}
    metrics = {
        "window": {"macro_f1": macro_f1, "per_class": per_class, "confusion": confusion,
                   "windows": len(test)},
        "episodes": episodes,
        "false_alarms": false_alarms,
        "unknown": unknown,
        "held_out": held,
        "adaptation": adaptation,
        "baselines": {
            "model": {"macro_f1": macro_f1, **abnormal(predicted)},
            "raw_knn": {"macro_f1": raw_macro, **abnormal(raw_pred)},
            "gradient_boosting": {"macro_f1": gb_macro, "per_class": gb_classes, "reject_below": boosting.reject,
                                  **abnormal(gb_pred)},
            "tca_thresholds": {"abnormal_detection": float(tca_test[truth_fault].mean()) if truth_fault.any() else None,
                               "false_alarm_windows": float(tca_test[~truth_fault].mean()) if (~truth_fault).any() else None},
        },
        "alarms": {name: {"episodes": a["known"], "held_out_episodes": a["held_out"],
                          "false_alarms": a["false_alarms"]} for name, a in alarms.items()},
        "thresholds": tau,
        "scale": scale,
        "raw_knn_scale": raw_scale,
    }
    os.makedirs(report_dir, exist_ok=True)
    with open(os.path.join(report_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    if model_dir and split == "test":
        write_pack(model_dir, data, ref_idx, ref_x, ref_c, scale, test_x, test_c)
        card_path = os.path.join(model_dir, "model-card.json")
        if os.path.exists(card_path):
            with open(card_path) as f:
                card = json.load(f)
            card["metrics"].update({
                "test_window_macro_f1": round(macro_f1, 4),
                "test_episodes_detected": e_round(episodes["detected"]),
                "test_episodes_within_5_min": e_round(episodes["within_5_min"]),
                "test_false_alarms_per_node_day": e_round(false_alarms["per_node_day"]),
                "unknown_recall": e_round(unknown.get("unknown")),
                "adaptation_macro_f1_k5": e_round(adaptation.get("5", {}).get("macro_f1")),
                "report": f"training/reports/{card['model_name']}/report.md",
            })
            with open(card_path, "w") as f:
                json.dump(card, f, indent=1)
    plots(report_dir, run, test_x, test_c)
    write_report(report_dir, metrics, cfg, data.manifest, known)
    return metrics


def pct(v):
    return "n/a" if v is None else f"{100 * v:.1f} %"


def fmt(v, digits=3):
    return "n/a" if v is None else f"{v:.{digits}f}"


def write_report(report_dir, m, cfg, manifest, known):
    w, e, fa, u, h, a, b, al = (m["window"], m["episodes"], m["false_alarms"], m["unknown"], m["held_out"],
                                m["adaptation"], m["baselines"], m["alarms"])
    held_note = f" Kinds held out of training entirely: {', '.join(cfg['held_out'])}." if cfg.get("held_out") else ""
    lines = [
        "# Evaluation report",
        "",
        f"Model: width {cfg['width']}, embedding {cfg['dim']}, {cfg['steps']} steps, seed {cfg['seed']}"
        f"{', relative channels' if cfg.get('relative') else ''}; "
        f"dataset `{manifest['config']['name']}` (content hash {manifest['content_hash'][:16]}), "
        f"binary {manifest['binary']}, feature schema {manifest['feature_schema']}. Everything below is "
        "measured on held-out scenario seeds (the test split), the unseen profile, and scenarios of "
        "fault kinds never trained on. Matching: docs/matching.md with the references of the "
        "training split (up to 300 windows per fault class and 3000 normal windows), the unknown "
        f"thresholds' scale calibrated on the validation scenarios ({m['scale']:.2f}). Windows ending "
        f"on a minute in which the node was not seen (`no_data`) are not judged.{held_note}",
        "",
        "## Windows (last minute decides; recovery tails left out)",
        "",
        f"Macro-F1 over {len(known)} known classes: **{w['macro_f1']:.3f}** ({w['windows']} windows); "
        f"nearest neighbours on raw window features with the same rule: {b['raw_knn']['macro_f1']:.3f}; "
        f"gradient boosting on the same features: {b['gradient_boosting']['macro_f1']:.3f}.",
        "",
        "| class | precision | recall | F1 | windows | gradient boosting F1 |",
        "|---|---|---|---|---|---|",
    ]
    for c in known:
        r = w["per_class"][c]
        lines.append(f"| {c} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['support']} | "
                     f"{b['gradient_boosting']['per_class'][c]['f1']:.3f} |")
    cols = known + [UNKNOWN]
    lines += ["", "Confusion (rows: truth, columns: verdict):", "",
              "| | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for t in known:
        lines.append(f"| {t} | " + " | ".join(str(w["confusion"][t][p]) for p in cols) + " |")
    lines += [
        "",
        f"## Episodes and false alarms (every minute judged; raise after {RAISE}, an unknown anomaly after {RAISE_UNKNOWN}; clear after {CLEAR})",
        "",
        f"- fault episodes: {e['count']}; detected {pct(e['detected'])}, with the right class "
        f"{pct(e['detected_right_class'])}, within 5 minutes of onset {pct(e['within_5_min'])}; "
        f"median delay {e['median_delay']} min",
        f"- false alarms on normal traffic: {fa['count']} over {fa['node_days']:.1f} node-days "
        f"= **{fmt(fa['per_node_day'], 2)} per node-day**",
        f"- alarms on benign events (counted apart): {fa['benign_count']} over {fa['benign_node_days']:.2f} node-days; "
        f"all together {fmt(fa['all_per_node_day'], 2)} per node-day",
        "",
        "## Unknown faults (kinds never trained on)",
        "",
    ]
    if u:
        lines += [f"Kinds never trained on ({', '.join(u.get('kinds', []))}), {u['windows']} "
                  f"windows: `unknown_anomaly` **{pct(u['unknown'])}**, `normal` {pct(u['normal'])}, "
                  f"a wrong known class {pct(u['wrong_known'])}. Control: of the same scenarios' "
                  f"{u['control_normal_windows']} normal windows, the model flags {pct(u['control_flagged'])}."]
    else:
        lines += ["(no scenarios of novel kinds given)"]
    if h:
        lines += ["", f"Held out of training ({', '.join(h['kinds'])}), {h['windows']} test windows: "
                  f"`unknown_anomaly` **{pct(h['unknown'])}**, `normal` {pct(h['normal'])}, a wrong known "
                  f"class {pct(h['wrong_known'])}; their episodes raised an alarm (of any class) in "
                  f"{pct(al['model']['held_out_episodes']['detected'])} of "
                  f"{al['model']['held_out_episodes']['count']}."]
    lines += ["", "## Adaptation (a profile never trained on)", "",
              "Per node: k normal windows from its first (fault-free) hours are enrolled as its own "
              "references; the windows after them are scored. Gradient boosting cannot enrol without "
              "retraining: its score is the same at every k.", "",
              "| enrolled normal windows | macro-F1 | raw kNN macro-F1 | gradient boosting macro-F1 | windows scored |",
              "|---|---|---|---|---|"]
    for k, r in a.items():
        lines.append(f"| {k} | {r['macro_f1']:.3f} | {r['raw_knn_macro_f1']:.3f} | "
                     f"{r['gradient_boosting_macro_f1']:.3f} | {r['windows']} |")

    def row(name, key, tca=False):
        al_ = al.get(key)
        uk = u.get(key, {}) if key != "model" else u
        hk = h.get(key, {}) if key != "model" else h
        k5 = a.get("5", {}).get({"model": "macro_f1", "raw_knn": "raw_knn_macro_f1",
                                 "gradient_boosting": "gradient_boosting_macro_f1"}.get(key, ""))
        bk = b["tca_thresholds"] if tca else b[key]
        return (f"| {name} | {fmt(bk.get('macro_f1'))} | {pct(bk['abnormal_detection'])} | "
                f"{pct(bk['false_alarm_windows'])} | "
                f"{pct(al_['episodes']['within_5_min']) if al_ else 'n/a'} | "
                f"{fmt(al_['false_alarms']['all_per_node_day'], 2) if al_ else 'n/a'} | "
                f"{pct(u.get('tca_abnormal')) + ' flagged' if tca else pct(uk.get('unknown'))} | "
                f"{(pct(h.get('tca_abnormal')) + ' flagged' if h else 'n/a') if tca else (pct(hk.get('unknown')) if h else 'n/a')} | "
                f"{fmt(k5)} |")

    lines += ["", "## Baselines, side by side (same split, same windows)", "",
              "Raw kNN and gradient boosting see each window as the mean of its log1p-standardised "
              "features over the hour and over its last 5 minutes; static thresholds (ONAP TCA style) "
              "flag a minute when any feature leaves its 0.1–99.9 % band of normal training minutes.", "",
              "| method | window macro-F1 | fault windows flagged | normal windows flagged | episodes within 5 min "
              "| alarms per node-day (benign incl.) | novel kinds `unknown` | held-out kinds `unknown` | adaptation k=5 F1 |",
              "|---|---|---|---|---|---|---|---|---|",
              row("this model + matching", "model"),
              row("nearest neighbours on raw features", "raw_knn"),
              row("gradient boosting (rejects below a probability)", "gradient_boosting"),
              row("static thresholds (TCA style)", "tca_thresholds", tca=True),
              ""]
    fa_week = None if fa["all_per_node_day"] is None else 7 * fa["all_per_node_day"]
    k5 = a.get("5", {}).get("macro_f1")
    best_other = max((u.get(x, {}).get("unknown") or 0) for x in ("raw_knn", "gradient_boosting")) if u else 0
    aims = [
        ("macro-F1 on known faults ≥ 0.95", f"{w['macro_f1']:.3f}", w["macro_f1"] >= 0.95),
        ("every episode detected within 5 min", pct(e["within_5_min"]), (e["within_5_min"] or 0) >= 1.0),
        ("≤ 1 false alarm per node-week (benign events included)", "n/a" if fa_week is None else f"{fa_week:.1f}", fa_week is not None and fa_week <= 1),
        ("unknown-fault recall ≥ 0.8", pct(u.get("unknown")), (u.get("unknown") or 0) >= 0.8),
        ("adaptation, 5 enrolled windows, F1 ≥ 0.9", fmt(k5), (k5 or 0) >= 0.9),
        ("unknown recall above every baseline", f"{pct(u.get('unknown'))} vs {pct(best_other)}",
         (u.get("unknown") or 0) > best_other),
    ]
    lines += ["## Against the aim", "", "| aim | measured | met |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {'yes' if ok else '**no**'} |" for name, value, ok in aims]
    lines += ["",
              "![embedding](embedding-pca.png)", "", "![training](training-curve.png)", ""]
    with open(os.path.join(report_dir, "report.md"), "w") as f:
        f.write("\n".join(lines))


def e_round(value):
    return None if value is None else round(float(value), 4)


def write_pack(model_dir, data, ref_idx, ref_x, ref_c, scale, test_x, test_c):
    """The shipped global references (format: docs/matching.md, references.json) and golden
    verdicts for the Rust matcher."""
    scen = data.manifest["scenarios"]
    meta = data.meta
    refs = []
    for i, e, c in zip(ref_idx, ref_x, ref_c):
        row = data.end[i]
        s = scen[int(meta["scenario"][row])]
        refs.append({"class": c, "embedding": [round(float(v), 6) for v in e],
                     "provenance": {"scenario": s["name"], "seed": s["seed"], "node": int(meta["node"][row]),
                                    "minute_us": int(meta["minute"][row]), "profiles": s["profiles"]}})
    pack = {"format": "imsight.references/1", "k": K, "quantile": QUANTILE, "scale": scale,
            "references": refs}
    # Golden verdicts from the values as stored (rounded to 6 decimals), thresholds included.
    picks = np.concatenate([np.flatnonzero(np.array(test_c) == c)[:2] for c in sorted(set(test_c))])
    queries = np.round(test_x[picks], 6)
    rx = np.array([r["embedding"] for r in refs], dtype=np.float64)
    tau = thresholds(rx, ref_c, scale=scale)
    pack["thresholds"] = tau
    with open(os.path.join(model_dir, "references.json"), "w") as f:
        json.dump(pack, f)
    verdicts = match(queries, rx, ref_c, tau)
    golden = {"rule": "docs/matching.md", "references": "references.json",
              "queries": [[float(v) for v in q] for q in queries],
              "expected": [{"class": c, "distance": d, "confidence": conf} for c, d, conf in verdicts]}
    with open(os.path.join(model_dir, "golden-verdicts.json"), "w") as f:
        json.dump(golden, f, indent=1)


def plots(report_dir, run, test_x, test_c):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    centred = test_x - test_x.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    fig, ax = plt.subplots(figsize=(8, 6))
    for c in sorted(set(test_c)):
        m = np.array([t == c for t in test_c])
        ax.scatter(xy[m, 0], xy[m, 1], s=4, label=c, alpha=0.6)
    ax.legend(fontsize=7, markerscale=3)
    ax.set_title("test windows, first two principal components of the embedding")
    fig.tight_layout()
    fig.savefig(os.path.join(report_dir, "embedding-pca.png"), dpi=90)
    plt.close(fig)
    with open(os.path.join(run, "training.json")) as f:
        curve = json.load(f)["curve"]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot([e["step"] for e in curve], [e["loss"] for e in curve], lw=0.5, label="triplet loss")
    evals = [e for e in curve if e.get("val_knn_macro_recall") is not None]
    if evals:
        ax2 = ax.twinx()
        ax2.plot([e["step"] for e in evals], [e["val_knn_macro_recall"] for e in evals], "o-",
                 color="tab:red", label="validation kNN macro recall")
        ax2.set_ylim(0, 1)
        ax2.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("step")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(report_dir, "training-curve.png"), dpi=90)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--novel")
    parser.add_argument("--model-dir")
    parser.add_argument("--report", required=True)
    parser.add_argument("--split", default="test", help="val to choose settings, test to report")
    parser.add_argument("--normal-refs", type=int, default=NORMAL_REFS)
    args = parser.parse_args()
    metrics = evaluate(args.run, args.data, args.novel, args.model_dir, args.report,
                       split=args.split, normal_refs=args.normal_refs)
    print(json.dumps({k: metrics[k] for k in ("episodes", "false_alarms", "unknown", "held_out", "adaptation")}, indent=1))
    print("window macro-F1", round(metrics["window"]["macro_f1"], 3), "raw kNN",
          round(metrics["baselines"]["raw_knn"]["macro_f1"], 3), "gradient boosting",
          round(metrics["baselines"]["gradient_boosting"]["macro_f1"], 3))


if __name__ == "__main__":
    main()
