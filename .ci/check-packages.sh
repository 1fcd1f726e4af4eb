#!/usr/bin/env bash
# Packages the crates named as arguments (`cargo package`: the manifest as published, path
# dependencies with versions, the files each package takes), then checks that the
# packages, as published, compile against each other: they are unpacked into one scratch
# workspace that patches each crate name to its unpacked package, and one
# `cargo check --workspace --all-features` runs there, so a file a feature reads at compile
# time (templates, migrations, locales, metadata) is missed by no package. Each feature
# alone is the feature step's (cargo-hack, in the workspace: the same manifests). Cargo's
# own verification builds each package apart with code generation and no shared profile;
# checking finds the same missing files.
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
(cd "$work" && cargo check --offline --quiet --workspace --all-features)
echo "every package compiles as published"
