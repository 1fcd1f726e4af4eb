#!/usr/bin/env bash
# Checks each example API's (actix-web's and its axum twin's) generated OpenAPI document against the OpenAPI 3.1 schema, then
# fuzzes the API against it with schemathesis: every answer must be documented (status,
# headers, content type, schema), invalid bodies must be refused, and nothing may answer
# a server error. Positive-data acceptance is left out: the API has rules a schema cannot
# state (a password confirmation that matches, a password that is not common, a token or
# a passkey answer that verifies), so schema-valid bodies are refused by design. Bounded:
# at most SCHEMATHESIS_SECONDS (45) of fuzzing per server (two servers: the CI budget).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v schemathesis >/dev/null 2>&1 \
  || python3 -m pip install --quiet --disable-pip-version-check 'schemathesis==4.32.*'

# The servers, built with the README's test build's packages and features (so its libraries
# are reused: `--tests`, built already, makes the dev-dependencies' features count as they
# do in `cargo test`). `cargo test` alone builds a binary only for a package with
# integration tests, which the example API's actix-web side has none of: build both by name.
cargo build --workspace --all-features --tests --bin example-api --bin example-api-axum --quiet
dir=$(mktemp -d)
server=""
trap 'kill $server 2>/dev/null || true; rm -rf "$dir"' EXIT
for binary in example-api example-api-axum; do
echo "-- $binary"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DATABASE_URL="$dir/$binary.db" BIND="127.0.0.1:$port" RUST_LOG=warn "target/debug/$binary" \
  >"$dir/$binary.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/api/v1/openapi.json')" \
    2>/dev/null && break
  sleep 0.1
done
if ! kill -0 "$server" 2>/dev/null; then
  echo "$binary did not start:"
  cat "$dir/$binary.log"
  exit 1
fi

# The document itself, against the OpenAPI 3.1 specification's schema
# (openapi-spec-validator, which schemathesis brings).
python3 - "http://127.0.0.1:$port/api/v1/openapi.json" <<'PY'
import json, sys, urllib.request
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator
doc = json.load(urllib.request.urlopen(sys.argv[1]))
validate(doc, cls=OpenAPIV31SpecValidator)
print(f"the document validates as OpenAPI {doc['openapi']}: {len(doc['paths'])} paths")
PY

schemathesis run "http://127.0.0.1:$port/api/v1/openapi.json" \
  --checks all --exclude-checks positive_data_acceptance \
  --max-examples 30 --max-time "${SCHEMATHESIS_SECONDS:-45}" --request-timeout 10 \
  --generation-deterministic --no-color
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
server=""
done
