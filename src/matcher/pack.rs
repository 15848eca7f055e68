//! The reference pack file (`references.json`, format `imsight.references/1`, made by
//! `training/imsight_training/evaluate.py`): the shipped global references of a model with
//! the matching parameters they were calibrated with and each reference's provenance.

use std::collections::BTreeMap;

use super::{MatchParams, Reference, ReferenceError, ReferenceSet};

/// The format this build reads and writes.
pub const FORMAT: &str = "imsight.references/1";

/// One reference as the file holds it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PackedReference {
    /// `normal` or a fault kind.
    pub class: String,
    /// The model's embedding.
    pub embedding: Vec<f32>,
    /// Where the window came from (for the shipped pack: simulated scenario, seed, node,
    /// minute, profiles; for enrolled ones: source file, node, minute, who and when).
    #[serde(default)]
    pub provenance: serde_json::Value,
}

/// A whole pack.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReferencePack {
    /// Always [`FORMAT`].
    pub format: String,
    /// Neighbours that vote.
    pub k: usize,
    /// Threshold quantile.
    pub quantile: f64,
    /// Threshold scale.
    pub scale: f64,
    /// The thresholds as the maker calibrated them (recomputed on load; kept for checking).
    #[serde(default)]
    pub thresholds: BTreeMap<String, f64>,
    /// The references.
    pub references: Vec<PackedReference>,
}

/// Why a pack cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// Not JSON of the expected shape (the path inside the document is named).
    #[error("not a reference pack: {0}")]
    Shape(String),
    /// Another format.
    #[error("reference pack format {found:?}; this build reads {FORMAT:?}")]
    Format { found: String },
    /// References that cannot be matched against.
    #[error(transparent)]
    References(#[from] ReferenceError),
}

impl ReferencePack {
    /// Parses a pack, checking its format.
    pub fn from_json(text: &str) -> Result<Self, PackError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let pack: Self = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| PackError::Shape(e.to_string()))?;
        if pack.format != FORMAT {
            return Err(PackError::Format { found: pack.format });
        }
        Ok(pack)
    }

    /// The matching parameters the pack was calibrated with.
    pub fn params(&self) -> MatchParams {
        MatchParams {
            k: self.k,
            quantile: self.quantile,
            scale: self.scale,
            ..MatchParams::default()
        }
    }

    /// The references ready for matching, thresholds calibrated.
    pub fn reference_set(&self) -> Result<ReferenceSet, PackError> {
        let references = self
            .references
            .iter()
            .map(|r| Reference { class: r.class.clone(), embedding: r.embedding.clone() })
            .collect();
        Ok(ReferenceSet::new(self.params(), references)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_pack_and_rejects_other_formats() {
        let text = r#"{"format":"imsight.references/1","k":5,"quantile":0.95,"scale":1.5,
            "references":[{"class":"normal","embedding":[0.0,1.0],"provenance":{"node":1}},
                          {"class":"normal","embedding":[0.0,1.5]}]}"#;
        let pack = ReferencePack::from_json(text).expect("pack");
        let set = pack.reference_set().expect("set");
        assert_eq!(set.len(), 2);
        assert!((set.thresholds()["normal"] - 0.75).abs() < 1e-9);
        let other = text.replace("imsight.references/1", "imsight.references/9");
        assert!(matches!(ReferencePack::from_json(&other), Err(PackError::Format { .. })));
        let broken = text.replace("\"k\":5", "\"k\":\"five\"");
        let err = ReferencePack::from_json(&broken).expect_err("shape").to_string();
        assert!(err.contains('k'), "{err}");
    }
}
