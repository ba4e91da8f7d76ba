#!/usr/bin/env bash
# Notification benchmark: whole `postbode notify` runs (planning, state
# bookkeeping in SQLite, sending) for one new post and N subscribers:
# N webhooks to a local nginx answering 200, and N emails over SMTP to
# postfix's smtp-sink. Everything on 127.0.0.1; bounded by N.
#
#   benches/notify.sh [N]        (default 10000)
#
# Needs nginx (nginx-light) and postfix's smtp-sink (postfix); installs
# them with apt-get when missing. Prints wall time and peak RSS per run.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
need() { command -v "$1" >/dev/null 2>&1; }
if ! need nginx || ! need smtp-sink || [ ! -x /usr/bin/time ]; then
  echo "notify.sh: installing nginx-light, postfix (for smtp-sink) and time" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light postfix time >/dev/null
fi
BIN=${POSTBODE_BIN:-target/release/postbode}
[ -n "${POSTBODE_BIN:-}" ] || cargo build --release -q

WORK=bench-data/notify
rm -rf "$WORK" && mkdir -p "$WORK/blog" "$WORK/nginx"
cat > "$WORK/blog/2030-01-01-bench.md" <<'MD'
---
title: Benchmark post
tags: [api]
description: One post, many subscribers.
---
Text.
MD
HTTP_PORT=18089
SMTP_PORT=12525
cat > "$WORK/nginx/nginx.conf" <<NGX
worker_processes 2;
pid $PWD/$WORK/nginx/nginx.pid;
error_log $PWD/$WORK/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $PWD/$WORK/nginx/body;
  server {
    listen 127.0.0.1:$HTTP_PORT;
    keepalive_requests 100000;
    location / { return 200 "ok"; }
  }
}
NGX
nginx -c "$PWD/$WORK/nginx/nginx.conf"
smtp-sink -u nobody -c 127.0.0.1:$SMTP_PORT 256 >/dev/null &
SINK=$!
cleanup() { nginx -c "$PWD/$WORK/nginx/nginx.conf" -s stop 2>/dev/null || true; kill $SINK 2>/dev/null || true; }
trap cleanup EXIT
sleep 0.3

defn() { # $1 kind
  cat <<TOML
title = "Bench"
site_url = "https://bench.example.org"
source = "blog"
output = "out"
state = "$1.db"

[email]
from = "bench <noreply@bench.example.org>"
transport = "smtp"
smtp_url = "smtp://127.0.0.1:$SMTP_PORT"
TOML
  for i in $(seq 1 "$N"); do
    if [ "$1" = webhook ]; then
      printf '\n[[subscribers]]\nid = "s%d"\nwebhook = "http://127.0.0.1:%d/hook/%d"\nsecret_env = "BENCH_SECRET"\n' "$i" "$HTTP_PORT" "$i"
    else
      printf '\n[[subscribers]]\nid = "s%d"\nemail = "user%d@bench.example.org"\n' "$i" "$i"
    fi
  done
}
export BENCH_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
printf '%-8s %8s %10s %10s\n' kind n wall peak_rss
for kind in webhook email; do
  defn $kind > "$WORK/$kind.toml"
  out=$( { /usr/bin/time -f "%e %M" "$BIN" --now 2030-01-02T00:00:00Z notify --json --backfill 2029-12-31 "$WORK/$kind.toml" > "$WORK/$kind.json"; } 2>&1 | tail -1 )
  sent=$(python3 -c "import json;print(json.load(open('$WORK/$kind.json'))['sent'])")
  [ "$sent" = "$N" ] || { echo "notify.sh: $kind: sent $sent of $N" >&2; cat "$WORK/$kind.json" >&2; exit 1; }
  read -r wall rss <<<"$out"
  printf '%-8s %8d %9ss %8.1f MB\n' "$kind" "$N" "$wall" "$(echo "$rss/1024" | bc -l)"
done
echo "targets: 10000 webhooks < 1 s, 10000 emails < 5 s, peak RSS < 100 MB"
