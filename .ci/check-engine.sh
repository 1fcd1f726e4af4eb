#!/usr/bin/env bash
# The engine builds without actix-web: pow-core has no actix-web dependency at all (not even
# an optional one), pow-axum has none in its normal tree, and each extension with default
# features off (one users backend on) has actix-web nowhere in its normal dependency tree,
# nor the PostgreSQL client when that backend is SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."

# Fails when $3 is in the normal dependency tree of crate $1 with features $2 alone.
absent() {
  local found
  found=$(cargo tree -p "$1" --no-default-features --features "$2" -e normal -i "$3" \
    2>/dev/null || true)
  if [ -n "$found" ]; then
    echo "$3 is in the build of $1 with --no-default-features --features $2:" >&2
    echo "$found" >&2
    exit 1
  fi
}

# The trees of $1 with features $2: no actix-web, and with SQLite alone no PostgreSQL client.
trees() {
  echo "-- $1 --no-default-features --features $2"
  # The features resolve (`absent` takes any failure of `cargo tree -i` for "not there").
  cargo tree -p "$1" --no-default-features --features "$2" -e normal --depth 0 >/dev/null
  absent "$1" "$2" actix-web
  # The app picks the databases: with SQLite alone, no crate brings in the PostgreSQL client.
  absent "$1" "$2" pq-sys
}

found=$(cargo tree -p pow-core --all-features -e normal -i actix-web 2>/dev/null || true)
if [ -n "$found" ]; then
  echo "pow-core depends on actix-web:" >&2
  echo "$found" >&2
  exit 1
fi
# What these trees hold compiles: pow-core and pow-axum with SQLite alone are among the
# feature checks of .ci/run, and so is `pow new`'s app with every extension (each with its
# default features, over pow-core with SQLite alone). The extensions whose default
# features bring in actix-web are checked here without them.
trees pow-core sqlite
trees pow-axum sqlite
for crate in pow-ext-reset-password pow-ext-email-confirmation pow-ext-persistent-session \
  pow-ext-invitation pow-ext-two-factor pow-ext-passwordless pow-ext-oauth pow-ext-account \
  pow-ext-passkeys pow-ext-api-keys pow-ext-organizations pow-ext-provider pow-ext-sso pow-ext-scim; do
  trees "$crate" pow-core/sqlite
done
for crate in pow-ext-persistent-session pow-ext-passwordless pow-ext-oauth; do
  echo "-- cargo check -p $crate --no-default-features --features pow-core/sqlite"
  cargo check --quiet -p "$crate" --no-default-features --features pow-core/sqlite
done
echo "the engine builds without actix-web"
