#!/usr/bin/env bash
# deploy.install BUILD_DIR: `cmake --install` into a temporary DESTDIR puts exactly the expected
# tree under the build's prefix: the binary (runs), iobound.ini (equal to config/iobound.ini and
# loadable by the installed binary), the systemd unit pointing at the installed paths, the man
# page, the logrotate snippet (logrotate parses it) and the docs; nothing else.
set -Eeuo pipefail
build=$(realpath "$1")
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
work=$(mktemp -d /tmp/iob-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
failed=0
fail() { echo "FAIL: $*" >&2; failed=1; }

DESTDIR=$work/root cmake --install "$build" > "$work/install.log"
root=$work/root$prefix
# GNUInstallDirs: a /usr prefix keeps its config in /etc, any other in PREFIX/etc.
etc=$work/root$prefix/etc
[ "$prefix" = /usr ] && etc=$work/root/etc
want=(
    "$root/bin/iobound"
    "$etc/iobound/iobound.ini"
    "$etc/logrotate.d/iobound"
    "$root/lib/systemd/system/iobound.service"
    "$root/share/man/man1/iobound.1.gz"
    "$root/share/doc/iobound/README.md"
    "$root/share/doc/iobound/iobound.rules.yml"
)
(cd "$work/root" && find . -type f | sed 's#^\.##' | sort) > "$work/got"
printf '%s\n' "${want[@]#"$work/root"}" | sort > "$work/want"
diff -u "$work/want" "$work/got" > "$work/diff" || fail "installed tree differs:
$(cat "$work/diff")"

[ -x "$root/bin/iobound" ] && "$root/bin/iobound" --version | grep -q '^iobound ' ||
    fail "installed binary does not run"
cmp -s "$src/config/iobound.ini" "$etc/iobound/iobound.ini" ||
    fail "installed iobound.ini differs from config/iobound.ini"
env -i "$root/bin/iobound" -c "$etc/iobound/iobound.ini" --check-config > /dev/null ||
    fail "the installed binary rejects the installed config"
unit=$root/lib/systemd/system/iobound.service
grep -qxF "ExecStart=$prefix/bin/iobound -c ${etc#"$work/root"}/iobound/iobound.ini" "$unit" ||
    fail "unit ExecStart does not name the installed paths: $(grep ExecStart= "$unit")"
gzip -t "$root/share/man/man1/iobound.1.gz" || fail "man page is not gzip"
if command -v logrotate > /dev/null; then
    logrotate -d -s "$work/logrotate.state" "$etc/logrotate.d/iobound" > "$work/logrotate.log" 2>&1 ||
        fail "logrotate rejects the snippet: $(cat "$work/logrotate.log")"
    grep -q 'systemctl reload iobound' "$etc/logrotate.d/iobound" ||
        fail "logrotate snippet does not reopen the logs through systemctl reload (SIGHUP)"
fi
echo "install (prefix $prefix): $(wc -l < "$work/got") files"
sed "s#$work/root##" "$work/got"
exit "$failed"
