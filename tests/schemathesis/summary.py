#!/usr/bin/env python3
"""Checks that the conformance run really exercised the API, and prints what it did.

Usage: summary.py OPENAPI_URL RECORD_JSONL

Fails (exit 1) when:
  * an operation of the document was never called;
  * a DPoP-secured operation never got past authentication (every signed call 401),
    which would make the run vacuous;
  * an operation in MUST_SUCCEED never answered 2xx (the bootstrap made the records
    these need, and the hooks sign them as a principal the policy allows).
Prints one line per operation: calls, then the count per status.
"""

import collections
import json
import sys
import urllib.request

# Operations whose success path the run must reach. The others either need a state
# the run does not build (a fresh signature over an approval statement) or are
# one-shot.
MUST_SUCCEED = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/.well-known/jwks.json"),
    ("POST", "/v1/token"),
    ("GET", "/v1/me"),
    ("POST", "/v1/tenants"),
    ("POST", "/v1/principals"),
    ("PUT", "/v1/tenants/{id}/support-mode"),
    ("POST", "/v1/tenants/{id}/cases"),
    ("GET", "/v1/cases"),
    ("GET", "/v1/cases/{id}"),
    ("GET", "/v1/cases/{id}/artifacts"),
    ("POST", "/v1/cases/{id}/artifacts"),
    ("GET", "/v1/artifacts/{id}/view"),
    ("GET", "/v1/artifacts/{id}/download"),
    ("GET", "/v1/grants"),
    ("GET", "/v1/approvals/{id}"),
}


def main(argv):
    with urllib.request.urlopen(argv[1], timeout=10) as response:
        doc = json.load(response)
    operations = {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch", "head", "options"}
    }
    statuses = collections.defaultdict(collections.Counter)
    signed = collections.defaultdict(collections.Counter)
    with open(argv[2], encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            key = (record["method"], record["path"])
            statuses[key][record["status"]] += 1
            if record["principal"]:
                signed[key][record["status"]] += 1
    problems = []
    for key in sorted(operations):
        counts = statuses.get(key, collections.Counter())
        total = sum(counts.values())
        detail = " ".join(f"{status}:{n}" for status, n in sorted(counts.items()))
        print(f"{key[0]:6} {key[1]:42} {total:5} calls  {detail}")
        if total == 0:
            problems.append(f"{key[0]} {key[1]} was never called")
            continue
        signed_counts = signed.get(key)
        if signed_counts and set(signed_counts) == {401}:
            problems.append(f"{key[0]} {key[1]}: every signed call was refused (401)")
        if key in MUST_SUCCEED and not any(200 <= s < 300 for s in counts):
            problems.append(f"{key[0]} {key[1]} never succeeded")
    for key in sorted(MUST_SUCCEED - operations):
        problems.append(f"{key[0]} {key[1]} is not in the document")
    total = sum(sum(c.values()) for c in statuses.values())
    print(f"{len(operations)} operations, {total} calls")
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
