#!/usr/bin/env bash
# Side-by-side comparison (issue 2, item 8): custody scan / custody sanitize
# against the installable tools, on the same planted HAR, in the same run.
#
#   bash scripts/bench-compare/compare.sh            # 10 MB and 100 MB
#   bash scripts/bench-compare/compare.sh 10M        # sizes of your choice
#
# Scanners  (detect-secrets, secretlint + preset-recommend, ripsecrets, custody scan):
#   recall = planted values whose line (or JSON pointer) they report;
#   also the number of findings on a benign HAR of the same size (false findings).
# Sanitizers (har-capture, har-sanitizer, custody sanitize):
#   recall = planted values no longer recoverable from their output (raw,
#   percent-encoded, JSON-escaped or base64 at any alignment).
# Wall time and peak RSS come from /usr/bin/time -v. The tools are installed
# into private prefixes under /var/tmp when missing (PyPI, npm, crates.io).
# Raw tool outputs stay in $WORK (default /var/tmp/custody-compare): they may
# print the planted values, so never commit them. Writes docs/bench/compare.md.
# Not part of CI (downloads, minutes of CPU).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
here=$root/scripts/bench-compare
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/custody-target}
WORK=${WORK:-/var/tmp/custody-compare}
VENV=${VENV:-/var/tmp/cmp-venv}
NPM_PREFIX=${NPM_PREFIX:-/var/tmp/cmp-npm}
CARGO_ROOT=${CARGO_ROOT:-/var/tmp/cmp-cargo}
TOOL_TIMEOUT=${TOOL_TIMEOUT:-1800}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10M 100M)
mkdir -p "$WORK"

# --- tools -------------------------------------------------------------------
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time; }
[ -x "$VENV/bin/detect-secrets" ] && [ -x "$VENV/bin/har-capture" ] || {
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q detect-secrets 'har-capture[cli]'
}
[ -x "$NPM_PREFIX/node_modules/.bin/secretlint" ] && [ -x "$NPM_PREFIX/node_modules/.bin/har-sanitizer" ] || {
    mkdir -p "$NPM_PREFIX"
    npm install --prefix "$NPM_PREFIX" --no-audit --no-fund secretlint @secretlint/secretlint-rule-preset-recommend har-sanitizer
}
[ -x "$CARGO_ROOT/bin/ripsecrets" ] || cargo install --locked ripsecrets --root "$CARGO_ROOT"
echo '{"rules":[{"id":"@secretlint/secretlint-rule-preset-recommend"}]}' >"$WORK/secretlintrc.json"

cargo build --release -p custody -p custody-corpus
custody=$CARGO_TARGET_DIR/release/custody
corpus=$CARGO_TARGET_DIR/release/custody-corpus

versions() {
    echo "detect-secrets $("$VENV/bin/pip" show detect-secrets | sed -n 's/^Version: //p')"
    echo "har-capture $("$VENV/bin/pip" show har-capture | sed -n 's/^Version: //p')"
    echo "secretlint $(node -p "require('$NPM_PREFIX/node_modules/secretlint/package.json').version") (preset-recommend $(node -p "require('$NPM_PREFIX/node_modules/@secretlint/secretlint-rule-preset-recommend/package.json').version"))"
    echo "har-sanitizer $(node -p "require('$NPM_PREFIX/node_modules/har-sanitizer/package.json').version")"
    echo "$("$CARGO_ROOT/bin/ripsecrets" --version 2>/dev/null || echo ripsecrets)"
    echo "custody $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo '+dirty')"
}

declare -A secs_per_mb=()
# too_slow NAME MB -> true when NAME's previous rate projects past TOOL_TIMEOUT
too_slow() {
    local rate=${secs_per_mb[$1]:-}
    [ -n "$rate" ] && python3 -c "import sys;sys.exit(0 if float(sys.argv[1])*float(sys.argv[2])>float(sys.argv[3]) else 1)" "$rate" "$2" "$TOOL_TIMEOUT"
}
skip_row() { # NAME ROLE INPUT MB
    record "$1" "$2" "$3" "$4" "" "skipped: projected past ${TOOL_TIMEOUT}s from the smaller input" null "$4" 0 "" ""
}
note_rate() { # NAME MB
    secs_per_mb[$1]=$(python3 -c "import sys;print(float(sys.argv[1])/float(sys.argv[2]))" "$wall" "$2")
}

results=$WORK/results.jsonl
: >"$results"

# timed NAME OUTFILE CMD... -> runs CMD with stdout to OUTFILE; sets rc, wall, rss
timed() {
    local name=$1 out=$2
    shift 2
    local tfile=$WORK/$name.time
    set +e
    /usr/bin/time -v -o "$tfile" timeout "$TOOL_TIMEOUT" "$@" >"$out" 2>"$WORK/$name.stderr"
    rc=$?
    set -e
    local t
    t=$(python3 "$here/score.py" timefile "$tfile")
    wall=$(python3 -c "import json,sys;print(json.loads(sys.argv[1])['wall_s'])" "$t")
    rss=$(python3 -c "import json,sys;print(json.loads(sys.argv[1])['max_rss_mb'])" "$t")
    echo "  $name: exit $rc, ${wall}s, ${rss} MB" >&2
}

# record TOOL ROLE INPUT SIZE_MB RECALL_JSON|'' FAILED BENIGN_FINDINGS|null BENIGN_MB
record() {
    python3 - "$@" >>"$results" <<'PY'
import json, sys
tool, role, inp, size_mb, recall, failed, benign, benign_mb, rc, wall, rss = sys.argv[1:12]
row = {"tool": tool, "role": role, "input": inp, "size_mb": float(size_mb), "exit": int(rc),
       "wall_s": float(wall) if wall not in ("", "None") else None,
       "max_rss_mb": float(rss) if rss not in ("", "None") else None,
       "benign_findings": None if benign == "null" else int(benign), "benign_mb": float(benign_mb)}
if failed:
    row["failed"] = failed
else:
    row["recall"] = json.loads(recall)
print(json.dumps(row))
PY
}

scanner() { # NAME SIZE_LABEL SIZE_MB PLANTED BENIGN PLANTS -- CMD-PREFIX (file appended)
    local name=$1 label=$2 mb=$3 planted=$4 benign=$5 plants=$6
    shift 7
    if too_slow "$name" "$mb"; then
        skip_row "$name" scanner "planted HAR $label" "$mb"
        return
    fi
    timed "$name-$label" "$WORK/$name-$label.out" "$@" "$planted"
    note_rate "$name" "$mb"
    local prc=$rc pwall=$wall prss=$rss failed="" recall=""
    if [ ! -s "$WORK/$name-$label.out" ] && [ "$prc" -ne 0 ] && [ "$prc" -ne 1 ]; then
        failed="exit $prc: $(grep -o -m1 -E '[A-Za-z]*Error' "$WORK/$name-$label.stderr" || echo 'see stderr')"
    else
        python3 "$here/score.py" locations "$name" "$WORK/$name-$label.out" >"$WORK/$name-$label.loc" || failed="unparsable output"
        [ -n "$failed" ] || recall=$("$corpus" score --plants "$plants" "$WORK/$name-$label.loc")
    fi
    timed "$name-$label-benign" "$WORK/$name-$label-benign.out" "$@" "$benign"
    local bf=null
    bf=$(python3 "$here/score.py" count "$name" "$WORK/$name-$label-benign.out" 2>/dev/null || echo null)
    record "$name" scanner "planted HAR $label" "$mb" "$recall" "$failed" "$bf" "$mb" "$prc" "$pwall" "$prss"
}

sanitizer() { # NAME SIZE_LABEL SIZE_MB INPUT PLANTS OUT -- CMD...
    local name=$1 label=$2 mb=$3 input=$4 plants=$5 out=$6
    shift 7
    if too_slow "$name" "$mb"; then
        skip_row "$name" sanitizer "$input" "$mb"
        return
    fi
    rm -f "$out"
    timed "$name-$label" "$WORK/$name-$label.stdout" "$@"
    note_rate "$name" "$mb"
    local failed="" recall=""
    [ "$out" = "-" ] && out=$WORK/$name-$label.stdout
    if [ "$rc" -ne 0 ] || [ ! -s "$out" ] || ! python3 -c "import json,sys;json.load(open(sys.argv[1]))" "$out" 2>/dev/null; then
        # Only the error's type: a tool's message may quote input (and so secrets).
        failed="exit $rc, no valid HAR output: $(grep -o -m1 -E '[A-Za-z]*Error' "$WORK/$name-$label.stderr" || echo 'see stderr')"
    else
        recall=$("$corpus" remaining --plants "$plants" "$out")
    fi
    record "$name" sanitizer "$input" "$mb" "$recall" "$failed" null "$mb" "$rc" "$wall" "$rss"
}

# detect-secrets ignores files outside its working directory: run every tool
# from $WORK on relative paths.
cd "$WORK"
for size in "${SIZES[@]}"; do
    planted=planted-$size.har plants=$WORK/plants-$size.json benign=benign-$size.har
    [ -s "$planted" ] || "$corpus" planted-har --seed 1 --size "$size" -o "$planted" --plants "$plants"
    [ -s "$benign" ] || "$corpus" benign-har --seed 2 --size "$size" -o "$benign"
    mb=$(python3 -c "import os,sys;print(os.path.getsize(sys.argv[1])/1e6)" "$planted")
    echo "== $size planted HAR ($mb MB)" >&2

    scanner custody-scan "$size" "$mb" "$planted" "$benign" "$plants" -- "$custody" scan --format json
    scanner detect-secrets "$size" "$mb" "$planted" "$benign" "$plants" -- "$VENV/bin/detect-secrets" scan --all-files
    scanner secretlint "$size" "$mb" "$planted" "$benign" "$plants" -- \
        "$NPM_PREFIX/node_modules/.bin/secretlint" --secretlintrc "$WORK/secretlintrc.json" --format json
    scanner ripsecrets "$size" "$mb" "$planted" "$benign" "$plants" -- "$CARGO_ROOT/bin/ripsecrets"

    sanitizer custody-sanitize "$size" "$mb" "planted HAR $size" "$plants" "$WORK/custody-$size.har" -- \
        "$custody" sanitize "$planted" -o "$WORK/custody-$size.har" --report "$WORK/custody-$size.report.json"
    sanitizer har-capture "$size" "$mb" "planted HAR $size" "$plants" "$WORK/har-capture-$size.har" -- \
        "$VENV/bin/har-capture" sanitize "$planted" --output "$WORK/har-capture-$size.har" --max-size 0 --patterns base
    sanitizer har-sanitizer "$size" "$mb" "planted HAR $size" "$plants" - -- \
        "$NPM_PREFIX/node_modules/.bin/har-sanitizer" "$planted"
    compat=planted-$size.compat.har
    [ -s "$compat" ] || python3 "$here/score.py" har-sanitizer-compat "$planted" "$compat" >/dev/null
    sanitizer har-sanitizer-relabelled "$size" "$mb" "planted HAR $size, base64 JSON bodies relabelled" "$plants" - -- \
        "$NPM_PREFIX/node_modules/.bin/har-sanitizer" "$compat"
done

{
    echo "# Side-by-side comparison: credential recall, throughput, memory"
    echo
    echo "Generated by \`bash scripts/bench-compare/compare.sh ${SIZES[*]}\` on $(date -u '+%Y-%m-%d %H:%M UTC');"
    echo "machine: 2-core shared VM ($(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Corpus: \`custody-corpus planted-har --seed 1\` (credentials of $(python3 -c "import json,sys;print(len({p['kind'] for p in json.load(open(sys.argv[1]))}))" "$WORK/plants-${SIZES[0]}.json") kinds planted in realistic browser traffic) and \`benign-har --seed 2\` of the same size for false findings."
    echo "Versions: $(versions | paste -sd ';' - | sed 's/;/; /g')."
    echo
    echo "Scanners are scored by the lines (or JSON pointers) they report; sanitizers by the planted values that can no longer be found in their output in any encoding."
    echo
    python3 "$here/score.py" compare-md "$results"
    echo
    cat <<'NOTES'
Notes on method:

- Scanners get credit for a plant when they report any line (or JSON pointer) on which the value sits. The corpus is pretty-printed like a browser export, one JSON member per line, which is the most favourable layout for line-oriented tools.
- A sanitizer gets credit for a plant only when the value can no longer be found in its output raw, percent-encoded, JSON-escaped or inside base64 at any alignment (`custody-corpus remaining`). A failed run (non-zero exit or no valid HAR output) gets no recall figure.
- har-sanitizer 2.0.0 exits 1 with a JSON.parse SyntaxError on a response whose JSON body is base64-encoded (`content.encoding: "base64"`), which Chrome writes routinely, and then writes nothing. The *relabelled* row measures its recall on a copy where those bodies are relabelled `application/octet-stream`; nothing else changes.
- har-capture is run as `har-capture sanitize FILE --output OUT --max-size 0 --patterns base` (`--patterns` is required; its default size cap is 100 MB).
- False findings are counted by running each scanner on `benign-har --seed 2` of the same size, which holds no credential at all.
- A tool whose time on the previous (smaller) input, scaled linearly, exceeds `TOOL_TIMEOUT` (default 1800 s) is not run on the larger one and is marked *skipped*.
- Raw tool outputs stay in `$WORK` (default /var/tmp/custody-compare): some tools print the planted values. Never commit them.
NOTES
} >"$root/docs/bench/compare.md.new"
mv "$root/docs/bench/compare.md.new" "$root/docs/bench/compare.md"
echo "wrote docs/bench/compare.md" >&2
