#!/bin/sh
# `make demo`: builds iobound (if needed) and the demo client, starts iobound once per mode on
# an ephemeral port, runs demo.c's experiments against both, stops each server with SIGTERM by
# its pid and checks it exits 0, then draws the request timelines with gnuplot.
# Output: the table on stdout; bench/results/demo/{timeline.tsv,timeline.svg}.
# Environment: IOB_BUILD (default build/), the CMake build directory holding iobound.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${IOB_BUILD:-$repo/build}
out=$repo/bench/results/demo
bin=$build/iobound
demo=$build/iobound-demo

echo "demo: building iobound and the demo client in $build" >&2
if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIOB_TESTS=OFF >/dev/null
fi
cmake --build "$build" --target iobound -j"$(nproc)" >/dev/null
# shellcheck disable=SC2046 # pkg-config prints several flags
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
    -Wformat=2 -Wvla -Werror -o "$demo" "$here/demo.c" $(pkg-config --cflags --libs libcurl)

tmp=$(mktemp -d)
pids=""
# shellcheck disable=SC2317 # called by the trap
cleanup() {
    for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

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

start evented
evented="evented:$port:$pid"
start threaded
threaded="threaded:$port:$pid"

mkdir -p "$out"
status=0
"$demo" "$out/timeline.tsv" "$evented" "$threaded" || status=$?
stop evented "${evented##*:}"
stop threaded "${threaded##*:}"
echo "Both servers stopped with SIGTERM and exited 0."

gnuplot -e "datafile='$out/timeline.tsv'; outfile='$out/timeline.svg'" "$here/timeline.gp"
echo "Timelines: ${out#"$repo"/}/timeline.svg (data: timeline.tsv)"
exit "$status"
