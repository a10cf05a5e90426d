#!/bin/sh
# Runs one browser test (TEST.py: index_test.py, live_test.py; the work is there and in cdp.py):
# finds Chromium and Python 3, or exits 77, which ctest reports as skipped.
# Usage: run.sh TEST.py IOBOUND MODE SCREENSHOT.png   (CHROMIUM=/path picks another browser)
set -eu
chromium=${CHROMIUM:-$(command -v chromium || true)}
if [ -z "$chromium" ]; then
    echo "SKIP: no chromium (install it with ./.ci/install-deps chromium)"
    exit 77
fi
python=$(command -v python3 || true)
if [ -z "$python" ]; then
    echo "SKIP: no python3"
    exit 77
fi
test=$1
shift
exec "$python" "$(dirname "$0")/$test" "$chromium" "$@"
