# faceid — the two commands: `make run` (the server on ./data over HTTPS) and `make test`.
SWIFT ?= swift
SWIFT_TEST_FLAGS ?=

.PHONY: setup build run test bench microbench clean

setup:
	@./scripts/setup.sh

# Builds go through scripts/swift-build.sh: a line up front (the first build takes minutes), then progress every 5 %.
build: setup
	@./scripts/swift-build.sh

run:
	@./scripts/run.sh $(ARGS)

# The schemathesis run (the served OpenAPI document against the live debug server), the console in a real headless
# Chromium over HTTPS (scripts/console-tests.sh), the Python kiosk client's tests against a live server
# (clients/python/run-tests.sh), PostgreSQL's half of the test matrix (the store contract, the server
# suite and the three-node fault test on a throw-away cluster from pg_virtualenv) and the SFace oracle (OpenCV-Python's
# embeddings for the parity test) go between the build and `swift test`, so that swift test's summary stays the last line.
test: setup
	@./scripts/swift-build.sh --build-tests
	@./scripts/schemathesis.sh
	@./scripts/console-tests.sh
	@FACEID_KIOSK_NO_BUILD_WAIT=1 FACEID_KIOSK_REQUIRE_SERVER=1 ./clients/python/run-tests.sh
	@./scripts/postgres-tests.sh
	@./scripts/sface-reference.sh
	@SWIFT=$(SWIFT) ./scripts/swift-test.sh $(SWIFT_TEST_FLAGS)

bench: setup
	@./scripts/swift-build.sh -c release --product faceid-bench
	@echo "run: .build/release/faceid-bench --help"

clean:
	rm -rf .build

microbench: setup
	cd Benchmarks && $(SWIFT) package --disable-sandbox benchmark
