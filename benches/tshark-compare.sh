#!/usr/bin/env bash
# Side-by-side: imsight vs tshark extracting SIP method and status code from the same capture,
# alternating runs in one session so that machine noise hits both alike.
#
#   benches/tshark-compare.sh [DIALOGS] [RUNS]      (defaults: 40000 dialogs = 200k messages, 3 runs)
#
# Needs tshark (Debian: apt-get install tshark). Prints medians, throughput and the ratio.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dialogs=${1:-40000}
runs=${2:-3}
command -v tshark >/dev/null || { echo "tshark is not installed" >&2; exit 1; }

cargo build -q --release --bin imsight
cargo build -q --release -p imsight-parsers --example bench_capture
mkdir -p target/bench
capture=target/bench/ims-mix-$dialogs.pcap
[ -f "$capture" ] || target/release/examples/bench_capture "$capture" "$dialogs"
bytes=$(stat -c %s "$capture")

seconds() { # runs "$@" with output discarded, prints wall seconds
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

imsight_runs=()
tshark_runs=()
for _ in $(seq "$runs"); do
    imsight_runs+=("$(seconds target/release/imsight inspect --json "$capture")")
    tshark_runs+=("$(seconds tshark -r "$capture" -Y sip -T fields -e sip.Method -e sip.Status-Code)")
done

# Both must have seen the same messages.
messages=$(target/release/imsight inspect --json "$capture" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["requests_total"]+r["responses_total"])')
tshark_messages=$(tshark -r "$capture" -Y sip -T fields -e sip.Method -e sip.Status-Code | wc -l)

imsight_s=$(median "${imsight_runs[@]}")
tshark_s=$(median "${tshark_runs[@]}")
printf 'capture   %s: %s SIP messages, %.1f MB (tshark saw %s)\n' "$capture" "$messages" "$(echo "$bytes/1000000" | bc -l)" "$tshark_messages"
printf 'imsight   inspect --json                      median %6.3f s  %9.0f msg/s  %6.1f MB/s  runs: %s\n' \
    "$imsight_s" "$(echo "$messages/$imsight_s" | bc -l)" "$(echo "$bytes/1000000/$imsight_s" | bc -l)" "${imsight_runs[*]}"
printf 'tshark    -Y sip -e sip.Method -e Status-Code median %6.3f s  %9.0f msg/s  %6.1f MB/s  runs: %s\n' \
    "$tshark_s" "$(echo "$messages/$tshark_s" | bc -l)" "$(echo "$bytes/1000000/$tshark_s" | bc -l)" "${tshark_runs[*]}"
printf 'ratio     imsight is %.1f x faster than tshark\n' "$(echo "$tshark_s/$imsight_s" | bc -l)"
