# Thin wrappers over scripts/ and CMake; the README documents `make up` and `make test`.
BUILD_DIR ?= build
ASAN_DIR  ?= build-asan
JOBS      ?= $(shell nproc)
FUZZ_SECONDS ?= 60

.PHONY: setup build up test test-unit test-e2e bench fuzz clean

setup:
	@scripts/setup.sh

build: setup
	@scripts/build.sh release $(BUILD_DIR)

up: build
	$(BUILD_DIR)/hodos up $(ARGS)

test: build
	@scripts/test.sh

bench: build
	@scripts/bench.sh

fuzz: setup
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)
