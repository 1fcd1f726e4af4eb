#!/usr/bin/env python3
"""Checks the declared minimum Rust version against the dependency tree: every package in
Cargo.lock that declares a `rust-version` must accept the workspace's. (The code's own use
of newer standard-library items is checked by clippy's `incompatible_msrv` lint, which
reads the same `rust-version`.) Exits 1 and names the packages that need a newer Rust."""

import json
import subprocess
import sys


def version(text):
    # "1.91" and "1.91.0" are the same version.
    parts = [int(part) for part in text.split(".")[:3]]
    return tuple(parts + [0] * (3 - len(parts)))


def main():
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--all-features", "--locked"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    members = set(meta["workspace_members"])
    declared = {
        p["rust_version"] for p in meta["packages"] if p["id"] in members and p.get("rust_version")
    }
    if len(declared) != 1:
        sys.exit(f"the workspace members declare {sorted(declared)}: expected one rust-version")
    msrv = declared.pop()
    newer = sorted(
        (version(p["rust_version"]), p["name"], p["version"], p["rust_version"])
        for p in meta["packages"]
        if p["id"] not in members
        and p.get("rust_version")
        and version(p["rust_version"]) > version(msrv)
    )
    if newer:
        for _, name, ver, rust in newer:
            print(f"{name} {ver} needs Rust {rust}", file=sys.stderr)
        sys.exit(f"Cargo.lock needs a newer Rust than rust-version {msrv}")
    top = max(
        (version(p["rust_version"]), p["name"])
        for p in meta["packages"]
        if p["id"] not in members and p.get("rust_version")
    )
    print(f"rust-version {msrv}: no locked dependency needs more (highest: {top[1]}, {'.'.join(map(str, top[0]))})")


if __name__ == "__main__":
    main()
