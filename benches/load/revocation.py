#!/usr/bin/env python3
"""Revocation across servers: two app processes share one cache store; a session signed in
on A is signed out on B, and A is asked again and again until it refuses the session. The
time from B's answer to A's first refusal, and how many requests A still accepted in
between, are taken over many tries for each store two processes can share. The cost of a
signed-in request on each store (callgrind instructions, the app process only) comes from
the same servers. See README.md next to this file (section "Revocation across servers").

Environment: REDIS_URL (default redis://127.0.0.1:6379/), DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/test; the servers use a schema `pow_bench` in it),
BENCH_TRIES (default 300), BENCH_SKIP_CALLGRIND=1 to leave the instruction counts out.
Writes REVOCATION.md next to this file.
"""

import http.client
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hotpath import HERE, ROOT, SKIP_CALLGRIND, Server, instructions  # noqa: E402

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/")
DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
TRIES = int(os.environ.get("BENCH_TRIES", "300"))
# How long A may keep accepting a revoked session before the run counts it as never refused.
GIVE_UP = 10.0


class Conn:
    """One keep-alive connection to a server."""

    def __init__(self, server):
        self.http = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)

    def send(self, method, path, cookie=None):
        headers = {"Cookie": cookie} if cookie else {}
        self.http.request(method, path, body=b"" if method == "POST" else None, headers=headers)
        res = self.http.getresponse()
        res.read()
        return res

    def close(self):
        self.http.close()


def cookie_of(res):
    return "; ".join(c.split(";", 1)[0] for c in res.headers.get_all("Set-Cookie") or [])


def one_try(on_a, on_b):
    """Signs in on A, reads on both, signs out on B; returns (seconds from B's answer to A's
    first refusal, requests A accepted after B's answer)."""
    cookie = cookie_of(on_a.send("POST", "/sign_in"))
    for conn in (on_a, on_b):
        status = conn.send("GET", "/protected", cookie).status
        if status != 200:
            sys.exit(f"a fresh session answered {status}")
    if on_b.send("POST", "/sign_out", cookie).status != 200:
        sys.exit("the sign-out failed")
    answered = time.perf_counter()
    accepted = 0
    while True:
        status = on_a.send("GET", "/protected", cookie).status
        # Refused: the extractor's answer (a redirect to the sign-in page, or 401).
        if status in (302, 401):
            return time.perf_counter() - answered, accepted
        if status != 200:
            sys.exit(f"A answered {status}")
        accepted += 1
        if time.perf_counter() - answered > GIVE_UP:
            sys.exit(f"A still accepts the session {GIVE_UP} s after the sign-out on B")


def request_time(conn, cookie):
    """The median time of one signed-in request: what the first refusal cannot beat."""
    times = []
    for _ in range(200):
        started = time.perf_counter()
        conn.send("GET", "/protected", cookie)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main():
    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "pow-bench-hotpath"], cwd=ROOT, check=True
    )
    binary = os.path.join(ROOT, "target", "release", "pow-bench-hotpath")
    work = tempfile.mkdtemp(prefix="pow-revocation-")
    sqlite_url = f"sqlite://{os.path.join(work, 'store.db')}"
    stores = [
        ("Redis", [REDIS_URL]),
        ("Redis with its local read cache", [REDIS_URL, "local-cache"]),
        ("SQL store, PostgreSQL", [DATABASE_URL]),
        ("SQL store, PostgreSQL, with its local read cache", [DATABASE_URL, "local-cache"]),
        ("SQL store, one SQLite file (one machine)", [sqlite_url]),
    ]
    rows = []
    for label, extra in stores:
        env = dict(os.environ, POW_BENCH_PREFIX=f"pow-revocation-{os.getpid()}")
        a = Server(binary, "pow", *extra, pinned=False, env=env)
        b = Server(binary, "pow", *extra, pinned=False, env=env)
        on_a, on_b = Conn(a), Conn(b)
        try:
            for _ in range(20):
                one_try(on_a, on_b)
            results = [one_try(on_a, on_b) for _ in range(TRIES)]
            cookie = cookie_of(on_a.send("POST", "/sign_in"))
            request = request_time(on_a, cookie)
        finally:
            on_a.close()
            on_b.close()
            a.stop()
            b.stop()
        times = [t * 1000 for t, _ in results]
        stale = [n for _, n in results]
        count = None
        if not SKIP_CALLGRIND:
            count = instructions(binary, "pow", "/protected", True, *extra)
        rows.append((label, times, stale, request * 1000, count))
        print(f"{label}: median {statistics.median(times):.2f} ms, stale {max(stale)}", flush=True)
    memory = None if SKIP_CALLGRIND else instructions(binary, "pow", "/protected", True)

    lines = [
        "# Revocation across servers",
        "",
        "Written by `benches/load/revocation.py` (see README.md there); each run replaces this file.",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- Commit: {subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True, text=True).stdout.strip()}",
        f"- Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Linux {platform.release()}; Redis and PostgreSQL on the same machine, over loopback",
        f"- Two release servers (`pow-bench-hotpath pow`, one worker each) on one store; "
        f"{TRIES} tries per store after 20 warm-up tries",
        "",
        "Time from the sign-out's answer on B to A's first refusal, and the requests A still "
        "answered `200` in between (each sent after the previous answer, on one keep-alive "
        "connection):",
        "",
        "| store | median ms | p99 ms | max ms | requests accepted after the sign-out (max) | one signed-in request (median ms) |",
        "| --- | --: | --: | --: | --: | --: |",
    ]
    for label, times, stale, request, _ in rows:
        lines.append(
            f"| {label} | {statistics.median(times):.2f} | {percentile(times, 0.99):.2f} | "
            f"{max(times):.2f} | {max(stale)} | {request:.2f} |"
        )
    if not SKIP_CALLGRIND:
        lines += [
            "",
            "User-space instructions per signed-in `GET /protected` of the app process "
            "(callgrind, as in HOTPATH.md; the store server's own work is not counted):",
            "",
            "| store | instructions |",
            "| --- | --: |",
            f"| memory (one process, for comparison) | {memory:,.0f} |",
        ]
        lines += [f"| {label} | {count:,.0f} |" for label, _, _, _, count in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(HERE, "REVOCATION.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
