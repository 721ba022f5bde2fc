# Sparrow: the two commands a newcomer types are `make demo` and `make test`.
# Both install what is missing first (Debian packages after one apt-get update,
# pinned Python packages into .venv), so they work on a fresh Debian 12 box.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
PYTEST_ARGS ?=

# command -> Debian package that provides it
APT_NEEDS := \
	arm-none-eabi-gcc:gcc-arm-none-eabi \
	riscv64-unknown-elf-gcc:gcc-riscv64-unknown-elf \
	qemu-system-arm:qemu-system-arm \
	qemu-system-riscv32:qemu-system-misc \
	mosquitto:mosquitto \
	mosquitto_passwd:mosquitto \
	openssl:openssl \
	clang:clang \
	ip:iproute2
# files -> Debian package that provides them
APT_FILES := \
	/usr/lib/arm-none-eabi/newlib/libc.a:libnewlib-arm-none-eabi \
	/usr/lib/picolibc/arm-none-eabi/picolibc.specs:picolibc-arm-none-eabi \
	/usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs:picolibc-riscv64-unknown-elf \
	/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz:dataset-fashion-mnist \
	/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a:libclang-rt-14-dev

C_SOURCES := $(wildcard shared_c/src/*.c shared_c/src/*.h shared_c/include/*.h shared_c/python/sgc/_cdef_*.h)

.PHONY: all deps apt-deps py-deps test test-c test-py demo bench clean fuzz cross

all: deps

deps: apt-deps py-deps

apt-deps:
	@missing=""; \
	for pair in $(APT_NEEDS); do \
		command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
	done; \
	for pair in $(APT_FILES); do \
		[ -e "$${pair%%:*}" ] || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

py-deps: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml setup.py $(C_SOURCES)
	@[ -x $(VPY) ] || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q -r requirements.txt
	$(VPY) -m pip install -q --no-build-isolation -e .
	@touch $@

test: deps
	$(MAKE) test-c
	$(MAKE) test-py

test-c:
	$(MAKE) -C shared_c test
	$(MAKE) -C firmware test

test-py: py-deps
	$(VPY) -m pytest $(PYTEST_ARGS)

cross: apt-deps
	$(MAKE) -C shared_c cross

fuzz: deps
	$(MAKE) -C shared_c fuzz

demo: deps
	$(VENV)/bin/sparrow demo

clean:
	$(MAKE) -C shared_c clean
	$(MAKE) -C firmware clean
	rm -rf build *.egg-info shared_c/python/sgc/_sgc*.so shared_c/python/sgc/_sgc.c
