"""The grid of simulated scenarios a dataset is made of: network profiles (the built-in four
and custom variations), faults of every trained kind at severities 0.3 to 1, with random ramps,
onsets and durations, some partial, flapping or overlapping; benign events; whole normal days.
Everything is drawn from one seed, so a configuration gives the same scenarios every time."""

import copy
import random

# The kinds the shipped model learns; the others are kept out to measure unknown detection.
TRAINED = [
    "hss_link_down",
    "capacity_limit",
    "traffic_blocked",
    "scscf_down",
    "pcrf_rx_failure",
    "registration_storm",
    "invite_flood",
]
NOVEL = ["dns_failure", "ipsec_sa_failure", "memory_leak", "cx_overload"]
BENIGN = ["planned_restart", "flash_crowd", "maintenance_drain", "probe_gap", "subscriber_growth"]
CLASSES = ["normal"] + TRAINED + NOVEL

MINUTE_START = "2026-11-02T00:00:00Z"  # a Monday; scenarios start on days after it


def custom_profiles(builtin, count, rng, wide=False):
    """`count` profiles derived from the built-in ones: other volumes, lifetimes, delays,
    loss and diurnal curves, named custom_0, custom_1, ... With `wide`, also other delay
    spreads, call mixes and outcomes, holding and ringing times, attach rates, and the P-CSCF
    vendor's behaviour of another built-in profile: networks differ in all of these, and a
    model that saw only the built-in combinations takes a network that differs for a fault."""
    out = []
    for i in range(count):
        p = copy.deepcopy(rng.choice(builtin))
        if wide:
            p["vendor"] = copy.deepcopy(rng.choice(builtin)["vendor"])
            p["delay_sigma"] = round(min(1.5, p["delay_sigma"] * rng.uniform(0.6, 1.8)), 3)
            p["originating_share"] = round(rng.uniform(0.35, 0.65), 3)
            for key in ("prack_share", "update_share"):
                p[key] = round(min(1.0, p[key] * rng.uniform(0.5, 1.5)), 3)
            outcomes = rng.uniform(0.6, 1.6)
            for key in ("busy_share", "unavailable_share", "not_found_share", "cancel_share"):
                p[key] = round(p[key] * outcomes, 4)
            for key in ("holding_time_s", "ringing_s"):
                p[key] = round(p[key] * rng.uniform(0.6, 1.6), 2)
            p["attach_rate"] = round(min(10.0, p["attach_rate"] * rng.uniform(0.3, 3.0)), 4)
        p["name"] = f"custom_{i}"
        p["registration_expires_s"] = rng.choice([600, 1200, 1800, 3600, 7200])
        for key in ("calls_per_sub_hour", "messages_per_sub_hour"):
            p[key] = round(p[key] * rng.uniform(0.4, 2.2), 4)
        for key in ("core_response_ms", "register_response_ms", "access_delay_ms"):
            p[key] = round(p[key] * rng.uniform(0.5, 2.5), 3)
        p["access_loss"] = round(min(0.2, p["access_loss"] * rng.uniform(0.3, 4.0)), 5)
        shift = rng.randint(-2, 2)
        curve = p["diurnal"][-shift:] + p["diurnal"][:-shift] if shift else p["diurnal"]
        scale = rng.uniform(0.8, 1.0)
        p["diurnal"] = [round(min(1.0, v * scale + 0.02), 3) for v in curve]
        out.append(p)
    return out


def _fault(kind, onset, rng, cfg):
    duration = rng.randint(cfg["fault_minutes"][0], cfg["fault_minutes"][1])
    fault = {
        "kind": kind,
        "onset_minute": onset,
        "ramp_minutes": rng.randint(1, min(cfg["max_ramp"], duration)),
        "duration_minutes": duration,
        "severity": round(rng.uniform(cfg["severity"][0], cfg["severity"][1]), 3),
    }
    if rng.random() < cfg["partial_share"]:
        fault["share"] = round(rng.uniform(0.3, 0.8), 3)
    if rng.random() < cfg["flapping_share"] and duration >= 8:
        fault["flap_on_minutes"] = rng.randint(2, 4)
        fault["flap_off_minutes"] = rng.randint(1, 3)
    return fault


def _start(rng):
    day = rng.randint(0, 55)
    hour = rng.randint(0, 23)
    return f"2026-{11 + (day + 1) // 30:02d}-{(day + 1) % 30 + 1:02d}T{hour:02d}:00:00Z"


def scenario_grid(cfg, builtin):
    """The scenarios of a dataset configuration, each a dict ready for TOML, with its split."""
    rng = random.Random(cfg["seed"])
    customs = custom_profiles(builtin, cfg["custom_profiles"], rng, cfg.get("profile_variety") == "wide")
    profiles = {p["name"]: p for p in builtin + customs}
    unseen = cfg.get("unseen_profile")
    seen = [name for name in profiles if name != unseen]
    kinds = cfg.get("kinds", TRAINED)
    scenarios = []
    for index in range(cfg["scenarios"]):
        seed = cfg["seed"] * 1000 + index
        kind_of = rng.random()
        part = "faults" if kind_of < cfg["fault_scenarios"] else (
            "benign" if kind_of < cfg["fault_scenarios"] + cfg["benign_scenarios"] else "normal")
        minutes = cfg["normal_day_minutes"] if part == "normal" else cfg["minutes"]
        nodes, faults, events = [], [], []
        for n in range(cfg["nodes_per_scenario"]):
            name = f"pcscf-{n + 1}"
            profile = rng.choice(seen)
            subscribers = rng.randint(cfg["subscribers"][0], cfg["subscribers"][1])
            nodes.append({"name": name, "profile": profile, "subscribers": subscribers})
            # The first window ends at minute 59: nothing happens before minute 60 + a bit.
            t = rng.randint(65, 90)
            while part == "faults" and t < minutes - cfg["fault_minutes"][1] - 5:
                fault = _fault(rng.choice(kinds), t, rng, cfg)
                fault["node"] = name
                faults.append(fault)
                if rng.random() < cfg["overlap_share"]:
                    other = _fault(rng.choice([k for k in kinds if k != fault["kind"]]),
                                   t + rng.randint(0, fault["duration_minutes"] // 2), rng, cfg)
                    other["node"] = name
                    end = fault["onset_minute"] + fault["duration_minutes"]
                    other["duration_minutes"] = max(1, min(other["duration_minutes"], end - other["onset_minute"]))
                    other["ramp_minutes"] = min(other["ramp_minutes"], other["duration_minutes"])
                    # Shortened, it may no longer hold one flap cycle (the simulator refuses that).
                    if other.get("flap_on_minutes", 0) + other.get("flap_off_minutes", 0) > other["duration_minutes"]:
                        other.pop("flap_on_minutes", None)
                        other.pop("flap_off_minutes", None)
                    faults.append(other)
                t += fault["duration_minutes"] + rng.randint(cfg["gap_minutes"][0], cfg["gap_minutes"][1])
            t = rng.randint(65, 90)
            while part == "benign" and t < minutes - 40:
                duration = rng.randint(10, 30)
                events.append({"node": name, "kind": rng.choice(BENIGN), "onset_minute": t,
                               "duration_minutes": duration})
                t += duration + rng.randint(40, 70)
        used = {node["profile"] for node in nodes}
        scenario = {
            "name": f"{cfg['name']}-{index:04d}",
            "start": _start(rng),
            "duration_minutes": minutes,
            "seed": seed,
            "profile": nodes[0]["profile"],
            "nodes": nodes,
            "faults": faults,
            "events": events,
            "profiles": [profiles[name] for name in sorted(used) if name.startswith("custom_")],
        }
        split = cfg.get("force_split") or split_of(seed, cfg)
        scenarios.append({"scenario": scenario, "part": part, "split": split})
    if unseen:
        # The adaptation set: the unseen profile's normal traffic and faults, never trained on.
        for index in range(cfg.get("unseen_scenarios", 2)):
            seed = cfg["seed"] * 1000 + 900 + index
            name = "pcscf-1"
            faults = []
            t = 240
            while t < cfg["minutes"] * 2 - 40:
                fault = _fault(rng.choice(kinds), t, rng, cfg)
                fault["node"] = name
                faults.append(fault)
                t += fault["duration_minutes"] + rng.randint(40, 60)
            scenario = {
                "name": f"{cfg['name']}-unseen-{index}",
                "start": _start(rng),
                "duration_minutes": cfg["minutes"] * 2,
                "seed": seed,
                "profile": unseen,
                "nodes": [{"name": name, "profile": unseen,
                           "subscribers": rng.randint(cfg["subscribers"][0], cfg["subscribers"][1])}],
                "faults": faults,
                "events": [],
                "profiles": [profiles[unseen]] if unseen.startswith("custom_") else [],
            }
            scenarios.append({"scenario": scenario, "part": "unseen", "split": "unseen"})
    return scenarios


def split_of(seed, cfg):
    """Train, validation or test, by the scenario seed: overlapping windows of one scenario
    never straddle two splits."""
    bucket = (seed * 2654435761) % 100
    if bucket < cfg["split"]["test"]:
        return "test"
    if bucket < cfg["split"]["test"] + cfg["split"]["val"]:
        return "val"
    return "train"
