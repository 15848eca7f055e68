#!/usr/bin/env bash
# The simulator against tshark: simulate a scenario to pcap, then check that tshark's expert
# info is empty (no malformed SIP) and that tshark's counts per method and status class equal
# the simulator's own summary.
#
#   benches/simulator-tshark-check.sh [SCENARIO]     (default profiles/scenarios/every-fault.toml)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scenario=${1:-profiles/scenarios/every-fault.toml}
command -v tshark >/dev/null || { echo "tshark is not installed" >&2; exit 1; }
cargo build -q --release --bin imsight
out=target/bench/$(basename "$scenario" .toml)
mkdir -p "$out"
target/release/imsight simulate --scenario "$scenario" --pcap "$out/capture.pcap" --summary "$out/summary.json"
expert=$(tshark -r "$out/capture.pcap" -q -z expert 2>/dev/null | grep -c . || true)
tshark -r "$out/capture.pcap" -Y sip -T fields -e sip.Method -e sip.Status-Code 2>/dev/null > "$out/fields.tsv"
python3 - "$out" "$expert" <<'PY'
import collections, json, sys
out, expert = sys.argv[1], int(sys.argv[2])
summary = json.load(open(f"{out}/summary.json"))["overall"]
mine = {**summary["requests"], **summary["responses_by_class"]}
theirs = collections.Counter()
for line in open(f"{out}/fields.tsv"):
    method, _, code = line.rstrip("\n").partition("\t")
    theirs[method if method else code[0] + "xx"] += 1
print(f"tshark expert-info lines: {expert}")
for key in sorted(set(mine) | set(theirs)):
    mark = "" if mine.get(key) == theirs.get(key) else "   <-- differs"
    print(f"{key:>10} simulator {mine.get(key, 0):>9} tshark {theirs.get(key, 0):>9}{mark}")
ok = expert == 0 and dict(theirs) == mine
print("OK: no expert info, equal counts" if ok else "MISMATCH")
sys.exit(0 if ok else 1)
PY
