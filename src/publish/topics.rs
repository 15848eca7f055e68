//! The topic tree `{root}/{appliance}/...` (reference: onap-integration §6.2).

/// A node name as a topic level: `[A-Za-z0-9._-]`, anything else becomes `_` (configured
/// names already follow this; names discovered from traffic may not).
pub fn level(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' })
        .collect()
}

/// The topics of one appliance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    base: String,
}

impl Topics {
    /// Topics under `{root}/{appliance}`.
    pub fn new(root: &str, appliance: &str) -> Self {
        Self { base: format!("{}/{}", root.trim_end_matches('/'), level(appliance)) }
    }

    /// Per-minute node state (retained).
    pub fn state(&self, node: &str) -> String {
        format!("{}/state/{}", self.base, level(node))
    }

    /// ONAP control-loop ONSET/ABATED.
    pub fn control_loop(&self, node: &str) -> String {
        format!("{}/onap/cl/{}", self.base, level(node))
    }

    /// VES 7.2.1 fault raise/clear.
    pub fn ves_fault(&self, node: &str) -> String {
        format!("{}/ves/fault/{}", self.base, level(node))
    }

    /// Alertmanager v2 alert.
    pub fn alert(&self, node: &str) -> String {
        format!("{}/alert/{}", self.base, level(node))
    }

    /// `online`, with the last will `offline` (retained).
    pub fn health(&self) -> String {
        format!("{}/health", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_follow_the_tree_and_sanitise_levels() {
        let t = Topics::new("imsight/v1/", "lab-1");
        assert_eq!(t.state("pcscf01"), "imsight/v1/lab-1/state/pcscf01");
        assert_eq!(t.control_loop("pcscf01"), "imsight/v1/lab-1/onap/cl/pcscf01");
        assert_eq!(t.ves_fault("pcscf01"), "imsight/v1/lab-1/ves/fault/pcscf01");
        assert_eq!(t.alert("p cscf/+#"), "imsight/v1/lab-1/alert/p_cscf___");
        assert_eq!(t.health(), "imsight/v1/lab-1/health");
    }
}
