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
    /// Registration lifetime granted (Expires of the 200 OK), seconds; UEs refresh 600 s
    /// before it runs out, or half-way when it is 1200 s or less (3GPP TS 24.229).
    pub registration_expires_s: u32,
    /// UEs that power on (initial registration) per subscriber per hour; as many power off.
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
    /// Errors, losses and delays of a normal day (docs/simulator.md cites the defaults).
    #[serde(default)]
    pub background: Background,
    /// How this network's core products behave in faults and under load.
    #[serde(default)]
    pub vendor: Vendor,
    /// How much one run differs from another and one day from the next.
    #[serde(default)]
    pub variety: Variety,
}

/// What goes wrong on a normal day. Shares are of the transactions they apply to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Background {
    /// Core answers 500, 503 or 504 to a request (a busy or restarting core element).
    pub server_error_share: f64,
    /// The core never answers a request (lost in the core, a crashed process).
    pub core_timeout_share: f64,
    /// INVITEs refused with 403 (barred subscriber, no credit).
    pub forbidden_share: f64,
    /// INVITEs refused with 488 (no common codec).
    pub not_acceptable_share: f64,
    /// Calls the callee declines (603).
    pub decline_share: f64,
    /// Calls that ring until the no-answer timer (then 480 from the application server).
    pub no_answer_share: f64,
    /// Seconds a call rings before the no-answer timer ends it.
    pub no_answer_s: f64,
    /// BYEs answered 481 (the other side had already cleared).
    pub gone_share: f64,
    /// Calls the callee's UE rejects with 580 (it could not reserve its radio bearer).
    pub precondition_failure_share: f64,
    /// Requests toward a UE that has lost coverage or power without de-registering: nothing
    /// answers, and the P-CSCF times out toward it.
    pub unreachable_share: f64,
    /// Loss of a message sent to a UE over the radio (the P-CSCF or the UE retransmits).
    pub downlink_loss: f64,
    /// Loss of a message on Mw (the sender retransmits).
    pub core_loss: f64,
    /// Share of terminating requests that find the UE idle, so it must be paged first.
    pub paging_share: f64,
    /// Median paging delay, ms (DRX cycle plus RRC set-up).
    pub paging_ms: f64,
    /// Share of answers delayed by a heavy (Pareto) tail: a slow database, a GC pause.
    pub slow_share: f64,
    /// Share of subscribers switched off at the start (they power on at `attach_rate`).
    pub offline_share: f64,
    /// Network-initiated de-registrations per subscriber per hour (the UE registers again).
    pub network_deregistration_rate: f64,
    /// Hiccups per day: a core element fails for a few seconds (a restart, a pause, a lost
    /// route) and recovers by itself. Labelled with the event `hiccup`.
    pub hiccups_per_day: f64,
}

impl Default for Background {
    fn default() -> Self {
        Self {
            server_error_share: 0.002,
            core_timeout_share: 0.0005,
            forbidden_share: 0.003,
            not_acceptable_share: 0.002,
            decline_share: 0.02,
            no_answer_share: 0.08,
            no_answer_s: 30.0,
            gone_share: 0.003,
            precondition_failure_share: 0.003,
            unreachable_share: 0.005,
            downlink_loss: 0.003,
            core_loss: 0.0002,
            paging_share: 0.6,
            paging_ms: 450.0,
            slow_share: 0.01,
            offline_share: 0.08,
            network_deregistration_rate: 0.0005,
            hiccups_per_day: 8.0,
        }
    }
}

/// Behaviour that differs between core products.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Vendor {
    /// What the I-CSCF answers a REGISTER when the HSS cannot be reached: 480, 500, 403 or 504.
    pub hss_failure_code: u16,
    /// What the P-CSCF does with a call whose media Rx cannot authorise: reject it with 580,
    /// 503 or 488, or 0: let it continue without QoS after the Diameter timeout (a slow set-up).
    pub rx_failure_code: u16,
    /// Failed keep-alives in a row after which the P-CSCF blacklists its S-CSCF and answers 503
    /// itself until a keep-alive succeeds again (0 = never).
    pub blacklist_after_failures: u32,
    /// UEs whose request fails because the S-CSCF is unreachable register again (S-CSCF
    /// restoration, 3GPP TS 24.229 §5.1.2A.1.6, TS 23.380).
    pub scscf_restoration: bool,
    /// Requests per second one UE may send before the P-CSCF's rate limit answers 503 (0 = no
    /// limit).
    pub ue_rate_limit_per_s: f64,
    /// Capacity of the node and its core as a multiple of the busy-hour load.
    pub capacity_headroom: f64,
    /// Granted registration lifetimes are spread down by up to this share, so that refreshes
    /// after a mass registration drift apart (a registrar's `expires_range`).
    pub expires_spread: f64,
    /// Session-Expires of calls (RFC 4028); the caller refreshes with UPDATE at half of it.
    pub session_expires_s: u32,
    /// Share of re-registrations the S-CSCF challenges again (401) before accepting them
    /// (3GPP TS 24.229 leaves re-authentication to the operator).
    pub reauthentication_share: f64,
}

impl Default for Vendor {
    fn default() -> Self {
        Self {
            hss_failure_code: 480,
            rx_failure_code: 580,
            blacklist_after_failures: 0,
            scscf_restoration: true,
            ue_rate_limit_per_s: 5.0,
            capacity_headroom: 2.5,
            expires_spread: 0.1,
            session_expires_s: 1800,
            reauthentication_share: 1.0,
        }
    }
}

/// How runs, days and minutes differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Variety {
    /// Every rate, share and delay of the profile is multiplied by a factor drawn per node and
    /// seed from 1 ± `jitter` (0 = the profile exactly).
    pub jitter: f64,
    /// Spread (log-normal sigma) of the day-to-day traffic multiplier.
    pub day_sigma: f64,
    /// Spread of the minute-to-minute multiplier (slowly varying): counts are over-dispersed,
    /// not Poisson.
    pub minute_sigma: f64,
    /// Traffic on Saturdays, Sundays and holidays relative to a weekday.
    pub weekend_factor: f64,
    /// Skew of per-subscriber activity: 1 = every subscriber alike, 2 = the busiest 1 % of
    /// subscribers make about 10 % of the calls.
    pub activity_skew: f64,
}

impl Default for Variety {
    fn default() -> Self {
        Self {
            jitter: 0.2,
            day_sigma: 0.06,
            minute_sigma: 0.1,
            weekend_factor: 0.75,
            activity_skew: 2.0,
        }
    }
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
            background: Background::default(),
            vendor: Vendor::default(),
            variety: Variety::default(),
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
                background: Background {
                    server_error_share: 0.001,
                    paging_share: 0.5,
                    ..Background::default()
                },
                vendor: Vendor {
                    hss_failure_code: 500,
                    rx_failure_code: 503,
                    blacklist_after_failures: 2,
                    capacity_headroom: 2.0,
                    session_expires_s: 900,
                    reauthentication_share: 0.3,
                    ..Vendor::default()
                },
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
                // A PBX trunk: always reachable (no paging), few switched off, busy on weekdays.
                background: Background {
                    paging_share: 0.0,
                    no_answer_share: 0.05,
                    decline_share: 0.01,
                    offline_share: 0.02,
                    ..Background::default()
                },
                vendor: Vendor {
                    hss_failure_code: 403,
                    rx_failure_code: 488,
                    blacklist_after_failures: 3,
                    ue_rate_limit_per_s: 20.0,
                    capacity_headroom: 3.5,
                    session_expires_s: 600,
                    ..Vendor::default()
                },
                variety: Variety { weekend_factor: 0.3, activity_skew: 1.5, ..Variety::default() },
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
                background: Background {
                    server_error_share: 0.004,
                    downlink_loss: 0.006,
                    paging_share: 0.7,
                    paging_ms: 600.0,
                    ..Background::default()
                },
                vendor: Vendor {
                    rx_failure_code: 0,
                    blacklist_after_failures: 3,
                    reauthentication_share: 0.5,
                    capacity_headroom: 2.2,
                    ..Vendor::default()
                },
                variety: Variety { weekend_factor: 0.85, ..Variety::default() },
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
        let b = &self.background;
        let outcome = self.busy_share
            + self.unavailable_share
            + self.not_found_share
            + self.cancel_share
            + b.decline_share
            + b.no_answer_share
            + b.forbidden_share
            + b.not_acceptable_share
            + b.precondition_failure_share;
        check(
            (0.0..=1.0).contains(&outcome),
            "call outcome shares (with background decline, no-answer, forbidden, not-acceptable and precondition-failure shares) must add up to at most 1",
        );
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
        let b = &self.background;
        for (name, value, most) in [
            ("background.server_error_share", b.server_error_share, 0.5),
            ("background.core_timeout_share", b.core_timeout_share, 0.5),
            ("background.forbidden_share", b.forbidden_share, 0.5),
            ("background.not_acceptable_share", b.not_acceptable_share, 0.5),
            ("background.decline_share", b.decline_share, 0.5),
            ("background.no_answer_share", b.no_answer_share, 0.5),
            ("background.no_answer_s", b.no_answer_s, 300.0),
            ("background.gone_share", b.gone_share, 0.5),
            ("background.precondition_failure_share", b.precondition_failure_share, 0.5),
            ("background.unreachable_share", b.unreachable_share, 0.5),
            ("background.downlink_loss", b.downlink_loss, 0.49),
            ("background.core_loss", b.core_loss, 0.49),
            ("background.paging_share", b.paging_share, 1.0),
            ("background.paging_ms", b.paging_ms, 10_000.0),
            ("background.slow_share", b.slow_share, 0.5),
            ("background.offline_share", b.offline_share, 0.9),
            ("background.network_deregistration_rate", b.network_deregistration_rate, 10.0),
            ("background.hiccups_per_day", b.hiccups_per_day, 1440.0),
            ("vendor.ue_rate_limit_per_s", self.vendor.ue_rate_limit_per_s, 10_000.0),
            ("vendor.expires_spread", self.vendor.expires_spread, 0.5),
            ("vendor.reauthentication_share", self.vendor.reauthentication_share, 1.0),
            ("variety.jitter", self.variety.jitter, 0.5),
            ("variety.day_sigma", self.variety.day_sigma, 1.0),
            ("variety.minute_sigma", self.variety.minute_sigma, 1.0),
            ("variety.weekend_factor", self.variety.weekend_factor, 10.0),
        ] {
            check(
                value.is_finite() && (0.0..=most).contains(&value),
                &format!("{name} must be 0 to {most}"),
            );
        }
        let v = &self.vendor;
        check(
            [480, 500, 403, 504].contains(&v.hss_failure_code),
            "vendor.hss_failure_code must be 480, 500, 403 or 504",
        );
        check(
            [580, 503, 488, 0].contains(&v.rx_failure_code),
            "vendor.rx_failure_code must be 580, 503, 488 or 0 (continue without QoS)",
        );
        check(
            v.blacklist_after_failures <= 100,
            "vendor.blacklist_after_failures must be 0 to 100",
        );
        check(
            b.hiccups_per_day == 0.0 || b.hiccups_per_day >= 0.01,
            "background.hiccups_per_day must be 0 or at least 0.01",
        );
        check(
            v.capacity_headroom.is_finite() && (1.05..=100.0).contains(&v.capacity_headroom),
            "vendor.capacity_headroom must be 1.05 to 100",
        );
        check(
            (90..=86_400).contains(&v.session_expires_s),
            "vendor.session_expires_s must be 90 (RFC 4028's minimum) to 86400",
        );
        check(
            self.variety.activity_skew.is_finite()
                && (1.0..=5.0).contains(&self.variety.activity_skew),
            "variety.activity_skew must be 1 to 5",
        );
        problems
    }

    /// This profile with every rate, share and delay multiplied by its own factor from
    /// 1 ± `variety.jitter`, drawn from `rng`: no two simulated networks alike. Population,
    /// Expires, codes and intervals stay as configured.
    pub fn jittered(&self, rng: &mut crate::sim::rng::Rng) -> NetworkProfile {
        let spread = self.variety.jitter;
        let mut p = self.clone();
        if spread == 0.0 {
            return p;
        }
        let mut f = |value: &mut f64, most: f64| {
            let factor = 1.0 + spread * (2.0 * rng.unit() - 1.0);
            *value = (*value * factor).min(most);
        };
        f(&mut p.attach_rate, 10.0);
        f(&mut p.calls_per_sub_hour, 60.0);
        f(&mut p.originating_share, 1.0);
        f(&mut p.prack_share, 1.0);
        f(&mut p.update_share, 1.0);
        f(&mut p.busy_share, 0.25);
        f(&mut p.unavailable_share, 0.25);
        f(&mut p.not_found_share, 0.25);
        f(&mut p.cancel_share, 0.25);
        f(&mut p.holding_time_s, 86_400.0);
        f(&mut p.ringing_s, 300.0);
        f(&mut p.messages_per_sub_hour, 60.0);
        f(&mut p.core_response_ms, 10_000.0);
        f(&mut p.register_response_ms, 10_000.0);
        f(&mut p.access_delay_ms, 10_000.0);
        f(&mut p.delay_sigma, 3.0);
        f(&mut p.access_loss, 0.49);
        let b = &mut p.background;
        for (value, most) in [
            (&mut b.server_error_share, 0.5),
            (&mut b.core_timeout_share, 0.5),
            (&mut b.forbidden_share, 0.5),
            (&mut b.not_acceptable_share, 0.5),
            (&mut b.decline_share, 0.5),
            (&mut b.no_answer_share, 0.5),
            (&mut b.gone_share, 0.5),
            (&mut b.precondition_failure_share, 0.5),
            (&mut b.unreachable_share, 0.5),
            (&mut b.downlink_loss, 0.49),
            (&mut b.core_loss, 0.49),
            (&mut b.paging_share, 1.0),
            (&mut b.paging_ms, 10_000.0),
            (&mut b.slow_share, 0.5),
            (&mut b.network_deregistration_rate, 10.0),
            (&mut b.hiccups_per_day, 1440.0),
        ] {
            f(value, most);
        }
        f(&mut p.vendor.capacity_headroom, 100.0);
        p.vendor.capacity_headroom = p.vendor.capacity_headroom.max(1.05);
        // Keep the outcome shares a valid distribution.
        let outcome = p.busy_share + p.unavailable_share + p.not_found_share + p.cancel_share;
        let background = p.background.decline_share
            + p.background.no_answer_share
            + p.background.forbidden_share
            + p.background.not_acceptable_share
            + p.background.precondition_failure_share;
        if outcome + background > 1.0 {
            let scale = 1.0 / (outcome + background);
            for share in [
                &mut p.busy_share,
                &mut p.unavailable_share,
                &mut p.not_found_share,
                &mut p.cancel_share,
                &mut p.background.decline_share,
                &mut p.background.no_answer_share,
                &mut p.background.forbidden_share,
                &mut p.background.not_acceptable_share,
                &mut p.background.precondition_failure_share,
            ] {
                *share *= scale;
            }
        }
        p
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
