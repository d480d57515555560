#!/usr/bin/env python3
"""Helpers for scripts/bench-compare: turn each tool's output into reported
locations, read /usr/bin/time -v figures, and render the markdown tables.

Never prints a credential value: only line numbers, JSON pointers, counts, rule
ids and kinds.

  score.py locations TOOL OUTPUT      one reported line number / JSON pointer per line
  score.py timefile TIME_V_OUTPUT     {"wall_s": .., "max_rss_mb": ..}
  score.py compare-md RESULTS.jsonl   markdown for docs/bench/compare.md (stdout)
"""
import json
import sys


def locations(tool, path):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    out = []
    if tool == "detect-secrets":
        doc = json.loads(text)
        for findings in doc.get("results", {}).values():
            out += [str(x["line_number"]) for x in findings]
    elif tool == "secretlint":
        doc = json.loads(text) if text.strip() else []
        for result in doc:
            out += [str(m["loc"]["start"]["line"]) for m in result.get("messages", [])]
    elif tool == "ripsecrets":
        # "PATH:LINE:SECRET-HIGHLIGHTED-LINE"; only the line number is kept.
        for line in text.splitlines():
            parts = line.split(":", 2)
            if len(parts) >= 2 and parts[1].isdigit():
                out.append(parts[1])
    elif tool == "custody-scan":
        doc = json.loads(text)
        for f in doc.get("findings", []):
            if f.get("pointer"):
                out.append(f["pointer"])
            if f.get("line"):
                out.append(str(f["line"]))
    else:
        raise SystemExit(f"unknown tool {tool}")
    return out


def count_findings(tool, path):
    """Number of findings (not locations: custody reports line and pointer)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    if tool == "custody-scan":
        return len(json.loads(text).get("findings", []))
    if tool == "detect-secrets":
        return sum(len(v) for v in json.loads(text).get("results", {}).values())
    if tool == "secretlint":
        return sum(len(r.get("messages", [])) for r in (json.loads(text) if text.strip() else []))
    return len(locations(tool, path))


def timefile(path):
    wall = rss = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line.startswith("Elapsed (wall clock) time"):
                value = line.rsplit(" ", 1)[-1]
                secs = 0.0
                for part in value.split(":"):
                    secs = secs * 60 + float(part)
                wall = secs
            elif line.startswith("Maximum resident set size"):
                rss = int(line.rsplit(" ", 1)[-1]) / 1024
    return {"wall_s": wall, "max_rss_mb": rss}


def compare_md(path):
    rows = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
    meta = next((r for r in rows if r.get("meta")), {})
    runs = [r for r in rows if not r.get("meta")]
    print("| tool | role | input | wall s | MB/s | peak RSS MB | exit | recall (caught / planted) | false findings on benign (per 10 MB) |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- |")
    for r in runs:
        mbps = f"{r['size_mb'] / r['wall_s']:.2f}" if r.get("wall_s") else "-"
        rss = f"{r['max_rss_mb']:.0f}" if r.get("max_rss_mb") is not None else "-"
        wall = f"{r['wall_s']:.1f}" if r.get("wall_s") is not None else "-"
        if r.get("failed"):
            recall = f"n/a: {r['failed']}"
        else:
            t = r["recall"]["total"]
            recall = f"{t['caught']} / {t['planted']} ({100 * t['caught'] / max(t['planted'], 1):.1f}%)"
        fp = r.get("benign_findings")
        fp_s = "-" if fp is None else f"{fp} ({fp / r['benign_mb'] * 10:.1f})"
        exit_s = r["exit"]
        if r.get("failed", "").startswith("skipped"):
            fp_s = exit_s = "-"
        print(f"| {r['tool']} | {r['role']} | {r['input']} | {wall} | {mbps} | {rss} | {exit_s} | {recall} | {fp_s} |")
    # Per-kind recall for the smallest input, one column per tool.
    small = min((r["size_mb"] for r in runs), default=None)
    per = [r for r in runs if r["size_mb"] == small and not r.get("failed")]
    if not per:
        return
    kinds = sorted({k for r in per for k in r["recall"]["by_kind"]})
    print()
    print(f"Per-kind recall on the {small:.1f} MB planted HAR (caught / planted):")
    print()
    print("| kind | " + " | ".join(r["tool"] for r in per) + " |")
    print("| --- |" + " --- |" * len(per))
    for k in kinds:
        cells = []
        for r in per:
            s = r["recall"]["by_kind"].get(k, {"caught": 0, "planted": 0})
            cells.append(f"{s['caught']}/{s['planted']}")
        print(f"| {k} | " + " | ".join(cells) + " |")


def har_sanitizer_compat(src, dst):
    """har-sanitizer 2.0.0 crashes (JSON.parse) on a JSON response whose content is
    base64-encoded. To still measure its recall, this copy marks such bodies as
    application/octet-stream; nothing else changes."""
    with open(src, encoding="utf-8") as f:
        doc = json.load(f)
    changed = 0
    for e in doc["log"]["entries"]:
        c = e["response"]["content"]
        if c.get("encoding") == "base64" and "json" in c.get("mimeType", ""):
            c["mimeType"] = "application/octet-stream"
            changed += 1
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
    print(changed)


def main(argv):
    if len(argv) >= 3 and argv[0] == "locations":
        print("\n".join(locations(argv[1], argv[2])))
    elif len(argv) >= 3 and argv[0] == "count":
        print(count_findings(argv[1], argv[2]))
    elif len(argv) >= 2 and argv[0] == "timefile":
        print(json.dumps(timefile(argv[1])))
    elif len(argv) >= 3 and argv[0] == "har-sanitizer-compat":
        har_sanitizer_compat(argv[1], argv[2])
    elif len(argv) >= 2 and argv[0] == "compare-md":
        compare_md(argv[1])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
