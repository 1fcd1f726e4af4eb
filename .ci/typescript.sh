#!/usr/bin/env bash
# Generates TypeScript types from the example API's served OpenAPI document
# (openapi-typescript) and type-checks a client's walk against them
# (examples/api/ts/walk.ts, `tsc --noEmit`, strict): GET /config, sign-up, sign-in,
# GET /session, GET /activity, the sessions, the second factor's state, a passkey's
# ceremony sending a typed WebAuthn credential, renewal and sign-out, each reading fields
# of the typed `data`. An object whose schema says nothing of its members (a bare
# `{"type": "object"}`) is typed as an empty object and fails the check.
#
# Builds nothing: it runs target/debug/example-api from the test build, as
# .ci/schemathesis.sh built it (by name: the package has no integration tests), on a free port with a
# throwaway SQLite database, only long enough to fetch the document. The tools are the
# versions pinned in examples/api/ts/package-lock.json (`npm ci`, once per lockfile).
set -euo pipefail
cd "$(dirname "$0")/.."

binary=target/debug/example-api
if [ ! -x "$binary" ]; then
  echo "$binary is missing: build it first (cargo build -p example-api)" >&2
  exit 1
fi

ts=examples/api/ts
# npm ci wipes node_modules and installs the lockfile's versions; skipped while the
# lockfile is the one installed.
if ! cmp -s "$ts/package-lock.json" "$ts/node_modules/.installed-lock.json" 2>/dev/null; then
  (cd "$ts" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$ts/package-lock.json" "$ts/node_modules/.installed-lock.json"
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
DATABASE_URL="$dir/api.db" BIND="127.0.0.1:$port" RUST_LOG=warn "$binary" \
  >"$dir/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
mkdir -p "$ts/generated"
fetched=
for _ in $(seq 1 100); do
  if python3 - "http://127.0.0.1:$port/api/v1/openapi.json" "$ts/generated/openapi.json" \
    2>/dev/null <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as res, open(sys.argv[2], "wb") as out:
    out.write(res.read())
PY
  then
    fetched=1
    break
  fi
  sleep 0.1
done
kill "$server" 2>/dev/null || true
if [ -z "$fetched" ]; then
  echo "the example API did not serve its document; its log:" >&2
  cat "$dir/server.log" >&2
  exit 1
fi

cd "$ts"
npx --no-install openapi-typescript generated/openapi.json -o generated/schema.d.ts
npx --no-install tsc --noEmit -p .
echo "the walk type-checks against the types generated from the document"
