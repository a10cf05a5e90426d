#!/usr/bin/env bash
# deploy.systemd BIN UNIT: the systemd unit is valid (systemd-analyze verify, with ExecStart
# pointed at the built binary) and hardened: `systemd-analyze security` rates it OK or better
# (exposure below 5.0 of 10). Offline, so no running systemd is needed. Exit 77 (skipped) where
# systemd-analyze is missing or too old for --offline (systemd < 250).
set -Eeuo pipefail
bin=$(realpath "$1") unit=$2
command -v systemd-analyze > /dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }
work=$(mktemp -d /tmp/iob-systemd.XXXXXX)
trap 'rm -rf "$work"' EXIT
sed "s#/usr/bin/iobound#$bin#" "$unit" > "$work/iobound.service"
cd "$work"
systemd-analyze security --help 2>&1 | grep -q -- --offline || { echo "SKIP: no --offline"; exit 77; }
failed=0
# --man=no: the page is installed with the package, not on a build machine.
if ! systemd-analyze verify --man=no ./iobound.service; then
    echo "FAIL: systemd-analyze verify $unit" >&2
    failed=1
fi
systemd-analyze security --offline=true ./iobound.service > report 2>&1 || true
overall=$(grep 'Overall exposure level' report || true)
echo "$unit: ${overall:-no verdict}"
case "$overall" in
*" OK "* | *" SAFE "* | *" PERFECT "*) ;;
*)
    echo "FAIL: want a rating of OK or better; the exposed settings:" >&2
    grep '✗' report >&2 || cat report >&2
    failed=1
    ;;
esac
exit "$failed"
