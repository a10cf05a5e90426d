#!/usr/bin/env bash
# `make docker-test`: the deployment files checked for real with podman (no Docker engine needed):
# the systemd unit (systemd-analyze verify and its security rating), the Debian package (make deb)
# installed into a fresh debian:bookworm-slim, docker/Dockerfile in both modes and its
# HEALTHCHECK, docker/compose.yaml (both services and Prometheus scraping them, asked through its
# HTTP API), and docker/k8s/iobound.yaml through `podman kube play`. Takes minutes when cold, so
# it is not part of `make test`. Uses 127.0.0.1:8080, :8081 and :9090.
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
compose_up=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    [ -n "$ctr" ] && podman rm -f -t 1 "$ctr" > /dev/null 2>&1
    [ -n "$kube_file" ] && podman kube down "$kube_file" > /dev/null 2>&1
    [ -n "$compose_up" ] && compose down > /dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

# A server someone left on these ports would answer in place of the container.
for port in 8080 8081 9090; do
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

# --- 1. systemd unit: syntax and directives, and `systemd-analyze security` rates it OK or better
if ./tests/deploy/systemd.sh "$(type -P true)" docker/iobound.service > "$work/systemd.log" 2>&1; then
    pass "systemd unit: verify + security: $(sed -n 's/.*Overall exposure level for //p' "$work/systemd.log")"
else
    fail "systemd unit: $(tr "\n" " " < "$work/systemd.log")"
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

# --- 4. the Debian package, installed into a fresh debian:bookworm-slim: its dependencies come
# from apt, the config is a conffile, postinst creates the user and enables the unit without
# starting anything; the installed binary accepts the installed config and serves /healthz.
echo "== deb: make deb, then apt-get install it into debian:bookworm-slim"
if make deb > "$work/deb-build.log" 2>&1; then
    deb=$(ls build-deb/iobound_*.deb)
    pass "make deb: $deb ($(du -k "$deb" | cut -f1) kB)"
    dpkg-deb -f "$deb" Depends | sed 's/^/   Depends: /'
else
    fail "make deb: $(tail -n 20 "$work/deb-build.log")"
fi
cat > "$work/deb-check.sh" << 'SH'
set -eu
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends /deb/iobound_*.deb > /dev/null
echo "conffiles: $(dpkg-query -W -f='${Conffiles}' iobound | awk 'NF {printf "%s ", $1}')"
dpkg-query -W -f='${Conffiles}' iobound | grep -q '^ /etc/iobound/iobound.ini '
echo "user: $(getent passwd iobound)"
link=/etc/systemd/system/multi-user.target.wants/iobound.service
echo "enabled: $link -> $(readlink "$link")"
running=$(cat /proc/[0-9]*/comm 2> /dev/null | grep -cx iobound || true)
echo "iobound processes after install: $running"
[ "$running" = 0 ]
iobound -c /etc/iobound/iobound.ini --check-config > /dev/null && echo "check-config: ok"
setpriv --reuid=iobound --regid=iobound --init-groups \
    iobound -c /etc/iobound/iobound.ini --listen 127.0.0.1:0 2> /tmp/err &
pid=$!
for _ in $(seq 50); do grep -q 'listening on' /tmp/err && break; sleep 0.1; done
head -n 1 /tmp/err
addr=$(sed -n 's/.* listening on \([^ ]*\) .*/\1/p' /tmp/err)
iobound --health-check "$addr" && echo "GET http://$addr/healthz: ok"
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
echo "server uid: $uid ($(id -u iobound))"
[ "$uid" = "$(id -u iobound)" ]
kill -TERM "$pid"
wait "$pid"
echo "exit after SIGTERM: $?"
SH
if [ -n "${deb:-}" ] && podman run --rm --network host -v "$root/build-deb:/deb:ro" \
    -v "$work/deb-check.sh:/deb-check.sh:ro" debian:bookworm-slim sh /deb-check.sh \
    > "$work/deb-check.log" 2>&1; then
    pass "deb installed into debian:bookworm-slim: conffile, user, unit enabled, serves"
    sed 's/^/   /' "$work/deb-check.log"
else
    fail "deb install check: $(tail -n 20 "$work/deb-check.log" 2> /dev/null)"
fi

# --- 5. compose: both models side by side from the one image, and Prometheus
run_check compose "$tools/check-compose.sh" --project iobound-docker-test . docker/compose.yaml \
    http://127.0.0.1:8080/healthz http://127.0.0.1:8081/healthz http://127.0.0.1:9090/-/ready

# check-compose has taken the services down again: bring them up once more (images built) and
# ask Prometheus, through its HTTP API, for samples of both models. The model is each server's
# own iobound_info{mode}, joined on the scrape target, so a target that lies cannot pass.
compose() { (cd docker && /usr/bin/python3 "$CTRCHECK_HOME/podman_compose_patched.py" \
    -f compose.yaml -p iobound-docker-test "$@"); }
# Prints the result of an instant query as "label=value ... value" lines, one per series.
prom_query() {
    curl -sG --max-time 5 http://127.0.0.1:9090/api/v1/query --data-urlencode "query=$1" |
        python3 -c '
import json, sys
for r in json.load(sys.stdin)["data"]["result"]:
    labels = " ".join(f"{k}={v}" for k, v in sorted(r["metric"].items()))
    print(labels, r["value"][1])'
}
echo "== prometheus: scrape both services, query the API"
compose_up=1
compose up -d > "$work/compose-up.log" 2>&1 || true
wait_200 http://127.0.0.1:8080/healthz && wait_200 http://127.0.0.1:8081/healthz || true
# A little traffic to both, for 40 s at most (stops by itself), so the rates are not zero.
traffic() {
    local _ port path
    for _ in $(seq 100); do
        for port in 8080 8081; do
            for path in /hello /sleep?ms=20 /gather?ms=10,20 /nope; do
                curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port$path" || true
            done
        done
        sleep 0.3
    done
}
traffic &
traffic_pid=$!
per_mode='count by (mode) (iobound_requests_total * on (job, instance) group_left (mode) iobound_info)'
modes=""
for _ in $(seq 60); do
    modes=$(prom_query "$per_mode" 2> /dev/null | awk '{print $1}' | sort | tr '\n' ' ')
    [ "$modes" = "mode=evented mode=threaded " ] && break
    sleep 1
done
if [ "$modes" = "mode=evented mode=threaded " ]; then
    pass "prometheus: iobound_requests_total scraped for both modes"
    prom_query "$per_mode" | sed 's/^/   series of iobound_requests_total: /'
else
    fail "prometheus: modes with iobound_requests_total samples: '${modes:-none}'"
    curl -s --max-time 5 http://127.0.0.1:9090/api/v1/targets | head -c 1500 >&2 || true
fi
rate='mode_route_code:iobound_requests:rate1m{route="hello"}'
rules=""
for _ in $(seq 60); do
    rules=$(prom_query "$rate" 2> /dev/null | awk '$NF > 0' || true)
    [ "$(grep -c . <<< "$rules")" -ge 2 ] && break
    sleep 1
done
if [ "$(grep -c . <<< "$rules")" -ge 2 ]; then
    pass "prometheus: recording rule $rate is above 0 for both modes"
    sed 's/^/   /' <<< "$rules"
    prom_query 'mode_route:iobound_request_duration_seconds:p99_5m{route=~"sleep|gather"}' |
        sed 's/^/   p99 seconds: /'
else
    fail "prometheus: recording rule $rate: '${rules:-no series}'"
fi
kill "$traffic_pid" 2> /dev/null || true
wait "$traffic_pid" 2> /dev/null || true
compose down > /dev/null 2>&1 && compose_up=""

# --- 6. Kubernetes manifests with podman kube play. The file users apply stays as it is; the
# copy played here has one replica (each would ask for the same hostPort), the container port
# published on 127.0.0.1:8080, the mode switched to threaded to show the ConfigMap is used, and
# no HorizontalPodAutoscaler or PodDisruptionBudget: those need a real cluster's controllers,
# so here their shape is checked against the Deployment instead (kube-rules below).
kube_file=$work/iobound-kube-play.yaml
if python3 - docker/k8s/iobound.yaml "$kube_file" > "$work/kube-rules.log" 2>&1 << 'PY'; then
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
by_kind = {d["kind"]: d for d in docs}
dep = by_kind["Deployment"]
pod = dep["spec"]["template"]["spec"]
ctr = pod["containers"][0]
cfg = by_kind["ConfigMap"]["data"]
grace_ms = int(cfg["IOBOUND_PROCESS_SHUTDOWN_GRACE_MS"])
pre_stop_s = int(ctr["lifecycle"]["preStop"]["exec"]["command"][-1])
tgps = pod["terminationGracePeriodSeconds"]
assert tgps * 1000 > pre_stop_s * 1000 + grace_ms, (tgps, pre_stop_s, grace_ms)
print(f"terminationGracePeriodSeconds {tgps} s > preStop {pre_stop_s} s + shutdown_grace_ms {grace_ms}")
ready, live = ctr["readinessProbe"]["httpGet"]["path"], ctr["livenessProbe"]["httpGet"]["path"]
assert (ready, live) == ("/readyz", "/healthz"), (ready, live)
print(f"readiness {ready} (503 while draining), liveness {live}")
hpa, pdb = by_kind["HorizontalPodAutoscaler"], by_kind["PodDisruptionBudget"]
assert hpa["apiVersion"] == "autoscaling/v2" and hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]
cpu = [m for m in hpa["spec"]["metrics"] if m["resource"]["name"] == "cpu"][0]
assert "cpu" in ctr["resources"]["requests"], "an HPA on CPU utilisation needs a CPU request"
print(f"HPA: {hpa['spec']['minReplicas']}..{hpa['spec']['maxReplicas']} replicas at "
      f"{cpu['resource']['target']['averageUtilization']}% CPU of the {ctr['resources']['requests']['cpu']} request")
labels = pod.get("labels") or dep["spec"]["template"]["metadata"]["labels"]
assert pdb["apiVersion"] == "policy/v1"
assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items(), "PDB selects no pod"
assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"], "PDB would block every drain"
print(f"PDB: minAvailable {pdb['spec']['minAvailable']} of at least {hpa['spec']['minReplicas']}")
docs = [d for d in docs if d["kind"] not in ("HorizontalPodAutoscaler", "PodDisruptionBudget")]
for d in docs:
    if d["kind"] == "ConfigMap":
        d["data"]["IOBOUND_SERVER_MODE"] = "threaded"
    if d["kind"] == "Deployment":
        d["spec"]["replicas"] = 1
        for port in d["spec"]["template"]["spec"]["containers"][0]["ports"]:
            port.update(hostPort=8080, hostIP="127.0.0.1")
yaml.safe_dump_all(docs, open(sys.argv[2], "w"), sort_keys=False)
PY
    pass "kube-rules: grace period, probes, HPA and PDB of docker/k8s/iobound.yaml"
    sed 's/^/   /' "$work/kube-rules.log"
else
    fail "kube-rules: $(tail -n 5 "$work/kube-rules.log")"
fi
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
if [ "$(curl -s --max-time 5 http://127.0.0.1:8080/readyz)" = ready ]; then
    pass "kube pod: GET /readyz (the readiness probe) -> ready"
else
    fail "kube pod: GET /readyz does not answer ready"
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
