#!/usr/bin/env bash
# nginx-failover.sh BUILD_DIR: two bitnet-server replicas behind Debian's
# nginx (the configuration of docs/SERVING.md), on loopback only. Sends
# requests through nginx, SIGKILLs one replica in the middle of a run, and
# checks that (1) every request still succeeds, (2) both replicas served
# before the kill, (3) after it nginx sends nothing more to the dead one
# (passive health check: max_fails=1 fail_timeout=30s). Not part of the
# default test run. Needs nginx (apt-get install nginx-light) and curl.
# Every wait is bounded; everything started here is stopped at exit.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: tests/server/nginx-failover.sh BUILD_DIR" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
server="$build/tools/bitnet-server"
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$server" ] || { echo "nginx-failover: $server not built" >&2; exit 1; }
[ -x "$nginx" ] || { echo "nginx-failover: nginx not installed (apt-get install nginx-light)" >&2; exit 1; }
command -v curl >/dev/null || { echo "nginx-failover: curl not installed" >&2; exit 1; }

dir=$(mktemp -d /tmp/bn-nginx-failover.XXXXXX)
pids=()
nginx_pid=""
cleanup() {
  # nginx first, gracefully (TERM to the master stops its workers too), then
  # whatever replica is left.
  if [ -n "$nginx_pid" ] && kill -TERM "$nginx_pid" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nginx_pid" 2>/dev/null || true
  fi
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

# Two replicas, each on a free port that it reports.
start_replica() { # name -> sets port_<name>, pid_<name>
  : >"$dir/$1.log"
  "$server" --port 0 -t 1 -np 2 2>"$dir/$1.log" &
  local pid=$! port=""
  pids+=("$pid")
  for _ in $(seq 100); do
    port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/$1.log" | head -1)
    [ -n "$port" ] && grep -q "ready:" "$dir/$1.log" && break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$dir/$1.log" >&2; exit 1; }
  eval "port_$1=$port pid_$1=$pid"
}
start_replica a
start_replica b

# nginx on a free loopback port (the kernel picks one; nginx binds it a moment later).
port_lb=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$dir/tmp"
cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 256; }
http {
  log_format up '\$request_uri \$status upstream=\$upstream_addr';
  access_log $dir/access.log up;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  upstream bitnet {
    server 127.0.0.1:$port_a max_fails=1 fail_timeout=30s;
    server 127.0.0.1:$port_b max_fails=1 fail_timeout=30s;
    keepalive 16;
  }
  server {
    listen 127.0.0.1:$port_lb;
    location / {
      proxy_pass http://bitnet;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_cache off;
      proxy_read_timeout 600s;
      proxy_connect_timeout 2s;
      proxy_next_upstream error timeout http_502 http_503 non_idempotent;
      proxy_next_upstream_tries 2;
    }
  }
}
CONF
"$nginx" -p "$dir" -c "$dir/nginx.conf" &
nginx_pid=$!
for _ in $(seq 100); do
  curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port_lb/health" && break
  sleep 0.1
done

fails=0
request() { # prints the status of one completion through nginx
  curl -s -o /dev/null -w '%{http_code}' --max-time 30 "http://127.0.0.1:$port_lb/v1/completions" \
    -H 'Content-Type: application/json' \
    -d '{"prompt": "Once upon a time", "max_tokens": 16, "stream": true}' || echo 000
}
for i in $(seq 20); do
  s=$(request); [ "$s" = 200 ] || { echo "nginx-failover: request $i before the kill: $s" >&2; fails=$((fails + 1)); }
done
served_a=$(grep -c "POST /v1/completions 200" "$dir/a.log" || true)
served_b=$(grep -c "POST /v1/completions 200" "$dir/b.log" || true)
echo "nginx-failover: before the kill: replica A served $served_a, replica B served $served_b"

# Requests keep flowing while replica A is killed.
for i in $(seq 40); do
  [ "$i" = 10 ] && { kill -KILL "$pid_a"; wait "$pid_a" 2>/dev/null || true; echo "nginx-failover: killed replica A (pid $pid_a)"; }
  s=$(request); [ "$s" = 200 ] || { echo "nginx-failover: request $i around the kill: $s" >&2; fails=$((fails + 1)); }
done
for i in $(seq 20); do
  s=$(request); [ "$s" = 200 ] || { echo "nginx-failover: request $i after the kill: $s" >&2; fails=$((fails + 1)); }
done

# After the first failed attempt on A, nginx marks it down: no later line names A.
first=$(grep -n "upstream=127.0.0.1:$port_a, " "$dir/access.log" | head -1 | cut -d: -f1 || true)
tries_a_after=0
if [ -n "$first" ]; then
  tries_a_after=$(tail -n +"$((first + 1))" "$dir/access.log" | grep -c "127.0.0.1:$port_a" || true)
fi
total=$(grep -c "/v1/completions 200" "$dir/access.log" || true)
echo "nginx-failover: $total of 80 requests answered 200 through nginx; failed attempts on the dead replica after the first: $tries_a_after"

status=0
[ "$fails" -eq 0 ] || { echo "nginx-failover: FAILED: $fails requests failed" >&2; status=1; }
[ "$served_a" -gt 0 ] && [ "$served_b" -gt 0 ] || { echo "nginx-failover: FAILED: nginx did not balance" >&2; status=1; }
[ -n "$first" ] || { echo "nginx-failover: FAILED: no failover seen in the access log" >&2; status=1; }
[ "$tries_a_after" -eq 0 ] || { echo "nginx-failover: FAILED: nginx kept trying the dead replica" >&2; status=1; }
kill -TERM "$pid_b"
for _ in $(seq 100); do kill -0 "$pid_b" 2>/dev/null || break; sleep 0.1; done
[ "$status" -eq 0 ] && echo "nginx-failover: passed"
exit "$status"
