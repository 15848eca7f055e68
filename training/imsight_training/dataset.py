"""Builds a dataset: simulates the scenario grid with `imsight simulate`, computes the features
with `imsight features` (the capture streams through a pipe; the Rust binary is the only
feature implementation), joins the labels, and writes minute rows, windows and a manifest.

    python -m imsight_training.dataset --config training/configs/tiny.json --out data/tiny

Layout of the output folder:
    minutes.npy   float32 [M, 130]  the feature rows, in scenario, node, minute order
    minutes.npz   per row: scenario, node, minute (µs), class, severity, phase, event, silent
    windows.npz   per window: the index of its last row, class, phase, event, split, scenario
    manifest.json configuration, binary, feature schema, classes, counts, file hashes
"""

import argparse
import concurrent.futures
import csv
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from tqdm import tqdm

from . import tomlw
from .scenarios import BENIGN, CLASSES, scenario_grid

WINDOW = 60
MINUTE_US = 60_000_000
PHASES = ["", "onset", "steady", "recovery"]
EVENTS = [""] + BENIGN + ["hiccup", "holiday"]


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def imsight_binary():
    """The binary to drive: $IMSIGHT, else the checkout's release build."""
    return os.environ.get("IMSIGHT", os.path.join(REPO, "target", "release", "imsight"))


def run_json(args):
    out = subprocess.run([imsight_binary(), *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def check_scenarios(grid):
    """Every scenario through the simulator's own checks first (`simulate --check`): a
    scenario the simulator refuses fails the build in seconds, not after the hour it takes."""
    with tempfile.TemporaryDirectory() as work:
        for item in grid:
            path = os.path.join(work, "scenario.toml")
            with open(path, "w") as f:
                f.write(tomlw.dumps(item["scenario"]))
            checked = subprocess.run(
                [imsight_binary(), "simulate", "--scenario", path, "--check"],
                capture_output=True, text=True)
            if checked.returncode != 0:
                raise RuntimeError(f"{item['scenario']['name']}: {checked.stderr.strip()}")


def simulate_features(item, work):
    """Simulates one scenario and returns its feature rows with their labels."""
    scenario = item["scenario"]
    folder = os.path.join(work, scenario["name"])
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "scenario.toml")
    with open(path, "w") as f:
        f.write(tomlw.dumps(scenario))
    labels_path = os.path.join(folder, "labels.jsonl")
    rows_path = os.path.join(folder, "rows.npy")
    nodes = []
    for i, node in enumerate(scenario["nodes"]):
        nodes += ["--node", f"{node['name']}=172.20.{i}.10/172.21.{i}.10"]
    # The simulator's messages go to a file: a pipe nobody reads could fill and stall it.
    sim_log = open(os.path.join(folder, "simulate.log"), "w+")
    simulate = subprocess.Popen(
        [imsight_binary(), "simulate", "--scenario", path, "--pcap", "/dev/stdout",
         "--labels", labels_path],
        stdout=subprocess.PIPE, stderr=sim_log)
    features = subprocess.run(
        [imsight_binary(), "features", "-", "--out", rows_path, *nodes],
        stdin=simulate.stdout, capture_output=True, text=True)
    simulate.stdout.close()
    status = simulate.wait()
    sim_log.seek(0)
    sim_err = sim_log.read()
    sim_log.close()
    if status != 0 or features.returncode != 0:
        raise RuntimeError(f"{scenario['name']}: simulate: {sim_err}\nfeatures: {features.stderr}")
    if "damaged" in features.stderr:
        raise RuntimeError(f"{scenario['name']}: the capture arrived damaged: {features.stderr}")
    values = np.load(rows_path)
    with open(rows_path.replace(".npy", ".rows.csv")) as f:
        index = list(csv.DictReader(f))
    labels = {}
    with open(labels_path) as f:
        for line in f:
            label = json.loads(line)
            labels[(label["node"], label["minute"])] = label
    names = [n["name"] for n in scenario["nodes"]]
    meta = []
    for row in index:
        label = labels.get((row["node"], row["minute"]))
        if label is None:
            raise RuntimeError(f"{scenario['name']}: no label for {row['node']} {row['minute']}")
        meta.append((
            names.index(row["node"]),
            minute_us(row["minute"]),
            CLASSES.index(label["class"]),
            float(label["severity"]),
            PHASES.index(label.get("phase") or ""),
            EVENTS.index(label.get("event") or ""),
            int(row["source_silent"]),
        ))
    for name in (rows_path, rows_path.replace(".npy", ".rows.csv"), labels_path):
        os.remove(name)
    # Rows come as minutes close (nodes interleaved); windows want each node's minutes in a run.
    order = sorted(range(len(meta)), key=lambda i: (meta[i][0], meta[i][1]))
    return values[order], [meta[i] for i in order]


def minute_us(text):
    import datetime

    stamp = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(stamp.timestamp()) * 1_000_000


def windows_of(meta, step):
    """Windows of 60 consecutive minutes of one node, sliding by `step`, that hold no silent
    minute; each named by its last row."""
    ends = []
    run_start = 0
    for i in range(len(meta)):
        same = i > 0 and meta[i][0] == meta[i - 1][0] and meta[i][1] - meta[i - 1][1] == MINUTE_US
        if not same or meta[i][6]:
            run_start = i + 1 if meta[i][6] else i
            continue
        if i - run_start + 1 >= WINDOW and (i - run_start + 1 - WINDOW) % step == 0:
            ends.append(i)
    return ends


def check_kinds(listing):
    """The kinds this package names must be the binary's (the simulator defines them)."""
    from .scenarios import NOVEL, TRAINED

    if listing["faults"] != TRAINED + NOVEL or listing["novel"] != NOVEL or listing["benign"] != BENIGN:
        sys.exit(f"the binary's fault and event kinds differ from training's: {listing}")


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build(cfg, out, jobs):
    started = time.time()
    os.makedirs(out, exist_ok=True)
    builtin = run_json(["simulate", "--list-profiles"])
    check_kinds(run_json(["simulate", "--list-faults"]))
    schema = run_json(["features", "--schema", "--json"])
    grid = scenario_grid(cfg, builtin)
    check_scenarios(grid)
    rows, metas, scenario_of = [], [], []
    with tempfile.TemporaryDirectory() as work, concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        futures = [pool.submit(simulate_features, item, work) for item in grid]
        for number, future in enumerate(tqdm(futures, desc="scenarios", unit="scenario")):
            values, meta = future.result()
            rows.append(values)
            metas.append(meta)
            scenario_of.append(np.full(len(meta), number, dtype=np.int32))
    minutes = np.concatenate(rows).astype(np.float32)
    meta = [m for part in metas for m in part]
    columns = list(zip(*meta))
    np.save(os.path.join(out, "minutes.npy"), minutes)
    np.savez(
        os.path.join(out, "minutes.npz"),
        scenario=np.concatenate(scenario_of),
        node=np.array(columns[0], dtype=np.int16),
        minute=np.array(columns[1], dtype=np.int64),
        label=np.array(columns[2], dtype=np.int16),
        severity=np.array(columns[3], dtype=np.float32),
        phase=np.array(columns[4], dtype=np.int8),
        event=np.array(columns[5], dtype=np.int8),
        silent=np.array(columns[6], dtype=np.int8),
    )
    ends, offset = [], 0
    for part in tqdm(metas, desc="windows", unit="scenario"):
        ends += [offset + e for e in windows_of(part, cfg["window_step"])]
        offset += len(part)
    ends = np.array(ends, dtype=np.int64)
    all_scenarios = np.concatenate(scenario_of)
    splits = np.array([item["split"] for item in grid])
    parts = np.array([item["part"] for item in grid])
    window_scenario = all_scenarios[ends]
    np.savez(
        os.path.join(out, "windows.npz"),
        end=ends,
        label=np.array(columns[2], dtype=np.int16)[ends],
        phase=np.array(columns[4], dtype=np.int8)[ends],
        event=np.array(columns[5], dtype=np.int8)[ends],
        scenario=window_scenario,
        split=splits[window_scenario],
        part=parts[window_scenario],
    )
    counts = {}
    labels = np.array(columns[2])[ends]
    for split in sorted(set(splits)):
        mask = splits[window_scenario] == split
        counts[str(split)] = {CLASSES[c]: int((labels[mask] == c).sum())
                              for c in sorted(set(labels[mask].tolist()))}
    files = {name: sha256(os.path.join(out, name))
             for name in ("minutes.npy", "minutes.npz", "windows.npz")}
    version = subprocess.run([imsight_binary(), "--version"], capture_output=True, text=True).stdout.strip()
    manifest = {
        "config": cfg,
        "binary": version,
        "feature_schema": schema["id"],
        "feature_schema_hash": schema["hash"],
        "feature_names": [f["name"] for f in schema["features"]],
        "classes": CLASSES,
        "phases": PHASES,
        "events": EVENTS,
        "window_minutes": WINDOW,
        "scenarios": [{"name": item["scenario"]["name"], "seed": item["scenario"]["seed"],
                       "part": item["part"], "split": item["split"],
                       "profiles": sorted({n["profile"] for n in item["scenario"]["nodes"]})}
                      for item in grid],
        "minutes": int(len(minutes)),
        "windows": counts,
        "files": files,
        "content_hash": hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest(),
        "seconds": round(time.time() - started, 1),
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with open(args.config) as f:
        cfg = json.load(f)
    manifest = build(cfg, args.out, args.jobs)
    print(f"{manifest['minutes']} minutes, windows per split: {manifest['windows']}, "
          f"content hash {manifest['content_hash'][:16]}, {manifest['seconds']} s", file=sys.stderr)


if __name__ == "__main__":
    main()
