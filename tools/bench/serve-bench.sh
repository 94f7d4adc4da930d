#!/usr/bin/env bash
# serve-bench.sh: the load table of docs/SERVING.md. Starts bitnet-server on
# MODEL (and, when given, another OpenAI-compatible server command on its own
# model, e.g. llama-server on the TQ2_0 file), runs bitnet-loadgen at 1, 4, 8
# and 16 streams against each in turn (same threads, same run), then the
# repeated-chat-turn prefix test on bitnet-server. Loopback only; every
# server is stopped at the end. Prints one JSON line per run.
#
#   tools/bench/serve-bench.sh BUILD_DIR MODEL.gguf [PEER_SERVER_BIN PEER_MODEL.gguf]
#
# Environment: THREADS (2), SLOTS (16), CTX (per slot, 1024), TOKENS (32),
# REQS_PER_STREAM (4), STREAMS ("1 4 8 16"), PREFIX (1000).
set -euo pipefail
build=$(cd "$1" && pwd); model=$2
peer_bin=${3:-}; peer_model=${4:-}
threads=${THREADS:-2}; slots=${SLOTS:-16}; ctx=${CTX:-1024}; tokens=${TOKENS:-32}
per=${REQS_PER_STREAM:-4}; streams=${STREAMS:-"1 4 8 16"}; prefix=${PREFIX:-1000}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pid=""
stop() { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done; pid=""; }
trap stop EXIT
wait_ready() { # port
  for _ in $(seq 1200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/health" || true)" = 200 ] && return 0
    sleep 0.25
  done
  echo "serve-bench: server on port $1 not ready" >&2; return 1
}
run_table() { # name port
  for s in $streams; do
    printf '{"server": "%s", ' "$1"
    "$build/tools/bitnet-loadgen" --port "$2" --streams "$s" --requests $((s * per)) \
      --max-tokens "$tokens" --pid "$pid" --json | sed 's/^{//'
  done
}

port=$(free_port)
"$build/tools/bitnet-server" -m "$model" --port "$port" -t "$threads" -np "$slots" -c "$ctx" \
  2>/tmp/serve-bench-bitnet.log &
pid=$!
wait_ready "$port"
run_table bitnet-server "$port"
"$build/tools/bitnet-loadgen" --port "$port" --prefix-test "$prefix" --pid "$pid"
stop

if [ -n "$peer_bin" ]; then
  port=$(free_port)
  "$peer_bin" -m "$peer_model" --host 127.0.0.1 --port "$port" -t "$threads" -np "$slots" \
    -c $((ctx * slots)) -cb 2>/tmp/serve-bench-peer.log &
  pid=$!
  wait_ready "$port"
  run_table "$(basename "$peer_bin")" "$port"
  "$build/tools/bitnet-loadgen" --port "$port" --prefix-test "$prefix" --pid "$pid" || true
  stop
fi
