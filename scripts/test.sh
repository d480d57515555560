#!/usr/bin/env bash
# custody's full test suite, as CI runs it (`.ci/run` execs this script).
#
#   bash scripts/test.sh
#
# 1. Installs what the tests need when it is missing: Chromium (apt), the
#    browser test's node modules (`npm ci` in tests/browser), PyJWT and
#    cryptography (the token interop test), cargo-deny and cargo-fuzz (crates.io,
#    --locked).
# 2. cargo fmt --check, cargo deny (licences, bans, sources; deny.toml), clippy
#    (-D warnings), rustdoc (-D warnings), and the
#    workspace tests (debug build, --locked); then the server's integration tests a
#    second time with every server on PostgreSQL (CUSTODY_TEST_BACKEND=postgres);
#    the fuzz targets of fuzz/ built and smoke-run (scripts/fuzz.sh).
# 3. Fails unless the real-browser replay test really ran (it writes a marker;
#    CUSTODY_SKIP_BROWSER is ignored here on purpose).
# 4. The OpenAPI conformance run: schemathesis (pinned in
#    tests/schemathesis/requirements.txt, installed into a virtual environment under
#    CARGO_TARGET_DIR) against a real `custody serve` built by the test step; fails
#    on any finding and unless the run wrote its marker.
#
# Uses CARGO_TARGET_DIR (default /var/tmp/custody-target) so a warm target dir
# is reused between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/custody-target}
# No incremental compilation artefacts: CI builds once, and they fill the disk.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
export CUSTODY_BROWSER_MARKER=${CUSTODY_BROWSER_MARKER:-$CARGO_TARGET_DIR/browser-test-ran}
export CUSTODY_SCHEMATHESIS_MARKER=${CUSTODY_SCHEMATHESIS_MARKER:-$CARGO_TARGET_DIR/schemathesis-ran}
schemathesis_venv=$CARGO_TARGET_DIR/schemathesis-venv
unset CUSTODY_SKIP_BROWSER
suite_start=$SECONDS

step() {
    printf '\n==> %s  (t=%ds)\n' "$*" "$((SECONDS - suite_start))"
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "need root to run: $*" >&2
        return 1
    fi
}

apt_updated=
apt_install() {
    if [ -z "$apt_updated" ]; then
        as_root apt-get update -qq
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

step "dependencies"
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
    echo "installing chromium"
    apt_install chromium
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "installing nodejs and npm"
    apt_install nodejs npm
fi
pinned=$(node -p "require('$root/tests/browser/package.json').dependencies['playwright-core']")
have=$(node -p "try { require('$root/tests/browser/node_modules/playwright-core/package.json').version } catch { '' }")
if [ "$have" != "$pinned" ]; then
    echo "npm ci in tests/browser (playwright-core $pinned; never downloads a browser)"
    (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi
if ! python3 -c 'import jwt, cryptography' 2>/dev/null; then
    echo "installing pyjwt and cryptography"
    python3 -m pip install --quiet pyjwt cryptography ||
        python3 -m pip install --quiet --break-system-packages pyjwt cryptography
fi

if ! cmp -s tests/schemathesis/requirements.txt "$schemathesis_venv/requirements.txt"; then
    echo "installing tests/schemathesis/requirements.txt into $schemathesis_venv"
    python3 -m venv --clear "$schemathesis_venv"
    "$schemathesis_venv/bin/python" -m pip install --quiet -r tests/schemathesis/requirements.txt
    cp tests/schemathesis/requirements.txt "$schemathesis_venv/requirements.txt"
fi

step "cargo fmt --all --check"
cargo fmt --all --check
rustfmt --check --edition 2024 fuzz/fuzz_targets/*.rs

step "cargo deny check licenses bans sources (deny.toml)"
if ! cargo deny --version >/dev/null 2>&1; then
    echo "installing cargo-deny"
    cargo install --locked cargo-deny
fi
cargo deny check licenses bans sources

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo doc --no-deps --workspace (RUSTDOCFLAGS=-D warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace

step "cargo test --workspace --locked"
rm -f "$CUSTODY_BROWSER_MARKER"
cargo test --workspace --locked

step "the server's integration tests again, on PostgreSQL (DESIGN §11)"
# Each server of these tests gets its own schema on the local PostgreSQL server
# (CUSTODY_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test),
# dropped afterwards; an unreachable server fails the run.
CUSTODY_TEST_BACKEND=postgres cargo test --locked -p custody-server --tests

step "fuzz targets: build and smoke-run each (scripts/fuzz.sh)"
bash scripts/fuzz.sh "${CUSTODY_FUZZ_SECONDS:-10}"

step "real-browser replay test ran"
if [ ! -s "$CUSTODY_BROWSER_MARKER" ]; then
    echo "FAIL: the browser replay test did not run to the end (no marker at $CUSTODY_BROWSER_MARKER)" >&2
    exit 1
fi
cat "$CUSTODY_BROWSER_MARKER"

step "OpenAPI conformance: schemathesis against custody serve"
rm -f "$CUSTODY_SCHEMATHESIS_MARKER"
if [ ! -x "$CARGO_TARGET_DIR/debug/custody" ]; then
    echo "FAIL: $CARGO_TARGET_DIR/debug/custody was not built by the test step" >&2
    exit 1
fi
SCHEMATHESIS="$schemathesis_venv/bin/schemathesis" SCHEMATHESIS_PYTHON="$schemathesis_venv/bin/python" \
    bash tests/schemathesis/run.sh
if [ ! -s "$CUSTODY_SCHEMATHESIS_MARKER" ]; then
    echo "FAIL: the schemathesis run did not finish (no marker at $CUSTODY_SCHEMATHESIS_MARKER)" >&2
    exit 1
fi

step "all checks passed in $((SECONDS - suite_start))s"
