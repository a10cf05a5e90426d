#!/bin/sh
# it.modes: the models CMake registered the per-mode tests for (argv[2..]) are exactly the models
# the binary lists, in order. CMake reads them from server/engine/engines.c; this keeps that
# reading honest.
set -eu
bin=$1
shift
want="$*"
got=$("$bin" --list-modes | cut -d' ' -f1 | tr '\n' ' ' | sed 's/ $//')
if [ "$got" != "$want" ]; then
    echo "FAIL: the binary lists models \"$got\"; CMake registered tests for \"$want\"" >&2
    exit 1
fi
echo "PASS: tests are registered for every model the binary has: $got"
