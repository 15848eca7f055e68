#!/usr/bin/env bash
# Output identity of the data path: SHA-256 of what the simulator, `inspect` and `features` write
# for the shipped scenarios. Run it with two binaries (before and after a refactoring) and diff
# the two listings: a pure restructuring must leave every line equal.
#
#   benches/identity-check.sh [BINARY] > hashes.txt      (default: target/release/imsight)
#
# The busy-hour scenario (2.3 GB of pcap) is hashed through pipes, never written to disk.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=$(realpath "${1:-target/release/imsight}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Node arguments for `features`: the simulator puts node i at 172.20.i.10 (access) and
# 172.21.i.10 (core), in the order of the scenario's [[nodes]].
node_args() {
    python3 - "$1" <<'PY'
import sys, tomllib
s = tomllib.load(open(sys.argv[1], "rb"))
for i, n in enumerate(s.get("nodes", [])):
    print(f"--node={n['name']}=172.20.{i}.10/172.21.{i}.10")
PY
}

h() { sha256sum | cut -c1-16; }

for scenario in every-fault three-networks custom-profile; do
    file=profiles/scenarios/$scenario.toml
    out=$work/$scenario
    "$bin" simulate --scenario "$file" --pcap "$out.pcap" --xdr "$out.csv" \
        --labels "$out.labels.jsonl" --summary "$out.summary.json" >/dev/null 2>&1
    mapfile -t nodes < <(node_args "$file")
    for f in pcap csv labels.jsonl summary.json; do
        printf '%-15s simulate %-13s %s\n' "$scenario" "$f" "$(h <"$out.$f")"
    done
    # Relative names: the report names the file, and the folder is new every run.
    printf '%-15s inspect  pcap          %s\n' "$scenario" "$(cd "$work" && "$bin" inspect --json "$scenario.pcap" 2>/dev/null | h)"
    printf '%-15s inspect  xdr           %s\n' "$scenario" "$(cd "$work" && "$bin" inspect --json "$scenario.csv" 2>/dev/null | h)"
    "$bin" features "$out.pcap" "${nodes[@]}" --labels "$out.labels.jsonl" --out "$out.features.csv" >/dev/null 2>&1
    printf '%-15s features pcap csv      %s\n' "$scenario" "$(h <"$out.features.csv")"
    "$bin" features "$out.csv" --labels "$out.labels.jsonl" --out "$out.xfeatures.csv" >/dev/null 2>&1
    printf '%-15s features xdr csv       %s\n' "$scenario" "$(h <"$out.xfeatures.csv")"
    "$bin" features "$out.pcap" "${nodes[@]}" --out "$out.features.npy" >/dev/null 2>&1
    printf '%-15s features pcap npy      %s %s\n' "$scenario" "$(h <"$out.features.npy")" "$(h <"$out.features.rows.csv")"
    rm -f "$out".*
done

busy=profiles/scenarios/busy-hour-100k.toml
"$bin" simulate --scenario "$busy" --pcap "$work/busy.pcap" >/dev/null 2>&1
printf '%-15s simulate %-13s %s\n' busy-hour-100k pcap "$(h <"$work/busy.pcap")"
printf '%-15s inspect  pcap          %s\n' busy-hour-100k "$(cd "$work" && "$bin" inspect --json busy.pcap 2>/dev/null | h)"
"$bin" features "$work/busy.pcap" --node pcscf-1=172.20.0.10/172.21.0.10 --out "$work/busy.csv" >/dev/null 2>&1
printf '%-15s features pcap csv      %s\n' busy-hour-100k "$(h <"$work/busy.csv")"
