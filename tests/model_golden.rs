//! Every shipped model (`models/<name>/`) against its golden vectors: the embeddings Python's
//! ONNX Runtime gave at export must come out of the Rust `ort` path within the stated tolerance,
//! and the model must be for this binary's feature schema.

mod common;

use std::path::PathBuf;

use common::repo;
use imsight::config::InferenceConfig;
use imsight::infer::{ModelSession, OnnxRuntime};

fn shipped_models() -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> = std::fs::read_dir(repo("models"))
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    folders.retain(|f| f.join("golden.json").is_file());
    folders.sort();
    folders
}

#[test]
fn shipped_models_reproduce_their_golden_embeddings() {
    let models = shipped_models();
    assert!(!models.is_empty(), "no model with golden vectors under models/");
    let config = InferenceConfig::default();
    let runtime = OnnxRuntime::load(&config.onnxruntime_lib)
        .expect("ONNX Runtime (packaging/fetch-onnxruntime)");
    for folder in models {
        let golden: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(folder.join("golden.json")).unwrap())
                .unwrap();
        let path = folder.join(golden["model"].as_str().unwrap());
        let mut model = ModelSession::load(&runtime, &path, &config).unwrap();
        model.check_contract(60).unwrap();
        let metadata = &model.description().metadata;
        assert_eq!(metadata["feature_schema"], imsight::schema::SCHEMA_ID, "{}", path.display());
        assert_eq!(metadata["feature_schema_hash"], imsight::schema::schema_hash());

        let inputs = golden["inputs"].as_array().unwrap();
        let values: Vec<f32> = inputs
            .iter()
            .flat_map(|w| w.as_array().unwrap())
            .flat_map(|m| m.as_array().unwrap())
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let embeddings = model.embed(inputs.len(), 60, &values).unwrap();
        let tolerance = golden["tolerance"].as_f64().unwrap();
        let expected = golden["embeddings"].as_array().unwrap();
        assert_eq!(embeddings.rows().count(), expected.len(), "{}", path.display());
        for (row, (actual, expected)) in embeddings.rows().zip(expected).enumerate() {
            assert_eq!(actual.len(), expected.as_array().unwrap().len(), "row {row} width");
            for (col, (a, e)) in actual.iter().zip(expected.as_array().unwrap()).enumerate() {
                let e = e.as_f64().unwrap();
                let gap = (f64::from(*a) - e).abs();
                assert!(gap <= tolerance, "{}: [{row}][{col}] {a} vs {e}", path.display());
            }
        }
    }
}
