#!/usr/bin/env bash
# openai-conformance.sh BUILD_DIR: runs the official `openai` Python SDK
# (pip, in a venv under BUILD_DIR) against BUILD_DIR/tools/bitnet-server on
# the bundled model, on a free loopback port, with an API key. Starts the
# server, runs tests/server/openai_conformance.py, stops the server with
# SIGTERM and checks that it exits 0. Every wait is bounded. Exits non-zero
# on any failure.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: tests/server/openai-conformance.sh BUILD_DIR" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
server="$build/tools/bitnet-server"
[ -x "$server" ] || { echo "openai-conformance: $server not built (libmicrohttpd missing?)" >&2; exit 1; }

venv="$build/openai-venv"
if ! "$venv/bin/python" -c "import openai" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check openai
fi

log=$(mktemp /tmp/bn-openai-server.XXXXXX)
key="conformance-$$"
"$server" --port 0 -t 2 -np 2 --api-key "$key" 2>"$log" &
pid=$!
cleanup() {
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$log"
}
trap cleanup EXIT

port=""
for _ in $(seq 200); do
  port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)
  if [ -n "$port" ] && grep -q "ready:" "$log"; then break; fi
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; echo "openai-conformance: server exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { cat "$log" >&2; echo "openai-conformance: server not ready" >&2; exit 1; }

status=0
timeout 300 "$venv/bin/python" "$here/openai_conformance.py" "http://127.0.0.1:$port/v1" "$key" || status=$?

kill -TERM "$pid"
rc=""
for _ in $(seq 200); do
  if ! kill -0 "$pid" 2>/dev/null; then wait "$pid" && rc=0 || rc=$?; break; fi
  sleep 0.1
done
if [ "$status" -ne 0 ]; then
  echo "openai-conformance: server log:" >&2
  tail -n 40 "$log" >&2
  exit "$status"
fi
[ "$rc" = "0" ] || { echo "openai-conformance: server did not exit 0 on SIGTERM (${rc:-still running})" >&2; exit 1; }
echo "openai-conformance: server stopped cleanly"
