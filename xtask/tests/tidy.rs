//! Workspace conventions (STYLE.md), checked by `cargo test -p xtask`: every crate has a README,
//! inherits the workspace lints, documents itself, and no placeholder macro remains.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn crates() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(root().join("crates"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.join("Cargo.toml").exists())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.is_dir() && !path.ends_with("target") && !path.ends_with("fuzz") {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_crate_has_a_readme_lints_and_docs() {
    let crates = crates();
    assert!(crates.len() >= 4, "found only {crates:?}");
    for dir in crates {
        let name = dir.display();
        assert!(dir.join("README.md").exists(), "{name} has no README.md");
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        assert!(
            manifest.contains("[lints]") && manifest.contains("workspace = true"),
            "{name} does not inherit the workspace lints"
        );
        assert!(
            manifest.contains("version.workspace = true"),
            "{name} does not use the workspace version"
        );
        let lib = fs::read_to_string(dir.join("src/lib.rs")).unwrap_or_default();
        assert!(
            lib.starts_with("//!"),
            "{name}/src/lib.rs does not start with crate docs"
        );
        assert!(
            lib.contains("#![deny(missing_docs)]"),
            "{name} does not deny missing docs"
        );
    }
}

#[test]
fn no_placeholders_remain() {
    let mut files = Vec::new();
    rust_files(&root().join("crates"), &mut files);
    rust_files(&root().join("examples"), &mut files);
    let needles = [concat!("todo", "!("), concat!("unimplemented", "!(")];
    for file in files {
        let text = fs::read_to_string(&file).unwrap_or_default();
        for needle in needles {
            assert!(
                !text.contains(needle),
                "{} contains {needle}",
                file.display()
            );
        }
    }
}
