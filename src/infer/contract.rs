//! The model contract between `training/` and the appliance (docs/model-contract.md).

/// Name of the model's input tensor: float32 `[batch, window_minutes, FEATURE_COUNT]` of raw
/// feature values (normalisation lives inside the graph).
pub const INPUT_NAME: &str = "features";
/// Name of the model's output tensor: float32 `[batch, embedding_dim]`.
pub const OUTPUT_NAME: &str = "embedding";
pub use crate::schema::FEATURE_COUNT;
/// Prefix of the ONNX metadata properties the appliance reads.
pub const METADATA_PREFIX: &str = "imsight.";

/// A tensor's element type and shape as the model declares them; `None` for a dynamic
/// dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredTensor {
    /// Tensor name.
    pub name: String,
    /// Element type as ONNX Runtime names it (`f32`, `i64`, ...), or the value kind.
    pub element_type: String,
    /// Dimensions; `None` where symbolic.
    pub shape: Vec<Option<i64>>,
}

/// Checks declared inputs and outputs against the contract for a window of `window_minutes`;
/// returns every mismatch.
pub fn check(
    inputs: &[DeclaredTensor],
    outputs: &[DeclaredTensor],
    window_minutes: u32,
) -> Vec<String> {
    let mut problems = Vec::new();
    let expected_input = [None, Some(i64::from(window_minutes)), Some(FEATURE_COUNT as i64)];
    match inputs {
        [input] if input.name == INPUT_NAME => {
            if input.element_type != "f32" {
                problems
                    .push(format!("input `{INPUT_NAME}` is {}, expected f32", input.element_type));
            }
            let fits = input.shape.len() == 3
                && input.shape.iter().zip(expected_input).all(|(declared, expected)| {
                    declared.is_none() || expected.is_none() || *declared == expected
                });
            if !fits {
                problems.push(format!(
                    "input `{INPUT_NAME}` has shape {}, expected [batch, {window_minutes}, {FEATURE_COUNT}]",
                    shape_text(&input.shape)
                ));
            }
        }
        _ => problems.push(format!(
            "expected exactly one input named `{INPUT_NAME}`, found [{}]",
            names(inputs)
        )),
    }
    match outputs.iter().find(|output| output.name == OUTPUT_NAME) {
        Some(output) => {
            if output.element_type != "f32" {
                problems.push(format!(
                    "output `{OUTPUT_NAME}` is {}, expected f32",
                    output.element_type
                ));
            }
            if output.shape.len() != 2 {
                problems.push(format!(
                    "output `{OUTPUT_NAME}` has shape {}, expected [batch, dim]",
                    shape_text(&output.shape)
                ));
            }
        }
        None => problems
            .push(format!("expected an output named `{OUTPUT_NAME}`, found [{}]", names(outputs))),
    }
    problems
}

/// Checks the model's `imsight.*` metadata (prefix removed): it must be made for this
/// binary's feature schema (id and hash) and for a window of `window_minutes`; returns every
/// mismatch.
pub fn check_metadata(
    metadata: &std::collections::BTreeMap<String, String>,
    window_minutes: u32,
) -> Vec<String> {
    let mut problems = Vec::new();
    let hash = crate::schema::schema_hash();
    let window = window_minutes.to_string();
    for (key, expected, what) in [
        ("feature_schema", crate::schema::SCHEMA_ID, "the feature schema of this binary"),
        (
            "feature_schema_hash",
            hash.as_str(),
            "the feature schema hash of this binary (`imsight features --schema`)",
        ),
        ("window_minutes", window.as_str(), "the configured pipeline.window_minutes"),
    ] {
        match metadata.get(key) {
            None => problems.push(format!(
                "metadata `{METADATA_PREFIX}{key}` is missing; expected {expected} ({what})"
            )),
            Some(found) if found != expected => problems.push(format!(
                "metadata `{METADATA_PREFIX}{key}` is {found}, expected {expected} ({what})"
            )),
            Some(_) => {}
        }
    }
    problems
}

/// `[batch, 60, 130]` style text of a declared shape.
pub fn shape_text(shape: &[Option<i64>]) -> String {
    let dims: Vec<String> =
        shape.iter().map(|d| d.map_or_else(|| "?".to_owned(), |d| d.to_string())).collect();
    format!("[{}]", dims.join(", "))
}

fn names(tensors: &[DeclaredTensor]) -> String {
    tensors.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(name: &str, ty: &str, shape: &[Option<i64>]) -> DeclaredTensor {
        DeclaredTensor { name: name.into(), element_type: ty.into(), shape: shape.to_vec() }
    }

    #[test]
    fn a_conforming_model_has_no_problems() {
        let inputs = [tensor("features", "f32", &[None, Some(60), Some(130)])];
        let outputs = [tensor("embedding", "f32", &[None, Some(10)])];
        assert!(check(&inputs, &outputs, 60).is_empty());
    }

    #[test]
    fn symbolic_window_and_feature_dims_are_accepted() {
        let inputs = [tensor("features", "f32", &[None, None, None])];
        let outputs = [tensor("embedding", "f32", &[None, None])];
        assert!(check(&inputs, &outputs, 60).is_empty());
    }

    #[test]
    fn every_mismatch_is_reported() {
        let inputs = [tensor("x", "f32", &[None, Some(60), Some(132)])];
        let outputs = [tensor("y", "f64", &[None, Some(10)])];
        let problems = check(&inputs, &outputs, 60);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("named `features`, found [x]"));
        assert!(problems[1].contains("named `embedding`, found [y]"));
    }

    #[test]
    fn wrong_window_type_and_rank_are_reported() {
        let inputs = [tensor("features", "f16", &[None, Some(30), Some(130)])];
        let outputs = [tensor("embedding", "f32", &[None, Some(4), Some(10)])];
        let problems = check(&inputs, &outputs, 60);
        assert_eq!(
            problems,
            vec![
                "input `features` is f16, expected f32".to_owned(),
                "input `features` has shape [?, 30, 130], expected [batch, 60, 130]".to_owned(),
                "output `embedding` has shape [?, 4, 10], expected [batch, dim]".to_owned(),
            ]
        );
    }

    #[test]
    fn metadata_must_name_this_binarys_schema_and_window() {
        let mut metadata: std::collections::BTreeMap<String, String> = [
            ("feature_schema", crate::schema::SCHEMA_ID.to_owned()),
            ("feature_schema_hash", crate::schema::schema_hash()),
            ("window_minutes", "60".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert!(check_metadata(&metadata, 60).is_empty());
        metadata.insert("feature_schema_hash".into(), "0000".into());
        metadata.remove("window_minutes");
        let problems = check_metadata(&metadata, 60);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("`imsight.feature_schema_hash` is 0000"), "{problems:?}");
        assert!(problems[1].contains("`imsight.window_minutes` is missing"), "{problems:?}");
    }
}
