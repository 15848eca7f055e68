//! Configuration: every shipped profile validates, the defaults file matches the code, and a
//! broken configuration reports every problem with its key and origin.

// Helpers of integration tests may unwrap too: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use imsight::config::{Config, ConfigProblems, ConfigSources, LoadedConfig, profiles};

/// Sources that read nothing from the real machine: no `/etc`, no process environment.
fn sources(profile: Option<&str>, file: Option<&Path>, env: &[(&str, &str)]) -> ConfigSources {
    ConfigSources {
        profile: profile.map(str::to_owned),
        file: file.map(Path::to_path_buf),
        system_file: None,
        env: Some(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
    }
}

fn site_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

fn load(profile: Option<&str>, file: Option<&Path>, env: &[(&str, &str)]) -> LoadedConfig {
    sources(profile, file, env).load().unwrap_or_else(|problems| panic!("{problems}"))
}

fn problems(file: Option<&Path>, env: &[(&str, &str)]) -> ConfigProblems {
    sources(None, file, env).load().expect_err("configuration should be rejected")
}

fn keys(problems: &ConfigProblems) -> Vec<&str> {
    problems.problems().iter().map(|p| p.key.as_str()).collect()
}

#[test]
fn every_profile_in_the_folder_is_embedded_and_validates() {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("profiles");
    let mut on_disk: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(|entry| {
            let path = entry.unwrap().path();
            (path.extension()? == "toml")
                .then(|| path.file_stem().unwrap().to_string_lossy().into())
        })
        .collect();
    on_disk.sort();
    let mut embedded: Vec<String> = profiles::names().map(str::to_owned).collect();
    embedded.sort();
    assert_eq!(on_disk, embedded, "profiles/ and the embedded list differ");

    for name in &embedded {
        let text = std::fs::read_to_string(folder.join(format!("{name}.toml"))).unwrap();
        assert_eq!(profiles::embedded(name), Some(text.as_str()), "{name} is stale");
        let loaded = load(Some(name), None, &[]);
        assert_eq!(&loaded.profile, name);
    }
}

#[test]
fn the_defaults_file_and_the_code_agree() {
    assert_eq!(load(None, None, &[]).config, Config::default());
}

#[test]
fn profiles_change_what_they_say() {
    let production = load(Some("production"), None, &[]).config;
    assert_eq!(production.log.format, imsight::config::LogFormat::Json);
    assert_eq!(production.inference.intra_threads, 2);
    assert_eq!(production.mqtt, Config::default().mqtt);
}

#[test]
fn layers_apply_in_order_default_profile_file_environment() {
    let file =
        site_file("[mqtt]\nhost = \"broker.site\"\nport = 1884\n[appliance]\nname = \"site-a\"\n");
    let loaded = load(
        Some("lab"),
        Some(file.path()),
        &[("IMSIGHT__MQTT__PORT", "8883"), ("UNRELATED", "x")],
    );
    let config = loaded.config;
    assert_eq!(config.log.level, "debug", "from the lab profile");
    assert_eq!(config.appliance.name, "site-a", "the site file beats the profile");
    assert_eq!(config.mqtt.host, "broker.site");
    assert_eq!(config.mqtt.port, 8883, "the environment beats the site file");
    assert_eq!(loaded.env_overrides, vec!["IMSIGHT__MQTT__PORT".to_owned()]);
    assert_eq!(loaded.file.as_deref(), Some(file.path()));
}

#[test]
fn an_unknown_key_and_a_wrongly_typed_value_are_both_reported() {
    let file = site_file("[mqtt]\nprot = 1883\n\n[pipeline]\nwindow_minutes = \"sixty\"\n");
    let found = problems(Some(file.path()), &[]);
    assert_eq!(keys(&found), vec!["mqtt.prot", "pipeline.window_minutes"], "{found}");
    let text = found.to_string();
    assert!(text.contains("mqtt.prot: unknown key (expected one of `host`, `port`"), "{text}");
    assert!(
        text.contains("pipeline.window_minutes: expected a whole number, found \"sixty\""),
        "{text}"
    );
    let origin = file.path().canonicalize().unwrap().display().to_string();
    assert!(found.problems().iter().all(|p| p.origin.as_deref() == Some(origin.as_str())));
}

#[test]
fn problems_from_every_layer_and_every_kind_are_listed_at_once() {
    let file = site_file(
        "[appliance]\nname = \"core/1\"\nnickname = \"x\"\n\
         [mqtt]\nusername = \"imsight\"\n\
         [pipeline]\nallowed_lateness_secs = 90\n\
         [unknown_section]\nx = 1\n",
    );
    let found = problems(Some(file.path()), &[("IMSIGHT__INFERENCE__INTRA_THREADS", "many")]);
    let mut found_keys = keys(&found);
    found_keys.sort_unstable();
    assert_eq!(
        found_keys,
        vec![
            "appliance.name",
            "appliance.nickname",
            "inference.intra_threads",
            "mqtt.password",
            "pipeline.allowed_lateness_secs",
            "unknown_section",
        ],
        "{found}"
    );
    let from_env = found.problems().iter().find(|p| p.key == "inference.intra_threads").unwrap();
    assert_eq!(from_env.origin.as_deref(), Some("the environment"));
}

#[test]
fn semantic_checks_see_values_that_parsed() {
    let file = site_file(
        "[inference]\nmax_batch = 0\n[pipeline]\nwindow_minutes = 0\n\
         [mqtt]\ntopic_root = \"/imsight/#\"\nkeep_alive_secs = 1\n[log]\nlevel = \"info,[\"\n",
    );
    let found = problems(Some(file.path()), &[]);
    assert_eq!(
        keys(&found),
        vec![
            "log.level",
            "inference.max_batch",
            "pipeline.window_minutes",
            "mqtt.keep_alive_secs",
            "mqtt.topic_root",
        ],
        "{found}"
    );
}

#[test]
fn a_missing_site_file_or_unknown_profile_is_named() {
    let missing = Path::new("/nonexistent/imsight.toml");
    let found = problems(Some(missing), &[]);
    assert_eq!(keys(&found), vec!["config"]);
    assert!(found.to_string().contains("/nonexistent/imsight.toml does not exist"));

    let found = sources(Some("staging"), None, &[]).load().unwrap_err();
    assert_eq!(keys(&found), vec!["profile"]);
    assert!(found.to_string().contains("available: default, demo, lab, production"));
}

#[test]
fn a_syntax_error_names_the_file_and_line() {
    let file = site_file("[mqtt]\nport = [\n");
    let text = problems(Some(file.path()), &[]).to_string();
    assert!(text.contains(&file.path().display().to_string()), "{text}");
    assert!(text.contains("line 2"), "{text}");
}

#[test]
fn environment_strings_are_converted_to_the_key_type() {
    let env: HashMap<&str, &str> = [
        ("IMSIGHT__INFERENCE__MAX_BATCH", "128"),
        ("IMSIGHT__MQTT__USERNAME", "imsight"),
        ("IMSIGHT__MQTT__PASSWORD", "1234"),
    ]
    .into();
    let env: Vec<(&str, &str)> = env.into_iter().collect();
    let config = load(None, None, &env).config;
    assert_eq!(config.inference.max_batch, 128);
    assert_eq!(config.mqtt.password.as_deref(), Some("1234"), "a numeric secret stays a string");
}

#[test]
fn bad_node_addresses_are_named_where_they_were_written() {
    let file = site_file(
        "[[nodes]]\nname = \"p1\"\naccess = [\"nope\", \"10.0.0.1\", \"alsobad\"]\ncore = [\"1.2.3.4:99999\"]\n\
         [[nodes]]\nname = \"p2\"\naccess = [\"172.20.0.10\"]\ncore = [\"x\"]\n",
    );
    let found = problems(Some(file.path()), &[]);
    assert_eq!(
        keys(&found),
        vec!["nodes[0].access[0]", "nodes[0].access[2]", "nodes[0].core[0]", "nodes[1].core[0]"],
        "{found}"
    );
    assert!(found.to_string().contains("`alsobad` is not an address (ip or ip:port)"), "{found}");
}

/// Values are not coerced: a fraction for a whole number, text for a boolean, a number for a
/// string, out-of-range thread counts; environment text must read exactly as the key's type.
#[test]
fn values_of_the_wrong_type_or_range_are_refused_not_coerced() {
    let file = site_file(
        "[pipeline]\nwindow_minutes = 60.5\nauto_discover_nodes = \"yes\"\n\
         [inference]\nintra_threads = 65535\n[mqtt]\nhost = 5\n",
    );
    let found = problems(
        Some(file.path()),
        &[("IMSIGHT__PIPELINE__MAX_NODES", "12.5"), ("IMSIGHT__INFERENCE__MAX_BATCH", "64")],
    );
    assert_eq!(
        keys(&found),
        vec![
            "mqtt.host",
            "pipeline.auto_discover_nodes",
            "pipeline.max_nodes",
            "pipeline.window_minutes",
            // Range checks run on what parsed, after the type checks.
            "inference.intra_threads",
        ],
        "{found}"
    );
    let text = found.to_string();
    assert!(text.contains("expected a whole number, found `60.5`"), "{text}");
    assert!(text.contains("expected true or false, found \"yes\""), "{text}");
    assert!(text.contains("must be between 1 and 256"), "{text}");
    assert!(text.contains("the environment"), "{text}");
}

#[test]
fn a_directory_given_as_the_site_file_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let found = problems(Some(dir.path()), &[]);
    assert!(found.to_string().contains("is a directory, not a file"), "{found}");
}
