//! Configuration problems, reported all at once.

use std::fmt;

/// One problem: the key path (`mqtt.port`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted key path; empty when the problem is not tied to one key.
    pub key: String,
    /// What is wrong, in words an operator can act on.
    pub message: String,
    /// The layer the offending value came from (a file, or `the environment`), when known.
    pub origin: Option<String>,
}

impl ConfigProblem {
    /// A problem with `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into(), origin: None }
    }

    /// Records the layer the offending value came from.
    pub fn with_origin(mut self, origin: Option<String>) -> Self {
        self.origin = origin;
        self
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)?;
        match &self.origin {
            Some(origin) => write!(f, " (set in {origin})"),
            None => Ok(()),
        }
    }
}

/// Every problem found in a configuration; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigProblems(Vec<ConfigProblem>);

impl ConfigProblems {
    /// Wraps a non-empty list.
    pub fn new(problems: Vec<ConfigProblem>) -> Self {
        debug_assert!(!problems.is_empty());
        Self(problems)
    }

    /// One problem.
    pub fn single(problem: ConfigProblem) -> Self {
        Self(vec![problem])
    }

    /// The problems, in the order found.
    pub fn problems(&self) -> &[ConfigProblem] {
        &self.0
    }
}

impl fmt::Display for ConfigProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        write!(f, "invalid configuration ({count} problem{}):", if count == 1 { "" } else { "s" })?;
        for problem in &self.0 {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}
