//! Network profiles: how much traffic of which kind a P-CSCF of a given network sees, and how
//! fast the core answers. Four are built in; a scenario may define its own in TOML.

use serde::{Deserialize, Serialize};

/// A network profile. All rates are per subscriber at the busy hour; the diurnal curve scales
/// them through the day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkProfile {
    /// Name used in scenarios.
    pub name: String,
    /// Subscribers registered on one P-CSCF.
    pub subscribers: u32,
    /// Registration lifetime granted (Expires of the 200 OK), seconds; UEs refresh at 90 %.
    pub registration_expires_s: u32,
    /// UEs that power on (initial registration) per subscriber per hour.
    pub attach_rate: f64,
    /// Call attempts per subscriber per busy hour (both directions).
    pub calls_per_sub_hour: f64,
    /// Share of calls the subscriber places (the rest it receives).
    pub originating_share: f64,
    /// Share of calls using 100rel (183 with PRACK).
    pub prack_share: f64,
    /// Share of 100rel calls that also send UPDATE (preconditions).
    pub update_share: f64,
    /// Call outcomes: busy (486), unavailable (480), unknown number (404), caller gives up
    /// while ringing (CANCEL, 487). The rest are answered.
    pub busy_share: f64,
    /// See `busy_share`.
    pub unavailable_share: f64,
    /// See `busy_share`.
    pub not_found_share: f64,
    /// See `busy_share`.
    pub cancel_share: f64,
    /// Mean holding time of answered calls, seconds.
    pub holding_time_s: f64,
    /// Median ringing time before answer, seconds.
    pub ringing_s: f64,
    /// SMS over IP (MESSAGE) per subscriber per busy hour.
    pub messages_per_sub_hour: f64,
    /// Median core response time (P-CSCF to I/S-CSCF and back), milliseconds.
    pub core_response_ms: f64,
    /// Median response time of REGISTER in the core (I-CSCF, HSS, S-CSCF), milliseconds.
    pub register_response_ms: f64,
    /// Median one-way delay between UE and P-CSCF, milliseconds.
    pub access_delay_ms: f64,
    /// Spread (log-normal sigma) of every delay.
    pub delay_sigma: f64,
    /// Probability that a UDP message on the access side is lost (the sender retransmits).
    pub access_loss: f64,
    /// Relative traffic per hour of day, 24 values, busy hour = 1.
    pub diurnal: Vec<f64>,
    /// Seconds between OPTIONS keep-alives from the P-CSCF to each core peer.
    pub options_interval_s: u32,
}

/// A typical diurnal curve of voice traffic (busy hours late morning and early evening).
const DIURNAL: [f64; 24] = [
    0.18, 0.12, 0.09, 0.08, 0.09, 0.15, 0.30, 0.55, 0.80, 0.93, 1.00, 0.98, 0.92, 0.90, 0.92, 0.95,
    0.97, 0.99, 0.96, 0.88, 0.75, 0.60, 0.42, 0.28,
];

impl NetworkProfile {
    /// The built-in profiles.
    pub fn builtin() -> Vec<NetworkProfile> {
        let base = NetworkProfile {
            name: String::new(),
            subscribers: 10_000,
            registration_expires_s: 3600,
            attach_rate: 0.02,
            calls_per_sub_hour: 0.8,
            originating_share: 0.5,
            prack_share: 0.6,
            update_share: 0.3,
            busy_share: 0.04,
            unavailable_share: 0.06,
            not_found_share: 0.01,
            cancel_share: 0.05,
            holding_time_s: 95.0,
            ringing_s: 6.0,
            messages_per_sub_hour: 0.4,
            core_response_ms: 18.0,
            register_response_ms: 45.0,
            access_delay_ms: 25.0,
            delay_sigma: 0.35,
            access_loss: 0.002,
            diurnal: DIURNAL.to_vec(),
            options_interval_s: 30,
        };
        vec![
            NetworkProfile { name: "small_operator".into(), subscribers: 20_000, ..base.clone() },
            NetworkProfile {
                name: "large_operator".into(),
                subscribers: 100_000,
                registration_expires_s: 1800,
                calls_per_sub_hour: 0.6,
                messages_per_sub_hour: 0.6,
                core_response_ms: 12.0,
                register_response_ms: 35.0,
                access_delay_ms: 18.0,
                delay_sigma: 0.3,
                ..base.clone()
            },
            NetworkProfile {
                name: "enterprise_trunk".into(),
                subscribers: 2_000,
                registration_expires_s: 600,
                attach_rate: 0.001,
                calls_per_sub_hour: 3.5,
                originating_share: 0.45,
                prack_share: 0.1,
                update_share: 0.0,
                busy_share: 0.08,
                unavailable_share: 0.03,
                not_found_share: 0.02,
                cancel_share: 0.07,
                holding_time_s: 180.0,
                ringing_s: 9.0,
                messages_per_sub_hour: 0.0,
                core_response_ms: 25.0,
                access_delay_ms: 8.0,
                access_loss: 0.0005,
                options_interval_s: 15,
                ..base.clone()
            },
            NetworkProfile {
                name: "volte_heavy".into(),
                subscribers: 50_000,
                registration_expires_s: 3600,
                attach_rate: 0.05,
                calls_per_sub_hour: 1.1,
                prack_share: 0.95,
                update_share: 0.8,
                holding_time_s: 75.0,
                messages_per_sub_hour: 1.2,
                access_delay_ms: 35.0,
                delay_sigma: 0.45,
                access_loss: 0.004,
                ..base
            },
        ]
    }

    /// A built-in profile by name.
    pub fn named(name: &str) -> Option<NetworkProfile> {
        Self::builtin().into_iter().find(|p| p.name == name)
    }

    /// Every problem of a profile, prefixed with `key`.
    pub fn problems(&self, key: &str) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, what: &str| {
            if !ok {
                problems.push(format!("{key}: {what}"));
            }
        };
        check(
            self.subscribers >= 1 && self.subscribers <= 2_000_000,
            "subscribers must be 1 to 2000000",
        );
        // Upper bounds keep the traffic model finite and in order: a rate of 1e12 would run for
        // hours with growing memory, a delay of 1e300 would answer before the request.
        check(
            (60..=MAX_EXPIRES_S).contains(&self.registration_expires_s),
            &format!("registration_expires_s must be 60 to {MAX_EXPIRES_S}"),
        );
        check(self.diurnal.len() == 24, "diurnal must have 24 values");
        check(
            self.diurnal.iter().all(|v| v.is_finite() && (0.0..=100.0).contains(v)),
            "diurnal values must be 0 to 100",
        );
        let outcome =
            self.busy_share + self.unavailable_share + self.not_found_share + self.cancel_share;
        check((0.0..=1.0).contains(&outcome), "call outcome shares must add up to at most 1");
        for (name, value) in [
            ("originating_share", self.originating_share),
            ("prack_share", self.prack_share),
            ("update_share", self.update_share),
            ("access_loss", self.access_loss),
            ("busy_share", self.busy_share),
            ("unavailable_share", self.unavailable_share),
            ("not_found_share", self.not_found_share),
            ("cancel_share", self.cancel_share),
        ] {
            check((0.0..=1.0).contains(&value), &format!("{name} must be between 0 and 1"));
        }
        for (name, value, most) in [
            ("attach_rate", self.attach_rate, 10.0),
            ("calls_per_sub_hour", self.calls_per_sub_hour, 60.0),
            ("messages_per_sub_hour", self.messages_per_sub_hour, 60.0),
            ("holding_time_s", self.holding_time_s, 86_400.0),
            ("ringing_s", self.ringing_s, 300.0),
            ("core_response_ms", self.core_response_ms, 10_000.0),
            ("register_response_ms", self.register_response_ms, 10_000.0),
            ("access_delay_ms", self.access_delay_ms, 10_000.0),
            ("delay_sigma", self.delay_sigma, 3.0),
        ] {
            check(
                value.is_finite() && (0.0..=most).contains(&value),
                &format!("{name} must be 0 to {most}"),
            );
        }
        check(self.access_loss < 0.5, "access_loss must be below 0.5");
        check(
            (1..=86_400).contains(&self.options_interval_s),
            "options_interval_s must be 1 to 86400",
        );
        problems
    }
}

/// Longest registration granted: a week.
const MAX_EXPIRES_S: u32 = 7 * 24 * 3600;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_rates_and_delays_are_named() {
        let mut p = NetworkProfile::builtin().remove(0);
        p.calls_per_sub_hour = 1e12;
        p.core_response_ms = 1e300;
        p.delay_sigma = f64::NAN;
        p.registration_expires_s = u32::MAX;
        let problems = p.problems("profiles[0]");
        for key in
            ["calls_per_sub_hour", "core_response_ms", "delay_sigma", "registration_expires_s"]
        {
            assert!(problems.iter().any(|m| m.contains(key)), "{key}: {problems:?}");
        }
    }

    #[test]
    fn builtin_profiles_are_valid_and_differ() {
        let profiles = NetworkProfile::builtin();
        assert!(profiles.len() >= 4);
        for p in &profiles {
            assert!(p.problems(&p.name).is_empty(), "{:?}", p.problems(&p.name));
        }
        let subs: std::collections::BTreeSet<u32> =
            profiles.iter().map(|p| p.subscribers).collect();
        assert_eq!(subs.len(), profiles.len());
    }
}
