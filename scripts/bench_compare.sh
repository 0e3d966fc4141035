#!/usr/bin/env bash
# Runs StrataKV side by side with RocksDB, fjall, sled and redb (each engine in its own
# process) and writes the report to docs/bench/<date>-<set>.md plus JSON and two SVG charts
# (<date>-<set>-throughput.svg, <date>-<set>-latency.svg).
#
#   scripts/bench_compare.sh [NUM]        # default 1000000 keys per fill
#   ENGINES=stratakv,fjall scripts/bench_compare.sh 100000
#
# Needs libclang (Debian: libclang-dev) for RocksDB's bindings; the first build of RocksDB
# takes 20+ minutes on 2 cores (keep it: CARGO_TARGET_DIR=/some/dir reuses that build).
# CI never runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
NUM=${1:-1000000}
FEATURES=${FEATURES:-fjall,sled,redb,rocksdb}
ENGINES=${ENGINES:-}
OUT=docs/bench
mkdir -p "$OUT"
cargo build --release -p stratakv-compare --features "$FEATURES"
BIN=${CARGO_TARGET_DIR:-target}/release/stratakv-compare
stamp=$(date +%Y-%m-%d)
engines_arg=()
if [ -n "$ENGINES" ]; then engines_arg=(--engines "$ENGINES"); fi
run() {
  local name=$1; shift
  echo "== $name" >&2
  {
    echo "## $name"
    echo
    echo "Command: \`stratakv-compare --num $NUM ${engines_arg[*]} $*\`"
    echo
    "$BIN" --num "$NUM" "${engines_arg[@]}" --json "$OUT/$stamp-$name.json" "$@"
  } > "$OUT/$stamp-$name.md"
}
run small-1t --value-size 100 --threads 1 \
  --workloads fillseq,fillrandom,overwrite,readrandom,readmissing,readseq,seekrandom,deleterandom,recovery
run small-2t --value-size 100 --threads 2
run ycsb-2t --value-size 100 --threads 2 \
  --workloads fillrandom,ycsba,ycsbb,ycsbc,ycsbd,ycsbe,ycsbf
run sync-1t --value-size 100 --threads 1 --sync --num $((NUM / 50)) \
  --workloads fillrandom,overwrite,deleterandom
run value-4k --value-size 4096 --num $((NUM / 10)) \
  --workloads fillrandom,overwrite,readrandom,readseq
run value-64k --value-size 65536 --num $((NUM / 100)) \
  --workloads fillrandom,overwrite,readrandom,readseq
echo "reports in $OUT/$stamp-*.md" >&2
