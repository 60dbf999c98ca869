# faceid — the two commands: `make run` (the server on ./data over HTTPS) and `make test`.
SWIFT ?= swift
SWIFT_TEST_FLAGS ?=

.PHONY: setup build run test bench microbench clean

setup:
	@./scripts/setup.sh

build: setup
	$(SWIFT) build

run:
	@./scripts/run.sh $(ARGS)

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
