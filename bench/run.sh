#!/usr/bin/env bash
# Time each benchmark against CPython and Lua 5.4 side by side and print ratios
# (median of RUNS runs; ratio < 1 means Noodle is faster). The three programs
# of a benchmark run interleaved, so background load on a shared machine hits
# them alike. Needs python3, and lua5.4 for the Lua column (apt-get install lua5.4).
# The actor benchmarks compare with Erlang/OTP timed in-process (erlang-base)
# and Python asyncio; ONLY=cpu, ONLY=actors or ONLY=durable runs one part.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
PEERS=${PEERS:-../shared/bench}
cargo build --release -q
NOODLE=${NOODLE:-./target/release/noodle}
HAVE_LUA=$(command -v lua5.4 >/dev/null && echo 1 || echo 0)

secs() { # command... -> wall seconds of one run
  local s e
  s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N)
  awk -v a="$s" -v b="$e" 'BEGIN { printf "%.4f\n", (b - a) / 1e9 }'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }

ONLY=${ONLY:-all}
if [ "$ONLY" = durable ]; then ONLY=durable-only; fi
if [ "$ONLY" != actors ] && [ "$ONLY" != durable-only ]; then
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
fi
[ "$ONLY" = cpu ] && exit 0

# Durable actors (redb): the disk's single-commit rate, turn-durable
# throughput (one actor, then 100 sharing commits), and 10k actors with
# ~1 KB of state written then restored by a second process.
DATA=$(mktemp -d)
echo
$NOODLE run bench/db_put.nd
$NOODLE run --data "$DATA/turns" bench/durable_turns.nd
$NOODLE run --data "$DATA/restore" bench/durable_restore.nd write
$NOODLE run --data "$DATA/restore" bench/durable_restore.nd restore
rm -rf "$DATA"
[ "$ONLY" = durable-only ] && exit 0

# Matrices against numpy (pip install numpy), whole processes both.
if python3 -c "import numpy" 2>/dev/null; then
  n=(); p=()
  for _ in $(seq "$RUNS"); do
    n+=("$(secs $NOODLE run bench/matmul.nd)")
    p+=("$(secs python3 "$PEERS/matmul.py")")
  done
  nm=$(printf "%s\n" "${n[@]}" | median)
  pm=$(printf "%s\n" "${p[@]}" | median)
  printf "\n%-10s %10s %10s %12s\n%-10s %10.3f %10.3f %12s\n" bench noodle numpy noodle/numpy matmul "$nm" "$pm" "$(ratio "$nm" "$pm")"
fi

# Actors: Noodle's whole process (startup included) against Erlang's
# in-process time (erl boots in about a second) and Python asyncio.
HAVE_ERL=$(command -v erlc >/dev/null && echo 1 || echo 0)
ERLDIR=$(mktemp -d)
if [ "$HAVE_ERL" = 1 ]; then
  for b in ring pingpong spawn; do erlc -o "$ERLDIR" "$PEERS/$b.erl"; done
fi
erl_secs() { # module -> seconds measured inside the VM
  erl -noshell -pa "$ERLDIR" -eval "{T,_}=timer:tc($1,main,[]), io:format(\"~p~n\",[T]), halt()." | tail -1 | awk '{ printf "%.4f\n", $1 / 1e6 }'
}
printf "\n%-10s %10s %10s %10s %12s %12s\n" bench noodle erlang asyncio noodle/erl noodle/py
for b in ring pingpong spawn; do
  n=(); e=(); p=()
  for _ in $(seq "$RUNS"); do
    n+=("$(secs $NOODLE run bench/$b.nd)")
    if [ "$HAVE_ERL" = 1 ]; then e+=("$(erl_secs "$b")"); else e+=(0); fi
    p+=("$(secs python3 "$PEERS/$b.py")")
  done
  nm=$(printf "%s\n" "${n[@]}" | median)
  em=$(printf "%s\n" "${e[@]}" | median)
  pm=$(printf "%s\n" "${p[@]}" | median)
  printf "%-10s %10.3f %10.3f %10.3f %12s %12s\n" "$b" "$nm" "$em" "$pm" "$(ratio "$nm" "$em")" "$(ratio "$nm" "$pm")"
done
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
idle=$(rss $NOODLE run bench/idle_actors.nd)
base=$(rss $NOODLE run bench/baseline.nd)
echo "memory per idle actor: $(( (idle - base) * 1024 / 100000 )) bytes (RSS $idle KB vs $base KB for 100k)"
if [ "$HAVE_ERL" = 1 ]; then
  erl -noshell -eval 'M0=erlang:memory(processes), Ps=[spawn(fun() -> receive stop -> ok end end) || _ <- lists:seq(1,100000)], M1=erlang:memory(processes), io:format("erlang: ~p bytes per idle process~n",[(M1-M0) div 100000]), [P ! stop || P <- Ps], halt().'
fi
rm -rf "$ERLDIR"
