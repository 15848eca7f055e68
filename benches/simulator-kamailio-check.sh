#!/usr/bin/env bash
# The simulator against a real SIP stack: every simulated message is sent to a local Kamailio
# that runs sanity_check() on requests (the checks of Kamailio's shipped configuration,
# 17895 with URI checks 7) and parses every reply's headers. Needs Debian's kamailio package.
#
#   benches/simulator-kamailio-check.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v kamailio >/dev/null || { echo "kamailio is not installed (apt-get install kamailio)" >&2; exit 1; }
cargo build -q --release --bin imsight
work=$(mktemp -d)
trap 'pkill -f "$work/kamailio.cfg" 2>/dev/null || true; rm -rf "$work"' EXIT
port=${PORT:-5099}
cat > "$work/kamailio.cfg" <<CFG
#!KAMAILIO
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:$port
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
modparam("sanity", "noreply", 1)
request_route {
    if (!sanity_check("17895", "7")) { xlog("L_ERR", "SANITY-FAIL \$rm \$ci\n"); exit; }
    xlog("L_NOTICE", "SANITY-OK \$rm\n");
    exit;
}
reply_route {
    if (\$ci == \$null || \$cs == \$null || \$fu == \$null || \$tu == \$null || \$(hdr(Via)) == \$null) {
        xlog("L_ERR", "REPLY-FAIL \$rs \$ci\n");
    } else {
        xlog("L_NOTICE", "REPLY-OK \$rs\n");
    }
    drop;
}
CFG
cat > "$work/scenario.toml" <<'TOML'
name = "kamailio-check"
start = "2026-11-21T09:00:00Z"
duration_minutes = 40
seed = 5
nodes = [{ name = "pcscf-a", subscribers = 300, profile = "volte_heavy" }]
faults = [
  { node = "pcscf-a", kind = "hss_link_down", onset_minute = 2, duration_minutes = 4, severity = 1.0 },
  { node = "pcscf-a", kind = "capacity_limit", onset_minute = 7, duration_minutes = 4, severity = 0.8 },
  { node = "pcscf-a", kind = "traffic_blocked", onset_minute = 12, duration_minutes = 4, severity = 1.0 },
  { node = "pcscf-a", kind = "scscf_down", onset_minute = 17, duration_minutes = 4, severity = 1.0 },
  { node = "pcscf-a", kind = "pcrf_rx_failure", onset_minute = 22, duration_minutes = 4, severity = 1.0 },
  { node = "pcscf-a", kind = "registration_storm", onset_minute = 27, duration_minutes = 4, severity = 0.8 },
  { node = "pcscf-a", kind = "invite_flood", onset_minute = 32, duration_minutes = 4, severity = 0.8 },
]
TOML
target/release/imsight simulate --scenario "$work/scenario.toml" --pcap "$work/capture.pcap" --summary "$work/summary.json"
kamailio -f "$work/kamailio.cfg" -DD -E > "$work/kamailio.log" 2>&1 &
sleep 2
# Paced so that one Kamailio process keeps up: the point is to judge every message.
python3 - "$work/capture.pcap" "$port" <<'PY'
import socket, struct, sys, time
data = open(sys.argv[1], "rb").read()
target = ("127.0.0.1", int(sys.argv[2]))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
pos, sent = 24, 0
while pos + 16 <= len(data):
    _, _, length, _ = struct.unpack("<IIII", data[pos:pos + 16])
    s.sendto(data[pos + 16 + 42:pos + 16 + length], target)  # after Ethernet, IPv4, UDP
    pos += 16 + length
    sent += 1
    if sent % 20 == 0:
        time.sleep(0.01)
PY
sleep 3
log="$work/kamailio.log"
python3 - "$work/summary.json" "$log" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))["overall"]
log = open(sys.argv[2]).read()
counts = {key: log.count(key) for key in ("SANITY-OK", "SANITY-FAIL", "REPLY-OK", "REPLY-FAIL")}
print(f"simulated: {summary['requests_total']} requests, {summary['responses_total']} responses")
print(f"kamailio:  {counts['SANITY-OK']} requests passed sanity_check, {counts['SANITY-FAIL']} failed; "
      f"{counts['REPLY-OK']} replies parsed, {counts['REPLY-FAIL']} failed")
ok = (counts["SANITY-OK"] == summary["requests_total"] and counts["REPLY-OK"] == summary["responses_total"]
      and counts["SANITY-FAIL"] == 0 and counts["REPLY-FAIL"] == 0)
print("OK" if ok else "MISMATCH")
sys.exit(0 if ok else 1)
PY
