#!/usr/bin/env bash
# The README walkthrough, end to end on one machine: init, serve, enrol four people,
# upload a capture, grant with quorum, view, export with quorum, open once.
#   cargo build --release -p custody && bash scripts/walkthrough.sh
set -euo pipefail
C=${CUSTODY:-target/release/custody}
C=$(realpath "$C"); W=$(mktemp -d); cd "$W"
S=http://127.0.0.1:18555
j() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d'+sys.argv[1]))" "$1"; }
$C init --data data --listen 127.0.0.1:18555 > init.txt
CODE=$(awk '/enrolment code/ {print $3}' init.txt)
$C serve --data data --listen 127.0.0.1:18555 2> serve.log & SERVER=$!
trap 'kill $SERVER' EXIT
sleep 1
who() { $C device init --dir "$1" > /dev/null; $C enrol --server $S --code "$2" --device-dir "$1" > /dev/null; $C login --server $S --device-dir "$1"; }
who op "$CODE"
T=$($C call POST /v1/tenants --json '{"name":"Acme"}' --device-dir op | j "['id']")
ADMIN=$($C call POST /v1/principals --json "{\"class\":\"customer_admin\",\"tenant_id\":\"$T\",\"display_name\":\"Ada\"}" --device-dir op | j "['enrolment_code']")
AGENT_OUT=$($C call POST /v1/principals --json '{"class":"support_agent","display_name":"Sam"}' --device-dir op)
AGENT=$(echo "$AGENT_OUT" | j "['enrolment_code']"); AGENT_ID=$(echo "$AGENT_OUT" | j "['principal']['id']")
LEAD=$($C call POST /v1/principals --json '{"class":"support_agent","display_name":"Lee","groups":["support_lead"]}' --device-dir op | j "['enrolment_code']")
who admin "$ADMIN"; who agent "$AGENT"; who lead "$LEAD"
CASE=$($C call POST /v1/tenants/$T/cases --json '{"title":"SSO loop"}' --device-dir admin | j "['id']")
python3 - <<'PY'
import json
har={"log":{"version":"1.2","creator":{"name":"t","version":"1"},"entries":[{"startedDateTime":"2026-01-01T00:00:00Z","time":1,"request":{"method":"GET","url":"https://idp.example/app?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz","httpVersion":"HTTP/1.1","cookies":[{"name":"sid","value":"102JFKZt4WJ6pEQNdtWj6GQt"}],"headers":[{"name":"Authorization","value":"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlc2lnbmF0dXJl"}],"queryString":[],"headersSize":-1,"bodySize":0},"response":{"status":200,"statusText":"OK","httpVersion":"HTTP/1.1","cookies":[],"headers":[],"content":{"size":2,"mimeType":"application/json","text":"{}"},"redirectURL":"","headersSize":-1,"bodySize":2},"cache":{},"timings":{"send":0,"wait":1,"receive":0}}]}}
json.dump(har,open("capture.har","w"))
PY
ART=$($C upload --case $CASE capture.har --device-dir admin | j "['id']")
$C call POST /v1/cases/$CASE/assignments --json "{\"agent_id\":\"$AGENT_ID\"}" --device-dir op > /dev/null
APR=$($C call POST /v1/cases/$CASE/grants --json '{"actions":["artifact.view","artifact.export"]}' --device-dir agent | j "['approval_request_id']")
$C approve $APR --device-dir lead > /dev/null
$C approve $APR --device-dir admin | j "['grant']['status']"
$C call GET "/v1/artifacts/$ART/view?limit=1" --device-dir agent | j "['items'][0]['request']['url']"
EXP=$($C export --artifact $ART --device-dir agent | j "['approval_request_id']")
$C approve $EXP --device-dir lead > /dev/null; $C approve $EXP --device-dir admin > /dev/null
$C export --approval $EXP -o capture.export --device-dir agent
$C open-export capture.export -o capture.opened.har --device-dir agent
grep -c "redacted" capture.opened.har
$C open-export capture.export -o again.har --device-dir agent || echo "second open refused: exit $?"
