//! The layers of pow-core and pow-actix, as `ARCHITECTURE.md` names them: no file imports
//! a file of a higher layer of its crate, except the known upward imports listed there,
//! and that list only shrinks. A layer may name a file of a module (`store/limiter`). An
//! import is what the circle test reads too: a `use` line or an inline path, followed to
//! the file that defines the item.

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

/// The row of `layer_of` a file of `module` belongs to, and its layer: the most specific
/// row naming the module or a parent (`store/limiter` before `store`), so that a layer may
/// name a single file of a module.
fn layer_entry(layer_of: &BTreeMap<String, u32>, module: &[String]) -> Option<(String, u32)> {
    (1..=module.len()).rev().find_map(|k| {
        let name = module[..k].join("/");
        layer_of.get(&name).map(|layer| (name, *layer))
    })
}

#[test]
fn a_file_takes_the_layer_of_the_most_specific_row() {
    let layer_of: BTreeMap<String, u32> = [("store", 1), ("store/limiter", 5), ("config", 4)]
        .into_iter()
        .map(|(name, layer)| (name.to_owned(), layer))
        .collect();
    let module = |path: &str| path.split('/').map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        layer_entry(&layer_of, &module("store/limiter")),
        Some(("store/limiter".to_owned(), 5))
    );
    assert_eq!(
        layer_entry(&layer_of, &module("store/memory")),
        Some(("store".to_owned(), 1))
    );
    assert_eq!(
        layer_entry(&layer_of, &module("store/sql/near")),
        Some(("store".to_owned(), 1))
    );
    assert_eq!(layer_entry(&layer_of, &module("flows")), None);
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

    let entry_of = |module: &[String]| layer_entry(&layer_of, module);
    let (files, edges) = use_graph(&root.join(krate).join("src"));
    let mut upward = BTreeSet::new();
    for (file, targets) in files.iter().zip(&edges) {
        if file.module.is_empty() {
            continue;
        }
        let Some((from, from_layer)) = entry_of(&file.module) else {
            panic!("{} of {krate} has no layer in ARCHITECTURE.md", file.path);
        };
        for &target in targets {
            let Some((to, to_layer)) = entry_of(&files[target].module) else {
                panic!(
                    "{} of {krate} has no layer in ARCHITECTURE.md",
                    files[target].path
                );
            };
            if to_layer > from_layer {
                upward.insert((from.clone(), to));
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
        // Code and docs: plain comments, and tests (which drive the framework side), are not
        // counted; a doc comment naming a framework type reads as the crate depending on it.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        // Declaring a framework folder (`#[cfg(feature = "axum")] pub mod axum;`) is how
        // the layout is meant to be: only code outside it counts.
        let declares_folder = |l: &str| {
            let l = l.trim();
            l.starts_with("#[cfg(feature = ") || matches!(l, "pub mod axum;" | "mod axum;")
        };
        if let Some(line) = code
            .lines()
            .filter(|l| {
                let l = l.trim_start();
                let plain_comment =
                    l.starts_with("//") && !l.starts_with("///") && !l.starts_with("//!");
                !plain_comment && !declares_folder(l)
            })
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

/// The entries of the table `section` of `manifest` (a `Cargo.toml`; `"dependencies"`,
/// `"features"`): each key (`pow-core` of `pow-core.workspace = true` too) with the rest
/// of its line.
fn manifest_entries<'a>(manifest: &'a str, section: &str) -> Vec<(&'a str, &'a str)> {
    let heading = format!("[{section}]");
    let mut inside = false;
    let mut found = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == heading;
        } else if inside && !line.is_empty() && !line.starts_with('#') {
            let end = line.find(['=', ' ', '.']).unwrap_or(line.len());
            found.push((&line[..end], &line[end..]));
        }
    }
    found
}

/// The extension crates `manifest` (a `Cargo.toml`) depends on outside its tests.
fn extension_dependencies(manifest: &str) -> BTreeSet<String> {
    let entries = manifest_entries(manifest, "dependencies").into_iter();
    let names = entries.filter(|(name, _)| name.starts_with("pow-ext-"));
    names.map(|(name, _)| name.to_owned()).collect()
}

/// An app depends on its framework crate alone (ARCHITECTURE.md, "Public surface by
/// audience"): pow-actix and pow-axum pass on each of pow-core's features an app turns on,
/// under the same name, so a feature pow-core gains later cannot be forgotten on one of
/// them. `sql` is what an extension asks for; an app picks `sqlite` or `postgres`.
#[test]
fn each_framework_crate_passes_on_the_engines_features() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let core = std::fs::read_to_string(root.join("pow-core/Cargo.toml")).unwrap();
    let features: Vec<_> = manifest_entries(&core, "features")
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| !["default", "sql"].contains(name))
        .collect();
    assert!(
        features.contains(&"redis"),
        "read pow-core's features: {features:?}"
    );
    for krate in ["pow-actix", "pow-axum"] {
        let manifest = std::fs::read_to_string(root.join(krate).join("Cargo.toml")).unwrap();
        let own = manifest_entries(&manifest, "features");
        let missing: Vec<_> = (features.iter())
            .filter(|feature| {
                let forward = format!("\"pow-core/{feature}\"");
                !own.iter()
                    .any(|(name, rest)| name == *feature && rest.contains(&forward))
            })
            .collect();
        assert!(
            missing.is_empty(),
            "{krate} does not pass on pow-core's features {missing:?}: add \
             `name = [\"pow-core/name\"]` to its [features]"
        );
    }
}

/// The example apps name their framework crate only, as an app does: none lists pow-core
/// among its dependencies, for its tests neither.
#[test]
fn example_apps_depend_on_their_framework_crate_alone() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut apps = 0;
    let mut naming_core = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        apps += 1;
        for section in ["dependencies", "dev-dependencies"] {
            if (manifest_entries(&manifest, section).iter()).any(|(name, _)| *name == "pow-core") {
                naming_core.push(format!("{}: [{section}]", dir.display()));
            }
        }
    }
    assert!(apps >= 10, "read the examples: {apps}");
    assert!(
        naming_core.is_empty(),
        "example apps name pow-core: {naming_core:?}; name the item through pow_actix or \
         pow_axum, and turn a feature on there"
    );
}

/// Extensions meet through pow-core's extension contract (the seams it defines: address
/// proofs, staged sign-ups, owning principals): an extension crate depends on another only
/// where ARCHITECTURE.md lists it, with why, and a listed dependency that is gone fails
/// until its row is deleted.
#[test]
fn extensions_depend_on_another_only_where_listed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let listed: BTreeSet<(String, String)> = table(&doc, "## Extensions built on another")
        .into_iter()
        .map(|row| {
            let name = |cell: &String| cell.trim_matches('`').to_owned();
            (name(&row[0]), name(&row[1]))
        })
        .collect();
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with("pow-ext-") {
            let manifest = std::fs::read_to_string(root.join(&name).join("Cargo.toml")).unwrap();
            for other in extension_dependencies(&manifest) {
                found.insert((name.clone(), other));
            }
        }
    }
    let unlisted: Vec<_> = found.difference(&listed).collect();
    assert!(
        unlisted.is_empty(),
        "extension crates depend on others: {unlisted:?}; meet through a seam of pow-core's \
         extension contract, or list the dependency with why in ARCHITECTURE.md's \
         \"Extensions built on another\""
    );
    let gone: Vec<_> = listed.difference(&found).collect();
    assert!(
        gone.is_empty(),
        "no longer a dependency, delete the rows: {gone:?}"
    );
}

#[test]
fn a_test_only_extension_dependency_is_not_one() {
    let manifest = "[dependencies]\npow-core.workspace = true\npow-ext-a = { workspace = true }\n\
                    pow-ext-b.workspace = true\n[dev-dependencies]\npow-ext-c.workspace = true\n";
    let found: Vec<_> = extension_dependencies(manifest).into_iter().collect();
    assert_eq!(found, ["pow-ext-a", "pow-ext-b"]);
    let features = "[features]\n# comment\nredis = [\"pow-core/redis\"]\n\n[dependencies]\n";
    assert_eq!(
        manifest_entries(features, "features"),
        [("redis", " = [\"pow-core/redis\"]")]
    );
}

/// An extension's page and JSON controllers (`pages.rs`, `api.rs`, the files of a
/// `pages/` or `api/` folder, and the same in its framework folders) only map a flow's outcome onto an answer: none reaches the users
/// context or a store itself (the flows do, once for both renderings), so a rule kept in
/// a flow cannot be skipped by one of its two sides.
#[test]
fn extension_controllers_reach_users_and_stores_through_flows_only() {
    const DIRECT: [&str; 7] = [
        ".users()",
        "users_context(",
        ".store()",
        "crate::store",
        "crate::records",
        "Records::new",
        "Tokens::new",
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut controllers = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("pow-ext-") {
            continue;
        }
        let mut files = Vec::new();
        sources(&dir.join("src"), &mut files);
        // `pages.rs` and `api.rs`, and the files of a `pages/` or `api/` folder.
        let controller = |name: &std::ffi::OsStr| name == "pages" || name == "api";
        controllers.extend(files.into_iter().filter(|file| {
            let folder = file.parent().and_then(Path::file_name);
            file.file_stem().is_some_and(controller) || folder.is_some_and(controller)
        }));
    }
    assert!(
        controllers.len() >= 20,
        "read {} controllers",
        controllers.len()
    );
    let mut direct = Vec::new();
    for file in &controllers {
        let code = std::fs::read_to_string(file).unwrap();
        let code = code.split("#[cfg(test)]").next().unwrap_or_default();
        for (number, line) in code.lines().enumerate() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            if let Some(found) = DIRECT.iter().find(|call| line.contains(*call)) {
                direct.push(format!("{}:{} {found}", file.display(), number + 1));
            }
        }
    }
    assert!(
        direct.is_empty(),
        "controllers reaching the users context or a store: {direct:#?}; move the call into \
         the extension's flows"
    );
}

/// A source file: its path under `src/` and its module path (`["users", "schema"]`).
struct SourceFile {
    path: String,
    module: Vec<String>,
    /// The code before its unit tests.
    code: String,
}

/// Every file of `src` with its module path.
fn source_files(src: &Path) -> Vec<SourceFile> {
    let mut files = Vec::new();
    sources(src, &mut files);
    files
        .into_iter()
        .map(|file| {
            let path = file
                .strip_prefix(src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let mut module: Vec<String> = path
                .trim_end_matches(".rs")
                .split('/')
                .map(str::to_owned)
                .collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            let text = std::fs::read_to_string(&file).unwrap();
            let code = text
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            SourceFile { path, module, code }
        })
        .collect()
}

/// The paths a `use` tree names: `a::{b, c::{d, e as f}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand_use_tree(tree: &str) -> Vec<Vec<String>> {
    fn split_top(list: &str) -> Vec<&str> {
        let (mut depth, mut start, mut out) = (0, 0, Vec::new());
        for (i, c) in list.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(&list[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        out.push(&list[start..]);
        out.into_iter().filter(|s| !s.is_empty()).collect()
    }
    fn walk(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
        for item in split_top(tree) {
            if let Some(open) = item.find('{') {
                let mut head = prefix.to_vec();
                head.extend(
                    item[..open]
                        .split("::")
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned),
                );
                walk(&head, &item[open + 1..item.len() - 1], out);
            } else {
                let item = item.split(" as ").next().unwrap_or(item);
                let mut path = prefix.to_vec();
                path.extend(
                    item.split("::")
                        .filter(|p| !p.is_empty() && *p != "self")
                        .map(str::to_owned),
                );
                out.push(path);
            }
        }
    }
    let compact: String = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    let compact = compact
        .replace(" as ", "\u{0}")
        .replace(' ', "")
        .replace('\u{0}', " as ");
    let mut out = Vec::new();
    walk(&[], &compact, &mut out);
    out
}

/// The `use` declarations of `code`: whether each is public, and its paths.
fn use_declarations(code: &str) -> Vec<(bool, Vec<Vec<String>>)> {
    use_spans(code)
        .into_iter()
        .map(|span| (span.public, expand_use_tree(&code[span.tree])))
        .collect()
}

/// Where a `use` declaration stands in a file's code: from the start of its line to its
/// `;`, its use tree, and whether it is public.
struct UseSpan {
    whole: std::ops::Range<usize>,
    tree: std::ops::Range<usize>,
    public: bool,
}

/// The `use` declarations of `code`, in order.
fn use_spans(code: &str) -> Vec<UseSpan> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = code[from..].find("use ") {
        let at = from + found;
        let line_start = code[..at].rfind('\n').map_or(0, |i| i + 1);
        let lead = code[line_start..at].trim();
        let Some(end) = code[at + 4..].find(';').map(|end| at + 4 + end) else {
            break;
        };
        if lead.is_empty() || lead.starts_with("pub") {
            out.push(UseSpan {
                whole: line_start..end + 1,
                tree: at + 4..end,
                public: lead.starts_with("pub"),
            });
            from = end;
        } else {
            from = at + 4;
        }
    }
    out
}

/// The paths `code` names inline, outside `use` lines: `crate::audit::record(..)`,
/// `super::flows::Flow` (a `$crate::` of a macro, `pub(crate)` and `pub(super)` are not).
fn inline_paths(code: &str) -> Vec<Vec<String>> {
    let code = &without_use_declarations(code);
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = Vec::new();
    for start in ["crate::", "super::"] {
        for (at, _) in code.match_indices(start) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| ident(c) || c == '$' || c == ':') {
                continue;
            }
            let mut path = Vec::new();
            let mut rest = &code[at..];
            loop {
                let end = rest.find(|c: char| !ident(c)).unwrap_or(rest.len());
                if end == 0 {
                    break;
                }
                path.push(rest[..end].to_owned());
                match rest[end..].strip_prefix("::") {
                    Some(next) => rest = next,
                    None => break,
                }
            }
            if path.len() > 1 {
                out.push(path);
            }
        }
    }
    out
}

/// `code` without its `use` declarations (the ones [`use_declarations`] reads), so that
/// the head of a use tree (`crate::users` in `use crate::users::{Changeset, User};`) is
/// not read as an inline path to the module itself.
fn without_use_declarations(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut kept = 0;
    for span in use_spans(code) {
        out.push_str(&code[kept..span.whole.start]);
        kept = span.whole.end;
    }
    out.push_str(&code[kept..]);
    out
}

/// The file-level import graph of `src` from its `use` lines and its inline paths: an
/// import of an item goes to the file that defines it (a module's `pub use` of another
/// module's item is followed). A module's `pub use` of its own children is its facade, not
/// an import.
fn use_graph(src: &Path) -> (Vec<SourceFile>, Vec<BTreeSet<usize>>) {
    let files = source_files(src);
    let by_module: BTreeMap<Vec<String>, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.module.clone(), i))
        .collect();
    let absolute = |module: &[String], path: &[String]| -> Option<Vec<String>> {
        let first = path.first()?;
        match first.as_str() {
            "crate" => Some(path[1..].to_vec()),
            "super" => {
                let ups = path.iter().take_while(|p| *p == "super").count();
                let mut base = module[..module.len().checked_sub(ups)?].to_vec();
                base.extend(path[ups..].iter().cloned());
                Some(base)
            }
            "self" => Some([module, &path[1..]].concat()),
            _ => {
                let child = [module, &path[..1]].concat();
                by_module
                    .contains_key(&child)
                    .then(|| [module, path].concat())
            }
        }
    };
    let mut reexports: Vec<BTreeMap<String, Vec<String>>> = vec![BTreeMap::new(); files.len()];
    let mut uses: Vec<Vec<Vec<String>>> = vec![Vec::new(); files.len()];
    for (i, file) in files.iter().enumerate() {
        for (public, paths) in use_declarations(&file.code) {
            for path in paths {
                let Some(abs) = absolute(&file.module, &path) else {
                    continue;
                };
                let own_child = abs.len() > file.module.len() && abs.starts_with(&file.module);
                if public {
                    if let Some(name) = path.last() {
                        reexports[i].insert(name.clone(), abs.clone());
                    }
                }
                if !(public && own_child) {
                    uses[i].push(abs);
                }
            }
        }
        for path in inline_paths(&file.code) {
            if let Some(abs) = absolute(&file.module, &path) {
                uses[i].push(abs);
            }
        }
    }
    let target = |path: &[String]| -> Option<usize> {
        let mut path = path.to_vec();
        for _ in 0..10 {
            let (file, rest) = (0..=path.len())
                .rev()
                .find_map(|k| by_module.get(&path[..k]).map(|f| (*f, path[k..].to_vec())))?;
            match rest.first().and_then(|name| reexports[file].get(name)) {
                Some(origin) if !rest.is_empty() => {
                    path = [origin.as_slice(), &rest[1..]].concat();
                }
                _ => return Some(file),
            }
        }
        None
    };
    let edges = uses
        .iter()
        .enumerate()
        .map(|(i, paths)| {
            paths
                .iter()
                .filter_map(|p| target(p))
                .filter(|t| *t != i && !files[*t].module.is_empty())
                .collect()
        })
        .collect();
    (files, edges)
}

/// The strongly connected components of more than one file (Tarjan).
fn circles(edges: &[BTreeSet<usize>]) -> Vec<BTreeSet<usize>> {
    struct State<'a> {
        edges: &'a [BTreeSet<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        stack: Vec<usize>,
        on_stack: Vec<bool>,
        next: usize,
        found: Vec<BTreeSet<usize>>,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in s.edges[v].iter() {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(at) if s.on_stack[w] => s.low[v] = s.low[v].min(at),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = BTreeSet::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                component.insert(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let n = edges.len();
    let mut state = State {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        stack: Vec::new(),
        on_stack: vec![false; n],
        next: 0,
        found: Vec::new(),
    };
    for v in 0..n {
        if state.index[v].is_none() {
            visit(&mut state, v);
        }
    }
    state.found
}

/// The folder a file's module lives in: its own folder when it has children
/// (`pipeline.rs` beside `pipeline/`, `store/mod.rs`), else its parent's.
fn folder_of(file: &SourceFile, all: &[SourceFile]) -> String {
    let has_children = all
        .iter()
        .any(|f| f.module.len() > file.module.len() && f.module.starts_with(&file.module));
    let module = if has_children || file.module.is_empty() {
        &file.module[..]
    } else {
        &file.module[..file.module.len() - 1]
    };
    module.join("/")
}

/// No import circle (files that import each other through `use` lines, directly or not)
/// spans more than one folder, except the known circles `ARCHITECTURE.md` lists; that list
/// only shrinks.
#[test]
fn no_import_circle_is_wider_than_one_folder_beyond_the_known_list() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let known: BTreeSet<(String, String)> = table(&doc, "## Known import circles")
        .into_iter()
        .map(|row| (row[0].clone(), row[1].clone()))
        .collect();
    let mut wide = BTreeSet::new();
    for krate in ["pow-core", "pow-actix", "pow-axum"] {
        let (files, edges) = use_graph(&root.join(krate).join("src"));
        for circle in circles(&edges) {
            let folders: BTreeSet<String> = circle
                .iter()
                .map(|&f| folder_of(&files[f], &files))
                .collect();
            if folders.len() > 1 {
                let mut names: Vec<&str> = circle.iter().map(|&f| files[f].path.as_str()).collect();
                names.sort_unstable();
                wide.insert((krate.to_owned(), names.join(", ")));
            }
        }
    }
    let new: Vec<_> = wide.difference(&known).collect();
    assert!(
        new.is_empty(),
        "import circles across folders: {new:?}; give the lower file a handle of its own \
         instead of the higher one's type"
    );
    let gone: Vec<_> = known.difference(&wide).collect();
    assert!(
        gone.is_empty(),
        "known import circles no longer in the tree: {gone:?}; delete their rows from \
         ARCHITECTURE.md"
    );
}

#[test]
fn inline_paths_are_read_as_imports() {
    let code = "use crate::users::{Changeset, User};\npub use super::pages::{self, Page};\n\
                pub(crate) fn f() { crate::audit::record(x); super::flows::Flow::new(); \
                $crate::session::x; let a = crate::time::now_ms(); }";
    assert_eq!(
        inline_paths(code),
        vec![
            vec!["crate", "audit", "record"],
            vec!["crate", "time", "now_ms"],
            vec!["super", "flows", "Flow", "new"],
        ]
    );
}

#[test]
fn a_use_tree_names_each_path_once() {
    let paths = expand_use_tree("crate::users::{self, Changeset, diesel::{Db as D, Table}}");
    let joined: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        joined,
        [
            "crate::users",
            "crate::users::Changeset",
            "crate::users::diesel::Db",
            "crate::users::diesel::Table"
        ]
    );
}

/// The extensions' callbacks run from one engine function, the runner's, for every
/// framework and transport: no framework layer, extension or other engine module calls
/// `before_process` or `before_respond` itself (a second caller is how a rule gets kept
/// on one path and forgotten on its sibling).
#[test]
fn the_callbacks_run_from_the_engines_runner_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("pow-") && dir.join("src").is_dir() {
            sources(&dir.join("src"), &mut files);
        }
    }
    assert!(files.len() > 100, "read {} files", files.len());
    let runner = root.join("pow-core/src/pipeline/run.rs");
    let mut callers = Vec::new();
    for file in &files {
        let code = std::fs::read_to_string(file).unwrap();
        for (number, line) in code.lines().enumerate() {
            let called = [".before_process(", ".before_respond("]
                .iter()
                .any(|call| line.contains(call));
            if called && !line.trim_start().starts_with("//") {
                callers.push((file.clone(), number + 1));
            }
        }
    }
    assert!(
        callers.iter().all(|(file, _)| *file == runner),
        "callbacks called outside the runner: {callers:?}"
    );
    assert_eq!(
        callers.len(),
        2,
        "the runner calls each callback once: {callers:?}"
    );
}

/// The app root an app sees through its framework crate (`pow_core::app`) names every
/// public module of pow-core's root but `framework`: a module added to the root reaches
/// apps, and the framework layers' module does not.
#[test]
fn the_app_root_re_exports_every_public_module_but_framework() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let modules: BTreeSet<&str> = lib
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub mod ")?.strip_suffix(';'))
        .collect();
    assert!(modules.len() > 15, "read {modules:?}");
    assert!(modules.contains("framework"), "read {modules:?}");
    let app = lib
        .split("pub mod app {")
        .nth(1)
        .expect("lib.rs has `pub mod app`");
    let app = &app[..app.find("\n}").unwrap()];
    let named: BTreeSet<&str> = app
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    let missing: Vec<_> = modules
        .iter()
        .filter(|module| **module != "framework" && !named.contains(*module))
        .collect();
    assert!(
        missing.is_empty(),
        "pow_core::app does not re-export {missing:?}"
    );
    assert!(
        !named.contains("framework"),
        "pow_core::app re-exports `framework`"
    );
}
