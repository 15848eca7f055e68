//! The sample database over a simulated week: the sampler draws from every node's judged
//! windows, the keeper stores them, and retention holds the database under its size bound
//! and its age limit the whole time, without the file growing past the bound's order.

use imsight::decide::Status;
use imsight::judge::{Judgement, MinuteVerdict, Sample};
use imsight::matcher::Verdict;
use imsight::sample::{SampleSettings, Sampler};
use imsight::store::{SampleFilter, SampleKeeper, Store};

const MINUTE: u64 = 60_000_000;
const T0: u64 = 1_764_547_200_000_000; // 2025-12-01T00:00:00Z
const NODES: [&str; 4] = ["pcscf-1", "pcscf-2", "pcscf-3", "pcscf-4"];

/// A judged minute: a fault on one node for 20 minutes every 6 hours, else normal.
fn verdict(node: usize, minute: u64) -> MinuteVerdict {
    let in_fault = minute % 360 >= 100 && minute % 360 < 120 && (minute / 360) as usize % 4 == node;
    MinuteVerdict {
        node: NODES[node].into(),
        minute: T0 + minute * MINUTE,
        status: Status::Normal,
        verdict: Some(Verdict {
            class: if in_fault { "hss_link_down" } else { "normal" }.into(),
            distance: 0.3,
            confidence: 0.9,
            neighbours: Vec::new(),
        }),
        alarm: None,
        explanation: Vec::new(),
    }
}

#[test]
fn retention_holds_the_sample_database_under_its_bound_over_a_week() {
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path()).expect("open");
    let settings =
        SampleSettings { normal_rate: 0.05, max_size_mb: 8, max_age_days: 3, ..Default::default() };
    let sampler = Sampler::new(settings);
    let retention = settings.retention();
    let mut keeper = SampleKeeper::new(retention, serde_json::json!({"source": "test"}));
    let window: Vec<f32> = (0..60 * 130).map(|i| (i % 97) as f32).collect();
    let (mut stored, mut pruned, mut faults_kept) = (0u64, 0usize, 0u64);
    let week = 7 * 24 * 60;
    // One keeper call per hour of judged minutes (the appliance calls it every minute; an
    // hour per transaction keeps this test quick).
    for hour in 0..week / 60 {
        let mut judgements = Vec::new();
        for minute in hour * 60..(hour + 1) * 60 {
            for node in 0..NODES.len() {
                let v = verdict(node, minute);
                let class = v.verdict.as_ref().map(|x| x.class.clone()).unwrap_or_default();
                let keep = sampler.keeps(&v.node, v.minute, &class);
                judgements.push(Judgement::Minute(v.clone()));
                if keep {
                    let rate = sampler.rate(&class);
                    judgements.push(Judgement::Sample(Box::new(Sample {
                        verdict: v,
                        window: window.clone(),
                        model: "m1".into(),
                        rate,
                    })));
                }
            }
        }
        let count = keeper.keep(&store, &mut judgements).expect("keep");
        assert!(judgements.iter().all(|j| matches!(j, Judgement::Minute(_))), "samples taken out");
        for (class, n) in &count.samples {
            stored += n;
            if class != "normal" {
                faults_kept += n;
            }
        }
        let (removed, _) = count.pruned.expect("retention runs every call");
        pruned += removed;
        let newest = T0 + ((hour + 1) * 60 - 1) * MINUTE;
        let all = store.samples(&SampleFilter::default()).expect("list");
        let bytes: u64 = all.iter().map(|s| s.bytes).sum();
        assert!(bytes <= retention.max_bytes, "hour {hour}: {bytes} bytes held");
        assert!(
            all.iter().all(|s| s.minute + retention.max_age_us >= newest),
            "hour {hour}: too old"
        );
    }
    // Every fault window was drawn (28 episodes of 20 minutes), about 5 % of the rest.
    assert_eq!(faults_kept, 28 * 20);
    let normal_minutes = (week * NODES.len() as u64 - 28 * 20) as f64;
    let normal_kept = (stored - faults_kept) as f64;
    assert!(
        (normal_kept / normal_minutes - 0.05).abs() < 0.005,
        "{normal_kept} of {normal_minutes}"
    );
    assert!(pruned > 0 && (stored as usize) > pruned);
    // Far more was written than the bound; the file stays within a small multiple of it.
    let written = stored * 31_200;
    assert!(written > 4 * retention.max_bytes, "{written}");
    let file = std::fs::metadata(store.path()).expect("file").len();
    assert!(
        file < 3 * retention.max_bytes,
        "{file} bytes on disk for a bound of {}",
        retention.max_bytes
    );
}
