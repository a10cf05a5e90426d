#!/usr/bin/env bash
# Slow-client attacks against both modes with Debian's slowhttptest: slowloris (-H, headers a line
# at a time) and slow body (-B, a POST body a few bytes at a time), ~500 connections for ~30 s
# each, while GET /hello is timed once a second on a fresh connection. Prints a summary and exits
# 1 if /hello was ever not answered with 200 within 1 s. Too long for `make test`.
#
#   tests/slowhttptest.sh [IOBOUND_BINARY]     (default: build/iobound)
#   env: DURATION=30 CONNS=500 RATE=200 INTERVAL=2 MODES="evented threaded" ATTACKS="H B"
set -euo pipefail

BIN=${1:-build/iobound}
DURATION=${DURATION:-30}
CONNS=${CONNS:-500}
RATE=${RATE:-200}         # new connections per second
INTERVAL=${INTERVAL:-2}   # seconds between follow-up bytes of each slow client
MODES=${MODES:-evented threaded}
ATTACKS=${ATTACKS:-H B}
HELLO_LIMIT_S=1

[ -x "$BIN" ] || { echo "no executable $BIN (build it first, or pass its path)" >&2; exit 2; }
command -v slowhttptest >/dev/null ||
    { echo "slowhttptest missing: .ci/install-deps slowhttptest" >&2; exit 2; }

WORK=$(mktemp -d /tmp/iobound-slowhttptest-XXXXXX)
SERVER_PID=
ATTACK_PID=
cleanup() {
    # Only the processes this script started, by pid.
    [ -n "$ATTACK_PID" ] && kill "$ATTACK_PID" 2>/dev/null || true
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# Starts the server in mode $1 on a free loopback port; sets SERVER_PID and PORT.
start_server() {
    "$BIN" --listen 127.0.0.1:0 --mode "$1" --set log.access_log=off 2>"$WORK/server.err" &
    SERVER_PID=$!
    PORT=
    for _ in $(seq 100); do
        PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) (pid.*/\1/p' "$WORK/server.err")
        [ -n "$PORT" ] && return 0
        sleep 0.05
    done
    echo "server did not print its listening line:" >&2
    cat "$WORK/server.err" >&2
    exit 1
}

stop_server() {
    kill -TERM "$SERVER_PID"
    local rc=0
    wait "$SERVER_PID" || rc=$?
    SERVER_PID=
    [ "$rc" -eq 0 ] || { echo "server exit code $rc after SIGTERM" >&2; FAILED=1; }
}

# Runs attack $2 (H or B) against mode $1 and appends one summary row to $WORK/summary.
run_one() {
    local mode=$1 attack=$2 url args
    start_server "$mode"
    if [ "$attack" = H ]; then
        url="http://127.0.0.1:$PORT/hello"; args=(-H)
    else
        url="http://127.0.0.1:$PORT/echo"; args=(-B -t POST -s 65536)
    fi
    slowhttptest "${args[@]}" -c "$CONNS" -r "$RATE" -i "$INTERVAL" -l "$DURATION" -p 3 \
        -g -o "$WORK/stats" -u "$url" >"$WORK/attack.out" 2>&1 &
    ATTACK_PID=$!

    local probes=0 misses=0 max_ms=0 max_threads=0 max_fds=0 line code secs ms
    : >"$WORK/probes"
    while kill -0 "$ATTACK_PID" 2>/dev/null; do
        sleep 1
        line=$(curl -s -o /dev/null --max-time "$HELLO_LIMIT_S" -w '%{http_code} %{time_total}' \
            "http://127.0.0.1:$PORT/hello" || true)
        code=${line%% *}; secs=${line##* }
        ms=$(awk -v s="$secs" 'BEGIN { printf "%d", s * 1000 }')
        probes=$((probes + 1))
        echo "$code $ms" >>"$WORK/probes"
        if [ "$code" != 200 ]; then
            misses=$((misses + 1))
            echo "  $mode -$attack: /hello not answered within ${HELLO_LIMIT_S} s (code $code)" >&2
        fi
        [ "$ms" -gt "$max_ms" ] && max_ms=$ms
        local threads fds
        threads=$(awk '/^Threads:/ { print $2 }' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
        fds=$(find "/proc/$SERVER_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
        [ "${threads:-0}" -gt "$max_threads" ] && max_threads=$threads
        [ "$fds" -gt "$max_fds" ] && max_fds=$fds
    done
    wait "$ATTACK_PID" || true
    ATTACK_PID=

    # slowhttptest's per-second CSV (Seconds,Closed,Pending,Connected,...): the connections it
    # saw closed (by the server: it closes none of its own before the end) and the most held at
    # once; its exit reason; and the 408s the server counted.
    local closed connected why s408 limits metrics
    closed=$(awk -F, 'NR > 1 && $2 > m { m = $2 } END { print m + 0 }' "$WORK/stats.csv")
    connected=$(awk -F, 'NR > 1 && $4 > m { m = $4 } END { print m + 0 }' "$WORK/stats.csv")
    why=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/attack.out" | sed -n 's/^Exit status: *//p' | tail -1)
    metrics=$(curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics")
    s408=$(awk '/^iobound_requests_total\{.*code="408"/ { n += $2 } END { print n + 0 }' \
        <<<"$metrics")
    # The 408s by the limit that fired (iobound_request_timeouts_total{limit=...}), nonzero ones.
    limits=$(awk -F'"' '/^iobound_request_timeouts_total\{/ { split($3, v, " ");
        if (v[2] > 0) printf "%s%s=%d", n++ ? "," : "", $2, v[2] } END { if (!n) print "-" }' \
        <<<"$metrics")
    stop_server
    [ "$misses" -eq 0 ] || FAILED=1
    printf '%-9s %-4s %8s %7s %6s %8s %6s %7s %7s %12s  %-26s %s\n' "$mode" "-$attack" \
        "$connected" "$closed" "$s408" "$max_threads" "$max_fds" "$probes" "$misses" "$max_ms" \
        "$why" "$limits" >>"$WORK/summary"
}

FAILED=0
for mode in $MODES; do
    for attack in $ATTACKS; do
        echo "== $mode, slowhttptest -$attack: $CONNS connections, ${DURATION} s" >&2
        run_one "$mode" "$attack"
    done
done

echo
echo "slowhttptest: $CONNS connections at $RATE/s, follow-up every ${INTERVAL} s, ${DURATION} s each;"
echo "GET /hello once a second on a new connection (limit ${HELLO_LIMIT_S} s)"
printf '%-9s %-4s %8s %7s %6s %8s %6s %7s %7s %12s  %-26s %s\n' mode atk max_conn closed 408s \
    threads fds probes misses max_hello_ms "slowhttptest's exit" "408s by limit"
cat "$WORK/summary"
if [ "$FAILED" -ne 0 ]; then
    echo "FAIL: /hello was not always answered within ${HELLO_LIMIT_S} s, or the server did not exit 0"
    exit 1
fi
echo "ok: /hello answered within ${HELLO_LIMIT_S} s throughout"
