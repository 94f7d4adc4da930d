#!/usr/bin/env bash
# serve-bench.sh: the load table of docs/SERVING.md. Starts bitnet-server on
# MODEL (and, when given, another OpenAI-compatible server command on its own
# model, e.g. llama-server), warms each up with one request, then runs
# bitnet-loadgen at 1, 4, 8 and 16 streams against each, interleaved (for each
# stream count: bitnet-server, then the peer; same threads, same run, so a
# shared machine's load drifts over both alike), then the repeated-chat-turn
# prefix test on each. Both servers stay up for the whole run; only the one
# being measured has work. Loopback only; every server is stopped at the end.
# Prints one JSON line per run, with the server's name and the 1-minute load
# average (/proc/loadavg) just before the run.
#
#   tools/bench/serve-bench.sh BUILD_DIR MODEL.gguf [PEER_SERVER_BIN PEER_MODEL.gguf]
#
# Environment: THREADS (2), SLOTS (16), CTX (per slot, 1024), TOKENS (32),
# REQS_PER_STREAM (4), STREAMS ("1 4 8 16"), WARM_PROMPTS (0; 1 caches loadgen's 8 prompts first),
# SERVER_ARGS (extra flags for bitnet-server), PREFIX (1000; 0 skips the prefix
# test; its second turn needs more than PREFIX + 60 positions, so with CTX 1024
# run it separately, e.g. SLOTS=2 CTX=2048 STREAMS=1 REQS_PER_STREAM=1), PEER_ARGS (extra flags for the peer, e.g. "-no-fa").
set -euo pipefail
build=$(cd "$1" && pwd); model=$2
peer_bin=${3:-}; peer_model=${4:-}
threads=${THREADS:-2}; slots=${SLOTS:-16}; ctx=${CTX:-1024}; tokens=${TOKENS:-32}
per=${REQS_PER_STREAM:-4}; streams=${STREAMS:-"1 4 8 16"}; prefix=${PREFIX:-1000}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  pids=()
}
trap stop_all EXIT
wait_ready() { # port
  for _ in $(seq 2400); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/health" || true)" = 200 ] && return 0
    sleep 0.25
  done
  echo "serve-bench: server on port $1 not ready" >&2; return 1
}
run_one() { # name port pid streams
  printf '{"server": "%s", "load1": %s, ' "$1" "$(cut -d' ' -f1 /proc/loadavg)"
  "$build/tools/bitnet-loadgen" --port "$2" --streams "$4" --requests $(($4 * per)) \
    --max-tokens "$tokens" --pid "$3" --json | sed 's/^{//'
}

names=(bitnet-server); ports=($(free_port))
"$build/tools/bitnet-server" -m "$model" --port "${ports[0]}" -t "$threads" -np "$slots" \
  -c "$ctx" ${SERVER_ARGS:-} 2>/tmp/serve-bench-bitnet.log &
pids+=($!)
wait_ready "${ports[0]}"
if [ -n "$peer_bin" ]; then
  names+=("$(basename "$peer_bin")"); ports+=($(free_port))
  # From a scratch directory: llama.cpp servers write llama.log into theirs.
  peer_bin=$(realpath "$(command -v "$peer_bin")"); peer_model=$(realpath "$peer_model")
  (cd "$(mktemp -d)" && exec "$peer_bin" -m "$peer_model" --host 127.0.0.1 --port "${ports[1]}" \
    -t "$threads" -np "$slots" -c $((ctx * slots)) -cb ${PEER_ARGS:-}) >/tmp/serve-bench-peer.log 2>&1 &
  pids+=($!)
  wait_ready "${ports[1]}"
fi
# Warm-up: one short request each (page cache, first-touch of the weights);
# WARM_PROMPTS=1: one request for each of loadgen's 8 prompts instead, so
# that every stream count starts with the same prompts in the slots' caches
# (else a short 1-stream run pays every prompt's prefill, and a long 8-stream
# one mostly reuses them).
for i in "${!pids[@]}"; do
  "$build/tools/bitnet-loadgen" --port "${ports[$i]}" --streams 1 \
    --requests $([ "${WARM_PROMPTS:-0}" = 1 ] && echo 8 || echo 1) --max-tokens 4 >/dev/null || true
done
for s in $streams; do
  for i in "${!pids[@]}"; do run_one "${names[$i]}" "${ports[$i]}" "${pids[$i]}" "$s" || true; done
done
if [ "$prefix" -gt 0 ]; then
  for i in "${!pids[@]}"; do
    echo "${names[$i]}:"
    "$build/tools/bitnet-loadgen" --port "${ports[$i]}" --prefix-test "$prefix" --pid "${pids[$i]}" || true
  done
fi
stop_all
