#!/usr/bin/env bash
# Failover benchmarks on loopback (127.0.0.1, ephemeral ports); every
# process started here is stopped by PID.
#  1. detection: SIGKILL one of 3 nodes run with `--fd fast`; the time until
#     every survivor has logged it down (target <= 1.5 s).
#  2. restore: 2N durable actors over two nodes, SIGKILL one; the time from
#     the program's node logging it down to every actor answering again —
#     the N restored on the survivors (targets: 1k <= 1 s, 10k <= 5 s).
#  3. the cost of copies: turn-durable asks with `replicas: 1` and `0`.
# Usage: bench/failover.sh [N ...]   (restore sizes; default 1000 10000)
#        PROVIDER=etcd bench/failover.sh ...  (membership in an etcd started
#        here on free loopback ports; needs `etcd` on the PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
NOODLE=${NOODLE:-$PWD/target/release/noodle}
DIR=$(mktemp -d)
PIDS=()
ETCD_PID=""
cleanup() { for p in "${PIDS[@]}" $ETCD_PID; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
head -c 32 /dev/urandom | base64 > "$DIR/secret"
M=()
if [ "${PROVIDER:-swim}" = etcd ]; then
  free() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
  CP=$(free); PP=$(free)
  etcd --data-dir "$DIR/etcd" --listen-client-urls "http://127.0.0.1:$CP" --advertise-client-urls "http://127.0.0.1:$CP" \
    --listen-peer-urls "http://127.0.0.1:$PP" --initial-advertise-peer-urls "http://127.0.0.1:$PP" \
    --initial-cluster "default=http://127.0.0.1:$PP" > /dev/null 2> "$DIR/etcd.log" &
  ETCD_PID=$!
  sleep 1.5
  echo "(membership in etcd at 127.0.0.1:$CP)"
fi
# Each cluster below keeps its membership under a prefix of its own (the
# keys of nodes killed before stay until their leases expire).
PHASE=0
fresh() { PHASE=$((PHASE + 1)); if [ -n "$ETCD_PID" ]; then M=(--membership "etcd://127.0.0.1:$CP/bench$PHASE"); fi; }
now() { date +%s.%N; }

start() { # name [args...] -> prints the node's address
  local name=$1; shift
  "$NOODLE" node --listen 127.0.0.1:0 --secret-file "$DIR/secret" --name "$name" --data "$DIR/$name" "${M[@]}" "$@" \
    > "$DIR/$name.out" 2> "$DIR/$name.err" &
  echo $! > "$DIR/$name.pid"
  for _ in $(seq 500); do grep -q listening "$DIR/$name.out" 2>/dev/null && break; sleep 0.01; done
  grep -o '127.0.0.1:[0-9]*' "$DIR/$name.out"
}
stop_all() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; PIDS=(); }

echo "== failure detection (--fd fast, 3 nodes)"
for run in 1 2 3; do
  fresh
  A=$(start d1 --fd fast); PIDS+=("$(cat "$DIR/d1.pid")")
  start d2 --fd fast --join "$A" > /dev/null; PIDS+=("$(cat "$DIR/d2.pid")")
  start d3 --fd fast --join "$A" > /dev/null; PIDS+=("$(cat "$DIR/d3.pid")")
  sleep 2
  t0=$(now); kill -9 "$(cat "$DIR/d3.pid")"
  seen1=""; seen2=""
  for _ in $(seq 1000); do
    [ -z "$seen1" ] && grep -q "event=down peer=d3" "$DIR/d1.err" && seen1=$(now)
    [ -z "$seen2" ] && grep -q "event=down peer=d3" "$DIR/d2.err" && seen2=$(now)
    [ -n "$seen1" ] && [ -n "$seen2" ] && break
    sleep 0.01
  done
  awk -v a="$t0" -v b="$seen1" -v c="$seen2" 'BEGIN { m = (b > c ? b : c); printf "  run %d: every survivor agrees after %.2f s (d1 %.2f s, d2 %.2f s)\n", '"$run"', m - a, b - a, c - a }'
  stop_all; rm -f "$DIR"/d*.err
done

for n in "${@:-1000 10000}"; do
  for size in $n; do
    echo "== restore $size durable actors of a killed node"
    fresh
    A=$(start r2); PIDS+=("$(cat "$DIR/r2.pid")")
    start r3 --join "$A" > /dev/null; PIDS+=("$(cat "$DIR/r3.pid")")
    sleep 1.5
    mkfifo "$DIR/in"
    "$NOODLE" run --cluster "$A" --secret-file "$DIR/secret" --name main --data "$DIR/main" "${M[@]}" bench/cluster/restore.nd $((2 * size)) \
      < "$DIR/in" > "$DIR/p.out" 2> "$DIR/p.err" &
    P=$!; PIDS+=("$P")
    exec 3> "$DIR/in"
    for _ in $(seq 12000); do grep -q ready "$DIR/p.out" 2>/dev/null && break; sleep 0.01; done
    kill -9 "$(cat "$DIR/r3.pid")"
    echo go >&3
    down=""
    for _ in $(seq 6000); do
      [ -z "$down" ] && grep -q "event=down peer=r3" "$DIR/p.err" && down=$(now)
      grep -q answered "$DIR/p.out" && break
      sleep 0.01
    done
    exec 3>&-
    wait "$P" || true
    done_at=$(awk '/answered/ { print $3 }' "$DIR/p.out")
    grep -o "event=failover-done.*" "$DIR/p.err" | sed 's/^/  /'
    awk -v d="$down" -v e="$done_at" -v ok="$(awk '/answered/ { print $2 }' "$DIR/p.out")" \
      'BEGIN { printf "  %s restored, all answering %.2f s after the program'"'"'s node declared the node down\n", (ok == "true" ? "all" : "NOT all"), e - d }'
    stop_all; rm -rf "$DIR/in" "$DIR/r2" "$DIR/r3" "$DIR/main" "$DIR"/*.err
  done
done

echo "== turn-durable asks: the cost of one copy"
fresh
A=$(start c2); PIDS+=("$(cat "$DIR/c2.pid")")
start c3 --join "$A" > /dev/null; PIDS+=("$(cat "$DIR/c3.pid")")
sleep 1.5
for r in 0 1; do
  "$NOODLE" run --cluster "$A" --secret-file "$DIR/secret" --name main --data "$DIR/main$r" "${M[@]}" bench/cluster/durable_asks.nd 2000 "$r" | sed 's/^/  /'
done
stop_all
