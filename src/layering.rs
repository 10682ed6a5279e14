//! The dependency rule of the module tree, checked: each top-level module imports only from the layers
//! before it, so there is no import cycle, and the connection engine cannot reach into the site layer.
//!
//! docs/architecture.md states the rule; this test keeps the statement true as the code changes.

use std::fs;
use std::path::Path;

/// Top-level modules from the bottom layer up. A module may use `crate::X` only for an X listed before it.
const LAYERS: &[&str] = &[
    "sys", "http", "ops", "shm", "channel", "logging", "config", "confine", "listen", "probe", "compress", "engine",
    "site", "worker", "master",
];

/// Modules outside the rule: the crate root and test-only modules.
const EXEMPT: &[&str] = &["lib", "proptests", "layering"];

/// Every `crate::name` a source text refers to, including the members of `crate::{a, b::c}` groups.
fn crate_refs(text: &str) -> Vec<String> {
    let mut refs = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for member in group[..end].split(',') {
                let name: String = member.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                refs.push(name);
            }
        } else {
            refs.push(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        }
    }
    refs.retain(|r| !r.is_empty());
    refs
}

/// (top-level module, file) for every source file under `dir`.
fn sources(dir: &Path, top: Option<&str>, out: &mut Vec<(String, std::path::PathBuf)>) {
    for entry in fs::read_dir(dir).expect("read src").flatten() {
        let path = entry.path();
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        let module = top.map_or(name.clone(), str::to_owned);
        if path.is_dir() {
            sources(&path, Some(&module), out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((module, path));
        }
    }
}

#[test]
fn every_module_imports_only_from_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, None, &mut files);
    let mut violations = Vec::new();
    for (module, path) in &files {
        if module == "main" || EXEMPT.contains(&module.as_str()) {
            continue;
        }
        let Some(rank) = LAYERS.iter().position(|l| l == module) else {
            violations.push(format!("{}: module `{module}` has no place in LAYERS", path.display()));
            continue;
        };
        let text = fs::read_to_string(path).expect("read source");
        // Comments may name any module; only code imports.
        let code: String = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        for used in crate_refs(&code) {
            if used == *module {
                continue;
            }
            match LAYERS.iter().position(|l| *l == used) {
                Some(r) if r < rank => {}
                _ => violations.push(format!("{}: `{module}` uses crate::{used}", path.display())),
            }
        }
    }
    assert!(files.len() > 20, "found only {} source files under {}", files.len(), src.display());
    assert!(violations.is_empty(), "imports against the layering:\n{}", violations.join("\n"));
}

#[test]
fn references_are_found_in_paths_and_groups() {
    let text = "use crate::http::request::Request;\nuse crate::{sys, ops::forwarded};\nlet x = crate::shm::now();";
    assert_eq!(crate_refs(text), ["http", "sys", "ops", "shm"]);
}
