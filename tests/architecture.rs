//! The rooms of the crate keep their rules (docs/architecture.md): no import cycles between
//! the top-level modules of `src/`, the leaves import nothing of the crate, sans-IO rooms do no
//! I/O, and only `runtime/` imports actix or tokio.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level room of a file under `src/` (`src/pipeline/reorder.rs` → `pipeline`).
fn room(relative: &Path) -> String {
    let first = relative.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned());
    first.unwrap_or_default().trim_end_matches(".rs").to_owned()
}

fn sources() -> Vec<(String, String)> {
    let root = common::repo("src");
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(&root).expect("under src").to_owned();
                let text = std::fs::read_to_string(&path).expect("readable");
                // Unit tests may read fixtures; the rules are about the product code.
                let product = text.split("#[cfg(test)]").next().unwrap_or_default().to_owned();
                out.push((room(&relative), product));
            }
        }
    }
    out
}

/// The rooms each room names through `crate::ROOM` (tests included: a cycle through a test
/// is still a tangle).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let rooms: BTreeSet<String> = sources().into_iter().map(|(room, _)| room).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (room, text) in sources() {
        let entry = graph.entry(room.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let name: String =
                rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if name != room && rooms.contains(&name) {
                entry.insert(name);
            }
        }
    }
    graph
}

#[test]
fn the_rooms_import_each_other_without_cycles() {
    let graph = imports();
    // Kahn's algorithm: whatever cannot be ordered sits on a cycle.
    let mut remaining = graph.clone();
    loop {
        let leaves: Vec<String> = remaining
            .iter()
            .filter(|(_, deps)| deps.iter().all(|d| !remaining.contains_key(d)))
            .map(|(room, _)| room.clone())
            .collect();
        if leaves.is_empty() {
            break;
        }
        for leaf in leaves {
            remaining.remove(&leaf);
        }
    }
    assert!(remaining.is_empty(), "rooms on an import cycle: {remaining:#?}");
    assert!(graph.len() >= 15, "the walk found the rooms: {graph:?}");
}

#[test]
fn the_leaves_and_the_pure_rooms_stay_pure() {
    let graph = imports();
    for leaf in ["schema", "time"] {
        assert_eq!(graph[leaf], BTreeSet::new(), "{leaf} must import nothing of the crate");
    }
    // Sans-IO rooms: no files, sockets, threads or clocks.
    for (room, text) in sources() {
        let sans_io = [
            "schema",
            "time",
            "correlate",
            "aggregate",
            "pipeline",
            "sample",
            "monitor",
            "lifecycle",
            "decide",
            "matcher",
        ];
        if sans_io.contains(&room.as_str()) {
            for io in ["std::fs", "std::net::UdpSocket", "std::thread", "SystemTime", "Instant"] {
                assert!(!text.contains(io), "{room} is sans-IO but uses {io}");
            }
        }
    }
    assert!(!graph["pipeline"].contains("runtime") && !graph["pipeline"].contains("cli"));
    assert!(!graph["config"].contains("correlate"), "configuration is below the stages");
}

#[test]
fn only_the_runtime_imports_actix_and_tokio() {
    for (room, text) in sources() {
        if room == "runtime" {
            continue;
        }
        for framework in ["actix", "tokio"] {
            assert!(
                !text.contains(&format!("{framework}::"))
                    && !text.contains(&format!("use {framework}")),
                "{room} imports {framework}: only src/runtime/ may"
            );
        }
    }
    let runtime = sources().into_iter().filter(|(room, _)| room == "runtime");
    assert!(runtime.into_iter().any(|(_, text)| text.contains("use actix::")));
}

#[test]
fn the_root_crate_leaves_nom_to_the_parsers() {
    let manifest = std::fs::read_to_string(common::repo("Cargo.toml")).expect("manifest");
    let root_dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|s| s.split("\n[").next())
        .expect("root dependencies");
    assert!(!root_dependencies.contains("nom"), "the root crate must not depend on nom");
    for (room, text) in sources() {
        assert!(!text.contains("nom::"), "{room} uses nom: parsers/ exposes what it needs");
    }
}
