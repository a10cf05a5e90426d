#!/bin/sh
# it.uring_unavailable: when io_uring cannot be had (the sysctl kernel.io_uring_disabled, a seccomp
# profile, an old kernel), --mode uring exits 1 at start-up with the cause and the way out
# (--mode evented), and before it binds or announces anything. The shim (argv[2], LD_PRELOAD) makes io_uring_queue_init_params() fail.
set -u
bin=$1
shim=$2
fail=0
# The shim comes first in the link map; ASan (when the binary has it) must not refuse that.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
for case in "EPERM:Operation not permitted:seccomp" "ENOSYS:Function not implemented:seccomp profile hides it"; do
    err=${case%%:*}
    rest=${case#*:}
    text=${rest%%:*}
    hint=${rest#*:}
    out=$(IOB_SHIM_ERRNO=$err LD_PRELOAD=$shim timeout 10 "$bin" --mode uring \
        --listen 127.0.0.1:0 2>&1)
    rc=$?
    for want in "io_uring_queue_init: $text" "$hint" "--mode evented"; do
        case $out in
        *"$want"*) ;;
        *) echo "FAIL $err: the start-up error lacks \"$want\"" >&2; fail=1 ;;
        esac
    done
    case $out in
    *"listening on"*) echo "FAIL $err: announced \"listening on\" before failing" >&2; fail=1 ;;
    esac
    if [ "$rc" -ne 1 ]; then
        echo "FAIL $err: exit code: expected 1, actual $rc" >&2
        fail=1
    fi
    [ "$fail" -eq 0 ] && echo "PASS $err: exit 1: $(echo "$out" | grep 'uring:')"
done
[ "$fail" -eq 0 ] || echo "$out" >&2
exit $fail
