#!/bin/sh
# `make demo`: builds iobound (if needed) and the demo client, reads the models and their traits
# from `iobound --list-modes=json`, starts one iobound per model on an ephemeral port, runs
# demo.c's experiments against them all, stops each server with SIGTERM by its pid and checks it
# exits 0, runs the same claims in CPython (lesson.py, Debian's python3) and prints them beside
# iobound's figures, then draws one request timeline and one "what breaks first" chart per
# model with gnuplot.
# Output: the tables on stdout; bench/results/demo/{timeline,measures,breaks}.tsv and
# {timeline,breaks}-MODE.svg.
# Environment: IOB_BUILD (default build/), the CMake build directory holding iobound.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${IOB_BUILD:-$repo/build}
out=$repo/bench/results/demo
bin=$build/iobound
demo=$build/iobound-demo
py=/usr/bin/python3 # Debian's, with nothing but the standard library

echo "demo: building iobound and the demo client in $build" >&2
if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIOB_TESTS=OFF >/dev/null
fi
cmake --build "$build" --target iobound -j"$(nproc)" >/dev/null
# shellcheck disable=SC2046 # pkg-config prints several flags
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
    -Wformat=2 -Wvla -Werror -o "$demo" "$here/demo.c" $(pkg-config --cflags --libs libcurl) -lm

tmp=$(mktemp -d)
pids=""
# shellcheck disable=SC2317 # called by the trap
cleanup() {
    for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The engine table, one line per model: NAME:WAIT_COSTS_THREAD:CPU_STALLS_OTHERS:AT_REST:PER_CONN:
# CPU_LANES:MAX_WAITS. A binary older than the last two traits lists only one loop thread and a
# thread per connection, whose values the defaults are: one CPU step at a time, or one each.
"$bin" --list-modes=json >"$tmp/modes.json"
models=$("$py" -c 'import json, sys
for m in json.load(open(sys.argv[1])):
    lanes = m.get("cpu_lanes", 1 if m["cpu_stalls_others"] else 0)
    print("%s:%d:%d:%d:%d:%d:%d" % (m["name"], m["wait_costs_thread"], m["cpu_stalls_others"],
                                    m["threads_at_rest"], m["threads_per_conn"], lanes,
                                    m.get("max_waits", 0)))' "$tmp/modes.json")

# start MODE: starts iobound in MODE on port 0; sets $pid and $port from its start-up line.
start() {
    : >"$tmp/$1.err" # exists before the first read below, whenever the child opens it
    "$bin" --listen 127.0.0.1:0 --mode "$1" --set log.access_log=off 2>"$tmp/$1.err" &
    pid=$!
    pids="$pids $pid"
    port=""
    tries=0
    while [ -z "$port" ]; do
        port=$(sed -n 's/.* listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$tmp/$1.err")
        tries=$((tries + 1))
        if [ -z "$port" ] && { [ "$tries" -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; }; then
            echo "demo: iobound --mode $1 did not start within 5 s:" >&2
            cat "$tmp/$1.err" >&2
            exit 1
        fi
        [ -n "$port" ] || sleep 0.05
    done
}

# stop MODE PID: SIGTERM, then the exit status must be 0 (SPEC: a clean stop).
stop() {
    kill -TERM "$2"
    rc=0
    wait "$2" || rc=$?
    pids=$(echo "$pids" | sed "s/ $2\b//")
    if [ "$rc" -ne 0 ]; then
        echo "demo: iobound --mode $1 exited $rc after SIGTERM, not 0:" >&2
        cat "$tmp/$1.err" >&2
        exit 1
    fi
}

args=""
started=""
names=""
for m in $models; do
    name=${m%%:*}
    start "$name"
    args="$args $name:$port:$pid:${m#*:}"
    started="$started $name:$pid"
    names="$names $name"
done

mkdir -p "$out"
status=0
# shellcheck disable=SC2086 # one argument per model
"$demo" "$out" $args || status=$?
for s in $started; do
    stop "${s%%:*}" "${s##*:}"
done
echo "Every server stopped with SIGTERM and exited 0."
echo

"$py" "$here/lesson.py" "$out/measures.tsv" || status=$?

rm -f "$out"/timeline-*.svg "$out"/breaks-*.svg
for name in $names; do
    gnuplot -e "datafile='$out/timeline.tsv'; outfile='$out/timeline-$name.svg'; mode='$name'" \
        "$here/timeline.gp"
    gnuplot -e "datafile='$out/breaks.tsv'; outfile='$out/breaks-$name.svg'; mode='$name'; broken=5" \
        "$here/breaks.gp"
done
list=$(echo $names | tr ' ' ',')
echo "Timelines: ${out#"$repo"/}/timeline-{$list}.svg (data: timeline.tsv)"
echo "What breaks first: ${out#"$repo"/}/breaks-{$list}.svg (data: breaks.tsv)"
exit "$status"
