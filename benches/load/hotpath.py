#!/usr/bin/env python3
"""Hot-path benchmark: the cost of pow-rs per request against bare actix-web, measured side
by side in one run. See README.md next to this file (section "Hot path").

Every server has one actix worker pinned to core 0; wrk runs pinned to core 1. Each row's
figure is the median of BENCH_ROUNDS measured runs taken in alternating order. The steadiest
figure is the server's CPU time per answer (utime + stime from /proc during the run); the
ratio of a row is bare's CPU µs/req divided by the row's (1.00 = as cheap as bare actix).
"""

import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DURATION = int(os.environ.get("BENCH_DURATION", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/")
SKIP_REDIS = os.environ.get("BENCH_SKIP_REDIS") == "1"
SKIP_CALLGRIND = os.environ.get("BENCH_SKIP_CALLGRIND") == "1"
CALLGRIND_REQUESTS = int(os.environ.get("BENCH_CALLGRIND_REQUESTS", "2000"))
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def credential_of(res):
    """The header line a client sends back after the sign-in `res`: the Cookie header a
    browser sends (every cookie it set: the session cookie, and the device cookie a
    sign-in sets), or, for a server that sets none, the line its body names (a bearer
    token's `Authorization`, an API key's `X-Api-Key`)."""
    cookies = "; ".join(c.split(";", 1)[0] for c in res.headers.get_all("Set-Cookie") or [])
    if cookies:
        return f"Cookie: {cookies}"
    return res.read().decode().strip()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of the whole line (11 and 12 after the name).
    return (int(fields[11]) + int(fields[12])) / TICKS


def redis_pid():
    out = subprocess.run(["pgrep", "-x", "redis-server"], capture_output=True, text=True)
    pids = out.stdout.split()
    return int(pids[0]) if pids else None


class Server:
    def __init__(self, binary, mode, *extra, pinned=True, env=None):
        self.port = free_port()
        pin = ["taskset", "-c", "0"] if pinned else []
        self.proc = subprocess.Popen(
            [*pin, binary, mode, str(self.port), *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.time() + 30
        while True:
            if self.proc.poll() is not None:
                sys.exit(f"the {mode} server exited early ({self.proc.returncode})")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit(f"the {mode} server never listened")
                time.sleep(0.05)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path, credential=None):
        req = urllib.request.Request(self.url(path))
        if credential:
            name, value = credential.split(": ", 1)
            req.add_header(name, value)
        with urllib.request.urlopen(req) as res:
            return res.status, res.read().decode()

    def credential(self):
        req = urllib.request.Request(self.url("/sign_in"), data=b"", method="POST")
        with urllib.request.urlopen(req) as res:
            return credential_of(res)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def wrk(url, credential, duration):
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency"]
    if credential:
        cmd += ["-H", credential]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad or "Socket errors" in out:
        sys.exit(f"wrk saw errors on {url}:\n{out}")
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return requests, float(p99.group(1)) * scale


def measure(server, path, cookie, extra_pid=None):
    before = cpu_seconds(server.proc.pid)
    extra_before = cpu_seconds(extra_pid) if extra_pid else 0.0
    started = time.time()
    requests, p99 = wrk(server.url(path), cookie, DURATION)
    elapsed = time.time() - started
    used = cpu_seconds(server.proc.pid) - before
    extra = (cpu_seconds(extra_pid) - extra_before) if extra_pid else 0.0
    return {
        "rps": requests / elapsed,
        "cpu_us": used * 1e6 / requests,
        "extra_us": extra * 1e6 / requests,
        "p99": p99,
    }


class KeepAlive:
    """One keep-alive connection sending GETs of one path, each answered 200 before the
    next is sent."""

    def __init__(self, port, path, credential):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.reader = self.sock.makefile("rb")
        self.path = path
        request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n"
        if credential:
            request += f"{credential}\r\n"
        self.request = (request + "\r\n").encode()

    def send(self, count):
        for _ in range(count):
            self.sock.sendall(self.request)
            status = self.reader.readline()
            if b" 200 " not in status:
                sys.exit(f"{self.path}: {status!r} under callgrind")
            length = 0
            while (line := self.reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            self.reader.read(length)

    def close(self):
        self.reader.close()
        self.sock.close()


def instructions(binary, mode, path, signed_in, *extra):
    """User-space instructions per request of one server mode, counted by callgrind: a
    warm-up on a keep-alive connection, counters zeroed, CALLGRIND_REQUESTS requests on the
    same connection, counters dumped. Independent of the machine's load."""
    with tempfile.TemporaryDirectory() as work:
        out = os.path.join(work, "callgrind.out")
        port = free_port()
        proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary, mode, str(port), *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.time() + 120
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.time() > deadline:
                        sys.exit(f"the {mode} server never listened under callgrind")
                    time.sleep(0.2)
            cookie = None
            if signed_in:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/sign_in", data=b"", method="POST")
                with urllib.request.urlopen(req) as res:
                    cookie = credential_of(res)
            # Counted on a connection already open and warm: what one more request costs.
            conn = KeepAlive(port, path, cookie)
            conn.send(200)
            subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
            conn.send(CALLGRIND_REQUESTS)
            subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
            conn.close()
        finally:
            proc.terminate()
            proc.wait()
        dumps = sorted(f for f in os.listdir(work) if f.startswith("callgrind.out."))
        with open(os.path.join(work, dumps[0])) as f:
            total = int(re.search(r"^summary: (\d+)", f.read(), re.M).group(1))
        return total / CALLGRIND_REQUESTS


def session_memory():
    """Bytes per active session, from the session_memory bench (memory store, and Redis
    unless BENCH_SKIP_REDIS=1). Returns {name: value} of its `result` lines."""
    env = dict(os.environ)
    cmd = ["cargo", "bench", "-q", "-p", "pow-core", "--bench", "session_memory"]
    if not SKIP_REDIS:
        cmd[5:5] = ["--features", "redis"]
        env["BENCH_REDIS_URL"] = REDIS_URL
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"^result session_memory\.(\w+) ([\d.]+)$", out, re.M)
    }


def main():
    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "pow-bench-hotpath"], cwd=ROOT, check=True
    )
    binary = os.path.join(ROOT, "target", "release", "pow-bench-hotpath")
    servers = {
        "bare": Server(binary, "bare"),
        "cookie": Server(binary, "cookie"),
        "actix-cookie": Server(binary, "actix-cookie"),
        "identity": Server(binary, "identity"),
        "memory": Server(binary, "pow"),
        "axum-bare": Server(binary, "axum-bare"),
        "axum-login": Server(binary, "axum-login"),
        "pow-axum": Server(binary, "pow-axum"),
        "pow-axum-bearer": Server(binary, "pow-axum-bearer"),
        "pow-axum-key": Server(binary, "pow-axum-key"),
    }
    if not SKIP_REDIS:
        servers["redis"] = Server(binary, "pow", REDIS_URL)
        servers["redis-local"] = Server(binary, "pow", REDIS_URL, "local-cache")
    try:
        cookies = {
            name: s.credential() for name, s in servers.items() if name not in ("bare", "axum-bare")
        }
        rows = [
            ("bare actix-web `/hello` (the limit)", "bare", "/hello", None, False),
            ("pow-rs cookie session alone, `/protected`", "cookie", "/protected", "cookie", False),
            ("actix-session signed cookie alone (pow-rs's former layer), `/protected`", "actix-cookie", "/protected", "actix-cookie", False),
            ("pow-rs cookie session alone, `/hello` without a cookie", "cookie", "/hello", None, False),
            ("actix-identity + actix-session cookie store, `/protected` (best peer)", "identity", "/protected", "identity", False),
            ("pow-rs, memory store, signed-in `/protected`", "memory", "/protected", "memory", False),
            ("pow-rs, memory store, signed-in `/guarded` (a `RequireAuthenticated` scope)", "memory", "/guarded", "memory", False),
            ("pow-rs, memory store, `/hello` with a session cookie", "memory", "/hello", "memory", False),
            ("pow-rs, memory store, `/hello` without a session", "memory", "/hello", None, False),
            ("bare axum `/hello` (the axum limit)", "axum-bare", "/hello", None, False),
            ("axum-login + tower-sessions memory store, `/protected` (axum peer)", "axum-login", "/protected", "axum-login", False),
            ("pow-axum, memory store, signed-in `/protected`", "pow-axum", "/protected", "pow-axum", False),
            ("pow-axum, bearer access token, `/protected`", "pow-axum-bearer", "/protected", "pow-axum-bearer", False),
            ("pow-axum, API key (SQLite), `/protected`", "pow-axum-key", "/protected", "pow-axum-key", False),
        ]
        if "redis" in servers:
            rows.append(
                ("pow-rs, Redis store, signed-in `/protected` (+ Redis CPU)", "redis", "/protected", "redis", True)
            )
            rows.append(
                ("pow-rs, Redis store with its local cache, signed-in `/protected` (+ Redis CPU)", "redis-local", "/protected", "redis-local", True)
            )
        # Check every route answers as expected before measuring.
        for _, server, path, cookie, _ in rows:
            status, body = servers[server].get(path, cookies.get(cookie))
            expected = "hi " if path in ("/protected", "/guarded") else "hello"
            if status != 200 or not body.startswith(expected):
                sys.exit(f"{server} {path}: {status} {body!r}")
        for _, server, path, cookie, _ in rows:
            wrk(servers[server].url(path), cookies.get(cookie), 1)
        results = {i: [] for i in range(len(rows))}
        rpid = redis_pid()
        for round_no in range(ROUNDS):
            order = list(range(len(rows)))
            if round_no % 2:
                order.reverse()
            for i in order:
                _, server, path, cookie, with_redis = rows[i]
                extra = rpid if with_redis else None
                results[i].append(measure(servers[server], path, cookies.get(cookie), extra))
    finally:
        for s in servers.values():
            s.stop()

    med = {
        i: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for i, runs in results.items()
    }
    bare_cpu, bare_rps = med[0]["cpu_us"], med[0]["rps"]
    axum_row = next(i for i, row in enumerate(rows) if row[1] == "axum-bare")
    pow_axum_row = next(i for i, row in enumerate(rows) if row[1] == "pow-axum")
    lines = [
        "| server, route | req/s | CPU µs/req | p99 ms | ratio of bare (CPU) | ratio of bare (req/s) |",
        "| --- | --: | --: | --: | --: | --: |",
    ]
    for i, (label, *_rest) in enumerate(rows):
        m = med[i]
        cpu = f"{m['cpu_us']:.1f}"
        if m["extra_us"]:
            cpu += f" + {m['extra_us']:.1f}"
        ratio = bare_cpu / (m["cpu_us"] + m["extra_us"])
        lines.append(
            f"| {label} | {m['rps']:,.0f} | {cpu} | {m['p99']:.2f} | {ratio:.2f} | {m['rps'] / bare_rps:.2f} |"
        )
    lines += [
        "",
        f"pow-axum signed in: {med[axum_row]['cpu_us'] / med[pow_axum_row]['cpu_us']:.2f} of bare "
        "axum's CPU per request (bare axum's CPU µs per request over pow-axum's).",
    ]
    header = [
        "# Hot-path benchmark results",
        "",
        "Written by `benches/load/hotpath.py` (see README.md there); each run replaces this file.",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- Commit: {subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True, text=True).stdout.strip()}",
        f"- Setup: one actix worker pinned to core 0, wrk pinned to core 1, {CONNECTIONS} connections; medians of {ROUNDS} alternating rounds of {DURATION} s",
        f"- Load average at end: {os.getloadavg()[0]:.2f}",
        "",
    ]
    if not SKIP_CALLGRIND:
        counted = [
            ("bare actix-web `/hello`", ("bare", "/hello", False)),
            ("actix-identity, `/protected` (best peer)", ("identity", "/protected", True)),
            ("pow-rs, memory store, signed-in `/protected`", ("pow", "/protected", True)),
            ("pow-rs, `/hello` without a session", ("pow", "/hello", False)),
            ("bare axum `/hello`", ("axum-bare", "/hello", False)),
            ("axum-login + tower-sessions, `/protected` (axum peer)", ("axum-login", "/protected", True)),
            ("pow-axum, memory store, signed-in `/protected`", ("pow-axum", "/protected", True)),
            ("pow-axum, bearer access token, `/protected`", ("pow-axum-bearer", "/protected", True)),
            ("pow-axum, API key (SQLite), `/protected`", ("pow-axum-key", "/protected", True)),
        ]
        if not SKIP_REDIS:
            counted.append(
                ("pow-rs, Redis store, signed-in `/protected` (pow-rs's process only)", ("pow", "/protected", True, REDIS_URL))
            )
        counts = [(label, instructions(binary, *args)) for label, args in counted]
        bare_count = counts[0][1]
        lines += [
            "",
            f"User-space instructions per request (callgrind, {CALLGRIND_REQUESTS} requests on one "
            "warm keep-alive connection; the same for every run of the same build, whatever the "
            "machine's load; SHA-256 runs without the CPU's SHA instructions under valgrind, so "
            "signatures weigh more here than on the machine):",
            "",
            "| server, route | instructions | ratio of bare |",
            "| --- | --: | --: |",
        ]
        lines += [f"| {label} | {count:,.0f} | {bare_count / count:.2f} |" for label, count in counts]
        by_label = dict(counts)
        pow_axum = by_label["pow-axum, memory store, signed-in `/protected`"]
        login = by_label["axum-login + tower-sessions, `/protected` (axum peer)"]
        bearer = by_label["pow-axum, bearer access token, `/protected`"]
        key = by_label["pow-axum, API key (SQLite), `/protected`"]
        lines += [
            "",
            f"pow-axum signed in costs {pow_axum / login:.2f} of axum-login's instructions "
            f"and {pow_axum / by_label['bare axum `/hello`']:.2f}× bare axum's; a request with an "
            f"API key costs {key / bearer:.2f}× one with a bearer access token.",
        ]
    memory = session_memory()
    lines += [
        "",
        f"Memory per active session ({memory.get('sessions', 0):,.0f} sessions of distinct users, "
        "each with the demo's user row; `cargo bench -p pow-core --bench session_memory`):",
        "",
        "| store | bytes per session | target |",
        "| --- | --: | --: |",
        f"| memory store (process RSS growth) | {memory.get('memory_rss_bytes_per_session', 0):,.0f} | 1,024 |",
    ]
    if "redis_bytes_per_session" in memory:
        lines.append(
            f"| Redis (`used_memory` growth) | {memory['redis_bytes_per_session']:,.0f} | 700 |"
        )
    text = "\n".join(header + lines) + "\n"
    print(text)
    with open(os.path.join(HERE, "HOTPATH.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
