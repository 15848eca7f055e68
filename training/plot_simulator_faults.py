"""Per-fault plots of the simulator: key per-minute series with the fault against the same
scenario without faults (same seed), so the fault's signature stands out from normal variation.

    cargo build --release
    python3 -m venv venv && venv/bin/pip install matplotlib==3.10.7
    venv/bin/python training/plot_simulator_faults.py profiles/scenarios/every-fault.toml docs/simulator
    venv/bin/python training/plot_simulator_faults.py profiles/scenarios/novel-faults.toml docs/simulator \
        dns_failure,ipsec_sa_failure,memory_leak,cx_overload

Runs `imsight simulate` twice (with and without the scenario's faults) and writes one PNG per
fault into the output folder (only the faults listed in the optional third argument).
"""

import json
import os
import re
import subprocess
import sys
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

IMSIGHT = os.environ.get("IMSIGHT", "target/release/imsight")

# fault -> the series that show it: (title, function of one minute of the summary, log scale)
def code(c):
    return lambda m: m["responses_by_code"].get(c, 0)


def method(name):
    return lambda m: m["requests"].get(name, 0)


def ms(key):
    return lambda m: m[key] if m[key] is not None else float("nan")


SERIES = {
    "hss_link_down": [
        ("REGISTER requests / min", method("REGISTER"), False),
        ("480 Temporarily Unavailable / min", code("480"), False),
        ("REGISTER response time, access leg (ms)", ms("register_ms"), True),
        ("retransmissions / min", lambda m: m["retransmissions"], False),
    ],
    "capacity_limit": [
        ("503 Service Unavailable / min", code("503"), False),
        ("REGISTER response time, access leg (ms)", ms("register_ms"), True),
        ("core-leg response time, non-INVITE (ms)", ms("core_ms"), True),
        ("retransmissions / min", lambda m: m["retransmissions"], False),
    ],
    "traffic_blocked": [
        ("200 OK / min", code("200"), False),
        ("408 Request Timeout / min", code("408"), False),
        ("core transactions without answer / min", lambda m: m["core_timeouts"], False),
        ("retransmissions / min", lambda m: m["retransmissions"], False),
    ],
    "scscf_down": [
        ("504 Server Time-out / min", code("504"), False),
        ("503 Service Unavailable / min", code("503"), False),
        ("INVITE requests / min", method("INVITE"), False),
        ("BYE requests / min", method("BYE"), False),
    ],
    "pcrf_rx_failure": [
        ("580 Precondition Failure / min", code("580"), False),
        ("CANCEL requests / min", method("CANCEL"), False),
        ("BYE requests / min (answered calls ending)", method("BYE"), False),
        ("REGISTER response time, access leg (ms)", ms("register_ms"), True),
    ],
    "registration_storm": [
        ("REGISTER requests / min", method("REGISTER"), False),
        ("401 Unauthorized / min", code("401"), False),
        ("503 Service Unavailable / min", code("503"), False),
        ("REGISTER response time, access leg (ms)", ms("register_ms"), True),
    ],
    "invite_flood": [
        ("INVITE requests / min", method("INVITE"), False),
        ("404 Not Found / min", code("404"), False),
        ("503 Service Unavailable / min (rate limit, load)", code("503"), False),
        ("403 Forbidden / min", code("403"), False),
    ],
    "dns_failure": [
        ("500 Server Internal Error / min", code("500"), False),
        ("REGISTER response time, access leg (ms)", ms("register_ms"), True),
        ("retransmissions / min", lambda m: m["retransmissions"], False),
        ("200 OK / min", code("200"), False),
    ],
    "ipsec_sa_failure": [
        ("new REGISTERs / min", lambda m: m["registers"], False),
        ("401 Unauthorized / min (initial registrations)", code("401"), False),
        ("SUBSCRIBE requests / min", method("SUBSCRIBE"), False),
        ("408 Request Timeout / min", code("408"), False),
    ],
    "memory_leak": [
        ("REGISTER response time, access leg (ms)", ms("register_ms"), True),
        ("core-leg response time, non-INVITE (ms)", ms("core_ms"), True),
        ("500 Server Internal Error / min", code("500"), False),
        ("retransmissions / min", lambda m: m["retransmissions"], False),
    ],
    "cx_overload": [
        ("REGISTER response time, access leg (ms)", ms("register_ms"), True),
        ("500 Server Internal Error / min", code("500"), False),
        ("new REGISTERs / min", lambda m: m["registers"], False),
        ("retransmissions / min", lambda m: m["retransmissions"], False),
    ],
}


def simulate(scenario_path, summary_path):
    subprocess.run(
        [IMSIGHT, "simulate", "--scenario", scenario_path, "--summary", summary_path],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    with open(summary_path) as f:
        return json.load(f)


def main():
    scenario, out_dir = sys.argv[1], sys.argv[2]
    only = set(sys.argv[3].split(",")) if len(sys.argv) > 3 else set(SERIES)
    os.makedirs(out_dir, exist_ok=True)
    text = open(scenario).read()
    baseline_text = re.sub(r"\[\[faults\]\][^\[]*", "", text)
    with tempfile.TemporaryDirectory() as tmp:
        base_path = os.path.join(tmp, "baseline.toml")
        with open(base_path, "w") as f:
            f.write(baseline_text)
        faulty = simulate(scenario, os.path.join(tmp, "faulty.json"))
        normal = simulate(base_path, os.path.join(tmp, "normal.json"))
    written = set()
    for node, base in zip(faulty["nodes"], normal["nodes"]):
        minutes = node["minutes"]
        labels = [m["label"] if m["phase"] != "recovery" else "recovery" for m in minutes]
        for kind, series in SERIES.items():
            spans = [i for i, label in enumerate(labels) if label == kind]
            if not spans or kind in written or kind not in only:
                continue
            onset, end = spans[0], spans[-1] + 1
            lo, hi = max(0, onset - 15), min(len(minutes), end + 15)
            x = list(range(lo - onset, hi - onset))
            fig, axes = plt.subplots(2, 2, figsize=(11, 6.5), sharex=True)
            for ax, (title, f, log) in zip(axes.flat, series):
                ax.plot(x, [f(m) for m in base["minutes"][lo:hi]], color="0.6", lw=1.5, label="same traffic, no fault")
                ax.plot(x, [f(m) for m in minutes[lo:hi]], color="tab:red", lw=1.8, label=kind)
                ax.axvspan(0, end - onset, color="tab:red", alpha=0.08)
                ax.set_title(title, fontsize=10)
                if log:
                    ax.set_yscale("log")
                ax.grid(alpha=0.3)
            for ax in axes[1]:
                ax.set_xlabel("minutes from fault onset")
            axes[0][0].legend(fontsize=8, loc="upper left")
            severity = max(m["severity"] for m in minutes[onset:end])
            fig.suptitle(
                f"{kind} on {node['node']} (severity {severity:g}, {end - onset} min, shaded), "
                f"scenario {faulty['scenario']}, seed {faulty['seed']}",
                fontsize=11,
            )
            fig.tight_layout()
            path = os.path.join(out_dir, f"{kind}.png")
            written.add(kind)
            fig.savefig(path, dpi=90)
            plt.close(fig)
            print("wrote", path)


if __name__ == "__main__":
    main()
