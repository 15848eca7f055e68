#!/usr/bin/env python3
"""How learnable-by-a-trivial-rule is the traffic simulator?

Drives an `imsight` binary: simulates normal days and a grid of faults (and, with --benign,
labelled benign events), computes the per-minute features and measures how well the best
single-feature threshold rule, and the rule "a feature that is always zero in normal traffic
becomes non-zero", tell each fault apart from everything else. A simulator whose faults one
threshold on one feature finds perfectly teaches a model nothing it could not learn from a rule.

    benches/simulator-validation.py measure --binary /tmp/imsight-before --out /tmp/simval \\
        --tag before [--faults k1,k2,...] [--benign] [--jobs 2] [--quick]
    benches/simulator-validation.py report --before /tmp/simval/before.json \\
        --after /tmp/simval/after.json --out docs/simulator-validation.md \\
        [--reasons benches/simulator-validation-reasons.json]

`measure` writes DIR/TAG.json (everything the report needs) and keeps the feature rows and
labels of every scenario under DIR/TAG-work/ (the captures are streamed from `simulate` into
`features` through a pipe and never written; --via-file writes them and deletes each after use).
Python 3.11 and numpy.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import datetime as dt
import hashlib
import json
import math
import os
import random
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

# The built-in profiles and their own subscriber counts (src/sim/profile.rs, docs/simulator.md).
PROFILES = {
    "small_operator": 20_000,
    "large_operator": 100_000,
    "enterprise_trunk": 2_000,
    "volte_heavy": 50_000,
}
ORIGINAL_FAULTS = [
    "hss_link_down",
    "capacity_limit",
    "traffic_blocked",
    "scscf_down",
    "pcrf_rx_failure",
    "registration_storm",
    "invite_flood",
]
BENIGN_EVENTS = [
    "planned_restart",
    "flash_crowd",
    "maintenance_drain",
    "probe_gap",
    "subscriber_growth",
]
SEVERITIES = [0.1, 0.3, 0.5, 0.7, 1.0]
NODE = "pcscf-1"
# Node i of a scenario has the access address 172.20.i.10 and the core address 172.21.i.10.
NODE_SPEC = f"{NODE}=172.20.0.10/172.21.0.10"
AIM_BALANCED_ACCURACY = 0.98

_print_lock = threading.Lock()


def log(message: str) -> None:
    with _print_lock:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def minute_key(text: str) -> str:
    """`2026-11-21T09:03:00.000000Z` and `2026-11-21T09:03:00Z` alike -> `2026-11-21T09:03`."""
    return text.strip()[:16]


# ------------------------------------------------------------------------------------------
# Scenarios


def toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def scenario_toml(sc: dict) -> str:
    lines = [
        f"# written by benches/simulator-validation.py",
        f"name = {toml_str(sc['name'])}",
        f"start = {toml_str(sc['start'])}",
        f"duration_minutes = {sc['duration_minutes']}",
        f"seed = {sc['seed']}",
        f"profile = {toml_str(sc['profile'])}",
        "",
        "[[nodes]]",
        f"name = {toml_str(NODE)}",
    ]
    if sc.get("subscribers") is not None:
        lines.append(f"subscribers = {sc['subscribers']}")
    for f in sc.get("faults", []):
        lines += [
            "",
            "[[faults]]",
            f"node = {toml_str(NODE)}",
            f"kind = {toml_str(f['kind'])}",
            f"onset_minute = {f['onset_minute']}",
            f"ramp_minutes = {f['ramp_minutes']}",
            f"duration_minutes = {f['duration_minutes']}",
            f"severity = {f['severity']}",
        ]
    for e in sc.get("events", []):
        lines += [
            "",
            "[[events]]",
            f"node = {toml_str(NODE)}",
            f"kind = {toml_str(e['kind'])}",
            f"onset_minute = {e['onset_minute']}",
            f"duration_minutes = {e['duration_minutes']}",
        ]
        if e.get("magnitude") is not None:
            lines.append(f"magnitude = {e['magnitude']}")
    return "\n".join(lines) + "\n"


# 2026-11-23 is a Monday. The normal days are a Tuesday (newer simulators model weekends);
# grid scenarios go through the week, benign ones through the working days.
def start_time(hour: int, day: int) -> str:
    return f"2026-11-{day:02d}T{hour % 24:02d}:00:00Z"


def plan(args) -> list[dict]:
    """Every scenario of the run, in a fixed order (the same arguments give the same plan)."""
    rng = random.Random(args.seed_base)
    faults = args.faults
    scenarios = []
    seed = args.seed_base
    # Normal day per profile.
    for profile, own in PROFILES.items():
        seed += 1
        if args.quick:
            subscribers, minutes, hour = min(own, 5000), 180, 7
        else:
            subscribers, minutes, hour = None, 1440, 0
        scenarios.append({
            "name": f"normal-day-{profile}",
            "part": "normal_day",
            "profile": profile,
            "subscribers": subscribers,
            "effective_subscribers": subscribers or own,
            "start": start_time(hour, 24),
            "duration_minutes": minutes,
            "seed": seed,
            "faults": [],
            "events": [],
        })
    # Fault grid: profile x severity, every fault kind in turn, the order rotated and the start
    # hour moved from scenario to scenario so that each kind meets different hours of the day.
    index = 0
    for profile, own in PROFILES.items():
        subscribers = min(own, args.grid_subscribers)
        for severity in SEVERITIES:
            seed += 1
            order = faults[index % len(faults):] + faults[:index % len(faults)]
            minute = args.gap_minutes
            specs = []
            for kind in order:
                specs.append({
                    "kind": kind,
                    "onset_minute": minute,
                    "ramp_minutes": rng.randint(1, min(5, args.fault_minutes)),
                    "duration_minutes": args.fault_minutes,
                    "severity": severity,
                })
                minute += args.fault_minutes + args.gap_minutes
            hour = (index * 7 + 3) % 24
            scenarios.append({
                "name": f"grid-{profile}-s{int(round(severity * 100)):03d}",
                "part": "grid",
                "profile": profile,
                "severity": severity,
                "subscribers": subscribers,
                "effective_subscribers": subscribers,
                "start": start_time(hour, 23 + index % 7),
                "duration_minutes": minute,
                "seed": seed,
                "faults": specs,
                "events": [],
            })
            index += 1
    # Benign events: each kind once per profile, no faults.
    if args.benign:
        for p_index, (profile, own) in enumerate(PROFILES.items()):
            subscribers = min(own, args.grid_subscribers)
            seed += 1
            order = BENIGN_EVENTS[p_index % 5:] + BENIGN_EVENTS[:p_index % 5]
            minute = args.gap_minutes
            events = []
            for kind in order:
                duration = rng.randint(15, 30)
                events.append({"kind": kind, "onset_minute": minute, "duration_minutes": duration})
                minute += duration + args.gap_minutes
            scenarios.append({
                "name": f"benign-{profile}",
                "part": "benign",
                "profile": profile,
                "subscribers": subscribers,
                "effective_subscribers": subscribers,
                "start": start_time(p_index * 6 + 5, 24 + p_index),
                "duration_minutes": minute,
                "seed": seed,
                "faults": [],
                "events": events,
            })
    return scenarios


# ------------------------------------------------------------------------------------------
# Running the binary


def run_scenario(binary: str, sc: dict, work: Path, via_file: bool, reuse: bool) -> dict:
    """simulate | features for one scenario; returns paths and timings."""
    toml_path = work / f"{sc['name']}.toml"
    labels = work / f"{sc['name']}.labels.jsonl"
    rows = work / f"{sc['name']}.features.csv"
    done = work / f"{sc['name']}.done"
    text = scenario_toml(sc)
    digest = hashlib.sha256((text + binary + str(os.path.getmtime(binary))).encode()).hexdigest()
    if reuse and done.exists() and done.read_text().strip() == digest and rows.exists():
        log(f"{sc['name']}: reusing the rows of an earlier run")
        return {"labels": labels, "rows": rows, "seconds": 0.0, "reused": True}
    toml_path.write_text(text)
    done.unlink(missing_ok=True)
    sim_err = work / f"{sc['name']}.simulate.log"
    feat_err = work / f"{sc['name']}.features.log"
    simulate = [binary, "simulate", "--scenario", str(toml_path), "--labels", str(labels)]
    features = [binary, "features", "--out", str(rows), "--node", NODE_SPEC]
    log(f"{sc['name']}: started ({sc['profile']}, {sc['effective_subscribers']} subscribers, "
        f"{sc['duration_minutes']} min from {sc['start']}, seed {sc['seed']})")
    started = time.monotonic()
    with open(sim_err, "wb") as se, open(feat_err, "wb") as fe:
        if via_file:
            pcap = work / f"{sc['name']}.pcap"
            try:
                rc = subprocess.run(simulate + ["--pcap", str(pcap)], stdout=subprocess.DEVNULL,
                                    stderr=se).returncode
                if rc != 0:
                    fail(sc, "simulate", rc, sim_err)
                rc = subprocess.run(features + [str(pcap)], stdout=subprocess.DEVNULL,
                                    stderr=fe).returncode
                if rc != 0:
                    fail(sc, "features", rc, feat_err)
            finally:
                pcap.unlink(missing_ok=True)
        else:
            sim = subprocess.Popen(simulate + ["--pcap", "/dev/stdout"], stdout=subprocess.PIPE,
                                   stderr=se)
            feat = subprocess.Popen(features + ["-"], stdin=sim.stdout, stdout=subprocess.DEVNULL,
                                    stderr=fe)
            sim.stdout.close()  # features holds the only reading end now
            feat_rc = feat.wait()
            sim_rc = sim.wait()
            # Either failing makes the other fail too (a broken pipe, an empty capture): both
            # logs are shown.
            if sim_rc != 0 or feat_rc != 0:
                fail(sc, "simulate | features", f"{sim_rc} | {feat_rc}", sim_err, feat_err)
    seconds = time.monotonic() - started
    feat_log = feat_err.read_text(errors="replace")
    if "damaged input" in feat_log:  # features exits 0 on a truncated capture
        fail(sc, "features", "0 but a damaged capture", sim_err, feat_err)
    stats = features_stats(feat_log)
    if stats.get("unmapped"):
        log(f"{sc['name']}: warning: {stats['unmapped']} SIP messages matched no node")
    done.write_text(digest + "\n")
    log(f"{sc['name']}: done in {seconds:.1f} s")
    return {"labels": labels, "rows": rows, "seconds": round(seconds, 2), "reused": False,
            "features_stats": stats}


def fail(sc: dict, what: str, rc, *log_paths: Path) -> None:
    tails = "\n".join(f"--- {p.name}:\n{p.read_text(errors='replace')[-3000:]}"
                      for p in log_paths)
    raise RuntimeError(f"{sc['name']}: `imsight {what}` exited with {rc}:\n{tails}")


def features_stats(text: str) -> dict:
    stats = {}
    for line in text.splitlines():
        for part in line.replace(";", ",").split(","):
            words = part.strip().split()
            if len(words) >= 2 and words[-1].isdigit():
                key = "_".join(words[:-1])
                if key in ("unmapped", "parse_errors", "late"):
                    stats[key] = int(words[-1])
            if part.strip().startswith("read ") and "SIP messages" in part:
                stats["messages"] = int(part.strip().split()[1])
    return stats


def schema_of(binary: str) -> dict:
    out = subprocess.run([binary, "features", "--schema", "--json"], capture_output=True,
                         text=True, check=True).stdout
    schema = json.loads(out)
    return {"id": schema.get("id"), "hash": schema.get("hash"),
            "names": [f["name"] for f in schema["features"]]}


def version_of(binary: str) -> str:
    try:
        return subprocess.run([binary, "--version"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# ------------------------------------------------------------------------------------------
# Rows


def load_rows(sc: dict, result: dict, names: list[str], trim: int) -> dict:
    """The scenario's rows joined with its labels: features, class, phase, event, severity."""
    labels = {}
    with open(result["labels"]) as f:
        for line in f:
            if line.strip():
                item = json.loads(line)
                labels[(item["node"], minute_key(item["minute"]))] = item
    with open(result["rows"], newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        column = {name: i for i, name in enumerate(header)}
        missing = [n for n in names if n not in column]
        if missing:
            raise RuntimeError(f"{result['rows']}: no column for {missing[:5]}...")
        feature_columns = [column[n] for n in names]
        silent_column = column.get("source_silent")
        records = list(reader)
    if len(records) < len(labels) / 2:
        raise RuntimeError(f"{result['rows']}: {len(records)} rows for {len(labels)} labelled "
                           "minutes: did the node addresses change (see the features log)?")
    minutes = sorted({minute_key(r[column["minute"]]) for r in records})
    keep_minutes = set(minutes[trim:len(minutes) - trim] if trim else minutes)
    x, cls, phase, event, sev = [], [], [], [], []
    dropped = {"source_silent": 0, "trimmed": 0, "unlabelled": 0}
    for r in records:
        key = (r[column["node"]], minute_key(r[column["minute"]]))
        if silent_column is not None and r[silent_column] not in ("0", "", "false"):
            dropped["source_silent"] += 1
            continue
        if key[1] not in keep_minutes:
            dropped["trimmed"] += 1
            continue
        label = labels.get(key)
        if label is None:
            dropped["unlabelled"] += 1
            continue
        x.append([float(r[i]) for i in feature_columns])
        cls.append(label.get("class", "normal"))
        phase.append(label.get("phase") or "")
        event.append(label.get("event") or "")
        sev.append(float(label.get("severity") or 0.0))
    return {
        "x": np.array(x, dtype=np.float64).reshape(-1, len(names)),
        "class": np.array(cls, dtype=object),
        "phase": np.array(phase, dtype=object),
        "event": np.array(event, dtype=object),
        "severity": np.array(sev),
        "nominal_severity": np.full(len(x), sc.get("severity", 0.0)),
        "profile": np.array([sc["profile"]] * len(x), dtype=object),
        "labelled_minutes": len(labels),
        "labels_have_phase": any("phase" in item for item in labels.values()),
        "labels_have_event": any("event" in item for item in labels.values()),
        "dropped": dropped,
    }


def concat(parts: list[dict], n_features: int) -> dict:
    keys = ["x", "class", "phase", "event", "severity", "nominal_severity", "profile"]
    if not parts:
        return {k: (np.zeros((0, n_features)) if k == "x" else np.array([], dtype=object))
                for k in keys}
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


# ------------------------------------------------------------------------------------------
# Rules


def sorted_features(x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per feature: the sort order, the sorted values and the split points (last index of a run
    of equal values), computed once and reused for every fault kind."""
    out = []
    for j in range(x.shape[1]):
        order = np.argsort(x[:, j], kind="stable")
        values = x[order, j]
        splits = np.nonzero(values[1:] != values[:-1])[0]
        out.append((order, values, splits))
    return out


def best_thresholds(pre, positive: np.ndarray) -> list[dict]:
    """Per feature, the threshold and direction of the highest balanced accuracy."""
    p = int(positive.sum())
    n = int(len(positive) - p)
    out = []
    for j, (order, values, splits) in enumerate(pre):
        if p == 0 or n == 0 or len(splits) == 0:
            out.append({"j": j, "ba": 0.5, "direction": ">", "threshold": float("nan")})
            continue
        y = positive[order]
        cp = np.cumsum(y)[splits]            # positives with value <= values[split]
        cn = np.cumsum(~y)[splits]           # negatives likewise
        ba_gt = ((p - cp) / p + cn / n) / 2  # rule: value > threshold
        k_gt = int(np.argmax(ba_gt))
        k_lt = int(np.argmin(ba_gt))         # rule: value < threshold has 1 - ba_gt
        if ba_gt[k_gt] >= 1 - ba_gt[k_lt]:
            k, direction, ba = k_gt, ">", float(ba_gt[k_gt])
        else:
            k, direction, ba = k_lt, "<", float(1 - ba_gt[k_lt])
        i = splits[k]
        out.append({"j": j, "ba": ba, "direction": direction,
                    "threshold": float((values[i] + values[i + 1]) / 2)})
    return out


def flags(x: np.ndarray, j: int, direction: str, threshold: float) -> np.ndarray:
    return x[:, j] > threshold if direction == ">" else x[:, j] < threshold


def share(mask: np.ndarray, of: np.ndarray) -> float | None:
    total = int(of.sum())
    return None if total == 0 else round(float((mask & of).sum()) / total, 6)


def describe_rule(rows, groups, names, kind, j, direction, threshold, ba) -> dict:
    if math.isnan(threshold):
        threshold = None  # a constant feature: the rule flags nothing
    flagged = flags(rows["x"], j, direction, threshold) if threshold is not None else \
        np.zeros(len(rows["x"]), dtype=bool)
    pos = groups["fault"][kind]
    by_severity = {}
    for s in sorted(set(rows["nominal_severity"][pos].tolist())):
        by_severity[f"{s:g}"] = share(flagged, pos & (rows["nominal_severity"] == s))
    by_profile = {p: share(flagged, pos & (rows["profile"] == p)) for p in PROFILES}
    other = groups["any_fault"] & ~pos
    return {
        "feature": names[j],
        "direction": direction,
        "threshold": threshold,
        "balanced_accuracy": round(ba, 6),
        "detection_rate": share(flagged, pos),
        "false_alarm_rest": share(flagged, groups["used"] & ~pos),
        "false_alarm_normal": share(flagged, groups["normal"]),
        "false_alarm_benign": share(flagged, groups["benign"]),
        "false_alarm_other_faults": share(flagged, other),
        "detection_by_severity": by_severity,
        "detection_by_profile": by_profile,
    }


def zero_false_alarm_rule(x, pos, quiet, names) -> dict | None:
    """The single-feature rule that flags the most fault rows and no normal or benign row."""
    if not quiet.any() or not pos.any():
        return None
    best = None
    for j in range(x.shape[1]):
        hi, lo = x[quiet, j].max(), x[quiet, j].min()
        above = x[pos, j] > hi
        below = x[pos, j] < lo
        for direction, hit, bound, nxt in ((">", above, hi, x[pos, j][above].min(initial=np.inf)),
                                           ("<", below, lo, x[pos, j][below].max(initial=-np.inf))):
            rate = float(hit.mean())
            if best is None or rate > best["detection_rate"]:
                threshold = float((bound + nxt) / 2) if np.isfinite(nxt) else float(bound)
                best = {"feature": names[j], "direction": direction, "threshold": threshold,
                        "detection_rate": round(rate, 6),
                        "balanced_accuracy_vs_normal_benign": round((rate + 1) / 2, 6)}
    return best


def analyse(rows: dict, names: list[str], kinds: list[str], normal_days: dict) -> dict:
    x = rows["x"]
    cls, phase, event = rows["class"], rows["phase"], rows["event"]
    recovery = phase == "recovery"
    normal = (cls == "normal") & (event == "") & ~recovery
    benign = (cls == "normal") & (event != "") & ~recovery
    fault = {k: (cls == k) & ~recovery for k in kinds}
    any_fault = np.zeros(len(cls), dtype=bool)
    for m in fault.values():
        any_fault |= m
    unknown = (cls != "normal") & ~any_fault & ~recovery  # a fault kind not asked for
    used = normal | benign | any_fault | unknown
    groups = {"normal": normal, "benign": benign, "fault": fault, "any_fault": any_fault,
              "used": used}
    counts = {
        "normal": int(normal.sum()),
        "benign": int(benign.sum()),
        "faults": {k: int(m.sum()) for k, m in fault.items()},
        "other_fault_classes": int(unknown.sum()),
        "recovery_excluded": int(recovery.sum()),
    }
    xu = x[used]
    pre = sorted_features(xu)
    quiet = normal | benign
    rules = {}
    for kind in kinds:
        positive = fault[kind][used]
        if not positive.any():
            rules[kind] = {"positives": 0, "best": [], "zero_false_alarm": None}
            continue
        per_feature = best_thresholds(pre, positive)
        ranked = sorted(per_feature, key=lambda r: (-r["ba"], r["j"]))
        best = [describe_rule(rows, groups, names, kind, r["j"], r["direction"], r["threshold"],
                              r["ba"]) for r in ranked[:3]]
        rules[kind] = {
            "positives": int(positive.sum()),
            "best": best,
            "zero_false_alarm": zero_false_alarm_rule(x, fault[kind], quiet, names),
        }
        log(f"rule {kind}: {best[0]['feature']} {best[0]['direction']} "
            f"{fmt_threshold(best[0]['threshold'])}, "
            f"balanced accuracy {best[0]['balanced_accuracy']:.4f}")
    # "A feature that is always zero in normal traffic becomes non-zero".
    if normal.any():
        zero = np.all(x[normal] == 0, axis=0)
    else:
        zero = np.zeros(x.shape[1], dtype=bool)
    fires = np.any(x[:, zero] != 0, axis=1) if zero.any() else np.zeros(len(x), dtype=bool)
    always_zero = {
        "features": [names[j] for j in np.nonzero(zero)[0]],
        "detection": {k: share(fires, m) for k, m in fault.items()},
        "detection_by_severity": {
            k: {f"{s:g}": share(fires, m & (rows["nominal_severity"] == s))
                for s in sorted(set(rows["nominal_severity"][m].tolist()))}
            for k, m in fault.items()},
        "false_alarm_normal_grid": share(fires, normal),
        "false_alarm_benign": share(fires, benign),
        "false_alarm_normal_day": {},
    }
    zero_names = set(always_zero["features"])
    for profile, day in normal_days.items():
        cols = [j for j, n in enumerate(names) if n in zero_names]
        if len(day) == 0:
            continue
        fired = np.any(day[:, cols] != 0, axis=1) if cols else np.zeros(len(day), dtype=bool)
        always_zero["false_alarm_normal_day"][profile] = round(float(fired.mean()), 6)
    # The aim: no fault has a single-feature rule with balanced accuracy >= 0.98 against normal
    # and benign rows that raises no false alarm on them.
    violations = []
    for kind, r in rules.items():
        z = r.get("zero_false_alarm")
        if z and z["balanced_accuracy_vs_normal_benign"] >= AIM_BALANCED_ACCURACY:
            violations.append({"fault": kind, **z})
    aim = {
        "statement": "no single feature separates any fault from normal and benign traffic "
                     f"with >= {AIM_BALANCED_ACCURACY} balanced accuracy and zero false alarms",
        "met": not violations,
        "violations": violations,
        "benign_rows_present": bool(benign.any()),
    }
    return {"rows": counts, "rules": rules, "always_zero_rule": always_zero, "aim": aim}


# ------------------------------------------------------------------------------------------
# measure


def measure(args) -> int:
    t0 = time.monotonic()
    binary = str(Path(args.binary).resolve())
    out = Path(args.out)
    work = out / f"{args.tag}-work"
    work.mkdir(parents=True, exist_ok=True)
    args.faults = [k.strip() for k in args.faults.split(",") if k.strip()]
    schema = schema_of(binary)
    names = schema["names"]
    scenarios = plan(args)
    log(f"{len(scenarios)} scenarios, {len(names)} features ({schema['id']}), "
        f"{args.jobs} at a time; work directory {work}")
    results: dict[str, dict] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        # Benign scenarios first: a binary that does not know [[events]] fails at once.
        ordered = sorted(scenarios, key=lambda sc: sc["part"] != "benign")
        futures = {pool.submit(run_scenario, binary, sc, work, args.via_file, args.reuse): sc
                   for sc in ordered}
        try:
            for future in concurrent.futures.as_completed(futures):
                sc = futures[future]
                results[sc["name"]] = future.result()
                log(f"{len(results)}/{len(scenarios)} scenarios done")
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    simulated = time.monotonic() - t0

    normal_day = {}
    normal_day_x = {}
    grid_parts = []
    scenario_info = []
    for sc in scenarios:
        res = results[sc["name"]]
        rows = load_rows(sc, res, names, args.trim)
        info = {k: sc[k] for k in ("name", "part", "profile", "start", "duration_minutes",
                                   "seed", "faults", "events")}
        info.update({"subscribers": sc["effective_subscribers"], "seconds": res["seconds"],
                     "rows": int(len(rows["x"])), "dropped": rows["dropped"],
                     "features_stats": res.get("features_stats", {})})
        if "severity" in sc:
            info["severity"] = sc["severity"]
        scenario_info.append(info)
        if sc["part"] == "normal_day":
            x = rows["x"]
            labelled = rows["class"]
            not_normal = int((labelled != "normal").sum())
            nonzero = (x != 0).sum(axis=0)
            normal_day[sc["profile"]] = {
                "subscribers": sc["effective_subscribers"],
                "start": sc["start"],
                "minutes": sc["duration_minutes"],
                "rows": int(len(x)),
                "rows_not_normal": not_normal,
                "zero_features": [n for n, c in zip(names, nonzero) if c == 0],
                "nonzero_minutes": {n: int(c) for n, c in zip(names, nonzero)},
            }
            normal_day_x[sc["profile"]] = x
            log(f"normal day {sc['profile']}: {len(normal_day[sc['profile']]['zero_features'])} "
                f"of {len(names)} features identically zero over {len(x)} minutes")
        else:
            grid_parts.append(rows)
    grid = concat(grid_parts, len(names))
    analysis = analyse(grid, names, args.faults, normal_day_x)
    result = {
        "tag": args.tag,
        "binary": binary,
        "binary_version": version_of(binary),
        "schema": {"id": schema["id"], "hash": schema["hash"], "features": len(names)},
        "feature_names": names,
        "command": " ".join(shlex.quote(a) for a in [f"benches/{Path(sys.argv[0]).name}"]
                            + sys.argv[1:]),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "settings": {
            "quick": args.quick,
            "faults": args.faults,
            "benign": args.benign,
            "severities": SEVERITIES,
            "grid_subscribers": args.grid_subscribers,
            "fault_minutes": args.fault_minutes,
            "gap_minutes": args.gap_minutes,
            "trim_minutes": args.trim,
            "seed_base": args.seed_base,
            "jobs": args.jobs,
            "via_file": args.via_file,
            "labels_have_phase": any(p["labels_have_phase"] for p in grid_parts),
            "labels_have_event": any(p["labels_have_event"] for p in grid_parts),
        },
        "normal_day": normal_day,
        "scenarios": scenario_info,
        **analysis,
        "timings": {
            "simulate_and_features_s": round(simulated, 1),
            "total_s": round(time.monotonic() - t0, 1),
            "scenario_s": {i["name"]: i["seconds"] for i in scenario_info},
        },
    }
    path = out / f"{args.tag}.json"
    path.write_text(json.dumps(result, indent=1, allow_nan=False) + "\n")
    log(f"wrote {path} in {result['timings']['total_s']} s; aim met: {analysis['aim']['met']}")
    return 0


# ------------------------------------------------------------------------------------------
# report


def pct(value) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.1f} %"


def fmt_threshold(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4g}"


def rule_text(rule) -> str:
    if not rule:
        return "n/a"
    return f"`{rule['feature']}` {rule['direction']} {fmt_threshold(rule['threshold'])}"


def settings_text(m: dict) -> str:
    s = m["settings"]
    day = "180 minutes of a Tuesday from 07:00, at most 5,000 subscribers (--quick)" \
        if s["quick"] else \
        "1,440 minutes of a Tuesday from midnight, the profile's own subscribers"
    benign = "with benign events" if s["benign"] else "no benign events"
    if s.get("labels_have_phase"):
        benign += "; labels mark recovery minutes (left out)"
    else:
        benign += ("; labels have no phase, so the minutes after a fault count as normal and "
                   "every fault minute as the fault")
    return (f"`{m['tag']}`: {m['binary_version']}, schema `{m['schema']['id']}` "
            f"({m['schema']['features']} features); normal day: {day}; grid: "
            f"{len(s['faults'])} fault kinds x {len(s['severities'])} severities x "
            f"{len(PROFILES)} profiles, at most {s['grid_subscribers']:,} subscribers, faults of "
            f"{s['fault_minutes']} min {s['gap_minutes']} min apart, {benign}; first and last "
            f"{s['trim_minutes']} minutes of each scenario left out; run time "
            f"{m['timings']['total_s']:.0f} s with {s['jobs']} job(s)")


def report(args) -> int:
    before = json.loads(Path(args.before).read_text())
    after = json.loads(Path(args.after).read_text())
    reasons = {}
    if args.reasons and Path(args.reasons).exists():
        reasons = {k: v for k, v in json.loads(Path(args.reasons).read_text()).items()
                   if not k.startswith("_") and isinstance(v, str) and v.strip()}
    out = []
    w = out.append
    w("# Simulator validation: what a single threshold finds")
    w("")
    w("A simulator whose faults one threshold on one feature finds perfectly trains a model that "
      "learns that rule and nothing else. This page measures, on simulated traffic, the best "
      "single-feature rule for every fault kind and the rule \"a feature that is always zero in "
      "normal traffic becomes non-zero\", before and after the simulator changes. It is made by "
      "`benches/simulator-validation.py`.")
    w("")
    w("## How it was made")
    w("")
    w("```sh")
    w(before["command"])
    w(after["command"])
    report_cmd = ["benches/simulator-validation.py", "report", "--before", args.before, "--after",
                  args.after, "--out", args.out]
    if args.reasons:
        report_cmd += ["--reasons", args.reasons]
    w(" ".join(shlex.quote(a) for a in report_cmd))
    w("```")
    w("")
    for m in (before, after):
        w(f"- {settings_text(m)}.")
    w("")
    w("Each scenario has one P-CSCF; `imsight simulate` writes the capture and the labels, "
      "`imsight features --node pcscf-1=172.20.0.10/172.21.0.10` computes one row per minute "
      "from the capture. Rows marked `source_silent` are left out. Fault rows are the minutes "
      "labelled with the fault, except those labelled as recovery (`phase`); normal rows are "
      "labelled `normal` with no benign event; benign rows are labelled `normal` with a benign "
      "`event`. The fault grid gives every profile a scenario per severity (0.1, 0.3, 0.5, 0.7, "
      f"1.0) with every fault kind in turn, each {after['settings']['fault_minutes']} minutes "
      f"long with {after['settings']['gap_minutes']} minutes of normal traffic between faults, "
      "the ramp drawn from 1 to 5 minutes, the order of the kinds, the hour of day and the day "
      "of the week varied between scenarios, each scenario with its own seed. With benign "
      "events, every profile also gets a scenario with each kind of event once (15 to 30 "
      "minutes), no faults.")
    w("")
    w("The best rule for a fault is the feature, direction (`>` or `<`) and threshold with the "
      "highest balanced accuracy (mean of detection rate and specificity) of that fault's rows "
      "against all other rows (normal, benign and the other faults), on the same rows it was "
      "chosen on: it is the best a one-line rule can do, an upper bound.")
    w("")
    w("| rows | " + " | ".join(m["tag"] for m in (before, after)) + " |")
    w("|---|---|---|")
    w(f"| normal | {before['rows']['normal']:,} | {after['rows']['normal']:,} |")
    w(f"| benign | {before['rows']['benign']:,} | {after['rows']['benign']:,} |")
    kinds = list(dict.fromkeys(before["settings"]["faults"] + after["settings"]["faults"]))
    for k in kinds:
        b = before["rows"]["faults"].get(k)
        a = after["rows"]["faults"].get(k)
        w(f"| {k} | {'n/a' if b is None else f'{b:,}'} | {'n/a' if a is None else f'{a:,}'} |")
    w(f"| recovery (left out) | {before['rows']['recovery_excluded']:,} | "
      f"{after['rows']['recovery_excluded']:,} |")
    w("")

    # Aim.
    aim = after["aim"]
    w("## The aim")
    w("")
    w(f"Aim: {aim['statement']} (that is: for no fault does some feature and threshold flag at "
      f"least {100 * (2 * AIM_BALANCED_ACCURACY - 1):.0f} % of its rows while flagging no normal "
      "or benign row).")
    w("")
    if aim["met"]:
        w(f"**Met** by `{after['tag']}`.")
    else:
        listed = ", ".join(f"`{v['fault']}` ({rule_text(v)}: {pct(v['detection_rate'])} of its "
                           f"rows)" for v in aim["violations"])
        w(f"**Not met** by `{after['tag']}`: {listed}.")
    if not aim.get("benign_rows_present"):
        w("")
        w(f"(`{after['tag']}` has no benign rows: the aim is checked against normal rows only.)")
    b_aim = before["aim"]
    w("")
    w(f"`{before['tag']}`: {'met' if b_aim['met'] else 'not met'}"
      + ("" if b_aim["met"] else " (" + ", ".join(f"`{v['fault']}`" for v in b_aim["violations"])
         + ")") + ".")
    w("")

    # Normal day.
    w("## Features identically zero on a normal day")
    w("")
    w("Per profile, the features that are 0 in every minute of a simulated normal day (no "
      "faults, no events). A feature that is always 0 in normal traffic is a give-away when a "
      "fault makes it non-zero; the reasons say why the remaining ones legitimately stay 0.")
    w("")
    profiles = [p for p in PROFILES if p in after["normal_day"]]
    w(f"| profile | minutes | subscribers | start | zero features ({after['tag']}) | "
      f"zero features ({before['tag']}) |")
    w("|---|---|---|---|---|---|")
    for profile in profiles:
        a = after["normal_day"][profile]
        b = before["normal_day"].get(profile)
        b_count = "n/a" if b is None else len(b["zero_features"])
        w(f"| `{profile}` | {a['minutes']:,} | {a['subscribers']:,} | {a['start']} | "
          f"{len(a['zero_features'])} | {b_count} |")
    w("")
    zero = {p: set(after["normal_day"][p]["zero_features"]) for p in profiles}
    listed = [n for n in after["feature_names"] if any(n in z for z in zero.values())]
    if listed:
        w(f"Features zero all day in `{after['tag']}` (x: in that profile):")
        w("")
        w("| feature | " + " | ".join(f"`{p}`" for p in profiles) + " | reason |")
        w("|---|" + "---|" * len(profiles) + "---|")
        for name in listed:
            marks = " | ".join("x" if name in zero[p] else "" for p in profiles)
            w(f"| `{name}` | {marks} | {reasons.get(name, '(no reason recorded)')} |")
        w("")
    gone = []
    for profile in profiles:
        b = before["normal_day"].get(profile)
        if b is not None:
            gone += [n for n in b["zero_features"] if n not in zero[profile] and n not in gone]
    if gone:
        w(f"No longer zero in at least one profile (zero in `{before['tag']}`): "
          + ", ".join(f"`{n}`" for n in gone) + ".")
        w("")

    # Best rules.
    w("## Best single-feature rule per fault")
    w("")
    w("Detection: share of the fault's rows the rule flags. False alarms: share of normal rows, "
      "of benign rows and of other faults' rows it flags.")
    w("")
    w(f"| fault | best rule ({before['tag']}) | balanced accuracy | best rule ({after['tag']}) | "
      "balanced accuracy | false alarms benign | false alarms normal |")
    w("|---|---|---|---|---|---|---|")
    for k in kinds:
        rb = (before["rules"].get(k) or {}).get("best") or [None]
        ra = (after["rules"].get(k) or {}).get("best") or [None]
        b0, a0 = rb[0], ra[0]
        left = f"{rule_text(b0)} | {b0['balanced_accuracy']:.4f}" if b0 else "n/a | n/a"
        right = (f"{rule_text(a0)} | {a0['balanced_accuracy']:.4f} | "
                 f"{pct(a0['false_alarm_benign'])} | {pct(a0['false_alarm_normal'])}"
                 if a0 else "n/a | n/a | n/a | n/a")
        w(f"| `{k}` | {left} | {right} |")
    w("")
    for k in kinds:
        w(f"### `{k}`")
        w("")
        w("| | rule | balanced accuracy | detection | false alarms normal | false alarms "
          "benign | false alarms other faults |")
        w("|---|---|---|---|---|---|---|")
        for m in (before, after):
            r = m["rules"].get(k)
            if not r or not r["best"]:
                w(f"| {m['tag']} | n/a | | | | | |")
                continue
            for rank, rule in enumerate(r["best"], 1):
                label = m["tag"] if rank == 1 else f"{m['tag']} #{rank}"
                w(f"| {label} | {rule_text(rule)} | {rule['balanced_accuracy']:.4f} | "
                  f"{pct(rule['detection_rate'])} | {pct(rule['false_alarm_normal'])} | "
                  f"{pct(rule['false_alarm_benign'])} | {pct(rule['false_alarm_other_faults'])} |")
        w("")
        for m in (before, after):
            r = m["rules"].get(k)
            if not r or not r["best"]:
                continue
            sev = r["best"][0]["detection_by_severity"]
            z = r.get("zero_false_alarm")
            w(f"- `{m['tag']}`: detection of the best rule by severity: "
              + ", ".join(f"{s}: {pct(v)}" for s, v in sev.items())
              + (f"; with no false alarm on normal or benign rows at most "
                 f"{pct(z['detection_rate'])} ({rule_text(z)})" if z else "") + ".")
        w("")

    # Always-zero rule.
    w("## The always-zero rule")
    w("")
    w("The features that are 0 in every normal row of the fault grid; the rule flags a minute "
      "when any of them is not 0. False alarms on a normal day: the same features on the "
      "normal-day runs above (traffic the rule was not made on).")
    w("")
    zb, za = before["always_zero_rule"], after["always_zero_rule"]
    w(f"| | {before['tag']} | {after['tag']} |")
    w("|---|---|---|")
    w(f"| features always zero in normal grid rows | {len(zb['features'])} | "
      f"{len(za['features'])} |")
    for k in kinds:
        w(f"| detection `{k}` | {pct(zb['detection'].get(k))} | {pct(za['detection'].get(k))} |")
    w(f"| false alarms, normal grid rows | {pct(zb['false_alarm_normal_grid'])} | "
      f"{pct(za['false_alarm_normal_grid'])} |")
    w(f"| false alarms, benign rows | {pct(zb['false_alarm_benign'])} | "
      f"{pct(za['false_alarm_benign'])} |")
    for profile in PROFILES:
        w(f"| false alarms, normal day `{profile}` | "
          f"{pct(zb['false_alarm_normal_day'].get(profile))} | "
          f"{pct(za['false_alarm_normal_day'].get(profile))} |")
    w("")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(out) + "\n")
    log(f"wrote {args.out}")
    return 0


# ------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure", help="simulate, compute features, find the best rules")
    m.add_argument("--binary", required=True, help="the imsight binary to drive")
    m.add_argument("--out", required=True, help="directory for TAG.json and TAG-work/")
    m.add_argument("--tag", required=True, help="name of this run, e.g. before or after")
    m.add_argument("--faults", default=",".join(ORIGINAL_FAULTS),
                   help="comma-separated fault kinds (default: the seven original kinds)")
    m.add_argument("--benign", action="store_true",
                   help="also a scenario of benign [[events]] per profile (newer binaries only)")
    m.add_argument("--jobs", type=int, default=2, help="scenarios run at once (default 2)")
    m.add_argument("--quick", action="store_true",
                   help="normal days of 180 minutes and at most 5,000 subscribers")
    m.add_argument("--grid-subscribers", type=int, default=4000,
                   help="subscribers of a grid node (at most the profile's own; default 4000)")
    m.add_argument("--fault-minutes", type=int, default=12)
    m.add_argument("--gap-minutes", type=int, default=40,
                   help="normal minutes before the first fault and after each (default 40)")
    m.add_argument("--trim", type=int, default=2,
                   help="minutes left out at the start and end of each scenario (default 2)")
    m.add_argument("--seed-base", type=int, default=20261121)
    m.add_argument("--via-file", action="store_true",
                   help="write each capture to a file (deleted after use) instead of a pipe")
    m.add_argument("--reuse", action="store_true",
                   help="reuse the rows of scenarios already run with the same binary")
    r = sub.add_parser("report", help="write the Markdown page from two measure results")
    r.add_argument("--before", required=True)
    r.add_argument("--after", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--reasons", help="JSON: feature name -> why it stays zero")
    args = parser.parse_args()
    if args.command == "measure":
        if args.jobs < 1:
            parser.error("--jobs must be at least 1")
        try:
            return measure(args)
        except (RuntimeError, subprocess.CalledProcessError, OSError) as error:
            log(f"error: {error}")
            return 1
    return report(args)


if __name__ == "__main__":
    sys.exit(main())
