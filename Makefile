# rkt-rs build entry points. `make help` lists them.
SHELL := /bin/bash
CARGO ?= cargo
FUZZ_SECONDS ?= 60
# Debian packages the build and the tests need (see `make deps`). libssl-dev: only the test
# HTTPS servers of rkt/tests (native-tls); rkt itself uses rustls.
DEB_PACKAGES := appc-spec gnupg xz-utils bzip2 gzip pkg-config libssl-dev crun runc
# Networking: NAT for our CNI plugins, ping for their tests, the reference plugins to compare with.
DEB_PACKAGES += iptables nftables iputils-ping containernetworking-plugins
# systemd integration tests: a systemd container built with debootstrap, booted by nspawn.
DEB_PACKAGES += debootstrap systemd-container
# OCI images: a local registry, tools to push to it and to compare with, htpasswd for its auth.
DEB_PACKAGES += docker-registry skopeo umoci apache2-utils zstd
# The host image (`make image`, `make boot`, `make image-test`); qemu comes from image/install-qemu.sh.
DEB_PACKAGES += erofs-utils gdisk e2fsprogs

# Every binary we ship is static (glibc linked in; rkt's HTTPS is rustls, no OpenSSL), so no
# dynamic loader runs, no libraries are looked up and no symbols resolved at start (a dynamic
# `rkt` spent ~2 ms of every command there). They stay position independent (static-pie), so
# the kernel still loads them at a random address; the binary applies its relative relocations
# itself at start, which copies every page of relocated data (`.data.rel.ro`): most of the page
# faults of a short command, hence keeping that section small (OpenSSL's tables were 400 KB of
# it; DT_RELR packing was tried and changes nothing measurable). The stage1 image needs no libraries
# either. The binaries copied into every pod (stage1, the net plugin, the probe) drop debug info
# (Cargo.toml's profile); `rkt` keeps its line tables for backtraces. `--target` keeps build
# scripts and proc macros dynamic.
STATIC_TARGET := x86_64-unknown-linux-gnu
STATIC_PROFILE ?= release
# Cargo's output dir (honours CARGO_TARGET_DIR like cargo itself).
TARGET_DIR := $(abspath $(or $(CARGO_TARGET_DIR),target))
STATIC_DIR := $(TARGET_DIR)/$(STATIC_TARGET)/$(if $(filter dev,$(STATIC_PROFILE)),debug,$(STATIC_PROFILE))
STATIC_RUSTFLAGS := -C target-feature=+crt-static
STATIC_CARGO = RUSTFLAGS="$(STATIC_RUSTFLAGS)" $(CARGO) build --profile $(STATIC_PROFILE) --target $(STATIC_TARGET)

# The stage1 image (`make stage1`), embedded into `rkt` by rkt/build.rs through RKT_STAGE1_ACI.
STAGE1_ACI := $(TARGET_DIR)/stage1/stage1.aci
# What the functional tests need: the image, the static stage1 and the static probe.
export RKT_STAGE1_ACI := $(STAGE1_ACI)
export RKT_STAGE1_BIN := $(STATIC_DIR)/rkt-stage1
export RKT_INSPECT_BIN := $(STATIC_DIR)/inspect
# The rkt users get (README, `make install`, the host image, bench/*.sh, the functional tests).
RKT := $(STATIC_DIR)/rkt
DEMO_ACI := $(TARGET_DIR)/demo/demo.aci
DEMO_DIR := $(TARGET_DIR)/demo/data
# The root filesystem of the systemd container (cached between runs), for tests/systemd.rs.
export RKT_SYSTEMD_ROOTFS := $(TARGET_DIR)/systemd-rootfs
# `make install`: the rkt binary, its stage1 image where rkt looks for it
# (<stage1-images>/stage1-default.aci, /usr/lib/rkt/stage1-images by default) and the units.
PREFIX ?= /usr
DESTDIR ?=

.PHONY: all build test static stage1 check fmt-check clippy unit deps fuzz run bench help clean install systemd-rootfs
.PHONY: rkt-release image boot image-test

# The host image: disk.img, vmlinuz, initrd.img and the update payload usr.erofs (image/).
IMAGE_DIR := $(TARGET_DIR)/image
IMAGE_VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)+$(shell git rev-parse --short HEAD 2>/dev/null || echo local)

all: build

build: stage1 ## Static release build of the workspace's binaries; rkt ($(RKT)) embeds the stage1 image
	$(STATIC_CARGO) --workspace

static: ## Static binaries that run inside pods, and the image packer (into $(STATIC_DIR))
	$(STATIC_CARGO) -p stage1 --bin rkt-stage1 -p functional-tests --bin inspect --bin mkimage -p networking --bin rkt-net-plugin

stage1: static ## The stage1 image: $(STAGE1_ACI)
	$(STATIC_DIR)/mkimage stage1 --bin $(STATIC_DIR)/rkt-stage1 --net-plugin $(STATIC_DIR)/rkt-net-plugin --out $(STAGE1_ACI)

test: stage1 fmt-check clippy unit image-test ## rustfmt check, clippy (warnings are errors), every test (as root)

fmt-check:
	$(CARGO) fmt --all -- --check

clippy: stage1
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Functional tests start real pods: a few at a time on small machines.
TEST_THREADS ?= 4
# The functional tests drive the static release rkt users get (RKT_BIN); rkt/tests its debug build.
unit: stage1 systemd-rootfs rkt-release
	RKT_BIN=$(RKT) $(CARGO) test --workspace --no-fail-fast -- --test-threads=$(TEST_THREADS)

systemd-rootfs: ## Debian minbase + systemd, dbus, machined for the systemd tests (cached)
	functional-tests/systemd/build-rootfs.sh $(RKT_SYSTEMD_ROOTFS)

install: build ## Install rkt, the stage1 image and the systemd units under $(DESTDIR)$(PREFIX)
	install -D -m 0755 $(RKT) $(DESTDIR)$(PREFIX)/bin/rkt
	install -D -m 0644 $(STAGE1_ACI) $(DESTDIR)$(PREFIX)/lib/rkt/stage1-images/stage1-default.aci
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	for u in dist/systemd/*; do \
		sed 's|/usr/bin/rkt|$(PREFIX)/bin/rkt|g' $$u > $(DESTDIR)$(PREFIX)/lib/systemd/system/$$(basename $$u) && \
		chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/system/$$(basename $$u) || exit 1; \
	done

rkt-release: stage1
	$(STATIC_CARGO) -p rkt

image: rkt-release ## The host image in $(IMAGE_DIR): A/B erofs /usr with rkt, ext4 ROOT (as root)
	image/build.sh $(IMAGE_DIR) $(RKT) $(STAGE1_ACI) $(IMAGE_VERSION)

boot: ## Boot the host image under qemu on this terminal (serial console; Ctrl-A X quits)
	image/boot.sh $(IMAGE_DIR)

image-test: image static ## Boot the host image four times: system, rkt, update, fallback
	image/test.sh $(IMAGE_DIR) $(STATIC_DIR)

deps: ## Install the Debian packages the build and tests need (as root; idempotent)
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "Debian packages: all present"; fi
	image/install-qemu.sh $(IMAGE_DIR)/qemu

fuzz: ## Run every fuzz target for FUZZ_SECONDS each (installs cargo-fuzz if missing)
	@command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz
	cd fuzz && for t in $$($(CARGO) +nightly fuzz list); do \
		echo "== fuzz $$t ($(FUZZ_SECONDS)s)"; \
		$(CARGO) +nightly fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 || exit 1; \
	done

bench: build ## Benchmarks against the system tools, baselines in the same run (results in target/bench/)
	@command -v hyperfine >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine)
	RKT=$(RKT) STATIC_DIR=$(STATIC_DIR) bench/run.sh

run: build ## Build everything and run a real demo pod (as root), then garbage-collect it
	$(STATIC_DIR)/mkimage demo --inspect $(STATIC_DIR)/inspect --out $(DEMO_ACI)
	mkdir -p $(DEMO_DIR)
	$(RKT) --dir=$(DEMO_DIR) --insecure-options=image run --net=none $(DEMO_ACI); \
	code=$$?; $(RKT) --dir=$(DEMO_DIR) gc --grace-period=0s; exit $$code

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

clean:
	$(CARGO) clean
