# Thin wrapper: install missing Debian packages, configure with CMake, build, serve or test.
# `make run [MODE=threaded]`, `make test`. Everything real lives in CMakeLists.txt.

MODE   ?= evented
LISTEN ?= 127.0.0.1:8080
JOBS   ?= $(shell nproc)

BUILD_PKGS := gcc make cmake pkg-config libevent-dev node-llhttp libinih-dev scdoc liburing-dev
TEST_PKGS  := $(BUILD_PKGS) libcurl4-openssl-dev libcmocka-dev clang libclang-rt-14-dev curl prometheus \
              chromium man-db logrotate systemd python3 haproxy nginx
DEB_PKGS   := $(BUILD_PKGS) dpkg-dev file

CMAKE_FLAGS := -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIOB_WERROR=ON

.PHONY: all build run test test-release test-asan test-tsan deps-build deps-test clean

all: build

deps-build:
	@./.ci/install-deps $(BUILD_PKGS)

deps-test:
	@./.ci/install-deps $(TEST_PKGS)

build: deps-build
	cmake -S . -B build $(CMAKE_FLAGS) -DIOB_TESTS=OFF
	cmake --build build -j$(JOBS) --target iobound

run: build
	./build/iobound --mode $(MODE) --listen $(LISTEN)

# Every test, twice: a normal build, then ASan+UBSan over the same tests; then TSan over the
# tests labelled tsan (tests/CMakeLists.txt: the unit tests and, for every model, the
# integration areas that drive threads).
test: deps-test test-release test-asan test-tsan

test-release:
	cmake -S . -B build $(CMAKE_FLAGS) -DIOB_TESTS=ON
	cmake --build build -j$(JOBS)
	cd build && ctest --output-on-failure -j$(JOBS)

test-asan:
	cmake -S . -B build-asan $(CMAKE_FLAGS) -DIOB_TESTS=ON -DIOB_SANITIZE=address,undefined
	cmake --build build-asan -j$(JOBS)
	cd build-asan && ctest --output-on-failure -j$(JOBS)

# A race report makes the server exit 66, which the harness's exit-0 check turns red. setarch -R
# (no ASLR, inherited by the servers) keeps TSan's fixed shadow layout working on kernels with a
# large vm.mmap_rnd_bits, where it would otherwise abort at start-up. TSan's own 1 s sleep at
# exit while other threads still end (atexit_sleep_ms) is off: the signal suites time the exit.
test-tsan:
	cmake -S . -B build-tsan $(CMAKE_FLAGS) -DIOB_TESTS=ON -DIOB_SANITIZE=thread
	cmake --build build-tsan -j$(JOBS)
	cd build-tsan && TSAN_OPTIONS=atexit_sleep_ms=0 setarch $$(uname -m) -R ctest --output-on-failure -j$(JOBS) -L tsan

clean:
	rm -rf build build-asan build-tsan build-deb

# `make install [PREFIX=/usr/local] [DESTDIR=/tmp/stage]`: binary, config, systemd unit, man page
# and logrotate snippet under PREFIX (config in /etc when PREFIX is /usr). See packaging/.
PREFIX ?= /usr/local
.PHONY: install deb
install: deps-build
	cmake -S . -B build $(CMAKE_FLAGS) -DIOB_TESTS=OFF -DCMAKE_INSTALL_PREFIX=$(PREFIX)
	cmake --build build -j$(JOBS) --target iobound iob_man
	DESTDIR="$(DESTDIR)" cmake --install build

# `make deb`: build-deb/iobound_<version>_<arch>.deb (CPack; prefix /usr, config in /etc).
deb:
	@./.ci/install-deps $(DEB_PKGS)
	cmake -S . -B build-deb $(CMAKE_FLAGS) -DIOB_TESTS=OFF -DCMAKE_INSTALL_PREFIX=/usr
	cmake --build build-deb -j$(JOBS) --target iobound iob_man
	cd build-deb && cpack -G DEB

# The deployment files (Dockerfile, compose, k8s manifests, systemd unit) checked with podman.
# Minutes when cold, so not part of `make test`. See tests/docker-test.sh.
.PHONY: docker-test
docker-test:
	./tests/docker-test.sh

# `make fuzz [FUZZ_SECONDS=600]`: the libFuzzer target over the HTTP layer for longer than the
# 60 s `make test` gives it; a crashing input is saved as build-fuzz/crash-*. See tests/fuzz/run.sh.
FUZZ_SECONDS ?= 600
.PHONY: fuzz
fuzz: deps-test
	./tests/fuzz/run.sh $(FUZZ_SECONDS)

# `make bench [QUICK=1]`: every model of `iobound --list-modes` against nginx (1 and 2 workers),
# httpbin under gunicorn sync workers, Go, aiohttp and ThreadingHTTPServer in one run; results in
# bench/results/<date>/. Never part of `make test`.
BENCH_PKGS := $(BUILD_PKGS) wrk gnuplot-nox nginx libnginx-mod-http-echo golang-go python3-aiohttp \
              gunicorn python3-httpbin

.PHONY: bench
bench:
	@./.ci/install-deps $(BENCH_PKGS)
	/usr/bin/python3 bench/run.py $(if $(filter-out 0,$(QUICK)),--quick) $(BENCH_ARGS)
	/usr/bin/python3 bench/c100k.py $(if $(filter-out 0,$(QUICK)),--quick) $(C100K_ARGS)

# `make demo`: every model of `iobound --list-modes` side by side and the same claims in CPython
# (Debian's python3) in under 60 s, each claim HELD or DID NOT HOLD, and a timeline chart per
# model in bench/results/demo/. See bench/demo/run.sh. Never part of `make test`.
.PHONY: demo
demo:
	@./.ci/install-deps $(BUILD_PKGS) libcurl4-openssl-dev gnuplot-nox python3
	./bench/demo/run.sh

# `make proxy-test [PROXY_MODES="pool,workers"]`: haproxy, nginx, Varnish and Squid in front of
# iobound, every model of `iobound --list-modes=json` side by side (or PROXY_MODES), fed the whole
# smuggling corpus tests/proxy/cases.tsv; a table per proxy and model, the Markdown in
# build/proxy-results.md (tests/proxy/results.md is a copy), exit 1 on any desync. A few
# minutes; a short subset runs in `make test` as proxy.smoke.*. See tests/proxy/run.py.
PROXY_PKGS := $(BUILD_PKGS) python3 haproxy nginx varnish squid

.PHONY: proxy-test
proxy-test:
	@./.ci/install-deps $(PROXY_PKGS)
	cmake -S . -B build $(CMAKE_FLAGS) -DIOB_TESTS=OFF
	cmake --build build -j$(JOBS) --target iobound
	/usr/bin/python3 tests/proxy/run.py --bin build/iobound $(if $(PROXY_MODES),--modes "$(PROXY_MODES)") \
	    --proxies haproxy,nginx,varnish,squid,none --markdown build/proxy-results.md

# `make soak [SOAK_SECONDS=600] [MODES="evented threaded"] [SOAK_JOBS=N]`: mixed wrk traffic
# (every endpoint, 4xx, malformed, pipelined, bodies, every /fault kind, resets) against each
# model for SOAK_SECONDS, under the release build and the ASan+UBSan build; checks no crash, no
# leak at exit, release RSS flat within 10 % after the first minute, fds back to idle. The
# models come from `iobound --list-modes=json`, or MODES. The models of a build run side by side
# (each on its own port, a bounded load), the builds one after the other: about
# 2 x SOAK_SECONDS in all. Never part of `make test`. See tests/soak/run.py.
SOAK_SECONDS ?= 600
SOAK_PKGS := $(BUILD_PKGS) python3 wrk iproute2

.PHONY: soak
soak:
	@./.ci/install-deps $(SOAK_PKGS)
	cmake -S . -B build $(CMAKE_FLAGS) -DIOB_TESTS=OFF
	cmake --build build -j$(JOBS) --target iobound
	cmake -S . -B build-asan $(CMAKE_FLAGS) -DIOB_TESTS=OFF -DIOB_SANITIZE=address,undefined
	cmake --build build-asan -j$(JOBS) --target iobound
	/usr/bin/python3 tests/soak/run.py --seconds $(SOAK_SECONDS) $(if $(MODES),--modes "$(MODES)") \
	    $(if $(SOAK_JOBS),--jobs $(SOAK_JOBS)) --out build/soak release=build/iobound asan=build-asan/iobound
