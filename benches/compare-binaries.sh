#!/usr/bin/env bash
# Whole-process throughput of `imsight features` on one busy hour of a 100,000-subscriber
# P-CSCF, two binaries side by side in one run: the check that a change did not slow the
# feature path. Rounds alternate which binary goes first (ABBA), so neither the shared
# machine's drift nor going second favours one of them.
#
#   benches/compare-binaries.sh BEFORE AFTER [RUNS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
before=$1 after=$2 runs=${3:-5}
mkdir -p target/bench
capture=target/bench/busy-hour-100k.pcap
[ -f "$capture" ] || "$after" simulate --scenario profiles/scenarios/busy-hour-100k.toml --pcap "$capture"
seconds() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
declare -a tb ta
node=pcscf-1=172.20.0.10/172.21.0.10
for i in $(seq "$runs"); do
    if [ $((i % 2)) = 1 ]; then
        tb+=("$(seconds "$before" features "$capture" --out target/bench/before.npy --node "$node")")
        ta+=("$(seconds "$after" features "$capture" --out target/bench/after.npy --node "$node")")
    else
        ta+=("$(seconds "$after" features "$capture" --out target/bench/after.npy --node "$node")")
        tb+=("$(seconds "$before" features "$capture" --out target/bench/before.npy --node "$node")")
    fi
done
cmp -s target/bench/before.npy target/bench/after.npy && same=identical || same=DIFFERENT
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mb=$(median "${tb[@]}") ma=$(median "${ta[@]}")
printf 'before  %s  runs: %s  median %.2f s\n' "$before" "${tb[*]}" "$mb"
printf 'after   %s  runs: %s  median %.2f s\n' "$after" "${ta[*]}" "$ma"
printf 'ratio   after/before = %.3f (below 1 = faster); outputs %s\n' "$(echo "$ma/$mb" | bc -l)" "$same"
