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
echo "training pipeline: OK"
