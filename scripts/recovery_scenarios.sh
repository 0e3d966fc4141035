#!/usr/bin/env bash
# Runs the whole crash, power-loss, corruption, I/O-error and fuzz matrix and writes a summary
# of counts per scenario (as NoKV's recovery_scenarios.sh does).
#
#   scripts/recovery_scenarios.sh [quick|long] [SUMMARY_FILE]
#
# quick (default, a few minutes): the test suite's own sizes. long: 1000 kills, 200
# power-loss rounds per mode, the matrix on 8 files of each kind, 20,000 mutated inputs per
# fuzz target, and 5 minutes of cargo fuzz per target. The summary goes to SUMMARY_FILE
# (default target/recovery-scenarios.md) and to stdout; any failure stops the run with the
# failing test's output (which names its seed and keeps its directory).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-quick}
out=${2:-target/recovery-scenarios.md}
mkdir -p "$(dirname "$out")"
if [ "$mode" = long ]; then
    export STRATAKV_CRASH_ROUNDS=1000 STRATAKV_POWER_LOSS_ROUNDS=200 STRATAKV_MATRIX_FILES=8 \
        STRATAKV_FUZZ_CASES=20000
fi
log=$(mktemp)
tests=(crash_kill crash_prefix crash_kill_then_power_loss corruption_matrix corruption vlog_corruption io_error_power_loss
       fail_stop full_disk recovery_reads_wal_holes_on_a_full_disk broken_engine fuzz_corpus)
cargo test --release --no-run $(printf -- '--test %s ' "${tests[@]}") 2>&1 | tail -1
for t in "${tests[@]}"; do
    echo "== $t"
    if ! cargo test --release --test "$t" -- --nocapture --test-threads=1 >"$log" 2>&1; then
        cat "$log"
        echo "SCENARIO FAILURE in $t"
        exit 1
    fi
    # (--nocapture interleaves the harness's "test x ... " with these lines.)
    grep -oE "scenario [^ ]+: .*|[a-z_]+: SKIPPED.*" "$log" | tee -a "$log.all" \
        || echo "scenario $t: passed" | tee -a "$log.all"
done
if [ "$mode" = long ]; then
    scripts/fuzz.sh 300 | tee -a "$log.all"
fi
{
    echo "# Recovery scenarios ($mode), $(date -u +%Y-%m-%d), $(uname -m), $(nproc) cores"
    echo
    echo "| scenario | counts |"
    echo "|---|---|"
    grep -E "^scenario " "$log.all" | sed -E 's/^scenario ([^:]+): (.*)$/| \1 | \2 |/'
    grep -E "SKIPPED" "$log.all" | sed -E 's/^(.*)$/| skipped | \1 |/' || true
} >"$out"
rm -f "$log" "$log.all"
echo
cat "$out"
