//! The profiles shipped in `profiles/`, embedded in the binary so that a bare install (or a
//! fresh checkout) runs with no file on disk.

/// `profiles/default.toml`: every key with its default; always the first layer.
pub const DEFAULT: &str = include_str!("../../profiles/default.toml");

/// Every shipped profile, by name. A test checks this list against the `profiles/` folder.
const PROFILES: &[(&str, &str)] = &[
    ("default", DEFAULT),
    ("demo", include_str!("../../profiles/demo.toml")),
    ("lab", include_str!("../../profiles/lab.toml")),
    ("production", include_str!("../../profiles/production.toml")),
];

/// The text of the profile called `name`.
pub fn embedded(name: &str) -> Option<&'static str> {
    PROFILES.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

/// Names of the shipped profiles.
pub fn names() -> impl Iterator<Item = &'static str> {
    PROFILES.iter().map(|(name, _)| *name)
}
