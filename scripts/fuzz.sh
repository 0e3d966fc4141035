#!/usr/bin/env bash
# Coverage-guided fuzzing of every decoder and of the model (fuzz/src/lib.rs) with cargo fuzz.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      (default 60 s, every target)
#
# Works on stable Rust: RUSTC_BOOTSTRAP=1 lets cargo fuzz pass its -Z flags, and the
# default sanitizer is none (FUZZ_SANITIZER=address for ASan where the toolchain has it).
# New inputs go to target/fuzz-corpus/<target> (the committed seeds in fuzz/corpus are read,
# not written); copy the ones worth keeping into fuzz/corpus/<target> and
# tests/fuzz_corpus.rs replays them on every cargo test. A crash stops the run, leaves the
# input in fuzz/artifacts/<target>/ and prints the command that reproduces it.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(ls fuzz/fuzz_targets | sed 's/\.rs$//')
fi
sanitizer=${FUZZ_SANITIZER:-none}
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
cd fuzz
echo "== building ${#targets[@]} targets (sanitizer: $sanitizer)"
cargo fuzz build --release -s "$sanitizer"
for t in "${targets[@]}"; do
    mkdir -p "../target/fuzz-corpus/$t" "corpus/$t"
    log=$(mktemp)
    if ! cargo fuzz run --release -s "$sanitizer" "$t" "../target/fuzz-corpus/$t" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1; then
        tail -40 "$log"
        echo "scenario fuzz-long/$t: seconds=$secs crashes=1"
        echo "FUZZ FAILURE in $t: reproduce with (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s $sanitizer $t fuzz/artifacts/$t/<file>)"
        exit 1
    fi
    runs=$(grep -oE '^Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' || echo "?")
    echo "scenario fuzz-long/$t: seconds=$secs runs=$runs crashes=0"
    rm -f "$log"
done
