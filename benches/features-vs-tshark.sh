#!/usr/bin/env bash
# Capture -> features throughput against tshark extracting method, status code and Call-ID
# from the same capture (one simulated busy hour of a 100,000-subscriber P-CSCF).
#
#   benches/features-vs-tshark.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v tshark >/dev/null || { echo "tshark is not installed" >&2; exit 1; }
cargo build -q --release --bin imsight
mkdir -p target/bench
capture=target/bench/busy-hour-100k.pcap
[ -f "$capture" ] || target/release/imsight simulate --scenario profiles/scenarios/busy-hour-100k.toml --pcap "$capture"
seconds() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
features=$(seconds target/release/imsight features "$capture" --out target/bench/busy-hour-100k.npy --node pcscf-1=172.20.0.10/172.21.0.10)
messages=$(target/release/imsight inspect --json "$capture" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["requests_total"]+r["responses_total"])')
tshark_s=$(seconds tshark -r "$capture" -Y sip -T fields -e sip.Method -e sip.Status-Code -e sip.Call-ID)
printf 'capture   %s: %s SIP messages\n' "$capture" "$messages"
printf 'imsight   features (130 per node-minute)        %6.2f s  %9.0f msg/s\n' "$features" "$(echo "$messages/$features" | bc -l)"
printf 'tshark    -e sip.Method -e Status-Code -e Call-ID %6.2f s  %9.0f msg/s\n' "$tshark_s" "$(echo "$messages/$tshark_s" | bc -l)"
printf 'ratio     imsight features is %.1f x faster than tshark field extraction\n' "$(echo "$tshark_s/$features" | bc -l)"
