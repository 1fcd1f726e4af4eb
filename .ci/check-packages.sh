#!/usr/bin/env bash
# Packages the crates named as arguments (`cargo package`: the manifest as published, path
# dependencies with versions, the files each package takes), then checks that each
# package, as published, compiles with its default features against the others'
# packages: they are unpacked into one scratch workspace that patches each crate name to
# its unpacked package, and `cargo check -p <crate>` runs there once per crate (its own
# features, as a user's build resolves them). Cargo's own verification builds each
# package apart with code generation and no shared profile; checking finds the same
# missing files (templates, migrations, locales are read at compile time) and reuses the
# dependencies the feature checks before it checked.
set -euo pipefail
cd "$(dirname "$0")/.."

crates=("$@")
packages=()
for crate in "${crates[@]}"; do
  packages+=(-p "$crate")
done
rm -rf target/package
# --allow-dirty: the test run may leave files (databases, mails) in the tree.
cargo package --no-verify --allow-dirty "${packages[@]}"

work=target/package/check
mkdir -p "$work"
members=""
patches=""
for crate in "${crates[@]}"; do
  file=$(ls target/package/"$crate"-[0-9]*.crate)
  dir=$(basename "$file" .crate)
  tar -xzf "$file" -C "$work"
  members+="\"$dir\", "
  patches+="$crate = { path = \"$dir\" }"$'\n'
done
{
  echo "[workspace]"
  echo "resolver = \"2\""
  echo "members = [${members%, }]"
  echo
  echo "[patch.crates-io]"
  printf '%s' "$patches"
  echo
  # The workspace's profiles, so that the dependencies checked before are reused.
  awk '/^\[/ { keep = /^\[profile/ } keep' Cargo.toml
} >"$work/Cargo.toml"
cp Cargo.lock "$work/Cargo.lock"

export CARGO_TARGET_DIR="$PWD/target"
for crate in "${crates[@]}"; do
  echo "-- $crate"
  (cd "$work" && cargo check --offline --quiet -p "$crate")
done
echo "every package compiles as published"
