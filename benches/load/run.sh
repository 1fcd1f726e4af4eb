#!/usr/bin/env bash
# Load benchmark of the demo app (examples/demo): authenticated against unauthenticated
# requests on each cache store, requests during a sign-in storm, sign-in latency against the
# raw hash cost, and memory per session. See README.md next to this file.
#
# Usage: benches/load/run.sh    (from anywhere; about 5 minutes with the defaults)
#
# Settings (environment):
#   BENCH_DURATION     seconds per measured wrk run (default 4; sequential sign-ins run
#                      twice as long). Raise it for steadier figures, e.g. 30.
#   BENCH_ROUNDS       measured runs per figure, in alternating order (default 3); the
#                      table shows medians
#   BENCH_WARMUP       seconds of each checked warm-up run (default 2)
#   BENCH_CONNECTIONS  wrk connections for GET runs (default 16)
#   BENCH_SIGNIN_LOOPS concurrent sign-in loops of the storm (default 8)
#   BENCH_SESSIONS     sessions for the memory measurement (default 100000)
#   BENCH_HASH_RUNS    timed calls per raw-hash variant (default 30)
#   REDIS_URL          Redis for the Redis store and its memory figure
#                      (default redis://127.0.0.1:6379/)
#   BENCH_SKIP_REDIS   set to 1 to leave Redis out instead of failing when it is unreachable
#   BENCH_KEEP_WORK    set to 1 to keep the scratch directory (logs, databases, raw output)

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DURATION=${BENCH_DURATION:-4}
ROUNDS=${BENCH_ROUNDS:-3}
WARMUP=${BENCH_WARMUP:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
SIGNIN_LOOPS=${BENCH_SIGNIN_LOOPS:-8}
SESSIONS=${BENCH_SESSIONS:-100000}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/}
SKIP_REDIS=${BENCH_SKIP_REDIS:-0}
APP_BIN="$ROOT/target/release/example-demo"
# The unauthenticated request is the home page; the authenticated one the protected page.
# Both render the same template (about 3.5 KB), so the difference is the session layer.
# The home page is also measured signed in: it takes the flash from the session, which
# makes the cookie session send its cookie again on every answer.
ANON_ROUTE=/
AUTH_ROUTE=/protected
ANON_TEXT="You are not signed in."
AUTH_TEXT="Only signed-in users see this."
HOME_TEXT="Signed in as"
# A new address on every run: state in a shared Redis (such as the confirmation-mail resend
# limit) outlives the app.
EMAIL="load-$(date +%s)-$$@example.com"
PASSWORD="correct horse battery"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pow-load.XXXXXX")
RESULTS="$WORK/results.txt"
APP_PID=""
STORM_PID=""

step() { printf '\n==> %s\n' "$*" >&2; }
die() {
    printf 'run.sh: FAILED: %s\n' "$*" >&2
    exit 1
}
record() { echo "$1 $2" >>"$RESULTS"; }
load_py() { python3 "$HERE/load.py" "$@"; }

cleanup() {
    local status=$?
    if [[ -n "$STORM_PID" ]]; then
        kill "$STORM_PID" 2>/dev/null || true
    fi
    if [[ -n "$APP_PID" ]]; then
        kill "$APP_PID" 2>/dev/null || true
        wait "$APP_PID" 2>/dev/null || true
    fi
    if [[ $status -ne 0 || "${BENCH_KEEP_WORK:-0}" == 1 ]]; then
        echo "run.sh: scratch directory kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'die "interrupted"' INT TERM

# The value of key=value field $2 in a "@@ ..." summary line $1.
field() {
    local pair
    for pair in $1; do
        if [[ "$pair" == "$2="* ]]; then
            echo "${pair#*=}"
            return
        fi
    done
    die "no $2 in wrk summary: $1"
}

# ---------------------------------------------------------------------------------------
step "Preflight"

[[ "$(uname -s)" == Linux ]] || die "Linux only (taskset, /proc)"
(($(nproc) >= 2)) || die "needs at least 2 CPUs (app on core 0, wrk on core 1); nproc is $(nproc)"
for tool in cargo python3 taskset; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
if ! command -v wrk >/dev/null; then
    command -v apt-get >/dev/null || die "wrk is missing and this is not Debian: install wrk"
    SUDO=""
    [[ $(id -u) -eq 0 ]] || SUDO=sudo
    echo "installing wrk" >&2
    $SUDO apt-get install -y wrk || { $SUDO apt-get update && $SUDO apt-get install -y wrk; } ||
        die "cannot install wrk"
fi

REDIS_ON=1
redis_reachable() {
    python3 - "$REDIS_URL" <<'EOF'
import socket, sys, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
with socket.create_connection((url.hostname or "127.0.0.1", url.port or 6379), timeout=2) as s:
    s.sendall(b"PING\r\n")
    sys.exit(0 if s.recv(64).startswith((b"+PONG", b"-NOAUTH")) else 1)
EOF
}
if [[ "$SKIP_REDIS" == 1 ]]; then
    REDIS_ON=0
elif ! redis_reachable 2>/dev/null; then
    die "no Redis answers at $REDIS_URL: start one, set REDIS_URL, or set BENCH_SKIP_REDIS=1"
fi

record config.duration "$DURATION"
record config.rounds "$ROUNDS"
record config.warmup "$WARMUP"
record config.connections "$CONNECTIONS"
record config.anon_route "$ANON_ROUTE"
record config.auth_route "$AUTH_ROUTE"
record config.loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)"

# ---------------------------------------------------------------------------------------
step "Building (release): example-demo and the pow-core benches"

(cd "$ROOT" && cargo build --release -p example-demo) || die "cargo build of example-demo failed"
BENCH_FEATURES=()
((REDIS_ON)) && BENCH_FEATURES=(--features redis)
# Build the benches once and run their executables, so that nothing is rebuilt later.
(cd "$ROOT" && cargo bench -p pow-core "${BENCH_FEATURES[@]}" --bench hash --bench session_memory \
    --no-run --message-format=json-render-diagnostics) >"$WORK/bench-build.json" ||
    die "cargo bench --no-run failed"
HASH_BIN=$(load_py executable "$WORK/bench-build.json" hash) || die "no executable for the hash bench"
MEMORY_BIN=$(load_py executable "$WORK/bench-build.json" session_memory) ||
    die "no executable for the session_memory bench"

# run_bench NAME COMMAND...: runs a bench executable and records its "result" lines.
run_bench() {
    local name=$1 out="$WORK/bench-$1.txt"
    shift
    (cd "$ROOT" && "$@" --bench) | tee "$out" || die "bench $name failed"
    grep -q '^result ' "$out" || die "bench $name printed no results"
    grep '^result ' "$out" | while read -r _ key value; do record "$key" "$value"; done
}

# ---------------------------------------------------------------------------------------
step "(c) Raw password-hash cost (pinned to core 0, like the app)"
run_bench hash taskset -c 0 "$HASH_BIN"

step "(d) Memory per session ($SESSIONS sessions)"
if ((REDIS_ON)); then
    BENCH_SESSIONS=$SESSIONS BENCH_REDIS_URL=$REDIS_URL run_bench session_memory "$MEMORY_BIN"
else
    record d.redis.skipped "skipped (BENCH_SKIP_REDIS=1)"
    BENCH_SESSIONS=$SESSIONS run_bench session_memory "$MEMORY_BIN"
fi

# ---------------------------------------------------------------------------------------
# The app

# start_app NAME STORE HASHER: starts the demo with one worker on core 0, signs a user up;
# sets BASE.
start_app() {
    local name=$1 store=$2 hasher=$3 port
    port=$(load_py port) || die "no free port"
    BASE="http://127.0.0.1:$port"
    mkdir -p "$WORK/$name/mail"
    (
        cd "$WORK/$name"
        export BIND="127.0.0.1:$port" BASE_URL="$BASE" DATABASE_URL="$WORK/$name/demo.db"
        export SECRET_KEY_BASE="load-benchmark-secret-$name-$(printf '%064d' 0)"
        export POW_MAIL_DIR="$WORK/$name/mail" POW_CACHE="$store" POW_CACHE_DIR="$WORK/$name/cache"
        export REDIS_URL WORKERS=1 POW_HASHER="$hasher" POW_RATE_LIMITS=off RUST_LOG=warn
        exec taskset -c 0 "$APP_BIN"
    ) >"$WORK/$name/app.log" 2>&1 &
    APP_PID=$!
    load_py wait "$BASE" "$APP_PID" || { cat "$WORK/$name/app.log" >&2; die "the app ($name) did not start"; }
    load_py user "$BASE" "$EMAIL" "$PASSWORD" "$WORK/$name/mail" || die "sign-up failed ($name)"
}

stop_app() {
    kill "$APP_PID" 2>/dev/null || true
    wait "$APP_PID" 2>/dev/null || true
    APP_PID=""
}

# run_wrk OUT SECONDS PATH COOKIE [ENV...]: one GET run of get.lua, pinned to core 1.
run_wrk() {
    local out=$1 secs=$2 path=$3 cookie=$4 header=()
    shift 4
    [[ -n "$cookie" ]] && header=(-H "Cookie: $cookie")
    env "$@" taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${secs}s" --timeout 10s -s "$HERE/get.lua" \
        "${header[@]}" "$BASE$path" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed ($out)"; }
    grep -q '^@@ ' "$out" || { cat "$out" >&2; die "no wrk summary in $out"; }
}

# wrk_check KEY PATH COOKIE TEXT: a warm-up run of GET PATH with COOKIE ('' for none) whose
# every answer must be 200 and contain TEXT. Measured runs of KEY compare with it.
wrk_check() {
    local key=$1 path=$2 cookie=$3 text=$4 out="$WORK/wrk-$1.warmup" warm
    run_wrk "$out" "$WARMUP" "$path" "$cookie" CHECK_TEXT="$text"
    warm=$(grep '^@@ ' "$out")
    (($(field "$warm" requests) > 0)) || die "$key: no request completed in the warm-up"
    (($(field "$warm" mismatches) == 0)) ||
        die "$key: $(field "$warm" mismatches) answers in the warm-up were not 200 with '$text'"
}

# wrk_measure KEY ROUND PATH COOKIE TEXT: a measured run (no body checks, so wrk stays fast),
# recorded with the app's CPU time. It must have no errors and answers of the checked
# warm-up's size (another answer would have another size); afterwards the route must still
# give the checked answer.
wrk_measure() {
    local key=$1 round=$2 path=$3 cookie=$4 text=$5 out="$WORK/wrk-$1.r$2" before after
    before=$(load_py cpu "$APP_PID") || die "cannot read the app's CPU time"
    run_wrk "$out" "$DURATION" "$path" "$cookie"
    after=$(load_py cpu "$APP_PID") || die "cannot read the app's CPU time"
    load_py summary "$key.r$round" "$(grep '^@@ ' "$out")" "$before" "$after" \
        --no-errors --bytes-like "$(grep '^@@ ' "$WORK/wrk-$key.warmup")" >>"$RESULTS" ||
        die "$key: measured run rejected (raw output: $out)"
    load_py check "$BASE" "$path" "$cookie" 200 "$text" || die "$key: the route changed its answer"
}

# signin_wrk OUT CONNECTIONS SECONDS PASSWORD: sign-in loops on a fresh form.
signin_wrk() {
    local out=$1 conns=$2 secs=$3 password=$4 form
    form=$(load_py signin-form "$BASE") || die "no sign-in form"
    SIGNIN_COOKIE=$(sed -n 1p <<<"$form") SIGNIN_TOKEN=$(sed -n 2p <<<"$form") \
        SIGNIN_EMAIL="$EMAIL" SIGNIN_PASSWORD="$password" \
        taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" --timeout 30s -s "$HERE/signin.lua" \
        "$BASE/session" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed ($out)"; }
    grep -q '^@@ ' "$out" || { cat "$out" >&2; die "no wrk summary in $out"; }
}

# signin_latency KEY: sequential real sign-ins (one connection); each must answer 302.
signin_latency() {
    local key=$1 out="$WORK/wrk-$1"
    signin_wrk "$out.warmup" 1 "$WARMUP" "$PASSWORD"
    load_py summary "$key.r1" "$(grep '^@@ ' "$out.warmup")" - - --all-302 >/dev/null ||
        die "$key: warm-up sign-ins did not all answer 302"
    signin_wrk "$out" 1 $((2 * DURATION)) "$PASSWORD"
    load_py summary "$key.r1" "$(grep '^@@ ' "$out")" - - --all-302 >>"$RESULTS" ||
        die "$key: sign-ins did not all answer 302 (raw output: $out)"
}

# ---------------------------------------------------------------------------------------
step "(a) Authenticated GET $AUTH_ROUTE against unauthenticated GET $ANON_ROUTE per store"

for store in memory disk redis; do
    if [[ $store == redis && $REDIS_ON == 0 ]]; then
        record a.redis.skipped "BENCH_SKIP_REDIS=1"
        continue
    fi
    echo "-- $store store" >&2
    start_app "a-$store" "$store" pbkdf2
    cookie=$(load_py session "$BASE" "$EMAIL" "$PASSWORD") || die "sign-in failed ($store)"
    KEYS=("a.$store.anon" "a.$store.auth" "a.$store.home")
    declare -A PATHS=(["${KEYS[0]}"]="$ANON_ROUTE" ["${KEYS[1]}"]="$AUTH_ROUTE" ["${KEYS[2]}"]="$ANON_ROUTE")
    declare -A COOKIES=(["${KEYS[0]}"]="" ["${KEYS[1]}"]="$cookie" ["${KEYS[2]}"]="$cookie")
    declare -A TEXTS=(["${KEYS[0]}"]="$ANON_TEXT" ["${KEYS[1]}"]="$AUTH_TEXT" ["${KEYS[2]}"]="$HOME_TEXT")
    for key in "${KEYS[@]}"; do
        wrk_check "$key" "${PATHS[$key]}" "${COOKIES[$key]}" "${TEXTS[$key]}"
    done
    for ((round = 1; round <= ROUNDS; round++)); do
        order=("${KEYS[@]}")
        ((round % 2 == 0)) && order=("${KEYS[2]}" "${KEYS[1]}" "${KEYS[0]}")
        for key in "${order[@]}"; do
            wrk_measure "$key" "$round" "${PATHS[$key]}" "${COOKIES[$key]}" "${TEXTS[$key]}"
        done
    done
    unset PATHS COOKIES TEXTS
    if [[ $store == memory ]]; then
        echo "-- (c) sequential PBKDF2 sign-ins" >&2
        signin_latency c.pbkdf2
    fi
    stop_app
done

# ---------------------------------------------------------------------------------------
step "(b) Authenticated GET during $SIGNIN_LOOPS sign-in loops (Argon2id), (c) Argon2id sign-ins"

start_app b-argon2 memory argon2
record b.loops "$SIGNIN_LOOPS"
echo "-- (c) sequential Argon2id sign-ins" >&2
signin_latency c.argon2

cookie=$(load_py session "$BASE" "$EMAIL" "$PASSWORD") || die "sign-in failed (argon2)"
wrk_check b.idle "$AUTH_ROUTE" "$cookie" "$AUTH_TEXT"
for ((round = 1; round <= ROUNDS; round++)); do
    echo "-- round $round: idle, then storm" >&2
    wrk_measure b.idle "$round" "$AUTH_ROUTE" "$cookie" "$AUTH_TEXT"
    # Wrong passwords: the same hash work as a sign-in, without piling up sessions. The
    # storm outlasts the checked warm-up (its ramp) and the measured run.
    storm_out="$WORK/wrk-b.signin.r$round"
    signin_wrk "$storm_out" "$SIGNIN_LOOPS" $((WARMUP + DURATION + 2)) "wrong password" &
    STORM_PID=$!
    wrk_check b.storm "$AUTH_ROUTE" "$cookie" "$AUTH_TEXT"
    wrk_measure b.storm "$round" "$AUTH_ROUTE" "$cookie" "$AUTH_TEXT"
    wait "$STORM_PID" || die "the sign-in storm failed"
    STORM_PID=""
    load_py summary "b.signin.r$round" "$(grep '^@@ ' "$storm_out")" - - --no-socket-errors >>"$RESULTS" ||
        die "sign-in storm: rejected (raw output: $storm_out)"
done
stop_app

# ---------------------------------------------------------------------------------------
step "Results"
record config.loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)"
load_py table "$RESULTS" "$HERE/RESULTS.md" || die "could not render the results"
echo >&2
echo "written to $HERE/RESULTS.md" >&2
