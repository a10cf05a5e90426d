#!/bin/sh
# Browser test of the index page's "try it" panel (the work is in index_test.py): finds
# Chromium and Python 3, or exits 77, which ctest reports as skipped.
# Usage: index_test.sh IOBOUND MODE SCREENSHOT.png   (CHROMIUM=/path picks another browser)
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
exec "$python" "$(dirname "$0")/index_test.py" "$chromium" "$@"
