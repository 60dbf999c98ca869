# faceid — the two commands: `make run` (server; arrives with the server issue) and `make test`.
SWIFT ?= swift
SWIFT_TEST_FLAGS ?=

.PHONY: setup build test bench microbench clean

setup:
	@./scripts/setup.sh

build: setup
	$(SWIFT) build

test: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build $(SWIFT_TEST_FLAGS)

bench: setup
	$(SWIFT) build -c release --product faceid-bench
	@echo "run: .build/release/faceid-bench --help"

clean:
	rm -rf .build

microbench: setup
	cd Benchmarks && $(SWIFT) package --disable-sandbox benchmark
