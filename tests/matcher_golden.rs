//! Every shipped model's golden verdicts (`models/<name>/golden-verdicts.json`, made by the
//! training side with the rule of docs/matching.md) through the Rust matcher: the same class
//! for every query, the same nearest distance and confidence, and the same thresholds as the
//! pack records.

mod common;

use common::repo;
use imsight::matcher::pack::ReferencePack;

#[test]
fn shipped_reference_packs_give_the_golden_verdicts() {
    let mut checked = 0;
    let mut folders: Vec<_> = std::fs::read_dir(repo("models"))
        .expect("models/")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    folders.sort();
    for folder in folders.iter().filter(|f| f.join("golden-verdicts.json").is_file()) {
        let golden: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(folder.join("golden-verdicts.json")).expect("read"),
        )
        .expect("json");
        let pack_path = folder.join(golden["references"].as_str().expect("references"));
        let pack = ReferencePack::from_json(&std::fs::read_to_string(&pack_path).expect("read"))
            .expect("pack");
        let set = pack.reference_set().expect("set");
        for (class, tau) in &pack.thresholds {
            let ours = set.thresholds()[class];
            assert!(
                (ours - tau).abs() <= 1e-4 * tau.max(1.0),
                "{}: τ_{class} {ours} vs {tau}",
                pack_path.display()
            );
        }
        let queries = golden["queries"].as_array().expect("queries");
        let expected = golden["expected"].as_array().expect("expected");
        assert!(!queries.is_empty());
        for (i, (q, e)) in queries.iter().zip(expected).enumerate() {
            let q: Vec<f32> = q
                .as_array()
                .expect("query")
                .iter()
                .map(|v| v.as_f64().expect("number") as f32)
                .collect();
            let verdict = set.judge(&q).expect("a verdict");
            let context = format!("{} query {i}", folder.display());
            assert_eq!(verdict.class, e["class"].as_str().expect("class"), "{context}");
            let distance = e["distance"].as_f64().expect("distance");
            assert!(
                (verdict.distance - distance).abs() <= 1e-4,
                "{context}: distance {} vs {distance}",
                verdict.distance
            );
            let confidence = e["confidence"].as_f64().expect("confidence");
            assert!(
                (verdict.confidence - confidence).abs() <= 1e-3,
                "{context}: confidence {} vs {confidence}",
                verdict.confidence
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no golden verdicts under models/");
}
