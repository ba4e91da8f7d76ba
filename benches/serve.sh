#!/usr/bin/env bash
# Subscription service benchmark: `postbode serve` on 127.0.0.1 with a small
# blog and a SQLite state, loaded by wrk (100 connections, 2 threads, 10 s)
# with two requests a reader's mail client or browser makes:
#
#   GET  /bench/subscribe                 the form (tags, authors, CSRF token)
#   POST /bench/unsubscribe/<token>       RFC 8058 one-click, body
#                                         List-Unsubscribe=One-Click
#
# The unsubscribe token is signed here as postbode signs it (src/token.rs)
# for a subscriber that does not exist: the answer is the idempotent 200 of
# an address already gone, after the signature check and the state lookup
# every one-click POST does.
#
#   benches/serve.sh [DURATION]      (default 10s)
#
# Needs wrk (Debian's `wrk`; installed with apt-get when missing). Prints
# wrk's report and, per endpoint, requests/s and the 99th percentile.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10s}
CONNECTIONS=100
THREADS=2
if ! command -v wrk >/dev/null 2>&1; then
  echo "serve.sh: installing wrk" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
BIN=${POSTBODE_BIN:-target/release/postbode}
[ -n "${POSTBODE_BIN:-}" ] || cargo build --release -q

WORK=bench-data/serve
rm -rf "$WORK" && mkdir -p "$WORK/blog"
for t in api open-source data rust community; do
  printf '%s:\n  label: %s\n  description: Posts about %s.\n' "$t" "$t" "$t" >> "$WORK/tags.yml"
done
cat > "$WORK/blog/2030-01-01-bench.md" <<'MD'
---
title: Benchmark post
tags: [api, rust]
---
Text.
MD
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$WORK/bench.toml" <<TOML
title = "Bench"
site_url = "https://bench.example.org"
source = "blog"
tags_file = "tags.yml"
output = "out"
state = "state.db"
language = "en"

[email]
from = "bench <noreply@bench.example.org>"
transport = "file"
outbox = "outbox"

[serve]
public_url = "http://127.0.0.1:$PORT"
secret_env = "BENCH_SERVE_SECRET"
TOML
export BENCH_SERVE_SECRET=bench-secret-0123456789abcdef0123456789abcdef
# The first run makes the state and records the post.
"$BIN" --now 2030-01-02T00:00:00Z run "$WORK/bench.toml" >/dev/null

"$BIN" serve "$WORK/bench.toml" --listen "127.0.0.1:$PORT" 2>"$WORK/serve.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  grep -q "serving the subscription pages" "$WORK/serve.log" && break
  sleep 0.1
done
grep -q "serving the subscription pages" "$WORK/serve.log" || { cat "$WORK/serve.log" >&2; exit 1; }

# A one-click token for subscriber "serve:999999" (never subscribed): body =
# purpose "u" | key (8 bytes) | expires (8 bytes, 0 = never) | id, MAC =
# HMAC-SHA256(secret, "postbode-token\0" blog "\0" body).
TOKEN=$(python3 - <<'PY'
import base64, hashlib, hmac, os, struct
body = b"u" + struct.pack(">QQ", 1, 0) + b"serve:999999"
mac = hmac.new(os.environ["BENCH_SERVE_SECRET"].encode(), b"postbode-token\0bench\0" + body, hashlib.sha256).digest()
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
print(f"{b64(body)}.{b64(mac)}")
PY
)
BASE="http://127.0.0.1:$PORT/bench"
cat > "$WORK/one-click.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "List-Unsubscribe=One-Click"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA

check() { # $1 what, then curl arguments: one request must answer 200
  local code
  code=$(curl -s -o "$WORK/check.html" -w '%{http_code}' "${@:2}")
  [ "$code" = 200 ] || { echo "serve.sh: $1 answered $code" >&2; cat "$WORK/check.html" >&2; exit 1; }
}
check "GET subscribe" "$BASE/subscribe"
check "one-click POST" -X POST -H 'Content-Type: application/x-www-form-urlencoded' \
  --data 'List-Unsubscribe=One-Click' "$BASE/unsubscribe/$TOKEN"

summary=()
run() { # $1 name, then wrk arguments
  echo "== $1"
  wrk -t$THREADS -c$CONNECTIONS -d"$DURATION" --latency "${@:2}" | tee "$WORK/$1.txt"
  local rps p99 bad
  rps=$(awk '/^Requests\/sec/ { print $2 }' "$WORK/$1.txt")
  p99=$(awk '$1 == "99%" { print $2 }' "$WORK/$1.txt")
  bad=$(awk '/Non-2xx or 3xx responses/ { print $NF }' "$WORK/$1.txt")
  summary+=("$(printf '%-16s %10s req/s   p99 %8s   non-2xx %s' "$1" "$rps" "$p99" "${bad:-0}")")
}
run subscribe-get "$BASE/subscribe"
run one-click-post -s "$WORK/one-click.lua" "$BASE/unsubscribe/$TOKEN"
echo "== summary ($CONNECTIONS connections, $THREADS threads, $DURATION; target p99 < 10 ms; $(nproc) cores, load$(uptime | sed 's/.*load average//'))"
printf '%s\n' "${summary[@]}"
