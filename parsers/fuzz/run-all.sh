#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) and prints each one's last status line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
seconds=${1:-60}
export RUSTC_BOOTSTRAP=1
targets=$(cargo fuzz list)
cargo fuzz build --release $targets >/dev/null 2>&1 || cargo fuzz build --release
for target in $targets; do
    mkdir -p "corpus/$target"
    log=$(mktemp)
    if cargo fuzz run --release "$target" "corpus/$target" -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        status=ok
    else
        status=FAILED
    fi
    runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    cov=$(grep -E '#[0-9]+.*(DONE|pulse)' "$log" | tail -n 1 | sed -E 's/.*cov: ([0-9]+).*/\1/')
    printf '%-20s %-6s %10s executions  cov %s\n' "$target" "$status" "${runs:-?}" "${cov:-?}"
    [ "$status" = ok ] || { tail -n 30 "$log"; }
    rm -f "$log"
done
