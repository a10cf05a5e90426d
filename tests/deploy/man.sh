#!/usr/bin/env bash
# deploy.man BIN PAGE: the manual page cannot drift from the code. man -l renders PAGE without a
# warning; every config key that `BIN --check-config` prints (the schema table) appears in its
# section as "key = default", with its range or its allowed values in its paragraph; every flag
# that `BIN --help` prints (cli.c's table) appears as an option line exactly as --help shows it.
# Exit 77 (skipped) without man-db.
set -Eeuo pipefail
bin=$1 page=$2
command -v man > /dev/null || { echo "SKIP: man not installed (Debian package man-db)"; exit 77; }
work=$(mktemp -d /tmp/iob-man.XXXXXX)
trap 'rm -rf "$work"' EXIT
failed=0
fail() { echo "FAIL: $*" >&2; failed=1; }

# A wide page, so no line is broken or hyphenated inside a name; leading blanks trimmed.
LC_ALL=C.UTF-8 MANWIDTH=200 man --warnings -l "$page" > "$work/raw" 2> "$work/warnings" ||
    fail "man -l $page exited $?"
[ -s "$work/warnings" ] && fail "man -l $page warned: $(cat "$work/warnings")"
sed -e 's/^ *//' -e 's/ *$//' "$work/raw" > "$work/page"
[ "$(wc -l < "$work/page")" -gt 100 ] || fail "man -l $page rendered $(wc -l < "$work/page") lines"

# The paragraph that follows the line `$2` after the line `$1`, up to the next blank line; empty
# when the lines are missing.
paragraph() {
    awk -v head="$1" -v term="$2" '
        $0 == head { in_section = 1; next }
        in_section && $0 == term { found = 1; next }
        found && $0 == "" { exit }
        found { print }' "$work/page"
}

# --check-config with no config file and no IOBOUND_ variables: every key at its default.
env -i PATH="$PATH" "$bin" --check-config > "$work/config"
keys=0
section=""
while IFS= read -r line; do
    case "$line" in
    \[*\]) section=$line; continue ;;
    ";"* | "") continue ;;
    esac
    keys=$((keys + 1))
    key=${line%% =*}
    rest=${line#* =}
    default=${rest%%;*}
    default=$(echo "$default" | sed -e 's/^ *//' -e 's/ *$//')
    comment=${rest#*; }
    allowed=${comment%%; *}
    term="$key = $default"
    [ -z "$default" ] && term="$key ="
    text=$(paragraph "$section" "$term")
    if [ -z "$text" ]; then
        fail "config key $section $key: no line \"$term\" (with its description) under $section"
        continue
    fi
    if [[ "$allowed" =~ ^integer\ ([0-9]+\.\.[0-9]+)$ ]]; then
        range=${BASH_REMATCH[1]}
        grep -qE "(^|[^0-9])${range//./\\.}([^0-9]|\$)" <<< "$text" ||
            fail "config key $section $key: range $range not in: $text"
    elif [[ "$allowed" =~ ^[a-z]+(,\ [a-z]+)+$ ]]; then
        for value in ${allowed//,/ }; do
            [[ "$text" == *"$value"* ]] || fail "config key $section $key: value $value not in: $text"
        done
    fi
done < "$work/config"
[ "$keys" -gt 15 ] || fail "only $keys keys read from --check-config"

flags=0
while IFS= read -r line; do
    [[ "$line" =~ ^\ \ (-[a-zA-Z],\ |\ \ \ \ )(--[a-z-]+[^ ]*( [^ ]+)?)\ \ + ]] || continue
    flags=$((flags + 1))
    left=${BASH_REMATCH[1]}${BASH_REMATCH[2]}
    left=${left#    }
    grep -qxF -- "$left" "$work/page" || fail "flag $left: no such option line in the page"
done < <("$bin" --help)
[ "$flags" -gt 5 ] || fail "only $flags flags read from --help"

echo "man page: $keys config keys and $flags flags checked, rendered without warnings"
exit "$failed"
