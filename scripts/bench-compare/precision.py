#!/usr/bin/env python3
"""Precision analysis of `custody scan --format json` output (issue 2, item 6).

Prints findings as SHAPES, never values: rule id, class, the JSON pointer with
indices replaced by `*`, the HAR field name (header/cookie/param name) and the
flagged string's length and character classes.

  precision.py har-findings SCAN.json INPUT.har [ISSUED.jsonl]
      summary JSON: findings, false findings (all of them for a benign corpus;
      for a real capture, those whose string holds none of the issued values),
      grouped by (rule, shape) with counts
  precision.py text-findings SCAN.json INPUT.txt
      the same for text (line family instead of pointer)
"""
import collections
import json
import re
import sys


def resolve(doc, pointer):
    cur = doc
    for part in pointer.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(cur, list):
            cur = cur[int(part)]
        else:
            cur = cur[part]
    return cur


def charclass(s):
    classes = []
    if re.search(r"[a-z]", s):
        classes.append("a-z")
    if re.search(r"[A-Z]", s):
        classes.append("A-Z")
    if re.search(r"[0-9]", s):
        classes.append("0-9")
    other = sorted(set(re.sub(r"[A-Za-z0-9]", "", s)))
    if other:
        classes.append("".join(other)[:12])
    return f"{len(s)} chars [{' '.join(classes)}]"


def field_name(doc, pointer):
    parent = pointer.rsplit("/", 1)[0]
    try:
        obj = resolve(doc, parent)
        if isinstance(obj, dict) and "name" in obj:
            return str(obj["name"])[:40]
    except (KeyError, IndexError, ValueError, TypeError):
        pass
    return pointer.rsplit("/", 1)[-1]


def har_findings(scan_path, har_path, issued_path=None):
    scan = json.load(open(scan_path, encoding="utf-8"))
    doc = json.load(open(har_path, encoding="utf-8"))
    issued = []
    if issued_path:
        issued = [json.loads(l)["value"] for l in open(issued_path, encoding="utf-8") if l.strip()]
    groups = collections.Counter()
    false = 0
    findings = scan.get("findings", [])
    raw = open(har_path, encoding="utf-8", errors="replace").read()
    for f in findings:
        ptr = f.get("pointer") or ""
        if ptr:
            try:
                s = resolve(doc, ptr)
            except (KeyError, IndexError, ValueError, TypeError):
                s = ""
            s = s if isinstance(s, str) else json.dumps(s)
            field = field_name(doc, ptr)
        else:
            # Text-mode finding (line/column/byte offset): the flagged span is
            # `len=` bytes from byte_offset; the field is the nearest JSON name before it.
            off = int(f.get("byte_offset") or 0)
            m = re.search(r"len=(\d+)", f.get("preview", ""))
            s = raw[off:off + int(m.group(1))] if m else ""
            names = re.findall(r'"name":\s*"([^"]{1,40})"', raw[max(0, off - 400):off])
            field = names[-1] if names else ""
            ptr = f"line {f.get('line')}"
        if issued and s and any(s in v or v in s for v in issued):
            continue  # a true finding: the flagged span is (part of) an issued credential
        false += 1
        shape = re.sub(r"/\d+", "/*", ptr) if ptr.startswith("/") else "(text mode)"
        groups[(f["rule_id"], f["class"], shape, field, charclass(s) if len(s) < 200 else f"{len(s)}-char string")] += 1
    return {
        "findings": len(findings),
        "false_findings": false,
        "shapes": [
            {"count": n, "rule": r, "class": c, "pointer": p, "field": fld, "string": sh}
            for (r, c, p, fld, sh), n in groups.most_common(25)
        ],
    }


FAMILIES = [
    ("access log", r'^\d+\.\d+\.\d+\.\d+ - - \['),
    ("json log", r'^\{"ts"'),
    ("stack trace", r'(ERROR \[|^\tat )'),
    ("cache log", r"cache miss key="),
    ("s3 upload log", r"upload object s3://"),
    ("cargo output", r"^\s+Compiling "),
    ("slow request log", r"slow request id="),
]


def text_findings(scan_path, text_path):
    scan = json.load(open(scan_path, encoding="utf-8"))
    lines = open(text_path, encoding="utf-8", errors="replace").read().split("\n")
    groups = collections.Counter()
    findings = scan.get("findings", [])
    for f in findings:
        line = lines[f["line"] - 1] if f.get("line") and f["line"] <= len(lines) else ""
        family = next((name for name, rx in FAMILIES if re.search(rx, line)), "other")
        groups[(f["rule_id"], f["class"], family, f.get("preview", "")[:0])] += 1
    return {
        "findings": len(findings),
        "false_findings": len(findings),
        "shapes": [{"count": n, "rule": r, "class": c, "line_family": fam} for (r, c, fam, _), n in groups.most_common(25)],
    }


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) >= 3 and a[0] == "har-findings":
        print(json.dumps(har_findings(a[1], a[2], a[3] if len(a) > 3 else None), indent=2))
    elif len(a) >= 3 and a[0] == "text-findings":
        print(json.dumps(text_findings(a[1], a[2]), indent=2))
    else:
        raise SystemExit(__doc__)
