#!/usr/bin/env python3
"""Run the scim2-tester conformance checks against a live SCIM 2.0 server.

    python check.py --url http://127.0.0.1:PORT/scim/v2 --token TOKEN [--domain acme.example]

Prints one line per check (PASS/WARN/FAIL/SKIP/WAIV, resource type, check
name, reason) and a closing line "scim-conformance: N passed, N failed,
N skipped". Exits 0 only when no check failed (1 otherwise, 2 on bad
arguments); see README.md for what counts as a failure.

Talks to nothing but --url: proxies from the environment are ignored and the
tool itself downloads nothing.
"""

import argparse
import json
import os
import sys
import uuid

try:
    import httpx2
    import scim2_tester
    import scim2_tester.filling
    from scim2_client.engines.httpx2 import SyncSCIMClient
    from scim2_tester import Status, check_server
except ImportError as exc:  # pragma: no cover - environment problem
    sys.exit(
        f"check.py: {exc}; install the pinned tool first:\n"
        "  python3 -m venv conformance/scim/.venv && "
        "conformance/scim/.venv/bin/pip install --no-deps -r conformance/scim/requirements.txt"
    )

PASSING = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}
WARNING = {Status.DEVIATION}  # within the RFC (a SHOULD not followed): reported, not failed
FAILING = {Status.ERROR, Status.CRITICAL}


def constrain_generated_addresses(domain: str) -> None:
    """Make the values scim2-tester invents for userName and emails.value
    addresses at `domain` (it otherwise uses '<uuid>@<uuid>.com' for emails and
    a bare '<uuid>' for userName), so a server that only accepts addresses at
    an organization's verified domains can take them.

    scim2-tester has no option for this; its generator
    (scim2_tester.filling.generate_random_value) is wrapped, and the modules
    that imported it by name are pointed at the wrapper.
    """
    original = scim2_tester.filling.generate_random_value

    def address() -> str:
        return f"scim-{uuid.uuid4().hex[:16]}@{domain}"

    def is_email_value(path) -> bool:
        text = str(path)
        if text.endswith("emails.value"):
            return True
        binding = path.resolve()
        if binding is None or binding.target_field_name != "value":
            return False
        model = binding.target_model
        return model is not None and "email" in model.__name__.lower()

    def rewrite_emails(value):
        # A whole 'emails' value: a list of Email-like objects.
        for item in value if isinstance(value, list) else [value]:
            if hasattr(item, "value") and "email" in type(item).__name__.lower():
                item.value = address()
        return value

    def generate(context, path, mutability=None, required=None):
        value = original(context, path=path, mutability=mutability, required=required)
        if value is None:
            return value
        text = str(path)
        last = text.rsplit(":", 1)[-1]
        if last == "userName":
            return address()
        if is_email_value(path):
            return [address() for _ in value] if isinstance(value, list) else address()
        if last == "emails":
            return rewrite_emails(value)
        return value

    for name, module in list(sys.modules.items()):
        if name.startswith("scim2_tester") and getattr(module, "generate_random_value", None) is original:
            module.generate_random_value = generate


def is_waived(waivers, result) -> bool:
    urn = result.data.get("urn") if isinstance(result.data, dict) else None
    for waiver in waivers:
        resource, _, rest = waiver.partition(":")
        check, _, attribute = rest.partition(":")
        if resource != (result.resource_type or "-") or check != result.title:
            continue
        if not attribute or attribute == urn:
            return True
    return False


def one_line(text) -> str:
    return " | ".join(part.strip() for part in str(text).splitlines() if part.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="SCIM base URL, e.g. http://127.0.0.1:8080/scim/v2")
    parser.add_argument("--token", default=os.environ.get("SCIM_TOKEN"),
                        help="bearer token, sent as 'Authorization: Bearer <token>' "
                             "(default: $SCIM_TOKEN, which keeps it out of the process list)")
    parser.add_argument("--domain", help="make generated userName and emails.value addresses at this domain")
    parser.add_argument("--resource-type", action="append", dest="resource_types",
                        help="resource type name to test (repeatable; default: User and Group)")
    parser.add_argument("--include-tag", action="append", dest="include_tags",
                        help="run only checks with this scim2-tester tag (repeatable)")
    parser.add_argument("--exclude-tag", action="append", dest="exclude_tags",
                        help="skip checks with this scim2-tester tag (repeatable)")
    parser.add_argument("--allow-skip", action="append", default=[], metavar="TAG",
                        help="a check of this tag may be skipped by the tool without failing the run "
                             "(repeatable; default: crud:read:attributes, i.e. the cross-type POST /.search)")
    parser.add_argument("--strict-skips", action="store_true",
                        help="every skip the tool decides (not one asked for with --include/--exclude-tag) fails")
    parser.add_argument("--waive", action="append", default=[], metavar="RESOURCE:CHECK[:ATTRIBUTE]",
                        help="a known, accepted failure: e.g. 'User:check_remove_attribute:active' "
                             "(the attribute is the PATCH path the tool reports). Shown as WAIVED, "
                             "counted with the skipped, does not fail the run (repeatable)")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds")
    parser.add_argument("--json", dest="json_out", help="also write the results to this file as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the data of failed checks")
    args = parser.parse_args()
    if not args.token:
        parser.error("a bearer token is needed: --token or $SCIM_TOKEN")

    resource_types = args.resource_types or ["User", "Group"]
    allowed_skips = set(args.allow_skip) or {"crud:read:attributes"}
    if args.strict_skips:
        allowed_skips = set()

    if args.domain:
        constrain_generated_addresses(args.domain)

    def scim_content_type(request):
        # httpx labels JSON bodies application/json; SCIM clients (Entra, Okta)
        # send application/scim+json, so do the same, and only on requests
        # that carry a body.
        if request.content:
            request.headers["Content-Type"] = "application/scim+json"

    http = httpx2.Client(
        base_url=args.url,
        headers={"Authorization": f"Bearer {args.token}", "Accept": "application/scim+json"},
        timeout=args.timeout,
        trust_env=False,
        event_hooks={"request": [scim_content_type]},
    )
    client = SyncSCIMClient(http)

    try:
        results = check_server(
            client,
            include_tags=set(args.include_tags) if args.include_tags else None,
            exclude_tags=set(args.exclude_tags) if args.exclude_tags else None,
            resource_types=resource_types,
        )
    finally:
        http.close()

    rows = []
    for r in results:
        status = r.status
        verdict = "PASS" if status in PASSING else "WARN" if status in WARNING else "FAIL" if status in FAILING else "SKIP"
        reason = one_line(r.reason or "")
        if status == Status.SKIPPED and not (r.reason or "").startswith("Skipped due to tag"):
            # Skipped by the tool's own decision (server said PATCH unsupported,
            # no attribute to try, /.search answered 501): fail unless allowed.
            if not (r.tags & allowed_skips):
                verdict = "FAIL"
                reason = f"skipped by the tool, not allowed here: {reason}"
        if verdict == "FAIL" and is_waived(args.waive, r):
            verdict = "WAIV"
        rows.append((verdict, r.resource_type or "-", r.title or "?", reason, r))

    # The tool tests whatever /ResourceTypes publishes and says nothing about a
    # resource type it did not find: make sure each one asked for was exercised.
    crud_asked = not args.include_tags or any(t.startswith(("crud", "patch")) for t in args.include_tags)
    if crud_asked:
        for name in resource_types:
            if not any(row[1] == name for row in rows):
                rows.append(("FAIL", name, "resource_type_tested",
                             f"no check ran for {name}: not published on /ResourceTypes, or discovery failed", None))

    width = max((len(row[2]) for row in rows), default=10)
    for verdict, rtype, title, reason, r in rows:
        print(f"{verdict:4}  {rtype:6}  {title:{width}}  {reason}")
        if args.verbose and verdict == "FAIL" and r is not None and r.data is not None:
            print(f"      data: {one_line(r.data)[:2000]}")

    counts = {v: sum(1 for row in rows if row[0] == v) for v in ("PASS", "WARN", "FAIL", "SKIP", "WAIV")}
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump([{"status": v, "tool_status": r.status.name if r else None, "resource_type": t,
                        "check": title, "reason": reason, "tags": sorted(r.tags) if r else []}
                       for v, t, title, reason, r in rows], f, indent=2)
    print(f"({counts['PASS']} pass, {counts['WARN']} warn, {counts['FAIL']} fail, "
          f"{counts['SKIP']} skip, {counts['WAIV']} waived)")
    print(f"scim-conformance: {counts['PASS'] + counts['WARN']} passed, {counts['FAIL']} failed, "
          f"{counts['SKIP'] + counts['WAIV']} skipped")
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
