#!/usr/bin/env bash
# `make docker-test`: the deployment files checked for real with podman (no Docker engine needed):
# the systemd unit (systemd-analyze verify), docker/Dockerfile in both modes and its HEALTHCHECK,
# docker/compose.yaml (both services), and docker/k8s/iobound.yaml through `podman kube play`.
# Takes minutes when cold, so it is not part of `make test`. Uses 127.0.0.1:8080 and :8081.
# CTRCHECK_TOOLS overrides where the shared podman check scripts live.
set -Eeuo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=${CTRCHECK_TOOLS:-$root/../shared/tools/containers}
[ -x "$tools/check-dockerfile.sh" ] || { echo "no check scripts in $tools" >&2; exit 1; }
cd "$root"

image=localhost/iobound:latest
work=$(mktemp -d /tmp/iobound-docker-test.XXXXXX)
results=()
failed=0
pass() { results+=("PASS  $*"); echo "PASS  $*"; }
fail() { results+=("FAIL  $*"); echo "FAIL  $*" >&2; failed=1; }

ctr=""
kube_file=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    [ -n "$ctr" ] && podman rm -f -t 1 "$ctr" > /dev/null 2>&1
    [ -n "$kube_file" ] && podman kube down "$kube_file" > /dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

# A server someone left on these ports would answer in place of the container.
for port in 8080 8081; do
    if [ -n "$(ss -ltnH "sport = :$port")" ]; then
        echo "port $port is already in use on this machine; stop that server first" >&2
        exit 1
    fi
done

# Runs one shared check script, keeps its log, and records its verdict.
run_check() { # NAME SCRIPT ARGS...
    local name=$1 log="$work/$1.log"
    shift
    echo "== $name: $*"
    if "$@" > "$log" 2>&1; then
        pass "$name"
        sed -n '/^==== /,$p' "$log"
    else
        fail "$name"
        tail -n 40 "$log" >&2
    fi
}

# Polls URL until it answers 200 (30 s at most); the body is left in $work/body.
wait_200() {
    local _
    for _ in $(seq 150); do
        [ "$(curl -s -o "$work/body" -w '%{http_code}' --max-time 2 "$1")" = 200 ] && return 0
        sleep 0.2
    done
    return 1
}

# --- 1. systemd unit: syntax and directives (the binary path is swapped for one that exists)
sed "s#/usr/local/bin/iobound#$(command -v true)#" docker/iobound.service > "$work/iobound.service"
if (cd "$work" && systemd-analyze verify ./iobound.service); then
    pass "systemd-analyze verify docker/iobound.service"
else
    fail "systemd-analyze verify docker/iobound.service"
fi

# --- 2. Dockerfile: build (running the release tests), serve, non-root, SIGTERM; both modes
t0=$(date +%s)
run_check dockerfile-evented "$tools/check-dockerfile.sh" --network bridge --tag "$image" \
    --expect-body 'iobound_info{mode="evented"' . docker/Dockerfile http://127.0.0.1:8080/metrics
echo "   build + check took $(($(date +%s) - t0)) s"
run_check dockerfile-threaded "$tools/check-dockerfile.sh" --network bridge --tag "$image" \
    -e IOBOUND_SERVER_MODE=threaded --expect-body 'iobound_info{mode="threaded"' \
    . docker/Dockerfile http://127.0.0.1:8080/metrics

# --- 3. the image's HEALTHCHECK, run by podman inside the container (the image has no curl)
# shellcheck source=/dev/null
source "$tools/lib.sh" && ctr_write_config
ctr=iobound-docker-test-$$
if podman run -d --name "$ctr" -p 127.0.0.1:8080:8080 "$image" > /dev/null &&
    wait_200 http://127.0.0.1:8080/healthz && podman healthcheck run "$ctr" > /dev/null; then
    pass "HEALTHCHECK (iobound --health-check) reports healthy"
else
    fail "HEALTHCHECK: $(podman healthcheck run "$ctr" 2>&1 | head -n 3)"
fi
if podman exec "$ctr" sh -c '! command -v curl && ! command -v wget' > /dev/null 2>&1; then
    pass "the runtime image has no curl or wget"
else
    fail "the runtime image contains curl or wget"
fi
podman rm -f -t 10 "$ctr" > /dev/null
ctr=""
echo "   image $image: $(podman image inspect "$image" --format '{{.Size}}' |
    awk '{printf "%.1f MB", $1 / 1e6}')"

# --- 4. compose: both models side by side from the one image
run_check compose "$tools/check-compose.sh" . docker/compose.yaml \
    http://127.0.0.1:8080/healthz http://127.0.0.1:8081/healthz

# --- 5. Kubernetes manifests with podman kube play. The file users apply stays as it is; the
# copy played here has one replica (each would ask for the same hostPort), the container port
# published on 127.0.0.1:8080, and the mode switched to threaded to show the ConfigMap is used.
kube_file=$work/iobound-kube-play.yaml
python3 - docker/k8s/iobound.yaml "$kube_file" << 'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    if d["kind"] == "ConfigMap":
        d["data"]["IOBOUND_SERVER_MODE"] = "threaded"
    if d["kind"] == "Deployment":
        d["spec"]["replicas"] = 1
        for port in d["spec"]["template"]["spec"]["containers"][0]["ports"]:
            port.update(hostPort=8080, hostIP="127.0.0.1")
yaml.safe_dump_all(docs, open(sys.argv[2], "w"), sort_keys=False)
PY
echo "== kube play: docker/k8s/iobound.yaml (1 replica, hostPort 127.0.0.1:8080, mode threaded)"
if podman kube play "$kube_file" > "$work/kube-play.log" 2>&1; then
    pass "podman kube play docker/k8s/iobound.yaml"
else
    fail "podman kube play: $(tail -n 5 "$work/kube-play.log")"
fi
if wait_200 http://127.0.0.1:8080/healthz; then
    pass "kube pod: GET /healthz -> 200"
else
    fail "kube pod: no 200 from http://127.0.0.1:8080/healthz within 30 s"
fi
if [[ "$(curl -s --max-time 5 http://127.0.0.1:8080/metrics)" == *'iobound_info{mode="threaded"'* ]]; then
    pass "kube pod: mode threaded taken from the ConfigMap"
else
    fail "kube pod: /metrics does not report mode threaded"
fi
kube_ctr=$(podman ps --filter label=app.kubernetes.io/name=iobound --format '{{.Names}}' |
    head -n 1)
kube_pid=$(podman inspect "$kube_ctr" --format '{{.State.Pid}}' 2> /dev/null || echo 0)
kube_uid=$(awk '/^Uid:/ {print $3}' "/proc/$kube_pid/status" 2> /dev/null || echo "?")
if [ -n "$kube_uid" ] && [ "$kube_uid" != "?" ] && [ "$kube_uid" != 0 ]; then
    pass "kube pod: container $kube_ctr runs as uid $kube_uid"
else
    fail "kube pod: container '$kube_ctr' runs as uid '$kube_uid'"
fi
# Stop the pod first (SIGTERM, SIGKILL after 10 s) so the exit code can be read before `down`.
t0=$(date +%s.%N)
podman pod stop -t 10 "$(podman inspect "$kube_ctr" --format '{{.Pod}}')" > /dev/null 2>&1
stop_s=$(awk -v s="$t0" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
kube_ec=$(podman inspect "$kube_ctr" --format '{{.State.ExitCode}}' 2> /dev/null || echo "?")
if [ "$kube_ec" = 0 ] && [ "$(awk -v t="$stop_s" 'BEGIN { print (t < 10) }')" = 1 ]; then
    pass "kube pod: stopped on SIGTERM in ${stop_s} s, exit code 0"
else
    fail "kube pod: stop took ${stop_s} s, exit code $kube_ec (137: needed SIGKILL)"
fi
if podman kube down "$kube_file" > /dev/null 2>&1; then
    kube_file=""
    pass "podman kube down"
else
    fail "podman kube down"
fi

echo "==== docker-test summary ===="
printf '%s\n' "${results[@]}"
if [ "$failed" = 0 ]; then echo "RESULT: PASS"; else echo "RESULT: FAIL"; fi
exit "$failed"
