#!/usr/bin/env bash
# Builds the cargo-fuzz targets of fuzz/ and runs each one for a few seconds (a smoke
# run: CI checks that they build and that nothing known crashes them; real campaigns
# run longer, see docs/fuzzing.md).
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 10)
#
# Installs cargo-fuzz (crates.io, --locked) when it is missing. The toolchain is the
# stable one: no sanitizer is requested (-s none), so nothing needs nightly.
# Each run starts from the committed seeds (fuzz/seeds/<target>) plus the local
# corpus (fuzz/corpus/<target>, not committed); a crash leaves its input under
# fuzz/artifacts/<target> and fails the script.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-10}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/custody-target}/fuzz

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi
# cargo fuzz has no --locked: refuse a fuzz/Cargo.lock that would need changing.
cargo metadata --locked --format-version 1 >/dev/null

targets=$(cargo fuzz list)
cargo fuzz build -s none
for target in $targets; do
    mkdir -p "corpus/$target"
    seeds=()
    [ -d "seeds/$target" ] && seeds=("seeds/$target")
    echo "fuzz $target for ${seconds}s"
    log="$CARGO_TARGET_DIR/fuzz-$target.log"
    status=0
    cargo fuzz run -s none "$target" "corpus/$target" "${seeds[@]}" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units)' "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$log" >&2
        echo "FAIL: fuzz target $target crashed (exit $status); the input is under fuzz/artifacts/$target" >&2
        exit 1
    fi
done
echo "fuzz smoke run: $(echo $targets | wc -w) targets, ${seconds}s each"
