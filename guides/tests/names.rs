//! The guides' code names what an app depends on: an app names its framework crate alone
//! (`pow_actix` or `pow_axum`, each re-exporting the engine), so a snippet compiles in an
//! app that depends on that one crate. Only the parts written for extension authors name
//! `pow_core`. The doctests compile every block with all crates at hand; this reads what
//! each block names.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

/// Sections written for extension authors, where `pow_core` is the crate to name: a guide
/// (whole), or a guide and the heading of its section.
const FOR_EXTENSION_AUTHORS: [(&str, Option<&str>); 2] = [
    ("writing-an-extension.md", None),
    (
        "api.md",
        Some("## JSON routes and TokenHooks of an extension"),
    ),
];

/// A Rust block of a guide: the guide, the heading it is under, its first line and its
/// code.
struct Block {
    guide: String,
    heading: String,
    line: usize,
    code: String,
}

fn blocks() -> Vec<Block> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let mut guides: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    guides.sort();
    for path in guides {
        let guide = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut heading = String::new();
        let mut open: Option<Block> = None;
        for (number, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            if let Some(block) = open.as_mut() {
                if trimmed.starts_with("```") {
                    out.extend(open.take());
                } else {
                    block.code.push_str(line);
                    block.code.push('\n');
                }
            } else if let Some(lang) = trimmed.strip_prefix("```") {
                if lang.starts_with("rust") {
                    open = Some(Block {
                        guide: guide.clone(),
                        heading: heading.clone(),
                        line: number + 1,
                        code: String::new(),
                    });
                } else {
                    // Another language's block: skip to its end.
                    open = Some(Block {
                        guide: String::new(),
                        heading: String::new(),
                        line: 0,
                        code: String::new(),
                    });
                }
            } else if line.starts_with("## ") {
                heading = line.to_owned();
            }
        }
    }
    out.retain(|block| !block.guide.is_empty());
    out
}

fn for_extension_authors(block: &Block) -> bool {
    FOR_EXTENSION_AUTHORS.iter().any(|(guide, heading)| {
        *guide == block.guide && heading.is_none_or(|heading| heading == block.heading)
    })
}

#[test]
fn app_snippets_name_their_framework_crate_alone() {
    let blocks = blocks();
    assert!(blocks.len() > 100, "found {} Rust blocks", blocks.len());
    let mut wrong = Vec::new();
    for block in &blocks {
        let on_axum = block.code.contains("axum::");
        let on_actix = block.code.contains("actix_web::");
        let mut say = |what: &str| {
            wrong.push(format!(
                "{}:{} ({}): {what}",
                block.guide, block.line, block.heading
            ));
        };
        if !for_extension_authors(block) && block.code.contains("pow_core::") {
            say("names pow_core (an app names pow_actix or pow_axum)");
        }
        if on_axum && !on_actix && block.code.contains("pow_actix::") {
            say("an axum snippet names pow_actix");
        }
        if on_actix && !on_axum && block.code.contains("pow_axum::") {
            say("an actix-web snippet names pow_axum");
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_extension_authors_parts_are_there() {
    // A renamed heading would make the exception above match nothing.
    let blocks = blocks();
    for (guide, heading) in FOR_EXTENSION_AUTHORS {
        assert!(
            blocks.iter().any(|block| block.guide == guide
                && heading.is_none_or(|heading| heading == block.heading)
                && block.code.contains("pow_core::")),
            "{guide} {heading:?}"
        );
    }
}
