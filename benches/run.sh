#!/usr/bin/env bash
# Benchmarks postbode's `build` on synthetic blogs as whole processes.
#
#   benches/run.sh                 # the three shapes: bench, many, large
#   benches/run.sh bench many      # some of them
#
# Shapes (generated once by benches/gen_blog.py into bench-data/<shape>/,
# again when gen_blog.py changes):
#   bench  10,000 posts, 150 tags,    26 authors  (the developer.overheid.nl shape)
#   many   10,000 posts, 150 tags,   500 authors  (651 channels)
#   large  50,000 posts, 300 tags, 2,000 authors
#
# For each shape, REPS times (default 3): a full build into an empty output
# folder (`--force`, so no cache is used), an unchanged rebuild, and a
# rebuild after one post of the last month was edited (its tags' and its
# author's feeds change, and the blog feed when it shows it). When `hugo` is installed, the same posts
# are built by Hugo writing RSS only (home, tags, authors; 20 items, full
# content) and the ratio postbode/Hugo of the full builds is printed. The
# floor (benches/floor: reading the posts, rendering them with pulldown-cmark
# alone and writing postbode's output bytes, nothing else) is timed in each
# run too, with its own ratio to Hugo: no build of these feeds can be faster
# than it on the same machine. Each
# run is timed by GNU time (wall seconds, peak RSS); the table shows medians
# and the largest peak RSS. Missed targets fail the run only with
# BENCH_STRICT=1 (exit 3). See benches/README.md.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
REPS=${REPS:-3}
SEED=${SEED:-1}
NOW=2030-01-01T00:00:00Z
# POSTBODE_BIN=path skips `cargo build` and times that binary instead.
BIN=${POSTBODE_BIN:-$ROOT/target/release/postbode}
DATA=${BENCH_DATA:-$ROOT/bench-data}
SHAPES=("$@")
[ ${#SHAPES[@]} -gt 0 ] || SHAPES=(bench many large)

# shape -> "posts tags authors | full s, full MB, edit s, unchanged s"
declare -A SHAPE=(
    [bench]="10000 150 26 0.7 100 0.15 0.1"
    [many]="10000 150 500 1.0 150 0.2 0.1"
    [large]="50000 300 2000 5 250 0.5 0.4"
)

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
HUGO=$(command -v hugo || true)
[ -n "$HUGO" ] || say "hugo is not installed (apt-get install hugo): no comparison with Hugo"

if [ -z "${POSTBODE_BIN:-}" ]; then
    say "cargo build --release"
    cargo build --release
fi
[ -x "$BIN" ] || { say "$BIN was not built"; exit 2; }
say "cargo build --release (benches/floor)"
cargo build --release --quiet --manifest-path benches/floor/Cargo.toml --target-dir "$ROOT/target/floor"
FLOOR=$ROOT/target/floor/release/postbode-floor

# Generates $DATA/<shape> unless it is there from the same generator and seed.
ensure_blog() {
    local shape=$1 posts=$2 tags=$3 authors=$4 dir=$DATA/$1 stamp
    stamp="$(sha256sum benches/gen_blog.py | cut -d' ' -f1) $posts $tags $authors seed=$SEED"
    if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ] && [ -f "$dir/bench.toml" ]; then
        return
    fi
    say "generating $shape ($posts posts, $tags tags, $authors authors) in $dir"
    rm -rf "$dir"
    mkdir -p "$dir"
    python3 benches/gen_blog.py "$dir" --posts "$posts" --tags "$tags" --authors "$authors" \
        --seed "$SEED" --hugo >&2
    echo "$stamp" >"$dir/.stamp"
}

# Runs a command under GNU time; prints "<seconds> <KB> <CPU seconds>";
# exits on failure. CPU time (user + system) is what to compare on a
# machine shared with other work, where wall time also measures the others.
timed() {
    local label=$1 tfile log status=0
    shift
    tfile=$(mktemp) log=$(mktemp)
    # Each run starts with nothing left to write back: otherwise it pays
    # for the output of the one before (or of Hugo's), as the disk is busy.
    sync
    /usr/bin/time -f "%e s %M KB %U %S" -o "$tfile" "$@" >"$log" 2>&1 || status=$?
    # postbode exits 1 for problems in posts; the generated blogs have none.
    if [ "$status" -ne 0 ]; then
        say "$label failed (exit $status); its last output:"
        tail -n 20 "$log" >&2
        rm -f "$tfile" "$log"
        exit 1
    fi
    awk '/ s .* KB / { print $1, $3, $5 + $6 }' "$tfile"
    rm -f "$tfile" "$log"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
largest() { printf '%s\n' "$@" | sort -g | tail -n 1; }
mb() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
check() { # value limit -> ok / MISSED
    if awk -v v="$1" -v l="$2" 'BEGIN { exit !(v <= l) }'; then echo ok; else echo MISSED; fi
}

# Old outputs go to $TRASH and are deleted once, after the last timing. On
# ext4 without a journal (this machine's disk) the inode allocator skips
# every inode freed in the last 60 s, or 360 s while its block of the inode
# table is dirty – as it is again as soon as a file is created beside it
# (`recently_deleted`, RECENTCY_MIN and RECENTCY_DIRTY in fs/ext4/ialloc.c)
# – looking each one up for every file it creates: a build within minutes
# of deleting the last outputs paid for the deletion in system time (a
# `many` full build 1.5 -> 4 s). So a run starts at least 365 s after the
# deletion of the one before.
TRASH=$DATA/.trash.$$
DELETED_AT=$DATA/.deleted-at
mkdir -p "$DATA"
for old in "$DATA"/.trash.*; do
    [ -e "$old" ] || continue
    say "deleting $old, left by an interrupted run"
    rm -rf "$old"
    sync
    date +%s >"$DELETED_AT"
done
if [ -f "$DELETED_AT" ]; then
    wait_s=$(($(cat "$DELETED_AT") + 365 - $(date +%s)))
    if [ "$wait_s" -gt 0 ]; then
        say "waiting ${wait_s} s: the outputs of the last run were deleted less than 365 s ago"
        sleep "$wait_s"
    fi
fi
mkdir -p "$TRASH"
trash() { [ ! -e "$1" ] || mv "$1" "$TRASH/$(basename "$(dirname "$1")").$(basename "$1").$RANDOM$RANDOM"; }

missed=0
rows=()
for shape in "${SHAPES[@]}"; do
    [ -n "${SHAPE[$shape]:-}" ] || { say "unknown shape $shape (bench, many, large)"; exit 2; }
    read -r posts tags authors t_full t_mb t_edit t_same <<<"${SHAPE[$shape]}"
    ensure_blog "$shape" "$posts" "$tags" "$authors"
    dir=$DATA/$shape
    # A post of the last month: in the blog feed or not, it is in its tags'
    # and its author's feeds. Restored after the runs.
    newest=$(find "$dir/blog" -name '*.md' | sort | tail -n 1)
    cp -p "$newest" "$dir/.edited-post"
    build=("$BIN" --now "$NOW" build "$dir/bench.toml")
    # Warm-cache figures: the posts (postbode's and Hugo's copies) may have
    # left the page cache while the shapes before wrote gigabytes, which
    # made the first full build of a shape read them from the disk. (The
    # page cache is not emptied: this VM reports free memory to its host
    # – virtio-balloon free page reporting – and every page taken from a
    # large free pool is faulted in by the host again, which made the next
    # builds' writes several times slower.)
    find "$dir/blog" "$dir/hugo" "$BIN" "$FLOOR" ${HUGO:+"$HUGO"} -type f -exec cat {} + >/dev/null
    full_s=() full_kb=() full_cpu=() same_s=() edit_s=() edit_kb=() edit_cpu=() hugo_s=() hugo_cpu=() floor_s=()
    for rep in $(seq 1 "$REPS"); do
        # The last output is moved aside, not deleted (see $TRASH above).
        trash "$dir/out"
        read -r s kb cpu <<<"$(timed "$shape full" "${build[@]}" --force)"
        full_s+=("$s") full_kb+=("$kb") full_cpu+=("$cpu")
        read -r s _ _ <<<"$(timed "$shape unchanged" "${build[@]}")"
        same_s+=("$s")
        printf '\nEdited by benches/run.sh, run %s.\n' "$rep" >>"$newest"
        read -r s kb cpu <<<"$(timed "$shape edit" "${build[@]}")"
        edit_s+=("$s") edit_kb+=("$kb") edit_cpu+=("$cpu")
        if [ -n "$HUGO" ]; then
            trash "$dir/hugo-out"
            read -r s _ cpu <<<"$(timed "$shape hugo" "$HUGO" --quiet -s "$dir/hugo" -d "$dir/hugo-out")"
            hugo_s+=("$s") hugo_cpu+=("$cpu")
        fi
        # Written to a new folder, which goes with the old outputs.
        floor=$("$FLOOR" "$dir/blog" "$dir/out" "$TRASH/$shape.floor.$rep")
        floor=${floor%%$'\n'*}
        floor_s+=("$(awk '{ print $8 }' <<<"$floor")")
        say "$shape rep $rep: full ${full_s[-1]} s, unchanged ${same_s[-1]} s, edit ${edit_s[-1]} s${HUGO:+, hugo ${hugo_s[-1]:-} s}, floor: $floor"
    done
    cp -p "$dir/.edited-post" "$newest"
    files=$(find "$dir/out" -type f | wc -l)
    bytes=$(du -sb "$dir/out" | cut -f1)
    f=$(median "${full_s[@]}") fk=$(largest "${full_kb[@]}")
    e=$(median "${edit_s[@]}") ek=$(largest "${edit_kb[@]}")
    u=$(median "${same_s[@]}")
    fc=$(median "${full_cpu[@]}") ec=$(median "${edit_cpu[@]}")
    fl=$(median "${floor_s[@]}")
    ratio="-" floor="floor $fl s"
    if [ -n "$HUGO" ]; then
        h=$(median "${hugo_s[@]}") hc=$(median "${hugo_cpu[@]}")
        ratio=$(awk -v a="$f" -v b="$h" -v c="$fc" -v d="$hc" \
            'BEGIN { printf "%.2f wall, %.2f CPU (hugo %s s, %s s CPU)", a / b, c / d, b, d }')
        floor=$(awk -v a="$fl" -v b="$h" 'BEGIN { printf "floor %s s = %.2f x hugo", a, a / b }')
    fi
    rows+=("$(printf '%-6s %6s %4s %5s | full %5s s %s (CPU %s s), %4s MB %s | edit %5s s %s (CPU %s s), %4s MB | unchanged %5s s %s | %s files, %.0f MB | postbode/hugo %s | %s' \
        "$shape" "$posts" "$tags" "$authors" \
        "$f" "$(check "$f" "$t_full")" "$fc" "$(mb "$fk")" "$(check "$(mb "$fk")" "$t_mb")" \
        "$e" "$(check "$e" "$t_edit")" "$ec" "$(mb "$ek")" \
        "$u" "$(check "$u" "$t_same")" \
        "$files" "$(awk -v b="$bytes" 'BEGIN { print b / 1e6 }')" "$ratio" "$floor")")
done

echo
echo "postbode $(git describe --always --dirty 2>/dev/null || echo '?'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), median of $REPS runs, largest peak RSS"
echo "shape   posts tags authors"
for row in "${rows[@]}"; do echo "$row"; done

say "deleting the old outputs"
rm -rf "$TRASH"
sync
date +%s >"$DELETED_AT"

printf '%s\n' "${rows[@]}" | grep -q MISSED && missed=1
if [ "$missed" -ne 0 ]; then
    say "some targets were missed"
    [ "${BENCH_STRICT:-0}" = 1 ] && exit 3
fi
exit 0
