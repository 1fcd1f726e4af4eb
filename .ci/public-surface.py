#!/usr/bin/env python3
"""Counts pow-core's public items by the first audience that names them, to keep the
engine's public surface in view: an item named by no other crate, no guide and no doc
example is a candidate to make crate-private.

An item is a `pub` fn, struct, enum, trait, type, const, static or module declared in
`pow-core/src` outside `#[cfg(test)]` code (methods count; `pub(crate)` items do not).
Its audience is the first of these whose files hold its name as a word: apps (examples,
guides, the CLI, the README), extensions (`pow-ext-*/src`), framework layers
(`pow-actix/src`, `pow-axum/src`), pow-core's exported macros (a `$crate::` path, which
the crate that expands the macro names), pow-core's own doc examples (code in `///` and `//!` comments), tests
(every `tests/` folder, pow-testkit, benches). A name search, so a common name (`new`,
`get`) counts for the first audience that uses any item of that name: the counts are an
upper bound per audience, and `nobody` is exact.

    python3 .ci/public-surface.py              # the counts
    python3 .ci/public-surface.py --list nobody   # the items of one audience
"""

import collections
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ITEM = re.compile(
    r"^\s*pub\s+(?:async\s+)?(?:unsafe\s+)?(?:const\s+)?"
    r"(fn|struct|enum|trait|type|const|static|mod)\s+([A-Za-z_][A-Za-z0-9_]*)"
)
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SKIP = ("node_modules", "target", ".venv", ".git")
AUDIENCES = ["apps", "extensions", "frameworks", "macros", "docs", "tests"]


def files(*paths, endings=(".rs", ".md")):
    for path in paths:
        full = os.path.join(ROOT, path)
        if os.path.isfile(full):
            yield full
            continue
        for folder, dirs, names in os.walk(full):
            dirs[:] = [d for d in dirs if d not in SKIP]
            for name in names:
                if name.endswith(endings):
                    yield os.path.join(folder, name)


def words(paths):
    counter = collections.Counter()
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as text:
            counter.update(WORD.findall(text.read()))
    return counter


def core_items():
    items, doc_lines, macro_lines = [], [], []
    for path in files("pow-core/src", endings=(".rs",)):
        in_tests = in_example = False
        with open(path, encoding="utf-8") as text:
            lines = text.readlines()
        for number, line in enumerate(lines, 1):
            # A test module runs to the end of its file; a single `#[cfg(test)]` item does not.
            if re.match(r"\s*#\[cfg\(test\)\]", line) and number < len(lines):
                if re.match(r"\s*(pub(\(crate\))?\s+)?mod\s", lines[number]):
                    in_tests = True
            if in_tests:
                continue
            stripped = line.lstrip()
            if stripped.startswith(("///", "//!")):
                if stripped[3:].strip().startswith("```"):
                    in_example = not in_example
                elif in_example:
                    doc_lines.append(line)
            else:
                in_example = False
            if "$crate::" in line:
                macro_lines.append(line)
            found = ITEM.match(line)
            if found:
                items.append((found.group(2), found.group(1), os.path.relpath(path, ROOT), number))
    return items, doc_lines, macro_lines


def main():
    extensions = sorted(e for e in os.listdir(ROOT) if e.startswith("pow-ext-"))
    items, doc_lines, macro_lines = core_items()
    named = {
        "apps": words(files("examples", "guides", "pow-cli", "README.md")),
        "extensions": words(files(*[f"{e}/src" for e in extensions])),
        "frameworks": words(files("pow-actix/src", "pow-axum/src")),
        "macros": collections.Counter(WORD.findall("".join(macro_lines))),
        "docs": collections.Counter(WORD.findall("".join(doc_lines))),
        "tests": words(
            files(
                "pow-core/tests", "pow-actix/tests", "pow-axum/tests", "pow-testkit", "benches",
                *[f"{e}/tests" for e in extensions],
            )
        ),
    }
    by_audience = collections.defaultdict(list)
    for item in items:
        audience = next((a for a in AUDIENCES if named[a][item[0]]), "nobody")
        by_audience[audience].append(item)
    if len(sys.argv) == 3 and sys.argv[1] == "--list":
        for name, kind, path, number in sorted(by_audience[sys.argv[2]], key=lambda i: i[2:]):
            print(f"{path}:{number} {kind} {name}")
        return
    print(f"pow-core public items: {len(items)}")
    for audience in AUDIENCES + ["nobody"]:
        print(f"  {audience:<11} {len(by_audience[audience]):>5}")


if __name__ == "__main__":
    main()
