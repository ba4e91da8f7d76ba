#!/usr/bin/env bash
# Work-sharing benchmark: one new post announced to N webhook subscribers
# (default 100,000), sent by whole `postbode notify` processes to a local
# nginx answering 200: once on SQLite (one worker: runs of a blog take turns
# on SQLite), then on PostgreSQL with 1, 2 and 4 workers started at once
# against one database. Prints deliveries per second (N / wall time from
# the first start to the last exit) and the largest peak RSS of a worker.
# Everything on 127.0.0.1; bounded by N.
#
#   benches/workers.sh [N]
#
# Needs nginx (nginx-light), GNU time and a PostgreSQL server whose user may
# create databases: POSTBODE_TEST_DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/test). Installs nginx-light and time
# with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
PG=${POSTBODE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
need() { command -v "$1" >/dev/null 2>&1; }
if ! need nginx || [ ! -x /usr/bin/time ] || ! need psql; then
  echo "workers.sh: installing nginx-light, time and postgresql-client" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light time postgresql-client >/dev/null
fi
BIN=${POSTBODE_BIN:-target/release/postbode}
[ -n "${POSTBODE_BIN:-}" ] || cargo build --release -q
BIN=$(realpath "$BIN")

WORK=$PWD/bench-data/workers
rm -rf "$WORK" && mkdir -p "$WORK/blog" "$WORK/nginx"
HTTP_PORT=18090
cat > "$WORK/nginx/nginx.conf" <<NGX
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 2048; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  server {
    listen 127.0.0.1:$HTTP_PORT;
    keepalive_requests 1000000;
    location / { return 200 "ok"; }
  }
}
NGX
nginx -c "$WORK/nginx/nginx.conf"
DBS=()
cleanup() {
  nginx -c "$WORK/nginx/nginx.conf" -s stop 2>/dev/null || true
  for db in "${DBS[@]}"; do psql -q "$PG" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
sleep 0.3

post() { # $1 n
  printf -- '---\ntitle: Post %s\ndate: 2030-01-01T00:00:0%sZ\n---\nText.\n' "$1" "$1" > "$WORK/blog/2030-01-01-post-$1.md"
}
{
  printf 'title = "Bench"\nsite_url = "https://bench.example.org"\nsource = "blog"\noutput = "out"\nstate = "state.db"\n'
  python3 - "$N" "$HTTP_PORT" <<'PY'
import sys
n, port = int(sys.argv[1]), sys.argv[2]
out = sys.stdout
for i in range(n):
    out.write(f'\n[[subscribers]]\nid = "s{i}"\nwebhook = "http://127.0.0.1:{port}/hook/{i}"\n')
PY
} > "$WORK/bench.toml"

# Starts $1 workers at once on the state in POSTBODE_DATABASE_URL (or the
# file), waits for all; prints "wall_s peak_kb".
# CPU seconds (user + system, reaped children included) of the processes
# with the pids given: where a run's time goes besides postbode itself.
cpu_of() {
  local ticks=0 pid f
  for pid in "$@"; do
    f=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    f=${f##*) }
    # Fields 14-17 of stat (utime stime cutime cstime) are 12-15 after "pid (comm) ".
    ticks=$(awk -v t="$ticks" '{ print t + $12 + $13 + $14 + $15 }' <<<"$f")
  done
  echo "$ticks / $(getconf CLK_TCK)" | bc -l
}
pg_cpu() { cpu_of $(pgrep -x postgres); }
# This benchmark's nginx only: its master and workers.
nginx_cpu() { local m; m=$(cat "$WORK/nginx/nginx.pid"); cpu_of "$m" $(pgrep -P "$m"); }

measure() {
  local k=$1 pids=() t0 t1 peak=0 cpu=0 pg0 ngx0
  rm -f "$WORK"/w*.time
  pg0=$(pg_cpu) ngx0=$(nginx_cpu)
  t0=$(date +%s.%N)
  for w in $(seq 1 "$k"); do
    /usr/bin/time -f "%U %S %M" -o "$WORK/w$w.time" "$BIN" --now 2030-01-02T00:00:00Z notify "$WORK/bench.toml" >/dev/null 2>"$WORK/w$w.err" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || { echo "a worker failed:" >&2; tail -5 "$WORK"/w*.err >&2; exit 1; }; done
  t1=$(date +%s.%N)
  for w in $(seq 1 "$k"); do
    read -r user sys kb < <(tail -1 "$WORK/w$w.time")
    [ "$kb" -gt "$peak" ] && peak=$kb
    cpu=$(echo "$cpu + $user + $sys" | bc -l)
  done
  echo "$(echo "$t1 - $t0" | bc -l) $peak $cpu $(echo "$(pg_cpu) - $pg0" | bc -l) $(echo "$(nginx_cpu) - $ngx0" | bc -l)"
}

prepare() {
  rm -f "$WORK/blog"/*.md "$WORK"/state.db*
  post 1
  "$BIN" --now 2030-01-02T00:00:00Z notify "$WORK/bench.toml" >/dev/null 2>&1
  post 2
}

printf '%-10s %7s %8s %9s %14s %12s %12s %9s %9s\n' store workers n wall_s deliveries/s peak_rss_MB postbode_cpu_s pg_cpu_s nginx_cpu_s
row() { # store workers wall peak cpu pg_cpu nginx_cpu
  printf '%-10s %7s %8s %9.2f %14.0f %12.1f %14.2f %9.2f %11.2f\n' "$1" "$2" "$N" "$3" "$(echo "$N / $3" | bc -l)" "$(echo "$4 / 1024" | bc -l)" "$5" "$6" "$7"
}

unset POSTBODE_DATABASE_URL
prepare
read -r wall peak cpu pg ngx < <(measure 1)
row sqlite 1 "$wall" "$peak" "$cpu" "$pg" "$ngx"

for k in ${WORKERS:-1 2 4}; do
  db="postbode_bench_$$_$k"
  DBS+=("$db")
  psql -q "$PG" -c "CREATE DATABASE $db" >/dev/null
  export POSTBODE_DATABASE_URL="${PG%/*}/$db"
  prepare
  read -r wall peak cpu pg ngx < <(measure "$k")
  row postgres "$k" "$wall" "$peak" "$cpu" "$pg" "$ngx"
  sent=$(psql -At "$POSTBODE_DATABASE_URL" -c "SELECT COUNT(*) FROM deliveries WHERE status = 'sent'")
  [ "$sent" = "$N" ] || { echo "postgres $k: $sent of $N sent" >&2; exit 1; }
  unset POSTBODE_DATABASE_URL
done
