#!/usr/bin/env bash
# The training pipeline end to end on a tiny configuration, in a few minutes: dataset through
# the imsight binary -> training -> ONNX export (which checks ONNX Runtime against torch, the
# symbolic batch axis, and batch 1 against batch 64) -> `imsight model verify`; and
# reproducibility: two trainings with one seed give identical weights and identical ONNX bytes.
#
#   training/ci.sh            (installs the pinned stack into training/.venv, or brings it up to the lock)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python3 -m uv --version >/dev/null 2>&1 ||
    python3 -m pip install -q --disable-pip-version-check uv==0.13.9
[ -x training/.venv/bin/python ] || python3 -m uv venv -q --python python3 training/.venv
# Every run: a no-op when the environment already matches the lock, an update when it changed.
python3 -m uv pip install -q --python training/.venv/bin/python --require-hashes \
    -r training/requirements.lock
cargo build -q --locked --bin imsight
export IMSIGHT="${CARGO_TARGET_DIR:-$PWD/target}/debug/imsight"
export SOURCE_DATE_EPOCH=1764460800
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
py() { (cd training && .venv/bin/python -m "$@"); }

py imsight_training.dataset --config configs/tiny.json --out "$work/data"
for run in a b; do
    py imsight_training.train --data "$work/data" --out "$work/run-$run" --config configs/train-tiny.json 2>&1 | tail -1
    py imsight_training.export --run "$work/run-$run" --data "$work/data" --out "$work/model-$run" --name tiny-ci 2>&1 | tail -1
done
training/.venv/bin/python - "$work" <<'PY'
import sys, torch
work = sys.argv[1]
a = torch.load(f"{work}/run-a/model.pt", weights_only=False)["state"]
b = torch.load(f"{work}/run-b/model.pt", weights_only=False)["state"]
different = [k for k in a if not torch.equal(a[k], b[k])]
assert not different, f"two trainings with one seed differ in {different}"
onnx_a = open(f"{work}/model-a/tiny-ci.onnx", "rb").read()
onnx_b = open(f"{work}/model-b/tiny-ci.onnx", "rb").read()
assert onnx_a == onnx_b, "two exports of identical trainings differ"
print("reproducible: identical weights and identical ONNX bytes")
PY
"$IMSIGHT" model verify "$work/model-a/tiny-ci.onnx" | grep -E "^(contract|embedded)"
py imsight_training.evaluate --run "$work/run-a" --data "$work/data" --model-dir "$work/model-a" \
    --report "$work/report" | tail -1
test -s "$work/report/report.md" && test -s "$work/model-a/references.json"
training/.venv/bin/python - "$work/model-a/model-card.json" <<'PY'
import json, sys
stats = json.load(open(sys.argv[1]))["feature_stats"]
assert len(stats["features"]) == 130 and stats["minutes"] > 0, "feature_stats missing"
assert all(len(f["expected"]) == len(f["edges"]) + 1 for f in stats["features"])
print(f"model card: feature_stats of {stats['minutes']} training minutes")
PY

# The sample database's export is a dataset the training code reads: a replay keeps every
# window, `samples export` writes them, Windows() loads them with their classes.
cat > "$work/samples.toml" <<'TOML'
name = "ci-samples"
start = "2026-11-24T09:00:00Z"
duration_minutes = 75
seed = 5
profile = "small_operator"
[[nodes]]
name = "pcscf-1"
subscribers = 300
TOML
"$IMSIGHT" simulate --scenario "$work/samples.toml" --xdr "$work/samples.csv" --nodes "$work/samples.nodes.toml" 2>/dev/null
IMSIGHT__SAMPLES__NORMAL_RATE=1 "$IMSIGHT" replay "$work/samples.csv" --config "$work/samples.nodes.toml" \
    --state-dir "$work/samples-state" --out "$work/samples.jsonl" --sample --no-explain 2>&1 | grep "^samples:"
"$IMSIGHT" samples export --state-dir "$work/samples-state" --out "$work/export"
(cd training && .venv/bin/python - "$work/export" "$work/samples.jsonl") <<'PY'
import json, sys
from imsight_training.train import Windows
data = Windows(sys.argv[1])
judged = [v for v in map(json.loads, open(sys.argv[2])) if v["type"] == "minute" and v["class"]]
picks = data.select("train")
assert len(picks) == len(judged), (len(picks), len(judged))
assert tuple(data.batch(picks[:4]).shape) == (4, 60, 130)
classes = sorted({data.classes[c] for c in data.label[picks]})
assert classes == sorted({v["class"] for v in judged}), classes
print(f"samples export: {len(picks)} windows load in training ({', '.join(classes)})")
PY
echo "training pipeline: OK"
