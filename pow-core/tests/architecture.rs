//! The layers of pow-core and pow-actix, as `ARCHITECTURE.md` names them: no module imports
//! a module of a higher layer of its crate, except the known upward imports listed there,
//! and that list only shrinks. A layer may name a file of a module (`session/middleware`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The rows of the markdown table under `heading` in `doc`, as cells.
fn table(doc: &str, heading: &str) -> Vec<Vec<String>> {
    let section = doc
        .split(heading)
        .nth(1)
        .unwrap_or_else(|| panic!("ARCHITECTURE.md has no `{heading}`"));
    section
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2) // the header and its rule
        .map(|line| {
            line.trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().to_owned())
                .collect()
        })
        .collect()
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules each module refers to through `crate::<module>`, outside comments.
///
/// A file is counted under its top-level module, unless `parts` names it
/// (`session/middleware` for `src/session/middleware.rs`): the actix layer's files inside a
/// lower module are parts of their own.
fn imports(src: &Path, parts: &BTreeSet<String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    sources(src, &mut files);
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let path = relative
            .to_string_lossy()
            .replace('\\', "/")
            .trim_end_matches(".rs")
            .to_owned();
        let top = path.split('/').next().unwrap().to_owned();
        let module = if parts.contains(&path) {
            path
        } else {
            top.clone()
        };
        // Every module has a layer, whether it imports anything or not.
        found.entry(module.clone()).or_default();
        let text = std::fs::read_to_string(&file).unwrap();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                let target: String = line[at + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !target.is_empty() && target != top {
                    found.entry(module.clone()).or_default().insert(target);
                }
            }
        }
    }
    found
}

#[test]
fn no_module_imports_a_higher_layer_beyond_the_known_list() {
    check_layers(
        "pow-core",
        "## Layers of pow-core",
        "## Known upward imports\n",
    );
}

#[test]
fn no_module_of_pow_actix_imports_a_higher_layer_beyond_the_known_list() {
    check_layers(
        "pow-actix",
        "## Layers of pow-actix",
        "## Known upward imports of pow-actix",
    );
}

/// Checks the layers of `krate` against the tables under `layers` and `known_heading`.
fn check_layers(krate: &str, layers: &str, known_heading: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let mut layer_of = BTreeMap::new();
    for row in table(&doc, layers) {
        let layer: u32 = row[0].parse().unwrap();
        for module in row[1].split(',') {
            layer_of.insert(module.trim().to_owned(), layer);
        }
    }
    let known: BTreeSet<(String, String)> = table(&doc, known_heading)
        .into_iter()
        .map(|row| (row[0].clone(), row[1].clone()))
        .collect();

    let parts = layer_of
        .keys()
        .filter(|m| m.contains('/'))
        .cloned()
        .collect();
    let mut upward = BTreeSet::new();
    for (module, targets) in imports(&root.join(krate).join("src"), &parts) {
        if module == "lib" {
            continue;
        }
        let Some(from) = layer_of.get(&module) else {
            panic!("module `{module}` of {krate} has no layer in ARCHITECTURE.md");
        };
        for target in targets {
            // Macros and items of the crate root (`crate::sql_migration!`, `crate::PowConfig`).
            let Some(to) = layer_of.get(&target) else {
                continue;
            };
            if to > from {
                upward.insert((module.clone(), target));
            }
        }
    }
    let new: Vec<_> = upward.difference(&known).collect();
    assert!(
        new.is_empty(),
        "{krate}: imports from a lower layer to a higher one: {new:?}; move the code down \
         or the dependency behind a handle of the lower layer"
    );
    let gone: Vec<_> = known.difference(&upward).collect();
    assert!(
        gone.is_empty(),
        "{krate}: known upward imports no longer in the tree: {gone:?}; delete their rows \
         from ARCHITECTURE.md"
    );
}

/// Whether a line of code names a web framework's type.
fn names_framework_type(line: &str) -> bool {
    const NAMES: &[&str] = &[
        "actix_web",
        "axum",
        "HttpRequest",
        "HttpResponse",
        "ServiceConfig",
        "Controller",
        "ApiContext",
        "ApiError",
    ];
    let words = line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
    words.into_iter().any(|word| NAMES.contains(&word))
}

/// An extension's files outside its framework folders (`src/actix/`, `src/axum/`) that
/// name a framework type, as `(file, first such line)`.
fn framework_outside_folders(src: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    sources(src, &mut files);
    let mut found = Vec::new();
    for file in files {
        let relative = file
            .strip_prefix(src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if relative.starts_with("actix/") || relative.starts_with("axum/") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        // Code only: comments, and tests (which drive the framework side), are not counted.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        if let Some(line) = code
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .find(|l| names_framework_type(l))
        {
            found.push((relative, line.trim().to_owned()));
        }
    }
    found
}

/// Each extension keeps its framework side in `src/actix/` (and `src/axum/`): no other file
/// names a framework type. `ARCHITECTURE.md` lists the extensions not in that layout yet;
/// the list only shrinks (a listed extension that has moved fails too: delete its row).
#[test]
fn extensions_keep_framework_types_in_their_framework_folders() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let waiting: BTreeSet<String> = table(&doc, "## Extensions not yet in the layout")
        .into_iter()
        .map(|row| row[0].trim_matches('`').to_owned())
        .collect();
    let mut extensions = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with("pow-ext-") {
            extensions.push(name);
        }
    }
    extensions.sort();
    for name in &extensions {
        let outside = framework_outside_folders(&root.join(name).join("src"));
        if waiting.contains(name) {
            assert!(
                !outside.is_empty(),
                "{name} keeps its framework side in its framework folders now: delete its row \
                 from ARCHITECTURE.md's \"Extensions not yet in the layout\""
            );
        } else {
            assert!(
                outside.is_empty(),
                "{name} names a framework type outside src/actix/: {outside:?}; move it into \
                 the framework folder, or the logic into its flows"
            );
        }
    }
    let unknown: Vec<_> = waiting.iter().filter(|w| !extensions.contains(w)).collect();
    assert!(unknown.is_empty(), "no such extension crates: {unknown:?}");
}
