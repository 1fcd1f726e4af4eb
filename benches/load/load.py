#!/usr/bin/env python3
"""HTTP client and table renderer for run.sh: drives the demo app's forms and renders the results table.

Standard library only. Subcommands (every failure exits non-zero with a message):

  port                                   print a free TCP port on 127.0.0.1
  wait BASE PID                          wait until BASE/ answers 200 (PID must stay alive)
  user BASE EMAIL PASSWORD MAIL_DIR      sign up and confirm the email via the mailed link
  session BASE EMAIL PASSWORD            sign in; print the Cookie header of the session
  signin-form BASE                       print a Cookie header and its CSRF token (2 lines)
  check BASE PATH COOKIE STATUS TEXT     GET PATH with COOKIE ('' for none): expect both
  cpu PID                                print the CPU seconds of process PID, the busy
                                         seconds of core 0 and a monotonic clock (for
                                         deltas around a run)
  summary KEY LINE BEFORE AFTER [CHECKS] turn a wrk "@@" summary LINE (and `cpu` readings
                                         around the run, or - -) into result lines under KEY;
                                         CHECKS: --no-errors, --no-socket-errors, --all-302,
                                         --bytes-like LINE (same bytes per answer, within 2%)
  executable JSON NAME                   the executable of bench NAME in cargo's JSON output
  table RESULTS MARKDOWN                 print the results table; write it as markdown
"""

import datetime
import email
import email.policy
import http.client
import http.cookies
import os
import pathlib
import platform
import re
import socket
import subprocess
import sys
import time
import urllib.parse

TIMEOUT = 30


class Failure(Exception):
    """A step that did not go as expected."""


class Browser:
    """One keep-alive connection with a cookie jar, like a browser tab."""

    def __init__(self, base):
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname, url.port or 80
        self.conn = None
        self.jar = {}

    def cookie_header(self):
        return "; ".join(f"{k}={v}" for k, v in self.jar.items())

    def request(self, method, path, form=None, cookie=None):
        """Sends a request; returns (status, headers, body). Keeps Set-Cookie in the jar
        unless an explicit cookie header is given."""
        headers = {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        jar = cookie if cookie is not None else self.cookie_header()
        if jar:
            headers["Cookie"] = jar
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                res = self.conn.getresponse()
                data = res.read().decode("utf-8", "replace")
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        if cookie is None:
            for raw in res.headers.get_all("Set-Cookie") or []:
                parsed = http.cookies.SimpleCookie()
                parsed.load(raw)
                for name, morsel in parsed.items():
                    if morsel["max-age"] == "0" or morsel.value == "":
                        self.jar.pop(name, None)
                    else:
                        self.jar[name] = morsel.value
        return res.status, res.headers, data

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, form, **kw):
        return self.request("POST", path, form=form, **kw)


def csrf_token(body):
    tag = re.search(r'<input[^>]*name="_csrf_token"[^>]*>', body)
    value = tag and re.search(r'value="([^"]+)"', tag.group(0))
    if not value:
        raise Failure("no CSRF token in the page")
    return value.group(1)


def expect(what, status, wanted, body=""):
    if status != wanted:
        raise Failure(f"{what}: expected status {wanted}, got {status}\n{body[:2000]}")


def confirmation_path(mail_dir, address, deadline):
    """The path of the confirmation link in the newest mail to `address`."""
    while time.monotonic() < deadline:
        for path in sorted(pathlib.Path(mail_dir).glob("*.eml"), key=os.path.getmtime, reverse=True):
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if address not in str(msg.get("To", "")).lower():
                continue
            part = msg.get_body(preferencelist=("plain", "html"))
            text = part.get_content() if part else ""
            link = re.search(r"https?://[^\s\"'<>]+(/confirm-email/[^\s\"'<>]+)", text)
            if link:
                return link.group(1)
        time.sleep(0.1)
    raise Failure(f"no confirmation mail to {address} in {mail_dir}")


def cmd_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def cmd_wait(base, pid):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            raise Failure(f"the app (pid {pid}) exited before answering")
        try:
            status, _, _ = Browser(base).get("/")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise Failure(f"{base} did not answer within 60 s")


def cmd_user(base, address, password, mail_dir):
    b = Browser(base)
    status, _, page = b.get("/registration/new")
    expect("registration page", status, 200, page)
    form = {
        "_csrf_token": csrf_token(page),
        "user[email]": address,
        "user[name]": "Load Test",
        "user[password]": password,
        "user[password_confirmation]": password,
    }
    status, _, body = b.post("/registration", form)
    expect("sign-up", status, 302, body)
    link = confirmation_path(mail_dir, address.lower(), time.monotonic() + 10)
    status, _, body = b.get(link)
    expect("email confirmation", status, 302, body)


def sign_in(base, address, password):
    b = Browser(base)
    status, _, page = b.get("/session/new")
    expect("sign-in page", status, 200, page)
    form = {"_csrf_token": csrf_token(page), "user[email]": address, "user[password]": password}
    status, _, body = b.post("/session", form)
    expect("sign-in", status, 302, body)
    # Follow up like a browser, so the cookie holds everything the pages add to it.
    for _ in range(2):
        status, _, body = b.get("/")
        expect("home page after sign-in", status, 200, body)
    if "Signed in as" not in body:
        raise Failure(f"not signed in after sign-in:\n{body[:2000]}")
    return b


def cmd_session(base, address, password):
    print(sign_in(base, address, password).cookie_header())


def cmd_signin_form(base):
    b = Browser(base)
    status, _, page = b.get("/session/new")
    expect("sign-in page", status, 200, page)
    print(b.cookie_header())
    print(csrf_token(page))


def cmd_check(base, path, cookie, status, text):
    got, headers, body = Browser(base).get(path, cookie=cookie)
    expect(f"GET {path}", got, int(status), body)
    if text not in body:
        raise Failure(f"GET {path}: {text!r} not in the answer:\n{body[:2000]}")
    if cookie and headers.get("Set-Cookie"):
        print(f"note: GET {path} with the session cookie answers with a Set-Cookie", file=sys.stderr)


def cmd_cpu(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of the whole line (2 and 3 come before ")").
    app_ticks = int(fields[11]) + int(fields[12])
    core0 = 0
    for line in pathlib.Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu0 "):
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, line.split()[1:9])
            core0 = user + nice + system + irq + softirq + steal
    hz = os.sysconf("SC_CLK_TCK")
    print(f"{app_ticks / hz:.2f} {core0 / hz:.2f} {time.monotonic():.3f}")


def parse_summary(line):
    if not line.startswith("@@ "):
        raise Failure(f"not a wrk summary line: {line!r}")
    return {k: int(v) for k, v in (pair.split("=", 1) for pair in line.split()[1:])}


def cmd_summary(key, line, before, after, *checks):
    run = parse_summary(line)
    checks = list(checks)
    if run["requests"] <= 0:
        raise Failure(f"{key}: no request completed")
    socket_errors = ("errors_connect", "errors_read", "errors_write", "errors_timeout")
    while checks:
        check = checks.pop(0)
        if check in ("--no-errors", "--no-socket-errors"):
            names = socket_errors + (("errors_status",) if check == "--no-errors" else ())
            bad = {n: run[n] for n in names if run[n]}
            if bad:
                raise Failure(f"{key}: errors {bad}")
        elif check == "--all-302":
            if run.get("status_302") != run["requests"]:
                raise Failure(f"{key}: {run['requests']} sign-ins, {run.get('status_302')} answered 302")
        elif check == "--bytes-like":
            warm = parse_summary(checks.pop(0))
            expected = warm["bytes"] / warm["requests"]
            got = run["bytes"] / run["requests"]
            if abs(got - expected) > 0.02 * expected:
                raise Failure(f"{key}: {got:.0f} bytes per answer, the checked warm-up had {expected:.0f}")
        else:
            raise Failure(f"unknown check {check}")
    seconds = run["duration_us"] / 1e6
    out = {
        "requests": run["requests"],
        "rps": f"{run['requests'] / seconds:.2f}",
        "p50_us": run["p50_us"],
        "p90_us": run["p90_us"],
        "p99_us": run["p99_us"],
    }
    for name in ("status_200", "status_302", "status_503", "status_other"):
        if name in run:
            out[name] = run[name]
    if before != "-" and after != "-":
        (app0, core0_0, t0), (app1, core0_1, t1) = (map(float, v.split()) for v in (before, after))
        app, wall = app1 - app0, t1 - t0
        # Per answer: right for runs where the app idles outside wrk's run; a storm's
        # hashing between the readings counts too.
        out["cpu_us"] = f"{app * 1e6 / run['requests']:.2f}"
        out["app_cpu"] = f"{app / wall:.3f}"
        out["other_core0"] = f"{max(0.0, (core0_1 - core0_0) - app) / wall:.3f}"
    for name, value in out.items():
        print(f"{key}.{name} {value}")


def cmd_executable(json_path, name):
    import json
    for line in pathlib.Path(json_path).read_text().splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        target = msg.get("target") or {}
        if (msg.get("reason") == "compiler-artifact" and target.get("name") == name
                and "bench" in target.get("kind", []) and msg.get("executable")):
            print(msg["executable"])
            return
    raise Failure(f"no bench executable named {name} in {json_path}")


# ---------------------------------------------------------------------------------------
# The table


def load_results(path):
    results = {}
    for line in pathlib.Path(path).read_text().splitlines():
        if line.strip():
            key, value = line.split(None, 1)
            results[key] = value.strip()
    return results


def machine():
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"nproc {len(os.sched_getaffinity(0))}, {cpu}"


def commit(root):
    try:
        rev = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cmd_table(results_path, markdown_path):
    r = load_results(results_path)

    def rounds(prefix, stat):
        pattern = re.compile(re.escape(prefix) + r"\.r\d+\." + re.escape(stat) + "$")
        return [float(v) for k, v in r.items() if pattern.match(k)]

    def med(prefix, stat):
        values = sorted(rounds(prefix, stat))
        if not values:
            return None
        mid = len(values) // 2
        return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2

    def total(prefix, stat):
        values = rounds(prefix, stat)
        return sum(values) if values else None

    def num(key):
        return float(r[key]) if key in r else None

    def f(value, digits=0):
        return "–" if value is None else f"{value:,.{digits}f}"

    def ms(value_us):
        return "–" if value_us is None else f"{value_us / 1000:.2f}"

    def pct(a, b):
        return "–" if a is None or not b else f"{100 * a / b:.1f}%"

    def core0(prefix):
        app, other = med(prefix, "app_cpu"), med(prefix, "other_core0")
        return "" if app is None else f"{100 * app:.0f}% / {100 * (other or 0):.0f}%"

    def run_row(section, label, prefix, note, digits=0, cpu=True):
        cpu_us = med(prefix, "cpu_us") if cpu else None
        return (section, label, f(med(prefix, "rps"), digits), f(cpu_us, 1),
                ms(med(prefix, "p50_us")), ms(med(prefix, "p99_us")), core0(prefix), note)

    rows = []
    anon_route = r.get("config.anon_route", "/")
    route = r.get("config.auth_route", "/protected")
    for store in ("memory", "disk", "redis"):
        anon = f"a.{store}.anon"
        if med(anon, "rps") is None:
            rows.append(("a", f"{store} store: skipped", "", "", "", "", "",
                         r.get(f"a.{store}.skipped", "")))
            continue
        rows.append(run_row("a", f"{store}: unauthenticated GET {anon_route}", anon, "baseline"))
        for kind, label in (("auth", f"authenticated GET {route}"),
                            ("home", f"authenticated GET {anon_route} (home page, takes the flash)")):
            key = f"a.{store}.{kind}"
            note = (f"{pct(med(key, 'rps'), med(anon, 'rps'))} of unauthenticated req/s; "
                    f"{pct(med(anon, 'cpu_us'), med(key, 'cpu_us'))} per CPU-second")
            rows.append(run_row("a", f"{store}: {label}", key, note))

    loops = r.get("b.loops", "8")
    rows.append(run_row("b", f"Argon2id app, idle: authenticated GET {route}", "b.idle", "baseline"))
    rows.append(run_row(
        "b", f"same, during {loops} sign-in loops", "b.storm",
        f"{pct(med('b.storm', 'rps'), med('b.idle', 'rps'))} of idle req/s; "
        f"p99 {ms(med('b.storm', 'p99_us'))} vs {ms(med('b.idle', 'p99_us'))} ms",
        cpu=False))
    rows.append(run_row(
        "b", f"the {loops} loops' sign-ins (POST /session, wrong password)", "b.signin",
        f"503: {f(total('b.signin', 'status_503'))} of {f(total('b.signin', 'requests'))}; "
        f"other than 200/503: {f(total('b.signin', 'status_302') + total('b.signin', 'status_other'))}"
        if total("b.signin", "requests") is not None else "–", digits=1))

    for name, label, raw in (("pbkdf2", "PBKDF2-SHA512", "hash.pbkdf2_verify"),
                             ("argon2", "Argon2id", "hash.argon2id_verify")):
        p50, raw50 = med(f"c.{name}", "p50_us"), num(f"{raw}.p50_ms")
        rest = None if p50 is None or raw50 is None else p50 / 1000 - raw50
        rows.append(run_row("c", f"{label}: sequential sign-ins (POST /session, 302)", f"c.{name}",
                            f"raw verify p50 {f(raw50, 2)} ms; the rest {f(rest, 2)} ms", digits=1))
    for key, label, note in (
            ("hash.pbkdf2_verify", "raw PBKDF2-SHA512 verify (100 000 iterations)", "Pbkdf2Hasher"),
            ("hash.argon2id_verify", "raw Argon2id verify (19 MiB, t=2, p=1)",
             "Argon2Hasher (per-thread memory)"),
            ("hash.argon2id_reused_memory", "Argon2id, one buffer reused",
             "argon2 hash_password_into_with_memory"),
            ("hash.argon2id_fresh_memory", "Argon2id, fresh buffer per call",
             "argon2 hash_password_into")):
        p50, p99 = num(f"{key}.p50_ms"), num(f"{key}.p99_ms")
        rows.append(("c", label, "", "", f(p50, 2), f(p99, 2), "", note))
    reused = num("hash.argon2id_reused_memory.p50_ms")
    fresh = num("hash.argon2id_fresh_memory.p50_ms")
    gain = None if reused is None or fresh is None else fresh - reused
    first = num("hash.argon2id_fresh_memory.first_call_ms")
    rows.append(("c", "Argon2id: reuse gain (p50)", "", "", f(gain, 2), "", "",
                 f"{pct(gain, fresh)} of a fresh-buffer call; the first fresh-buffer call "
                 f"(memory new from the OS) took {f(first, 2)} ms"))

    sessions = num("session_memory.sessions")
    rows.append(("d", f"memory store: RSS per session ({f(sessions)} sessions)", "", "", "", "", "",
                 f"{f(num('session_memory.memory_rss_bytes_per_session'))} bytes "
                 f"(records: {r.get('session_memory.record_value_bytes', '?')} value + "
                 f"{r.get('session_memory.record_key_bytes', '?')} key bytes)"))
    redis = num("session_memory.redis_bytes_per_session")
    rows.append(("d", "Redis: used_memory per session", "", "", "", "", "",
                 f"{f(redis)} bytes" if redis is not None else r.get("d.redis.skipped", "skipped")))

    header = ("", "Measurement", "req/s", "CPU µs/req", "p50 ms", "p99 ms",
              "core 0: app / others", "Ratio / note")
    numeric = (2, 3, 4, 5, 6)
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]

    def line(row):
        return "  ".join(str(c).rjust(w) if i in numeric else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))

    others = [float(v) for k, v in r.items() if k.endswith(".other_core0")]
    root = str(pathlib.Path(markdown_path).resolve().parents[2])
    md = [
        "# Load benchmark results",
        "",
        "Written by `benches/load/run.sh` (see README.md there); each run replaces this file.",
        "",
        f"- Date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {machine()}",
        f"- Commit: {commit(root)}",
        f"- Setup: one actix worker pinned to core 0, wrk pinned to core 1, loopback; GET runs "
        f"with {r.get('config.connections', '?')} connections; medians of "
        f"{r.get('config.rounds', '?')} rounds of {r.get('config.duration', '?')} s, after a "
        f"checked {r.get('config.warmup', '?')} s warm-up",
        f"- Load average (1/5/15 min) at start: {r.get('config.loadavg_start', '?')}, at end: "
        f"{r.get('config.loadavg_end', '?')}; other processes took up to "
        f"{100 * max(others, default=0):.0f}% of core 0 during a measured run",
        "",
        "CPU µs/req is the app's CPU time per answer (all its threads; not shown during the "
        "storm, where it includes hashing); \"core 0: app / others\" is the share of core 0 "
        "the app and other processes used during the measured runs. The sign-in loops of (b) "
        "run from the checked warm-up to a little after the measured run.",
        "",
        "| " + " | ".join(h or "§" for h in header) + " |",
        "|---|---|--:|--:|--:|--:|--:|---|",
    ]
    for row in rows:
        md.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    pathlib.Path(markdown_path).write_text("\n".join(md) + "\n")


COMMANDS = {
    "port": (cmd_port, 0),
    "wait": (cmd_wait, 2),
    "user": (cmd_user, 4),
    "session": (cmd_session, 3),
    "signin-form": (cmd_signin_form, 1),
    "check": (cmd_check, 5),
    "cpu": (cmd_cpu, 1),
    "summary": (cmd_summary, None),
    "executable": (cmd_executable, 2),
    "table": (cmd_table, 2),
}


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        sys.exit(__doc__)
    arity = COMMANDS[argv[1]][1]
    if (arity is not None and len(argv) - 2 != arity) or (arity is None and len(argv) < 6):
        sys.exit(__doc__)
    func, _ = COMMANDS[argv[1]]
    try:
        func(*argv[2:])
    except (Failure, OSError, http.client.HTTPException) as err:
        sys.exit(f"load.py {argv[1]}: {err}")


if __name__ == "__main__":
    main(sys.argv)
