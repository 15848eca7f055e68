//! Scenarios: a timeline of nodes, their network profile and the faults injected into them,
//! read from TOML and checked with every problem listed at once.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::event::{EventSpec, parse_day};
use super::fault::{ActiveFaults, FaultSpec};
use super::profile::NetworkProfile;

/// A whole simulation run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name, for reports.
    pub name: String,
    /// Wall-clock time of the first simulated instant, RFC 3339 (UTC), on a whole minute.
    pub start: String,
    /// Simulated minutes.
    pub duration_minutes: u32,
    /// Seed; `--seed` overrides it.
    #[serde(default)]
    pub seed: u64,
    /// Default profile of the nodes (built in, or defined under `[[profiles]]`).
    #[serde(default = "default_profile")]
    pub profile: String,
    /// Profiles defined by this scenario.
    #[serde(default)]
    pub profiles: Vec<NetworkProfile>,
    /// The simulated P-CSCFs.
    pub nodes: Vec<ScenarioNode>,
    /// Injected faults; several may overlap on one node.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// Benign events (labelled `normal` with the event's name).
    #[serde(default)]
    pub events: Vec<EventSpec>,
    /// Public holidays, `YYYY-MM-DD`: traffic as on a weekend, labelled with the event
    /// `holiday`.
    #[serde(default)]
    pub holidays: Vec<String>,
}

fn default_profile() -> String {
    "small_operator".to_owned()
}

/// One simulated P-CSCF.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioNode {
    /// Node name (as the appliance will be configured with it).
    pub name: String,
    /// Profile; the scenario's `profile` when absent.
    #[serde(default)]
    pub profile: Option<String>,
    /// Overrides the profile's subscriber count.
    #[serde(default)]
    pub subscribers: Option<u32>,
}

/// A node with its resolved profile and faults.
#[derive(Debug, Clone)]
pub struct ResolvedNode {
    /// Index in the scenario.
    pub index: usize,
    /// Name.
    pub name: String,
    /// Its traffic profile (subscriber override applied).
    pub profile: NetworkProfile,
    /// Its faults, ordered by onset.
    pub faults: Vec<FaultSpec>,
    /// Its benign events, ordered by onset.
    pub events: Vec<EventSpec>,
    /// Holidays, as days since the epoch.
    pub holidays: Vec<u64>,
}

/// The ground truth of one node in one minute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Truth {
    /// `normal` or the dominant fault.
    pub class: &'static str,
    /// The dominant fault's severity × the share of subscribers it hits: the share of the
    /// affected kind of transactions it spoils.
    pub severity: f64,
    /// `onset` (ramping up), `steady`, `recovery` (after the fault, or between the bursts of
    /// a flapping one); `None` when normal.
    pub phase: Option<&'static str>,
    /// A benign event in progress.
    pub event: Option<&'static str>,
}

impl ResolvedNode {
    /// The faults in force in scenario minute `minute`.
    pub fn active(&self, minute: u32) -> ActiveFaults {
        ActiveFaults::at(&self.faults, minute)
    }

    /// The label of `minute` before recovery tails are known (the summary adds them): the
    /// fault with the highest severity × share wins; on a tie, the one listed first.
    pub fn truth(&self, minute: u32, start: u64) -> Truth {
        let mut truth = Truth { class: "normal", severity: 0.0, phase: None, event: None };
        let mut best = -1.0;
        for fault in self.faults.iter().filter(|f| f.minutes().contains(&minute)) {
            let severity = fault.severity_at(minute) * fault.share;
            if severity > best {
                best = severity;
                let phase = if fault.flapped_off(minute) {
                    "recovery"
                } else if fault.ramping(minute) {
                    "onset"
                } else {
                    "steady"
                };
                truth =
                    Truth { class: fault.kind.label(), severity, phase: Some(phase), event: None };
            }
        }
        let day = crate::sim::event::day_of(start + u64::from(minute) * crate::time::MINUTE_US);
        truth.event = self
            .events
            .iter()
            .find(|e| e.minutes().contains(&minute))
            .map(|e| e.kind.label())
            .or_else(|| self.holidays.contains(&day).then_some("holiday"));
        truth
    }
}

/// Most nodes in one scenario: each gets its own access and core subnet.
pub const MAX_NODES: usize = 250;

/// Largest scenario file read.
pub const MAX_SCENARIO_BYTES: u64 = 1024 * 1024;

impl Scenario {
    /// Reads and checks a scenario file (at most [`MAX_SCENARIO_BYTES`]: a scenario is a few
    /// dozen lines, and an endless file must not be read into memory).
    pub fn load(path: &Path) -> Result<Self, Vec<String>> {
        use std::io::Read;
        let cannot = |error: &dyn std::fmt::Display| {
            vec![format!("cannot read {}: {error}", path.display())]
        };
        let file = std::fs::File::open(path).map_err(|e| cannot(&e))?;
        let mut text = String::new();
        file.take(MAX_SCENARIO_BYTES + 1).read_to_string(&mut text).map_err(|e| cannot(&e))?;
        if text.len() as u64 > MAX_SCENARIO_BYTES {
            return Err(cannot(&format!("larger than {MAX_SCENARIO_BYTES} bytes")));
        }
        Self::parse(&text)
    }

    /// Parses and checks scenario text.
    pub fn parse(text: &str) -> Result<Self, Vec<String>> {
        let scenario: Scenario = toml::from_str(text).map_err(|error| vec![error.to_string()])?;
        let problems = scenario.problems();
        if problems.is_empty() { Ok(scenario) } else { Err(problems) }
    }

    /// Start as microseconds since the epoch.
    pub fn start_micros(&self) -> Option<u64> {
        imsight_parsers::xdr::time::parse_timestamp(&self.start)
    }

    /// Every problem, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match self.start_micros() {
            None => problems.push(format!("start: `{}` is not an RFC 3339 time", self.start)),
            Some(start) if start % crate::time::MINUTE_US != 0 => {
                problems.push("start: must be on a whole minute".to_owned());
            }
            Some(_) => {}
        }
        if self.duration_minutes == 0 || self.duration_minutes > 7 * 24 * 60 {
            problems.push("duration_minutes: must be 1 to 10080 (a week)".to_owned());
        }
        for (i, profile) in self.profiles.iter().enumerate() {
            problems.extend(profile.problems(&format!("profiles[{i}] ({})", profile.name)));
        }
        if self.nodes.is_empty() || self.nodes.len() > MAX_NODES {
            // Node i has the addresses 172.20.i.10 and 172.21.i.10.
            problems.push(format!("nodes: 1 to {MAX_NODES} nodes (each has its own addresses)"));
        }
        let mut names = BTreeSet::new();
        for (i, node) in self.nodes.iter().enumerate() {
            // The rule of monitored nodes: a simulated node must be one `features` can map.
            if let Some(problem) = crate::config::node_name_problem(&node.name) {
                problems.push(format!("nodes[{i}].name: {problem}"));
            }
            if !names.insert(node.name.as_str()) {
                problems.push(format!("nodes[{i}].name: `{}` appears twice", node.name));
            }
            let profile = node.profile.as_deref().unwrap_or(&self.profile);
            if self.find_profile(profile).is_none() {
                problems.push(format!(
                    "nodes[{i}].profile: unknown profile `{profile}` (built in: {})",
                    builtin_names()
                ));
            }
            if node.subscribers.is_some_and(|s| s == 0 || s > 2_000_000) {
                problems.push(format!("nodes[{i}].subscribers: must be 1 to 2000000"));
            }
        }
        for (i, fault) in self.faults.iter().enumerate() {
            let key = format!("faults[{i}]");
            if !names.contains(fault.node.as_str()) {
                problems.push(format!("{key}.node: unknown node `{}`", fault.node));
            }
            problems.extend(fault.problems(&key));
            // Checked arithmetic: an onset of 2^32-1 must not wrap into range.
            if fault
                .onset_minute
                .checked_add(fault.duration_minutes)
                .is_none_or(|end| end > self.duration_minutes)
            {
                problems.push(format!("{key}: ends after the scenario"));
            }
        }
        for (i, event) in self.events.iter().enumerate() {
            let key = format!("events[{i}]");
            if !names.contains(event.node.as_str()) {
                problems.push(format!("{key}.node: unknown node `{}`", event.node));
            }
            problems.extend(event.problems(&key));
            if event
                .onset_minute
                .checked_add(event.duration_minutes)
                .is_none_or(|end| end > self.duration_minutes)
            {
                problems.push(format!("{key}: ends after the scenario"));
            }
        }
        for (i, node) in self.nodes.iter().enumerate() {
            // UE addresses give a node 2^20 subscribers, growth included.
            let profile = node.profile.as_deref().unwrap_or(&self.profile);
            let base =
                node.subscribers.or_else(|| self.find_profile(profile).map(|p| p.subscribers));
            let growth: f64 = self
                .events
                .iter()
                .filter(|e| {
                    e.node == node.name && e.kind == crate::sim::event::BenignKind::SubscriberGrowth
                })
                .map(|e| e.magnitude())
                .sum();
            if base.is_some_and(|b| f64::from(b) * (1.0 + growth) > 1_048_575.0) {
                problems.push(format!(
                    "nodes[{i}]: at most 1048575 subscribers, those of growth events included"
                ));
            }
        }
        for (i, day) in self.holidays.iter().enumerate() {
            if parse_day(day).is_none() {
                problems.push(format!("holidays[{i}]: `{day}` is not a date (YYYY-MM-DD)"));
            }
        }
        problems
    }

    fn find_profile(&self, name: &str) -> Option<NetworkProfile> {
        self.profiles
            .iter()
            .find(|p| p.name == name)
            .cloned()
            .or_else(|| NetworkProfile::named(name))
    }

    /// The scenario's P-CSCFs as monitored nodes: each with its access and core address and
    /// its HEP agent name (what `imsight simulate --nodes` writes).
    pub fn monitored_nodes(&self) -> Vec<crate::config::NodeConfig> {
        use crate::config::{NodeAddress, NodeConfig};
        use crate::sim::wire::{pcscf_access, pcscf_core};
        self.resolve()
            .iter()
            .map(|node| NodeConfig {
                name: node.name.clone(),
                access: vec![NodeAddress::Ip(pcscf_access(node.index as u16).into())],
                core: vec![NodeAddress::Ip(pcscf_core(node.index as u16).into())],
                capture_ids: Vec::new(),
                hep_names: vec![node.name.clone()],
            })
            .collect()
    }

    /// The nodes with their profiles and faults (call after a successful check).
    pub fn resolve(&self) -> Vec<ResolvedNode> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(index, node)| {
                let name = node.profile.as_deref().unwrap_or(&self.profile);
                let mut profile =
                    self.find_profile(name).unwrap_or_else(|| NetworkProfile::builtin().remove(0));
                if let Some(subscribers) = node.subscribers {
                    profile.subscribers = subscribers;
                }
                let mut faults: Vec<FaultSpec> =
                    self.faults.iter().filter(|f| f.node == node.name).cloned().collect();
                faults.sort_by_key(|f| f.onset_minute);
                let mut events: Vec<EventSpec> =
                    self.events.iter().filter(|e| e.node == node.name).cloned().collect();
                events.sort_by_key(|e| e.onset_minute);
                let holidays = self.holidays.iter().filter_map(|d| parse_day(d)).collect();
                ResolvedNode { index, name: node.name.clone(), profile, faults, events, holidays }
            })
            .collect()
    }
}

fn builtin_names() -> String {
    NetworkProfile::builtin().iter().map(|p| p.name.clone()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {

    #[test]
    fn absurd_scenarios_are_refused_with_their_key() {
        let many: String = (0..300).map(|i| format!("{{ name = \"p{i}\" }},")).collect();
        let text = format!(
            "name = \"x\"\nstart = \"2026-11-21T09:00:00Z\"\nduration_minutes = 60\nnodes = [{many}]\n\
             faults = [{{ node = \"p0\", kind = \"scscf_down\", onset_minute = 4294967295, duration_minutes = 2, severity = 1.0 }},\
             {{ node = \"p1\", kind = \"scscf_down\", onset_minute = 1, ramp_minutes = 9, duration_minutes = 2, severity = 1.0 }}]\n"
        );
        let problems = Scenario::parse(&text).unwrap_err();
        for expected in
            ["nodes: 1 to 250", "faults[0]: ends after the scenario", "faults[1].ramp_minutes"]
        {
            assert!(problems.iter().any(|p| p.starts_with(expected)), "{expected}: {problems:?}");
        }
    }

    #[test]
    fn an_oversized_scenario_file_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.toml");
        std::fs::write(&path, "#".repeat(MAX_SCENARIO_BYTES as usize + 10)).unwrap();
        let problems = Scenario::load(&path).unwrap_err();
        assert!(problems[0].contains("larger than 1048576 bytes"), "{problems:?}");
    }

    use super::*;

    #[test]
    fn every_problem_is_listed() {
        let text = r#"
            name = "bad"
            start = "2026-11-21T08:00:30Z"
            duration_minutes = 60
            nodes = [{ name = "a" }, { name = "a", profile = "nope" }]
            [[faults]]
            node = "b"
            kind = "hss_link_down"
            onset_minute = 50
            duration_minutes = 20
            severity = 1.5
            [[faults]]
            node = "a"
            kind = "invite_flood"
            onset_minute = 10
            duration_minutes = 10
            severity = 0.5
            [[faults]]
            node = "a"
            kind = "capacity_limit"
            onset_minute = 15
            duration_minutes = 10
            severity = 0.5
            share = 0.0
            flap_on_minutes = 2
            [[faults]]
            node = "a"
            kind = "traffic_blocked"
            onset_minute = 30
            duration_minutes = 10
            severity = 0.5
            flap_on_minutes = 4294967295
            flap_off_minutes = 1
            [[events]]
            node = "a"
            kind = "flash_crowd"
            onset_minute = 55
            duration_minutes = 10
            magnitude = 50.0
        "#;
        let problems = Scenario::parse(text).unwrap_err();
        let joined = problems.join("\n");
        for expected in [
            "start: must be on a whole minute",
            "nodes[1].name: `a` appears twice",
            "nodes[1].profile: unknown profile `nope`",
            "faults[0].node: unknown node `b`",
            "faults[0].severity",
            "faults[0]: ends after the scenario",
            "faults[2].share",
            "faults[2]: flap_on_minutes and flap_off_minutes go together",
            "faults[3]: flap_on_minutes + flap_off_minutes must not exceed duration_minutes",
            "events[0].magnitude: must be 1 to 20 for flash_crowd",
            "events[0]: ends after the scenario",
        ] {
            assert!(joined.contains(expected), "missing {expected:?} in\n{joined}");
        }
    }

    #[test]
    fn an_unknown_fault_kind_is_a_parse_error() {
        let text = r#"
            name = "x"
            start = "2026-11-21T08:00:00Z"
            duration_minutes = 5
            nodes = [{ name = "a" }]
            faults = [{ node = "a", kind = "meteor_strike", onset_minute = 1, duration_minutes = 1, severity = 1.0 }]
        "#;
        let problems = Scenario::parse(text).unwrap_err();
        assert!(problems[0].contains("meteor_strike"), "{problems:?}");
    }

    #[test]
    fn overlapping_faults_are_labelled_by_the_strongest_and_events_by_name() {
        let text = r#"
            name = "x"
            start = "2026-12-24T23:00:00Z"
            duration_minutes = 120
            holidays = ["2026-12-25"]
            nodes = [{ name = "a" }]
            [[faults]]
            node = "a"
            kind = "capacity_limit"
            onset_minute = 10
            ramp_minutes = 5
            duration_minutes = 30
            severity = 0.9
            [[faults]]
            node = "a"
            kind = "hss_link_down"
            onset_minute = 20
            duration_minutes = 10
            severity = 1.0
            share = 0.5
            [[events]]
            node = "a"
            kind = "flash_crowd"
            onset_minute = 0
            duration_minutes = 15
        "#;
        let scenario = Scenario::parse(text).expect("valid");
        let start = scenario.start_micros().unwrap();
        let node = &scenario.resolve()[0];
        let at = |m| node.truth(m, start);
        assert_eq!((at(5).class, at(5).phase, at(5).event), ("normal", None, Some("flash_crowd")));
        assert_eq!((at(11).class, at(11).phase), ("capacity_limit", Some("onset")));
        assert_eq!((at(11).event, at(16).phase), (Some("flash_crowd"), Some("steady")));
        // 0.9 beats 1.0 × a share of 0.5.
        assert_eq!((at(25).class, at(25).severity), ("capacity_limit", 0.9));
        assert_eq!((at(70).class, at(70).event), ("normal", Some("holiday")));
        assert_eq!(at(50).event, None, "Christmas Eve is not listed");
    }
}
