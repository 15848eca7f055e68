#!/usr/bin/env bash
# The live appliance measured on loopback (docs/performance.md, "Live appliance"):
#
#  1. HEP ingest: the same simulated traffic (NODES P-CSCFs) is sent at rising rates, once to
#     a bare receive loop on the listener's own socket that discards datagrams
#     (`imsight bench udp-sink`) and once to `imsight run` (listener, feature pipeline, judge,
#     outbox, MQTT to mosquitto). For each rate: datagrams lost by each. The highest rate each
#     takes without loss, and their ratio.
#  2. Minute close -> broker acknowledgement (p50, p99) with NODES nodes judged every minute
#     (a run past the first hour, so every node has a window), from the appliance's histogram
#     imsight_minute_to_broker_seconds.
#  3. Memory per monitored node: the appliance's resident memory at the end of that run
#     (every node with an hour of minutes, decision state, API history) less its resident
#     memory once started, over NODES.
#
# Usage: benches/live-appliance.sh            (NODES=1000 SUBSCRIBERS=150 SPEEDS="..." to change;
#                                              SPEEDS="" measures latency and memory only)
# Needs: mosquitto (Debian package), curl, python3; the ONNX Runtime library
# (packaging/fetch-onnxruntime). Takes about five minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."

NODES=${NODES:-1000}
SUBSCRIBERS=${SUBSCRIBERS:-150}
SPEEDS=${SPEEDS-"30 60 120 240 480"}
LATENCY_SPEED=${LATENCY_SPEED:-20}
bin=target/release/imsight

cargo build --release --quiet
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The simulator runs at most 250 nodes per scenario: NODES are split into groups, one
# scenario (and one sending process) each, with their own node names and seeds.
GROUP=250
groups=$(( (NODES + GROUP - 1) / GROUP ))
scenario() { # name minutes
  for g in $(seq 1 "$groups"); do
    {
      echo "name = \"$1-$g\""
      echo 'start = "2026-11-30T09:00:00Z"'
      echo "duration_minutes = $2"
      echo "seed = $((10 + g))"
      echo 'profile = "small_operator"'
      local first=$(( (g - 1) * GROUP + 1 )) last=$(( g * GROUP < NODES ? g * GROUP : NODES ))
      for i in $(seq "$first" "$last"); do
        printf '\n[[nodes]]\nname = "pcscf-%04d"\nsubscribers = %s\n' "$i" "$SUBSCRIBERS"
      done
    } > "$work/$1-$g.toml"
  done
}

mqtt=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$mqtt" > "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" 2>/dev/null &
pids+=($!)

scenario ingest 10
scenario latency 66
# Nodes are discovered by their HEP agent name (the groups' addresses overlap).
printf '[pipeline]\nauto_discover_nodes = true\nmax_nodes = %s\n' "$NODES" > "$work/nodes.toml"

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
metric() { # metrics-file name label-fragment
  awk -v n="$2" -v l="$3" 'index($0, n) == 1 && index($0, l) {s += $NF} END {printf "%d", s}' "$1"
}
send() { # speed hep-port scenario -> "sent seconds" (every group at once)
  local started ended sent=0 g
  started=$(date +%s.%N)
  for g in $(seq 1 "$groups"); do
    "$bin" simulate --scenario "$work/$3-$g.toml" --hep "127.0.0.1:$2" --speed "$1" \
      > /dev/null 2> "$work/send-$g.log" &
  done
  # (send runs in a subshell: its children are the senders only.)
  wait
  ended=$(date +%s.%N)
  for g in $(seq 1 "$groups"); do
    sent=$((sent + $(sed -n 's/.*; \([0-9]*\) HEP datagrams sent.*/\1/p' "$work/send-$g.log")))
  done
  echo "$sent $(python3 -c "print($ended - $started)")"
}
start_appliance() { # state-dir hep-port http-port
  IMSIGHT__MQTT__PORT=$mqtt IMSIGHT__SOURCES__HEP_UDP_LISTEN=127.0.0.1:$2 \
    IMSIGHT__HTTP__LISTEN=127.0.0.1:$3 IMSIGHT_LOG=warn \
    "$bin" --config "$work/nodes.toml" run --state-dir "$1" 2>"$1.log" &
  appliance=$!
  pids+=("$appliance")
  for _ in $(seq 300); do
    curl -sf "127.0.0.1:$3/readyz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "the appliance did not start: $(cat "$1.log")" >&2
  exit 1
}

if [ -n "$SPEEDS" ]; then
echo "== HEP ingest, $NODES nodes x $SUBSCRIBERS subscribers, 10 minutes of traffic per rate"
printf '%8s %12s | %14s %10s | %14s %10s %10s %10s\n' speed "rate/s" "sink received" "sink lost" \
  "imsight recv" lost busy kernel
for speed in $SPEEDS; do
  port=$(free_port)
  "$bin" bench udp-sink --listen "127.0.0.1:$port" --idle 2 > "$work/sink.json" 2>/dev/null &
  sink=$!
  sleep 0.3
  read -r sent seconds < <(send "$speed" "$port" ingest)
  wait "$sink"
  sink_received=$(python3 -c "import json; print(json.load(open('$work/sink.json'))['datagrams'])")

  port=$(free_port); http=$(free_port); state="$work/ingest-$speed"
  start_appliance "$state" "$port" "$http"
  read -r sent_b _ < <(send "$speed" "$port" ingest)
  sleep 2
  curl -sf "127.0.0.1:$http/metrics" > "$work/metrics"
  kill -TERM "$appliance"; wait "$appliance" || true
  received=$(metric "$work/metrics" imsight_source_received_total 'source="hep_udp"')
  busy=$(metric "$work/metrics" imsight_source_dropped_total 'reason="busy"')
  kernel=$(metric "$work/metrics" imsight_source_dropped_total 'reason="kernel"')
  lost=$((sent_b - received + busy))
  rate=$(python3 -c "print(round($sent / $seconds))")
  printf '%8s %12s | %14s %10s | %14s %10s %10s %10s\n' "$speed" "$rate" "$sink_received" \
    $((sent - sink_received)) "$received" "$lost" "$busy" "$kernel"
  echo "$speed $rate $((sent - sink_received)) $lost" >> "$work/ingest.txt"
done
python3 - "$work/ingest.txt" <<'EOF'
import sys
rows = [line.split() for line in open(sys.argv[1])]
def best(column):
    clean = [int(r[1]) for r in rows if int(r[column]) == 0]
    return max(clean) if clean else 0
sink, appliance = best(2), best(3)
print(f"highest rate without loss: bare receive loop {sink}/s, imsight run {appliance}/s"
      + (f", ratio {appliance / sink:.2f}" if sink else ""))
EOF
fi

echo
echo "== minute close -> broker acknowledgement, $NODES nodes judged every minute (speed $LATENCY_SPEED)"
port=$(free_port); http=$(free_port); state="$work/latency"
start_appliance "$state" "$port" "$http"
rss_start=$(rss_kib "$appliance")
read -r sent seconds < <(send "$LATENCY_SPEED" "$port" latency)
sleep 3
curl -sf "127.0.0.1:$http/metrics" > "$work/metrics"
rss_end=$(rss_kib "$appliance")
kill -TERM "$appliance"; wait "$appliance" || true
python3 - "$work/metrics" "$NODES" "$rss_start" "$rss_end" "$sent" "$seconds" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
nodes, rss_start, rss_end = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def histogram(name):
    buckets = [(float(le), float(v)) for le, v in
               re.findall(name + r'_bucket\{le="([^"]+)"\} (\S+)', text) if le != "+Inf"]
    count = float(re.search(name + r'_count (\S+)', text).group(1))
    total = float(re.search(name + r'_sum (\S+)', text).group(1))
    return buckets, count, total
def quantile(buckets, count, q):
    # Linear within the bucket, as Prometheus' histogram_quantile does.
    rank, lower, below = q * count, 0.0, 0.0
    for upper, cumulative in buckets:
        if cumulative >= rank:
            inside = cumulative - below
            return lower + (upper - lower) * ((rank - below) / inside if inside else 1)
        lower, below = upper, cumulative
    return float("inf")
def value(name):
    return sum(float(v) for v in re.findall(r'^' + name + r'(?:\{[^}]*\})? (\S+)$', text, re.M))
buckets, count, total = histogram("imsight_minute_to_broker_seconds")
print(f"{int(value('imsight_verdicts_total'))} node-minutes, {int(count)} minutes delivered; "
      f"p50 {quantile(buckets, count, 0.5):.2f} s, p99 {quantile(buckets, count, 0.99):.2f} s, "
      f"mean {total / count:.2f} s")
b, c, t = histogram("imsight_inference_seconds")
print(f"inference: {int(c)} calls, mean {1000 * t / c:.1f} ms; "
      f"lost: busy {int(value('imsight_source_dropped_total'))} datagrams")
print(f"{float(sys.argv[5]) / float(sys.argv[6]):.0f} datagrams/s sent for {float(sys.argv[6]):.0f} s")
print(f"resident memory: {rss_start / 1024:.0f} MiB started, {rss_end / 1024:.0f} MiB with "
      f"{nodes} nodes judged; {(rss_end - rss_start) / nodes:.0f} KiB per node")
EOF
