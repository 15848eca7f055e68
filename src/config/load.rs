//! Layered loading: embedded defaults, a profile, the site file, the environment.
//!
//! The layers are merged by the `config` crate into one tree, which is then deserialized
//! into [`Config`]. Deserialization stops at the first error, so [`collect_problems`] repeats
//! it: each error is recorded with its key path, the offending key is taken out of the tree
//! (its built-in default applies), and the next attempt finds the next problem. The operator
//! sees every problem of the files at once instead of fixing them one run at a time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use config::{Environment, File, FileFormat, Map, Source, Value, ValueKind};
use serde_path_to_error::Segment;

use super::problems::{ConfigProblem, ConfigProblems};
use super::profiles;
use super::sections::Config;
use super::validate::validate;

/// The site file read when no `--config` is given (and only if it exists).
pub const SYSTEM_CONFIG_FILE: &str = "/etc/imsight/imsight.toml";

/// Prefix and separator of configuration environment variables: `IMSIGHT__MQTT__HOST`.
const ENV_PREFIX: &str = "IMSIGHT";
const ENV_SEPARATOR: &str = "__";

/// Upper bound on repeated deserialization attempts; each attempt removes one bad key, so this
/// is also the most problems reported.
const MAX_PROBLEMS: usize = 100;

/// Where the configuration comes from. Tests build it by hand so they never read the real
/// environment or `/etc`.
#[derive(Debug, Clone)]
pub struct ConfigSources {
    /// A profile from `profiles/`, layered over the defaults (`default` adds nothing).
    pub profile: Option<String>,
    /// The site file given with `--config`; it must exist.
    pub file: Option<PathBuf>,
    /// The site file read when `file` is `None`, if it exists.
    pub system_file: Option<PathBuf>,
    /// Environment variables; `None` reads the process environment.
    pub env: Option<HashMap<String, String>>,
}

impl Default for ConfigSources {
    fn default() -> Self {
        Self {
            profile: None,
            file: None,
            system_file: Some(PathBuf::from(SYSTEM_CONFIG_FILE)),
            env: None,
        }
    }
}

/// A configuration that loaded and validated, with where it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The effective configuration.
    pub config: Config,
    /// The profile applied over the defaults.
    pub profile: String,
    /// The site file that was read, if any.
    pub file: Option<PathBuf>,
    /// Names of the `IMSIGHT__*` environment variables that were applied.
    pub env_overrides: Vec<String>,
}

impl ConfigSources {
    /// Merges the layers, deserializes and validates; every problem found is returned at once.
    pub fn load(&self) -> Result<LoadedConfig, ConfigProblems> {
        let profile_name = self.profile.clone().unwrap_or_else(|| "default".to_owned());
        let Some(profile_text) = profiles::embedded(&profile_name) else {
            return Err(ConfigProblems::single(ConfigProblem::new(
                "profile",
                format!(
                    "unknown profile `{profile_name}`; available: {}",
                    profiles::names().collect::<Vec<_>>().join(", ")
                ),
            )));
        };
        let file = match (&self.file, &self.system_file) {
            (Some(file), _) => {
                if !file.is_file() {
                    let what = if file.is_dir() {
                        "is a directory, not a file"
                    } else if file.exists() {
                        "is not a regular file"
                    } else {
                        "does not exist"
                    };
                    return Err(ConfigProblems::single(ConfigProblem::new(
                        "config",
                        format!("configuration file {} {what}", file.display()),
                    )));
                }
                Some(file.clone())
            }
            (None, Some(system)) if system.is_file() => Some(system.clone()),
            (None, _) => None,
        };

        let env_overrides = self.env_override_names();
        let mut builder = config::Config::builder()
            .add_source(File::from_str(profiles::DEFAULT, FileFormat::Toml))
            .add_source(File::from_str(profile_text, FileFormat::Toml));
        if let Some(file) = &file {
            builder = builder.add_source(File::from(file.as_path()).format(FileFormat::Toml));
        }
        builder = builder.add_source(
            Environment::with_prefix(ENV_PREFIX)
                .prefix_separator(ENV_SEPARATOR)
                .separator(ENV_SEPARATOR)
                .source(self.env.as_ref().map(|env| env.clone().into_iter().collect())),
        );
        let merged = builder.build().map_err(|error| {
            ConfigProblems::single(ConfigProblem::new(file_key(file.as_deref()), error.to_string()))
        })?;
        // `collect` keeps each value's origin (which file, or the environment).
        let tree: Map<String, Value> = merged
            .collect()
            .map_err(|error| ConfigProblems::single(ConfigProblem::new("", error.to_string())))?;

        let mut tree = tree;
        let mut problems = strict_types(&mut tree);
        let (config, more) = collect_problems(tree);
        problems.extend(more);
        problems.sort_by(|a, b| a.key.cmp(&b.key));
        problems.extend(validate(&config));
        if !problems.is_empty() {
            return Err(ConfigProblems::new(problems));
        }
        Ok(LoadedConfig { config, profile: profile_name, file, env_overrides })
    }

    fn env_override_names(&self) -> Vec<String> {
        let prefix = format!("{ENV_PREFIX}{ENV_SEPARATOR}");
        let mut names: Vec<String> = match &self.env {
            Some(env) => env.keys().filter(|k| k.starts_with(&prefix)).cloned().collect(),
            None => std::env::vars().map(|(k, _)| k).filter(|k| k.starts_with(&prefix)).collect(),
        };
        names.sort();
        names
    }
}

fn file_key(file: Option<&Path>) -> String {
    file.map(|f| f.display().to_string()).unwrap_or_default()
}

/// Where environment values come from, as the `config` crate names it.
const ENVIRONMENT_ORIGIN: &str = "the environment";

/// The `config` crate converts between types silently (`60.5` for an integer becomes 61,
/// `"yes"` for a boolean becomes true). A value written in a file must have the key's own type;
/// an environment variable, always text, must read as that type exactly. Every value that does
/// not is reported (with its origin) and taken out, so its default applies.
fn strict_types(tree: &mut Map<String, Value>) -> Vec<ConfigProblem> {
    let Ok(toml::Value::Table(expected)) = toml::Value::try_from(Config::default()) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    check_table(tree, &expected, "", &mut problems);
    problems
}

fn check_table(
    tree: &mut Map<String, Value>,
    expected: &toml::Table,
    prefix: &str,
    problems: &mut Vec<ConfigProblem>,
) {
    let mut wrong = Vec::new();
    for (key, value) in tree.iter_mut() {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        let Some(want) = expected.get(key) else { continue };
        let from_env = value.origin() == Some(ENVIRONMENT_ORIGIN);
        let text = match &value.kind {
            ValueKind::String(text) if from_env => Some(text.clone()),
            _ => None,
        };
        let problem = match (want, &mut value.kind) {
            (toml::Value::Table(inner), ValueKind::Table(table)) => {
                check_table(table, inner, &path, problems);
                None
            }
            (toml::Value::Integer(_), ValueKind::I64(_) | ValueKind::U64(_))
            | (toml::Value::Integer(_), ValueKind::I128(_) | ValueKind::U128(_))
            | (toml::Value::Boolean(_), ValueKind::Boolean(_))
            | (toml::Value::Float(_), ValueKind::Float(_) | ValueKind::I64(_))
            | (toml::Value::String(_), ValueKind::String(_)) => None,
            (toml::Value::Integer(_), _)
                if text.as_deref().is_some_and(|t| t.parse::<i64>().is_ok()) =>
            {
                None
            }
            (toml::Value::Boolean(_), _) if matches!(text.as_deref(), Some("true" | "false")) => {
                None
            }
            (toml::Value::Float(_), _)
                if text.as_deref().is_some_and(|t| t.parse::<f64>().is_ok()) =>
            {
                None
            }
            (toml::Value::Integer(_), kind) => {
                Some(format!("expected a whole number, found {}", kind_name(kind)))
            }
            (toml::Value::Boolean(_), kind) => {
                Some(format!("expected true or false, found {}", kind_name(kind)))
            }
            (toml::Value::Float(_), kind) => {
                Some(format!("expected a number, found {}", kind_name(kind)))
            }
            (toml::Value::String(_), kind) => {
                Some(format!("expected a string, found {}", kind_name(kind)))
            }
            _ => None,
        };
        if let Some(message) = problem {
            let origin = value.origin().map(origin_text);
            problems.push(ConfigProblem::new(path, message).with_origin(origin));
            wrong.push(key.clone());
        }
    }
    for key in wrong {
        tree.remove(&key);
    }
}

fn kind_name(kind: &ValueKind) -> String {
    match kind {
        ValueKind::Nil => "nothing".to_owned(),
        ValueKind::Boolean(b) => format!("`{b}`"),
        ValueKind::I64(n) => format!("`{n}`"),
        ValueKind::I128(n) => format!("`{n}`"),
        ValueKind::U64(n) => format!("`{n}`"),
        ValueKind::U128(n) => format!("`{n}`"),
        ValueKind::Float(x) => format!("`{x}`"),
        ValueKind::String(text) => format!("\"{}\"", text.escape_debug()),
        ValueKind::Table(_) => "a table".to_owned(),
        ValueKind::Array(_) => "a list".to_owned(),
    }
}

/// Deserializes `tree` into a [`Config`], collecting every unknown key and wrongly typed value
/// instead of stopping at the first. Bad keys fall back to their defaults in the returned
/// config, so later semantic validation still sees a complete configuration.
pub fn collect_problems(mut tree: Map<String, Value>) -> (Config, Vec<ConfigProblem>) {
    let mut problems = Vec::new();
    // Array elements taken out so far, by array (in original indexes): the elements after
    // them have moved up, and problems must name them where the operator wrote them.
    let mut removed: HashMap<String, Vec<usize>> = HashMap::new();
    for _ in 0..MAX_PROBLEMS {
        let value = Value::new(None, ValueKind::Table(tree.clone()));
        match serde_path_to_error::deserialize::<_, Config>(value) {
            Ok(config) => {
                // The merged tree has no stable order; sorted output reads and diffs better.
                problems.sort_by(|a: &ConfigProblem, b| a.key.cmp(&b.key));
                return (config, problems);
            }
            Err(error) => {
                let mut path: Vec<PathPart> = error.path().iter().map(PathPart::from).collect();
                let message = error.inner().to_string();
                let message = match unknown_field(&message) {
                    Some(field) => {
                        // Depending on where the key was rejected, the path may stop at
                        // the parent table.
                        if path.last() != Some(&PathPart::Key(field.to_owned())) {
                            path.push(PathPart::Key(field.to_owned()));
                        }
                        format!("unknown key{}", expected_keys(&strip_key_suffix(&message)))
                    }
                    None => strip_key_suffix(&message),
                };
                let original = original_path(&path, &removed);
                let current: Vec<String> = path.iter().map(PathPart::to_string).collect();
                let taken = remove_path(&mut tree, &current);
                if let (Some(_), Some((PathPart::Index(index), array))) =
                    (&taken, original.split_last())
                {
                    let gone = removed.entry(key_text(array)).or_default();
                    gone.push(*index);
                    gone.sort_unstable();
                }
                let origin = taken.as_ref().and_then(|value| value.origin()).map(origin_text);
                problems.push(ConfigProblem::new(key_text(&original), message).with_origin(origin));
                if taken.is_none() {
                    break;
                }
            }
        }
    }
    // Too many problems, or one that removing keys cannot fix: report what was found.
    (Config::default(), problems)
}

/// The `config` crate names a file origin relative to the working directory (`../../x.toml`);
/// show the absolute path instead.
fn origin_text(origin: &str) -> String {
    std::fs::canonicalize(origin)
        .map_or_else(|_| origin.to_owned(), |path| path.display().to_string())
}

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PathPart {
    Key(String),
    Index(usize),
}

impl From<&Segment> for PathPart {
    fn from(segment: &Segment) -> Self {
        match segment {
            Segment::Seq { index } => Self::Index(*index),
            Segment::Map { key } => Self::Key(key.clone()),
            Segment::Enum { variant } => Self::Key(variant.clone()),
            Segment::Unknown => Self::Key("?".to_owned()),
        }
    }
}

impl std::fmt::Display for PathPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Key(key) => f.write_str(key),
            Self::Index(index) => write!(f, "{index}"),
        }
    }
}

/// The key as the documentation writes it: `nodes[0].access[2]`.
fn key_text(path: &[PathPart]) -> String {
    let mut text = String::new();
    for part in path {
        match part {
            PathPart::Key(key) => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            PathPart::Index(index) => text.push_str(&format!("[{index}]")),
        }
    }
    text
}

/// `path` with every array index moved back past the elements removed before it.
fn original_path(path: &[PathPart], removed: &HashMap<String, Vec<usize>>) -> Vec<PathPart> {
    let mut original: Vec<PathPart> = Vec::with_capacity(path.len());
    for part in path {
        let part = match part {
            PathPart::Index(index) => {
                let mut index = *index;
                for gone in removed.get(&key_text(&original)).into_iter().flatten() {
                    if *gone <= index {
                        index += 1;
                    }
                }
                PathPart::Index(index)
            }
            key => key.clone(),
        };
        original.push(part);
    }
    original
}

/// `unknown field `foo`, expected one of ...` → `foo`.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// ", expected one of `a`, `b`" → " (expected one of `a`, `b`)".
fn expected_keys(message: &str) -> String {
    match message.split_once(", expected ") {
        Some((_, expected)) => format!(" (expected {expected})"),
        None => String::new(),
    }
}

/// The `config` crate appends ` for key `...`` to some messages; the path is already shown.
fn strip_key_suffix(message: &str) -> String {
    match message.find(" for key `") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// Removes the value at `path` and returns it. An empty path (the root itself is wrong)
/// removes nothing.
fn remove_path(table: &mut Map<String, Value>, path: &[String]) -> Option<Value> {
    let (first, rest) = path.split_first()?;
    if rest.is_empty() {
        return table.remove(first);
    }
    match &mut table.get_mut(first)?.kind {
        ValueKind::Table(inner) => remove_path(inner, rest),
        ValueKind::Array(items) => remove_in_array(items, rest),
        _ => None,
    }
}

fn remove_in_array(items: &mut Vec<Value>, path: &[String]) -> Option<Value> {
    let (index, rest) = path.split_first()?;
    let index = index.parse::<usize>().ok().filter(|&i| i < items.len())?;
    if rest.is_empty() {
        return Some(items.remove(index));
    }
    match &mut items[index].kind {
        ValueKind::Table(inner) => remove_path(inner, rest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(toml: &str) -> Map<String, Value> {
        config::Config::builder()
            .add_source(File::from_str(toml, FileFormat::Toml))
            .build()
            .unwrap()
            .collect()
            .unwrap()
    }

    #[test]
    fn unknown_field_messages_are_parsed() {
        let message = "unknown field `prot`, expected one of `host`, `port` for key `mqtt`";
        assert_eq!(unknown_field(message), Some("prot"));
        assert_eq!(expected_keys(&strip_key_suffix(message)), " (expected one of `host`, `port`)");
        assert_eq!(unknown_field("invalid type: string"), None);
    }

    #[test]
    fn remove_path_descends_tables_and_arrays() {
        let mut t = tree("[a]\nb = 1\nc = [{ d = 1, e = 2 }, { d = 3 }]\n");
        assert!(remove_path(&mut t, &["a".into(), "c".into(), "0".into(), "e".into()]).is_some());
        assert!(remove_path(&mut t, &["a".into(), "c".into(), "1".into()]).is_some());
        assert!(remove_path(&mut t, &["a".into(), "c".into(), "7".into()]).is_none());
        assert!(remove_path(&mut t, &["a".into(), "b".into(), "x".into()]).is_none());
        assert!(remove_path(&mut t, &[]).is_none());
        let ValueKind::Table(a) = &t["a"].kind else { panic!("a is a table") };
        let ValueKind::Array(c) = &a["c"].kind else { panic!("c is an array") };
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn bad_keys_fall_back_to_their_defaults() {
        let (config, problems) = collect_problems(tree(
            "[mqtt]\nport = \"x\"\nhost = \"b\"\n[http]\nlisten = \"nope\"\n",
        ));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].key, "http.listen");
        assert_eq!(problems[1].key, "mqtt.port");
        assert_eq!(config.mqtt.port, 1883);
        assert_eq!(config.mqtt.host, "b", "good keys beside bad ones are kept");
    }

    #[test]
    fn a_section_of_the_wrong_type_is_reported_once() {
        let (_, problems) = collect_problems(tree("mqtt = 5\n"));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "mqtt");
    }
}
