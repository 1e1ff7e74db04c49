# rkt-rs build entry points. `make help` lists them.
SHELL := /bin/bash
CARGO ?= cargo
FUZZ_SECONDS ?= 60
# Debian packages the build and the tests need (see `make deps`).
DEB_PACKAGES := appc-spec gnupg xz-utils bzip2 gzip pkg-config libssl-dev

# Static binaries that run inside pods (stage1, stage2, the test probe): glibc linked
# statically, so the stage1 image needs no libraries. `--target` keeps build scripts dynamic.
STATIC_TARGET := x86_64-unknown-linux-gnu
STATIC_PROFILE ?= release
STATIC_DIR := target/$(STATIC_TARGET)/$(if $(filter dev,$(STATIC_PROFILE)),debug,$(STATIC_PROFILE))
STATIC_CARGO = RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --profile $(STATIC_PROFILE) --target $(STATIC_TARGET)

.PHONY: all build test static check fmt-check clippy unit deps fuzz run bench help clean

all: build

build: ## Release build of the whole workspace
	$(CARGO) build --release --workspace

static: ## Static binaries that run inside pods (into $(STATIC_DIR))
	$(STATIC_CARGO) -p stage1 --bin rkt-stage1

test: fmt-check clippy unit ## rustfmt check, clippy (warnings are errors), every test

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --workspace

deps: ## Install the Debian packages the build and tests need (as root; idempotent)
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "Debian packages: all present"; fi

fuzz: ## Run every fuzz target for FUZZ_SECONDS each (installs cargo-fuzz if missing)
	@command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz
	cd fuzz && for t in $$($(CARGO) +nightly fuzz list); do \
		echo "== fuzz $$t ($(FUZZ_SECONDS)s)"; \
		$(CARGO) +nightly fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 || exit 1; \
	done

bench: ## Benchmarks against the system tools, baselines in the same run (results in target/bench/)
	@command -v hyperfine >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine)
	bench/run.sh

run: ## Build everything and run a real demo pod (arrives with `rkt run`)
	@echo "make run: 'rkt run' is not built yet (see issue: rkt run end to end)"; exit 1

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

clean:
	$(CARGO) clean
