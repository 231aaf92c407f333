//! The architecture as a test: each pipeline stage of the library uses only the stages before
//! it (docs/ARCHITECTURE.md), and SQL lives only in `store/`. Reads the sources as text.

use std::path::{Path, PathBuf};

/// The stages in pipeline order; a stage may use any stage before it.
const ORDER: &[&[&str]] = &[
    &["model", "text", "http"],
    &["config"],
    &["intel"],
    &["capture"],
    &["inventory"],
    &["compare"],
    &["store"],
    &["baseline", "policy"],
    &["scan"],
    &["alert"],
    &["watch", "evidence"],
    &["setup"],
];

fn rank(module: &str) -> Option<usize> {
    ORDER.iter().position(|stage| stage.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !path.ends_with("bin") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The production code of a file: test modules and comments left out.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let production = text.split("#[cfg(test)]").next().unwrap_or_default();
    production.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

fn library_files() -> Vec<(String, PathBuf)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .into_iter()
        .filter(|p| !p.ends_with("lib.rs"))
        .map(|p| {
            let rel = p.strip_prefix(&src).unwrap();
            let module =
                rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
            (module, p)
        })
        .collect()
}

#[test]
fn each_stage_uses_only_the_stages_before_it() {
    let mut wrong = Vec::new();
    for (module, path) in library_files() {
        let own = rank(&module).unwrap_or_else(|| panic!("{}: module `{module}` is not in ORDER", path.display()));
        let code = code(&path);
        for (at, _) in code.match_indices("crate::") {
            let used: String = code[at + 7..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            if let Some(r) = rank(&used) {
                if r > own {
                    wrong.push(format!("{}: `{module}` uses the later stage `{used}`", path.display()));
                }
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "dependencies against the pipeline:\n{}", wrong.join("\n"));
}

#[test]
fn sql_lives_only_in_the_store() {
    let mut wrong = Vec::new();
    for (module, path) in library_files() {
        let code = code(&path);
        if module != "store" && (code.contains("rusqlite") || code.contains("SELECT ") || code.contains("INSERT INTO"))
        {
            wrong.push(path.display().to_string());
        }
    }
    assert!(wrong.is_empty(), "SQL outside src/store/: {wrong:?}");
}
