//! The systemd unit (`packaging/systemd/imsight.service`) is valid (`systemd-analyze verify`)
//! and hardened: `systemd-analyze security` rates its exposure at most 2.0 ("OK").

mod common;

use std::process::Command;

/// The unit with its commands pointed at this build (verify checks that they exist).
fn unit_for_this_build(dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(common::repo("packaging/systemd/imsight.service"))
        .expect("the unit");
    let unit = dir.join("imsight.service");
    std::fs::write(&unit, text.replace("/usr/bin/imsight", env!("CARGO_BIN_EXE_imsight")))
        .expect("unit");
    unit
}

fn systemd_analyze(args: &[&str]) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .args(args)
        .output()
        .expect("systemd-analyze (Debian package systemd; .ci/run installs it)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn the_unit_is_valid() {
    let dir = tempfile::tempdir().expect("dir");
    let unit = unit_for_this_build(dir.path());
    let (ok, text) = systemd_analyze(&["verify", unit.to_str().expect("utf-8")]);
    let about_ours: Vec<&str> = text.lines().filter(|l| l.contains("imsight.service")).collect();
    assert!(ok && about_ours.is_empty(), "{text}");
}

#[test]
fn the_unit_is_rated_ok_or_better() {
    let dir = tempfile::tempdir().expect("dir");
    let unit = unit_for_this_build(dir.path());
    let (_, text) = systemd_analyze(&["security", "--offline=true", unit.to_str().expect("utf-8")]);
    let exposure: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for imsight.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {text}"));
    assert!(exposure <= 2.0, "exposure {exposure} (at most 2.0 is OK):\n{text}");
}

/// Every `imsight_*` metric the Grafana dashboard and the alert rules use is one the appliance
/// exports (histograms by their `_bucket`, `_sum` and `_count` series).
#[test]
fn the_dashboard_and_the_alert_rules_use_metrics_that_exist() {
    let exported = imsight::telemetry::Metrics::new().names();
    for file in
        ["packaging/monitoring/imsight-dashboard.json", "packaging/monitoring/imsight-alerts.yml"]
    {
        let text = std::fs::read_to_string(common::repo(file)).expect("file");
        let used: std::collections::BTreeSet<String> = text
            .match_indices("imsight_")
            .map(|(i, _)| {
                text[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
            })
            .collect();
        assert!(used.len() > 5, "{file} uses {used:?}");
        for name in used {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix).filter(|b| exported.contains(*b)))
                .unwrap_or(&name);
            assert!(exported.contains(base), "{file} uses {name}, which is not exported");
        }
    }
}
