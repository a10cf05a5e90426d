#!/bin/sh
# Builds tests/fuzz/fuzz_conn with clang, ASan and UBSan in a build directory of its own and runs
# it for SECONDS (default 60) from the seed corpus with the HTTP dictionary.
# Usage: tests/fuzz/run.sh [SECONDS]; IOB_FUZZ_BUILD=DIR replaces ./build-fuzz.
# Exit 0: no crash. 77: clang or its fuzzer runtime (libclang-rt-14-dev) is missing, so ctest
# reports a skip (a fuzzer failure exits 1, not libFuzzer's default 77). Else the failing input
# is saved as DIR/crash-* (or leak-*, timeout-*): replay it with
# `DIR/tests/fuzz/fuzz_conn DIR/crash-...`, and add it to tests/fuzz/seeds/ once fixed.
set -eu
seconds=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${IOB_FUZZ_BUILD:-$root/build-fuzz}

if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz: clang not found; skipped (install clang libclang-rt-14-dev)" >&2
    exit 77
fi
probe=$(mktemp -d)
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n; }' >"$probe/probe.c"
if ! clang -fsanitize=fuzzer,address,undefined "$probe/probe.c" -o "$probe/probe" 2>/dev/null; then
    rm -rf "$probe"
    echo "fuzz: clang cannot link -fsanitize=fuzzer; skipped (install libclang-rt-14-dev)" >&2
    exit 77
fi
rm -rf "$probe"

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DIOB_TESTS=OFF -DIOB_SANITIZE=address,undefined -DIOB_FUZZ=ON >/dev/null
cmake --build "$build" --target fuzz_conn -j"$(nproc)"
# New inputs go to the working corpus in the build directory; the seeds stay as committed.
mkdir -p "$build/corpus"
exec "$build/tests/fuzz/fuzz_conn" "$build/corpus" "$here/seeds" -dict="$here/http.dict" \
    -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$build/" -print_final_stats=1 -error_exitcode=1 -timeout_exitcode=1
