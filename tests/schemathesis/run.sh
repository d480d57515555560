#!/usr/bin/env bash
# OpenAPI conformance run: schemathesis against a real `custody serve`.
#
#   bash tests/schemathesis/run.sh            (scripts/test.sh runs it after cargo test)
#
# 1. Starts the debug binary ($CUSTODY_BIN, default $CARGO_TARGET_DIR/debug/custody) on
#    a free loopback port with a fresh data directory.
# 2. Bootstraps with the CLI only: init, the operator's enrolment and login, a tenant,
#    a customer admin, a support agent, a support lead, a case, a small HAR upload, an
#    assignment, a quorum-approved grant, an approved export request, one fetched export
#    (so every kind of id exists), and an unused enrolment code with a fresh device.
# 3. Runs schemathesis ($SCHEMATHESIS, from tests/schemathesis/requirements.txt) on
#    /openapi.json in positive and negative mode with a fixed seed. custody_hooks.py
#    signs a fresh DPoP proof (RFC 9449) for every generated request with the key the
#    CLI stored for the principal that owns the route, follows the server nonce, and
#    mixes the real ids into the generated ones.
# 4. Writes $CUSTODY_SCHEMATHESIS_MARKER (if set) only when schemathesis passed and ran
#    every operation of the document.
#
# Any failure exits non-zero. The server log and schemathesis' reports stay in the work
# directory (printed on failure).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${CARGO_TARGET_DIR:=/var/tmp/custody-target}"
C=$(realpath "${CUSTODY_BIN:-$CARGO_TARGET_DIR/debug/custody}")
ST=${SCHEMATHESIS:-schemathesis}
PY=${SCHEMATHESIS_PYTHON:-python3}
EXAMPLES=${CUSTODY_ST_EXAMPLES:-25}
SEED=${CUSTODY_ST_SEED:-20260101}
marker=${CUSTODY_SCHEMATHESIS_MARKER:-}
[ -n "$marker" ] && rm -f "$marker"

W=$(mktemp -d "${TMPDIR:-/tmp}/custody-schemathesis.XXXXXX")
SERVER=
finish() {
    status=$?
    if [ -n "$SERVER" ]; then
        kill "$SERVER" 2>/dev/null || true
        wait "$SERVER" 2>/dev/null || true
    fi
    if [ "$status" -ne 0 ]; then
        echo "schemathesis run failed (exit $status); server log tail ($W/serve.log):" >&2
        tail -n 40 "$W/serve.log" >&2 || true
        echo "work directory kept: $W" >&2
    else
        rm -rf "$W"
    fi
}
trap finish EXIT
cd "$W"

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
S=http://127.0.0.1:$PORT
export CUSTODY_LOG=${CUSTODY_LOG:-warn}

"$C" init --data data --listen "127.0.0.1:$PORT" > init.txt
CODE=$(awk '/enrolment code/ {print $3}' init.txt)
"$C" serve --data data --listen "127.0.0.1:$PORT" 2> serve.log &
SERVER=$!
for _ in $(seq 1 100); do
    if "$PY" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$S/readyz" 2>/dev/null; then
        break
    fi
    kill -0 "$SERVER" 2>/dev/null || { echo "custody serve exited" >&2; exit 1; }
    sleep 0.1
done

# j EXPR: a field of the JSON on stdin (EXPR like "['principal']['id']").
j() { "$PY" -c "import json,sys; d=json.load(sys.stdin); print(eval('d'+sys.argv[1]))" "$1"; }
call() { "$C" call "$@"; }
who() {
    "$C" device init --dir "$1" > /dev/null
    "$C" enrol --server "$S" --code "$2" --device-dir "$1" > /dev/null
    "$C" login --server "$S" --device-dir "$1" > /dev/null
}

who op "$CODE"
TENANT=$(call POST /v1/tenants --json '{"name":"Acme"}' --device-dir op | j "['id']")
ADMIN_CODE=$(call POST /v1/principals --json "{\"class\":\"customer_admin\",\"tenant_id\":\"$TENANT\",\"display_name\":\"Ada\"}" --device-dir op | j "['enrolment_code']")
AGENT_OUT=$(call POST /v1/principals --json '{"class":"support_agent","display_name":"Sam"}' --device-dir op)
AGENT_CODE=$(echo "$AGENT_OUT" | j "['enrolment_code']")
AGENT_ID=$(echo "$AGENT_OUT" | j "['principal']['id']")
LEAD_CODE=$(call POST /v1/principals --json '{"class":"support_agent","display_name":"Lee","groups":["support_lead"]}' --device-dir op | j "['enrolment_code']")
SPARE_CODE=$(call POST /v1/principals --json '{"class":"support_agent","display_name":"Spare"}' --device-dir op | j "['enrolment_code']")
"$C" device init --dir spare > /dev/null
who admin "$ADMIN_CODE"
who agent "$AGENT_CODE"
who lead "$LEAD_CODE"

CASE=$(call POST "/v1/tenants/$TENANT/cases" --json '{"title":"SSO loop"}' --device-dir admin | j "['id']")
"$PY" - <<'PY'
import json
entry = {
    "startedDateTime": "2026-01-01T00:00:00Z", "time": 1,
    "request": {"method": "GET", "url": "https://idp.example/app?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz",
                "httpVersion": "HTTP/1.1", "cookies": [{"name": "sid", "value": "102JFKZt4WJ6pEQNdtWj6GQt"}],
                "headers": [{"name": "Accept", "value": "application/json"}], "queryString": [],
                "headersSize": -1, "bodySize": 0},
    "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "cookies": [], "headers": [],
                 "content": {"size": 2, "mimeType": "application/json", "text": "{}"},
                 "redirectURL": "", "headersSize": -1, "bodySize": 2},
    "cache": {}, "timings": {"send": 0, "wait": 1, "receive": 0},
}
har = {"log": {"version": "1.2", "creator": {"name": "schemathesis-bootstrap", "version": "1"}, "entries": [entry]}}
with open("capture.har", "w", encoding="utf-8") as f:
    json.dump(har, f)
PY
ARTIFACT=$("$C" upload --case "$CASE" capture.har --device-dir admin | j "['id']")
call POST "/v1/cases/$CASE/assignments" --json "{\"agent_id\":\"$AGENT_ID\"}" --device-dir op > /dev/null
GRANT_APR=$(call POST "/v1/cases/$CASE/grants" --json '{"actions":["artifact.view","artifact.export"]}' --device-dir agent | j "['approval_request_id']")
"$C" approve "$GRANT_APR" --device-dir lead > /dev/null
"$C" approve "$GRANT_APR" --device-dir admin > /dev/null
# Two approved export requests: one fetched here (its export id feeds the release
# route), one left for the run's POST /v1/artifact-exports.
exports=()
for _ in 1 2; do
    apr=$("$C" export --artifact "$ARTIFACT" --device-dir agent | j "['approval_request_id']")
    "$C" approve "$apr" --device-dir lead > /dev/null
    "$C" approve "$apr" --device-dir admin > /dev/null
    exports+=("$apr")
done
"$C" export --approval "${exports[0]}" -o first.export --device-dir agent > /dev/null
EXPORT_ID=$("$PY" -c "import sys; b=open(sys.argv[1],'rb').read(); assert b[:8]==b'CUSTEXP1'; print(b[8:44].decode())" first.export)

cat > state.json <<EOF
{
  "base": "$S",
  "principals": {
    "operator": "$W/op",
    "admin": "$W/admin",
    "agent": "$W/agent",
    "lead": "$W/lead"
  },
  "spare_device": "$W/spare",
  "ids": {
    "tenant": "$TENANT",
    "case": "$CASE",
    "artifact": "$ARTIFACT",
    "agent": "$AGENT_ID",
    "grant_approval": "$GRANT_APR",
    "export_approval": "${exports[1]}",
    "export": "$EXPORT_ID",
    "enrolment_code": "$SPARE_CODE"
  }
}
EOF

export CUSTODY_ST_STATE=$W/state.json
export PYTHONPATH=$here${PYTHONPATH:+:$PYTHONPATH}
export SCHEMATHESIS_HOOKS=custody_hooks
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,unsupported_method,allow_header_conformance
# Revocation and freeze routes act tenant-wide (they end the bootstrap principals'
# sessions and grants), so they run last, on their own.
destructive='/(revocations|revocation-requests|export-freeze)'
st_run() {
    "$ST" run "$S/openapi.json" \
        --checks "$checks" \
        --mode all \
        --phases examples,coverage,fuzzing \
        --max-examples "$EXAMPLES" \
        --seed "$SEED" \
        --generation-deterministic \
        --generation-with-security-parameters false \
        --workers 1 \
        --request-timeout 20 \
        --no-color \
        "$@" 2>&1
}
set +e
st_run --exclude-path-regex "$destructive" --report junit --report-dir "$W/report-main" | tee schemathesis.log
main_status=${PIPESTATUS[0]}
st_run --include-path-regex "$destructive" --report junit --report-dir "$W/report-destructive" | tee -a schemathesis.log
destructive_status=${PIPESTATUS[0]}
set -e
if [ "$main_status" -ne 0 ] || [ "$destructive_status" -ne 0 ]; then
    echo "FAIL: schemathesis found conformance failures (exit $main_status, then $destructive_status)" >&2
    exit 1
fi

# Every operation of the document must have been exercised, signed: the hooks record
# each (method, path template, principal, status) they signed for.
"$PY" "$here/summary.py" "$S/openapi.json" "$W/signed.jsonl" | tee summary.txt
if [ -n "$marker" ]; then
    {
        date -u +%FT%TZ
        cat summary.txt
    } > "$marker"
fi
