#!/usr/bin/env bash
# Cluster benchmarks on loopback (127.0.0.1, ephemeral ports): remote tells
# and ask latency between the program's node and one `noodle node` (one
# worker each), and balanced placement of 1000 CPU-bound actors over 1, 2
# and 3 nodes (the program's node and 0–2 `noodle node`s) with the CPU time
# of each process. Every process started here is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
NOODLE=${NOODLE:-./target/release/noodle}
DIR=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
head -c 32 /dev/urandom | base64 > "$DIR/secret"

start() { # name [args...] -> prints the node's address
  local name=$1; shift
  "$NOODLE" node --listen 127.0.0.1:0 --secret-file "$DIR/secret" --name "$name" --data "$DIR/$name" "$@" \
    > "$DIR/$name.out" 2> "$DIR/$name.err" &
  echo $! > "$DIR/$name.pid"
  for _ in $(seq 200); do
    grep -q listening "$DIR/$name.out" 2>/dev/null && break
    sleep 0.01
  done
  grep -o '127.0.0.1:[0-9]*' "$DIR/$name.out"
}
cpu() { # pid -> user+system seconds
  awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"
}

echo "== remote messages (one worker per node)"
A=$(start n1 --workers 1); PIDS+=("$(cat "$DIR/n1.pid")")
sleep 0.3
$NOODLE run --workers 1 --cluster "$A" --secret-file "$DIR/secret" bench/cluster/tells.nd 1000000
$NOODLE run --workers 1 --cluster "$A" --secret-file "$DIR/secret" bench/cluster/asks.nd 20000
kill "${PIDS[@]}"; wait 2>/dev/null || true; PIDS=()

echo "== balanced placement of 1000 actors"
s=$(date +%s%N)
$NOODLE run bench/cluster/balanced.nd 1000 | sed 's/^/  /'
e=$(date +%s%N)
echo "  1 node (no cluster): wall $(awk -v a="$s" -v b="$e" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')s"
for nodes in 2 3; do
  A=$(start b1); PIDS+=("$(cat "$DIR/b1.pid")")
  if [ "$nodes" = 3 ]; then start b2 --join "$A" > /dev/null; PIDS+=("$(cat "$DIR/b2.pid")"); fi
  sleep 1
  s=$(date +%s%N)
  /usr/bin/time -f "%U %S" -o "$DIR/main.time" \
    $NOODLE run --cluster "$A" --secret-file "$DIR/secret" --name main bench/cluster/balanced.nd 1000 | sed 's/^/  /'
  e=$(date +%s%N)
  echo "  $nodes nodes (main + $((nodes - 1))): wall $(awk -v a="$s" -v b="$e" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')s;" \
    "CPU main $(awk '{ printf "%.2f", $1 + $2 }' "$DIR/main.time")s, nodes:$(for p in "${PIDS[@]}"; do printf " %s" "$(cpu "$p")s"; done)"
  kill "${PIDS[@]}"; wait 2>/dev/null || true; PIDS=()
done
