#!/usr/bin/env bash
# Simulator throughput: one busy hour of a 100,000-subscriber P-CSCF to pcap, RUNS times
# (default 3), with the median; also the run without any output (the traffic model alone).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${1:-3}
cargo build -q --release --bin imsight
mkdir -p target/bench
scenario=profiles/scenarios/busy-hour-100k.toml
seconds() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
to_pcap=(); model=()
for _ in $(seq "$runs"); do
    to_pcap+=("$(seconds target/release/imsight simulate --scenario "$scenario" --pcap target/bench/busy-hour-100k.pcap)")
    model+=("$(seconds target/release/imsight simulate --scenario "$scenario")")
done
messages=$(target/release/imsight simulate --scenario "$scenario" --summary /dev/stdout 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])')
bytes=$(stat -c %s target/bench/busy-hour-100k.pcap)
p=$(median "${to_pcap[@]}"); m=$(median "${model[@]}")
printf 'one busy hour, 100k subscribers: %s messages, %.0f MB of pcap\n' "$messages" "$(echo "$bytes/1000000" | bc -l)"
printf 'to pcap      median %5.2f s  (%.0f messages/s, %.0f MB/s)  runs: %s\n' "$p" "$(echo "$messages/$p" | bc -l)" "$(echo "$bytes/1000000/$p" | bc -l)" "${to_pcap[*]}"
printf 'model only   median %5.2f s  (%.0f messages/s)  runs: %s\n' "$m" "$(echo "$messages/$m" | bc -l)" "${model[*]}"
