#!/usr/bin/env bash
# Long kill -9 crash loop: runs tests/crash_kill.rs for many seeds and rounds.
#
#   scripts/crash_loop.sh [SEEDS] [ROUNDS_PER_SEED]     (default 20 seeds x 1000 kills)
#
# Each seed's run prints how many batches survived; a failure prints the seed and keeps the
# database directory (the path is in the message) and stops the loop.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-20}
rounds=${2:-1000}
cargo test --release --test crash_kill --no-run
for seed in $(seq 1 "$seeds"); do
    echo "== seed $seed, $rounds kills"
    STRATAKV_SEED=$seed STRATAKV_CRASH_ROUNDS=$rounds \
        cargo test --release --test crash_kill -- --exact kill_nine_loses_nothing_acknowledged --nocapture 2>&1 \
        | grep -E "crash_kill:|\*\*\*|panicked" || { echo "seed $seed FAILED"; exit 1; }
done
echo "crash loop: $seeds seeds x $rounds kills passed"
