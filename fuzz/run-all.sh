#!/usr/bin/env bash
# Runs each fuzz target in turn (one fuzzer process at a time), then
# minimises its corpus. Usage: fuzz/run-all.sh [seconds per target] [targets...]
# Logs go to fuzz/logs-not-committed/<target>.log.
set -uo pipefail
cd "$(dirname "$0")"
secs=${1:-1800}
shift || true
targets=${*:-post tags_authors feed_definition}
mkdir -p logs-not-committed
for t in $targets; do
  mkdir -p "corpus/$t"
  echo "== $t start $(date -u +%FT%TZ)" >> logs-not-committed/runs.txt
  RUSTC_BOOTSTRAP=1 cargo fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=512 -timeout=10 -max_len=262144 \
    -dict="dict/$t.dict" -print_final_stats=1 \
    > "logs-not-committed/$t.log" 2>&1
  echo "== $t exit $? $(date -u +%FT%TZ)" >> logs-not-committed/runs.txt
  RUSTC_BOOTSTRAP=1 cargo fuzz cmin -O "$t" "corpus/$t" -- \
    -rss_limit_mb=512 -timeout=10 -max_len=262144 \
    > "logs-not-committed/$t.cmin.log" 2>&1
  echo "== $t cmin exit $? $(date -u +%FT%TZ)" >> logs-not-committed/runs.txt
done
