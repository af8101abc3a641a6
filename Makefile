# pincer: the targets wrap meson + ninja. `make demo` and `make test` work on
# a fresh Debian 12 machine as root: they install what is missing first.

BUILD   ?= build
PYTEST  ?= /usr/bin/python3 -m pytest
# e2e tests mostly wait (on sandboxes, daemons, upstreams): three at once
# keep a 2-core machine busy; every test has its own folders and ports
E2E_JOBS ?= 3
PINCER  := $(BUILD)/pincer

# Debian packages: to build, to run the tests, to run the benchmarks.
BUILD_DEPS := gcc pkg-config meson ninja-build libyaml-dev libssl-dev libseccomp-dev libevent-dev \
              libjansson-dev libsqlite3-dev
TEST_DEPS  := python3-pytest python3-pytest-xdist curl git iproute2 util-linux passwd procps openssl
BENCH_DEPS := hyperfine bubblewrap firejail nginx squid tinyproxy openssl

.PHONY: all build deps test-deps bench-deps demo test unit e2e bench asan clean format

all: build

build: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) >/dev/null
	@ninja -C $(BUILD)

# Install only what is missing, so a second run costs nothing.
define apt_install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "missing packages:$$missing (run as root, or apt-get install them)"; exit 1; fi; \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

deps:
	$(call apt_install,$(BUILD_DEPS))

test-deps:
	$(call apt_install,$(TEST_DEPS))

bench-deps:
	$(call apt_install,$(BENCH_DEPS))

demo: build
	@sh examples/demo.sh $(PINCER)

unit: build
	meson test -C $(BUILD) --print-errorlogs

e2e: build test-deps
	PINCER_BIN=$(abspath $(PINCER)) $(PYTEST) -q -n $(E2E_JOBS) tests/e2e

# Everything CI runs: the build's unit and end-to-end tests, then the same on
# an ASan+UBSan build (the attack programs are not instrumented, so the
# escape battery runs once, on the plain build).
test: build test-deps unit e2e asan

bench: build bench-deps
	bench/startup $(PINCER)
	bench/overhead $(PINCER)
	bench/gate $(PINCER)
	bench/warm $(PINCER)
	bench/density --quick $(PINCER)

# ASan + UBSan build running the same tests, each once, as root (the
# identities differ in the sandbox's setup, which the plain pass covers
# twice; the gate, daemon and audit code they share is what ASan watches):
# `make test` stays under 15 minutes on 2 cores.
asan: deps test-deps
	@[ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dstatic_deps=false >/dev/null
	ninja -C build-asan
	meson test -C build-asan --print-errorlogs
	PINCER_E2E_MODES=root PINCER_BIN=$(abspath build-asan/pincer) $(PYTEST) -q -n $(E2E_JOBS) tests/e2e --ignore=tests/e2e/test_escape.py

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) build-asan
