#!/usr/bin/env bash
# Benchmarks postbode's `build` on synthetic blogs as whole processes.
#
#   benches/run.sh            # 1,000 and 10,000 posts
#   benches/run.sh 500 2000   # other sizes
#
# Builds the release binary, generates each blog once with benches/gen_blog.py
# (cached in bench-data/<n>/, regenerated when gen_blog.py changes), then for
# each size runs, REPS times (default 3): a full build into an empty output
# folder, and an unchanged rebuild right after it. Each run is timed by GNU
# time (wall seconds, peak RSS). Prints the median wall time, the largest peak
# RSS and the targets. Exits non-zero if a build fails; missed targets only
# fail the run with BENCH_STRICT=1. See benches/README.md.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
REPS=${REPS:-3}
SEED=${SEED:-1}
NOW=2030-01-01T00:00:00Z
# POSTBODE_BIN=path skips `cargo build` and times that binary instead.
BIN=${POSTBODE_BIN:-$ROOT/target/release/postbode}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000 10000)

# Targets, checked for the 10,000-post blog.
TARGET_POSTS=10000
TARGET_FULL_S=1.0
TARGET_FULL_MB=150
TARGET_UNCHANGED_S=0.1

say() { printf 'run.sh: %s\n' "$*" >&2; }

if [ ! -x /usr/bin/time ]; then
    say "/usr/bin/time (GNU time) is missing: installing the Debian package 'time' with apt-get"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get install -y time >/dev/null 2>&1 \
        || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y time >/dev/null; } \
        || { say "could not install GNU time"; exit 2; }
fi
command -v python3 >/dev/null || { say "python3 is needed for benches/gen_blog.py"; exit 2; }

if [ -z "${POSTBODE_BIN:-}" ]; then
    say "cargo build --release"
    cargo build --release
fi
[ -x "$BIN" ] || { say "$BIN was not built"; exit 2; }

# Generates bench-data/<n> unless it is there from the same generator and seed.
ensure_blog() {
    local n=$1 dir=$ROOT/bench-data/$1 stamp
    stamp="$(sha256sum benches/gen_blog.py | cut -d' ' -f1) posts=$n seed=$SEED"
    if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ] && [ -f "$dir/bench.toml" ]; then
        return
    fi
    say "generating $n posts in bench-data/$n"
    rm -rf "$dir"
    mkdir -p "$dir"
    python3 benches/gen_blog.py "$dir" --posts "$n" --seed "$SEED" >&2
    echo "$stamp" >"$dir/.stamp"
}

# Runs one build under GNU time; prints "<seconds> <KB>"; exits on failure.
timed_build() {
    local n=$1 label=$2 dir=$ROOT/bench-data/$1 tfile log status=0
    tfile=$(mktemp) log=$(mktemp)
    /usr/bin/time -f "%e s %M KB" -o "$tfile" \
        "$BIN" --now "$NOW" build "$dir/bench.toml" >"$log" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        say "$n posts, $label build failed (exit $status); its last output:"
        tail -n 20 "$log" >&2
        grep -v '^Command exited' "$tfile" >&2 || true
        rm -f "$tfile" "$log"
        exit 1
    fi
    # "Command exited with non-zero status" lines only appear on failure.
    awk '/ s .* KB$/ { print $1, $3 }' "$tfile"
    rm -f "$tfile" "$log"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
largest() { printf '%s\n' "$@" | sort -g | tail -n 1; }
verdict() { # value limit -> ok / MISSED
    awk -v v="$1" -v l="$2" 'BEGIN { print (v < l) ? "ok" : "MISSED" }'
}

missed=0
rows=()
outputs=()
for n in "${SIZES[@]}"; do
    ensure_blog "$n"
    dir=$ROOT/bench-data/$n
    full_s=() full_kb=() same_s=() same_kb=()
    for rep in $(seq 1 "$REPS"); do
        rm -rf "$dir/out"
        # A failed build exits the script through set -e on the assignment.
        res=$(timed_build "$n" full)
        read -r s kb <<<"$res"
        full_s+=("$s") full_kb+=("$kb")
        say "$n posts, rep $rep: full build $s s, $kb KB"
        res=$(timed_build "$n" unchanged)
        read -r s kb <<<"$res"
        same_s+=("$s") same_kb+=("$kb")
        say "$n posts, rep $rep: unchanged rebuild $s s, $kb KB"
    done
    files=$(find "$dir/out" -type f | wc -l)
    bytes=$(du -sb "$dir/out" | cut -f1)
    outputs+=("$(printf '%6s posts: %s output files, %.1f MB' "$n" "$files" "$(awk -v b="$bytes" 'BEGIN { print b / 1e6 }')")")

    for kind in full unchanged; do
        if [ "$kind" = full ]; then
            s=$(median "${full_s[@]}") kb=$(largest "${full_kb[@]}")
        else
            s=$(median "${same_s[@]}") kb=$(largest "${same_kb[@]}")
        fi
        mb=$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')
        target="" mark=""
        if [ "$n" -eq "$TARGET_POSTS" ]; then
            if [ "$kind" = full ]; then
                target="< $TARGET_FULL_S s, < $TARGET_FULL_MB MB"
                a=$(verdict "$s" "$TARGET_FULL_S") b=$(verdict "$mb" "$TARGET_FULL_MB")
                [ "$a" = ok ] && [ "$b" = ok ] && mark=ok || mark=MISSED
            else
                target="< $TARGET_UNCHANGED_S s"
                mark=$(verdict "$s" "$TARGET_UNCHANGED_S")
            fi
            [ "$mark" = ok ] || missed=1
        fi
        rows+=("$(printf '%6s  %-10s  %8s s  %9s MB  %-20s %s' "$n" "$kind" "$s" "$mb" "$target" "$mark")")
    done
done

echo
echo "postbode $(git describe --always --dirty 2>/dev/null || echo '?'), $(nproc) CPUs, median of $REPS runs, largest peak RSS"
printf '%6s  %-10s  %10s  %12s  %s\n' posts build wall "max RSS" target
for row in "${rows[@]}"; do echo "$row"; done
echo
for line in "${outputs[@]}"; do echo "$line"; done

if [ "$missed" -ne 0 ]; then
    say "some targets were missed"
    [ "${BENCH_STRICT:-0}" = 1 ] && exit 3
fi
exit 0
