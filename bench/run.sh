#!/usr/bin/env bash
# Time each benchmark against CPython and Lua 5.4 side by side and print ratios
# (median of N runs; ratio < 1 means Noodle is faster).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
PEERS=${PEERS:-../shared/bench}
cargo build --release -q
NOODLE=./target/release/noodle
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timeit() { # command... -> median seconds
  for _ in $(seq "$RUNS"); do
    local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N)
    echo "$e - $s" | bc -l
  done | median
}
printf "%-10s %10s %10s %10s %12s %12s\n" bench noodle python3 lua5.4 noodle/py noodle/lua
for b in fib loop spectral trees words; do
  n=$(timeit $NOODLE run bench/$b.nd)
  p=$(timeit python3 "$PEERS/$b.py")
  if command -v lua5.4 >/dev/null; then l=$(timeit lua5.4 "$PEERS/$b.lua"); else l=0; fi
  printf "%-10s %10.3f %10.3f %10.3f %12.2f %12s\n" "$b" "$n" "$p" "$l" "$(echo "$n / $p" | bc -l)" \
    "$( [ "$l" = 0 ] && echo - || printf %.2f "$(echo "$n / $l" | bc -l)")"
done
s=$(timeit $NOODLE run examples/hello.nd)
echo "startup: noodle run examples/hello.nd median ${s}s"
