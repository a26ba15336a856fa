#!/usr/bin/env bash
# Time each benchmark against CPython and Lua 5.4 side by side and print ratios
# (median of RUNS runs; ratio < 1 means Noodle is faster). The three programs
# of a benchmark run interleaved, so background load on a shared machine hits
# them alike. Needs python3, and lua5.4 for the Lua column (apt-get install lua5.4).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
PEERS=${PEERS:-../shared/bench}
cargo build --release -q
NOODLE=./target/release/noodle
HAVE_LUA=$(command -v lua5.4 >/dev/null && echo 1 || echo 0)

secs() { # command... -> wall seconds of one run
  local s e
  s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N)
  awk -v a="$s" -v b="$e" 'BEGIN { printf "%.4f\n", (b - a) / 1e9 }'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }

printf "%-10s %10s %10s %10s %12s %12s\n" bench noodle python3 lua5.4 noodle/py noodle/lua
for b in fib loop spectral trees words; do
  n=(); p=(); l=()
  for _ in $(seq "$RUNS"); do
    n+=("$(secs $NOODLE run bench/$b.nd)")
    p+=("$(secs python3 "$PEERS/$b.py")")
    if [ "$HAVE_LUA" = 1 ]; then l+=("$(secs lua5.4 "$PEERS/$b.lua")"); else l+=(0); fi
  done
  nm=$(printf "%s\n" "${n[@]}" | median)
  pm=$(printf "%s\n" "${p[@]}" | median)
  lm=$(printf "%s\n" "${l[@]}" | median)
  printf "%-10s %10.3f %10.3f %10.3f %12s %12s\n" "$b" "$nm" "$pm" "$lm" "$(ratio "$nm" "$pm")" "$(ratio "$nm" "$lm")"
done
s=()
for _ in $(seq "$RUNS"); do s+=("$(secs $NOODLE run examples/hello.nd)"); done
echo "startup: noodle run examples/hello.nd median $(printf "%s\n" "${s[@]}" | median)s"
