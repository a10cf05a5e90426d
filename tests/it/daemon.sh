#!/usr/bin/env bash
# Daemon mode against the real binary: --daemon returns only once serving, the pid file (written,
# refused while its owner lives, stale or malformed ones replaced), SIGHUP/SIGUSR1 reopen the
# logs, SIGTERM stops and removes the pid file, start-up failures reach the caller's exit code.
# Usage: daemon.sh PATH/TO/iobound. Loopback and ephemeral ports only; every process this test
# starts carries its private directory on its command line, and cleanup stops only those.
# No "cmd | grep -q" under pipefail: grep -q leaves early and the writer's SIGPIPE fails the pipe.
set -uo pipefail

BIN=$(readlink -f "${1:?usage: daemon.sh PATH/TO/iobound}")
[ -x "$BIN" ] || { echo "not executable: $BIN" >&2; exit 1; }
TMP=$(mktemp -d /tmp/iobound-daemon-test.XXXXXX)
PIDF=$TMP/iobound.pid
ERRLOG=$TMP/error.log
ACCLOG=$TMP/access.log
START_OUT=$TMP/start.out
TESTS=0

# Pids of live (not zombie) iobound processes started by this test: those whose command line
# names $TMP. A zombie counts as gone: in a container build nobody may reap the orphan.
our_pids() {
    local d pid state
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        [ "$(readlink "$d/exe" 2>/dev/null)" = "$BIN" ] || continue
        case "$(tr '\0' ' ' < "$d/cmdline" 2>/dev/null)" in *"$TMP"*) ;; *) continue ;; esac
        state=$(awk '{print $3}' "$d/stat" 2>/dev/null)
        [ -n "$state" ] && [ "$state" != Z ] && echo "$pid"
    done
}

is_running() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

cleanup() {
    local pid
    for pid in $(our_pids); do kill -KILL "$pid" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    echo "--- output of the last start ---" >&2; cat "$START_OUT" >&2 2>/dev/null
    echo "--- error log ---" >&2; cat "$ERRLOG" >&2 2>/dev/null
    exit 1
}
ok() { TESTS=$((TESTS + 1)); echo "ok $TESTS - $*"; }

# Runs iobound with the test's logs and any extra arguments, its stdout and stderr captured
# through a pipe: if the daemon kept the caller's stderr open, `cat` would never see EOF and
# `timeout` (which signals its whole process group, not the daemon's new session) ends it: 124.
run_iobound() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 15 bash -o pipefail -c '"$0" "$@" 2>&1 | cat' "$BIN" \
        --listen 127.0.0.1:0 --set "log.error_log=$ERRLOG" --set "log.access_log=$ACCLOG" \
        "$@" > "$START_OUT"
}

# Starts a daemon on an ephemeral port; sets PID and PORT. Fails unless it exits 0 at once.
start_daemon() {
    run_iobound "$@"
    local rc=$?
    [ "$rc" -eq 0 ] || fail "start ($*) exited $rc, expected 0 (124: the caller was left waiting)"
    PID=$(cat "$PIDF" 2>/dev/null) || fail "no pid file $PIDF after a successful start"
    [[ "$PID" =~ ^[0-9]+$ ]] || fail "pid file holds '$PID', expected a pid"
    is_running "$PID" || fail "pid $PID from the pid file is not running"
    PORT=$(cat "$START_OUT" "$ERRLOG" 2>/dev/null | grep -o 'listening on 127\.0\.0\.1:[0-9]*' |
           tail -n 1 | cut -d: -f2)
    [ -n "$PORT" ] || fail "no 'listening on 127.0.0.1:PORT' line in the output or the error log"
}

http_code() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT$1"
}

# Sends SIGTERM and waits (10 s at most) for the process to end.
stop_daemon() {
    kill -TERM "$1" || fail "kill -TERM $1"
    for _ in $(seq 100); do
        is_running "$1" || return 0
        sleep 0.1
    done
    fail "pid $1 still running 10 s after SIGTERM"
}

wait_until() { # COMMAND...: true within 5 s
    for _ in $(seq 50); do
        "$@" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# --- start: returns once serving, detached into its own session, pid file written
start_daemon --daemon --pid-file "$PIDF"
[ "$(http_code /healthz)" = 200 ] || fail "GET /healthz right after --daemon returned: not 200"
ok "--daemon exits 0 only once serving (GET /healthz on port $PORT answered at once)"
[ "$(awk '{print $6}' "/proc/$PID/stat")" != "$(awk '{print $6}' /proc/self/stat)" ] ||
    fail "daemon $PID still in the caller's session"
[ "$(awk '{print $6}' "/proc/$PID/stat")" != "$PID" ] || fail "daemon $PID is a session leader"
[ "$(readlink "/proc/$PID/cwd")" = / ] || fail "daemon cwd is $(readlink "/proc/$PID/cwd"), not /"
ok "daemon $PID runs in a new session, is no session leader, cwd /"

# --- --health-check, the container probe, against the daemon
"$BIN" --health-check="127.0.0.1:$PORT" > /dev/null 2>&1 || fail "--health-check 127.0.0.1:$PORT"
ok "--health-check=127.0.0.1:$PORT exits 0"

# --- refusal: the pid file's owner is alive
FIRST=$PID
run_iobound --daemon --pid-file "$PIDF"
rc=$?
[ "$rc" -eq 1 ] || fail "second start with a live pid file exited $rc, expected 1"
grep -q "pid file.*$FIRST" "$START_OUT" "$ERRLOG" ||
    fail "no refusal message naming the running pid $FIRST in the output or the error log"
[ "$(cat "$PIDF")" = "$FIRST" ] || fail "refused start changed the pid file to $(cat "$PIDF")"
[ "$(our_pids | wc -l)" -eq 1 ] || fail "refused start left a process: $(our_pids | tr '\n' ' ')"
[ "$(http_code /healthz)" = 200 ] || fail "first daemon stopped serving after the refused start"
ok "a second start is refused (exit 1, names pid $FIRST), the first keeps serving"

# --- SIGHUP and SIGUSR1 reopen the logs (logrotate moves the file first)
for sig in HUP USR1; do
    mv "$ACCLOG" "$ACCLOG.$sig" || fail "no access log at $ACCLOG"
    kill "-$sig" "$PID"
    wait_until test -e "$ACCLOG" || fail "SIG$sig did not reopen (create) $ACCLOG"
    [ "$(http_code "/hello?after=$sig")" = 200 ] || fail "GET /hello after SIG$sig"
    wait_until grep -q "after=$sig" "$ACCLOG" ||
        fail "after SIG$sig the request was not logged to a new $ACCLOG"
    grep -q "after=$sig" "$ACCLOG.$sig" && fail "after SIG$sig the old file still got the line"
    is_running "$PID" || fail "SIG$sig stopped the daemon"
done
ok "SIGHUP and SIGUSR1 reopen the access log"

# --- SIGTERM: stops, removes its pid file
stop_daemon "$PID"
[ ! -e "$PIDF" ] || fail "pid file $PIDF left after SIGTERM"
"$BIN" --health-check="127.0.0.1:$PORT" > /dev/null 2>&1 && fail "--health-check passes after stop"
ok "SIGTERM stops the daemon and removes the pid file; --health-check then exits non-zero"

# --- a stale pid file (its process has exited) is replaced
sh -c 'exit 0' &
STALE=$!
wait "$STALE"
echo "$STALE" > "$PIDF"
start_daemon --daemon --pid-file "$PIDF"
[ "$PID" != "$STALE" ] || fail "pid file still holds the stale pid $STALE"
stop_daemon "$PID"
ok "a stale pid file (pid $STALE) is replaced"

# --- a malformed pid file is replaced, daemonize from the environment
printf 'not-a-pid\n' > "$PIDF"
IOBOUND_PROCESS_DAEMONIZE=true IOBOUND_PROCESS_PID_FILE="$PIDF" start_daemon
[ "$(http_code /healthz)" = 200 ] || fail "GET /healthz after an environment-driven start"
stop_daemon "$PID"
[ ! -e "$PIDF" ] || fail "pid file left after SIGTERM"
ok "a malformed pid file is replaced; IOBOUND_PROCESS_DAEMONIZE=true detaches too"

# --- failures reach the caller's exit code and leave nothing running
run_iobound --daemon --pid-file "$TMP/no/such/dir/iobound.pid"
rc=$?
[ "$rc" -eq 1 ] || fail "pid file in a missing directory: exit $rc, expected 1"
grep -q "no/such/dir" "$START_OUT" "$ERRLOG" ||
    fail "no failure message naming the pid file in the output or the error log"
[ -z "$(our_pids)" ] || fail "a failed start left a process: $(our_pids | tr '\n' ' ')"
ok "a pid file that cannot be written: exit 1, message names it, nothing left running"

run_iobound --daemon
rc=$?
[ "$rc" -eq 2 ] || fail "--daemon without a pid file: exit $rc, expected 2"
timeout 15 "$BIN" --listen 127.0.0.1:0 --daemon --pid-file "$PIDF" > "$START_OUT" 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "--daemon with logs on stdout/stderr: exit $rc, expected 2"
[ -z "$(our_pids)" ] || fail "a refused configuration left a process: $(our_pids | tr '\n' ' ')"
ok "--daemon without a pid file or with '-' logs is a configuration error (exit 2)"

echo "all $TESTS daemon checks passed"
