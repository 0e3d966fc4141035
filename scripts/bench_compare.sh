#!/usr/bin/env bash
# Runs StrataKV side by side with RocksDB, fjall, sled and redb (each engine in its own
# process) and writes the report to docs/bench/<date>-<set>.md plus JSON and two SVG charts
# (<date>-<set>-throughput.svg, <date>-<set>-latency.svg).
#
#   scripts/bench_compare.sh [NUM]        # default 1000000 keys per fill
#   ENGINES=stratakv,fjall scripts/bench_compare.sh 100000
#   SETS=small-1t,ycsb-2t scripts/bench_compare.sh    # only these sets
#   STAMP=2026-11-21-pm scripts/bench_compare.sh     # name the files (default: the date)
#   REPEAT=3 scripts/bench_compare.sh   # each engine 3 times, interleaved; median run's figures
#
# Needs libclang (Debian: libclang-dev) for RocksDB's bindings; the first build of RocksDB
# takes 20+ minutes on 2 cores (keep it: CARGO_TARGET_DIR=/some/dir reuses that build).
# CI never runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
NUM=${1:-1000000}
FEATURES=${FEATURES:-fjall,sled,redb,rocksdb}
ENGINES=${ENGINES:-}
SETS=${SETS:-}
REPEAT=${REPEAT:-1}
OUT=docs/bench
mkdir -p "$OUT"
cargo build --release -p stratakv-compare --features "$FEATURES"
BIN=${CARGO_TARGET_DIR:-target}/release/stratakv-compare
stamp=${STAMP:-$(date +%Y-%m-%d)}
engines_arg=()
if [ -n "$ENGINES" ]; then engines_arg=(--engines "$ENGINES"); fi
# run NAME KEYS ARGS...: one set, KEYS keys per fill.
run() {
  local name=$1 num=$2; shift 2
  if [ -n "$SETS" ] && [[ ",$SETS," != *",$name,"* ]]; then return; fi
  echo "== $name" >&2
  {
    echo "## $name"
    echo
    echo "Command: \`stratakv-compare --num $num --repeat $REPEAT ${engines_arg[*]} $*\`"
    echo
    "$BIN" --num "$num" --repeat "$REPEAT" "${engines_arg[@]}" --json "$OUT/$stamp-$name.json" "$@"
  } > "$OUT/$stamp-$name.md"
}
run small-1t "$NUM" --value-size 100 --threads 1 \
  --workloads fillseq,fillrandom,overwrite,readrandom,readmissing,readseq,seekrandom,readwhilewriting,deleterandom,recovery
run small-2t "$NUM" --value-size 100 --threads 2
run ycsb-2t "$NUM" --value-size 100 --threads 2 \
  --workloads fillrandom,ycsba,ycsbb,ycsbc,ycsbd,ycsbe,ycsbf
run sync-1t $((NUM / 50)) --value-size 100 --threads 1 --sync \
  --workloads fillrandom,overwrite,deleterandom
# Transactions: uncontended read-modify-write against plain overwrites (issue 6's bar is
# StrataKV's own ratio), then 2 threads on 16 hot keys for throughput and abort rates.
run txn-1t "$NUM" --value-size 100 --threads 1 --workloads fillrandom,overwrite,txnrmw
run txn-contended-2t $((NUM / 10)) --value-size 100 --threads 2 \
  --workloads fillrandom,txncontended
run value-4k $((NUM / 10)) --value-size 4096 \
  --workloads fillrandom,overwrite,readrandom,readseq
run value-64k $((NUM / 100)) --value-size 65536 \
  --workloads fillrandom,overwrite,readrandom,readseq
# The same, five times longer: at NUM/100 keys a workload is 10,000 operations (0.06-0.4 s),
# and an engine that holds every value in its own memory (sled) is measured from memory.
run value-64k-long $((NUM / 20)) --value-size 65536 \
  --workloads fillrandom,overwrite,readrandom,readseq
# The same with blob-store values stored uncompressed in every engine that has a blob store
# (RocksDB's default for blob files), read through pread and through mmap where offered.
run value-64k-raw $((NUM / 100)) --value-size 65536 --raw-blobs \
  --workloads fillrandom,overwrite,readrandom,readseq
run value-64k-raw-mmap $((NUM / 100)) --value-size 65536 --raw-blobs --mmap \
  --workloads fillrandom,overwrite,readrandom,readseq
# Larger than the cache: 5x NUM keys, a cache of 10% of the data, Zipfian and uniform reads
# after compaction has caught up, with the cache as blocks, as key-value pairs, and with mmap.
big=$((NUM * 5))
cache_mib=$(( (big * 116 / 10 + 1048575) / 1048576 ))
for mode in block row row-mmap; do
  case $mode in
    block) flags=() ;;
    row) flags=(--row-cache) ;;
    row-mmap) flags=(--row-cache --mmap) ;;
  esac
  run "zipf-cache10-$mode" "$big" --threads 2 --cache-mib "$cache_mib" "${flags[@]}" \
    --workloads fillrandom,waitforcompaction,ycsbc,readrandom
done
echo "reports in $OUT/$stamp-*.md" >&2
